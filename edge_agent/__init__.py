"""The liftguard daemon: config, CLI, session lifecycle, real-time loop, feedback, local store, API.

Composes ``sensors``, ``models`` and ``sync``; none of those import this package.
"""
__version__ = "0.1.0"
