"""The anomaly models' errors, apart from the modules that raise them so that none of those
imports another just for its exception."""


class BundleError(Exception):
    """A model bundle is unusable: wrong format, wrong sensors, tampered or missing files."""


class OverlayError(BundleError):
    """An athlete overlay that cannot be used (missing, altered, or for another bundle)."""


class TrainingDataError(ValueError):
    """The clean training data cannot support a model (too little, or unusable)."""
