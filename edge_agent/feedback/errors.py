"""The feedback outputs' errors."""


class FeedbackError(Exception):
    """GPIO feedback hardware could not be set up; the message names the config key."""
