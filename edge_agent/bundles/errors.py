"""Errors of the installed model bundles."""


class ModelStoreError(Exception):
    """A bundle was refused or the model directory cannot be changed; the message says why.
    Whenever it is raised, ``default`` still points where it pointed before."""
