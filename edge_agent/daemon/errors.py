"""The daemon's errors, apart from the modules that raise them."""


class SessionError(Exception):
    """A session request that cannot be honoured; ``status`` is the HTTP status to answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class ApiError(Exception):
    """A request the API refuses; ``status`` is the HTTP status of the JSON answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class ApiConfigError(Exception):
    """The API cannot be started as configured (e.g. a public bind without a token)."""


class DaemonError(Exception):
    """The daemon cannot start as configured (message names the key or device)."""
