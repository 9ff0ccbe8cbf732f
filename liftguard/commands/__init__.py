"""One module per `liftguard` subcommand; each exposes ``register(subparsers)``."""
