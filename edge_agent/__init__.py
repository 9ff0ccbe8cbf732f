"""The box: the real-time daemon, feedback, local store, model bundles and the uplink.

Composes ``sensors``, ``models`` and ``sync``; none of those import this package, nor does
``coach``. The command line and the configuration file live in ``liftguard``.
"""
