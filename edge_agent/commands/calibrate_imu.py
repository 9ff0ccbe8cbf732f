"""Placeholder: filled in by the sensors work."""


def register(sub) -> None:
    pass
