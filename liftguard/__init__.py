"""The product's shell: the ``liftguard`` command line, its configuration file, secrets,
logging and start-up rules. It composes the box (``edge_agent``), the web app (``coach``),
the wire (``sync``) and the offline tools (``evaluation``); nothing imports it but tests.
"""
__version__ = "0.1.0"
