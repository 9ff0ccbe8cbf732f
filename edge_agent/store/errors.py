"""The local store's errors."""


class StoreError(Exception):
    """The local store cannot be opened or used; the message says which file and why."""
