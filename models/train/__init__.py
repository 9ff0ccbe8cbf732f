"""Training-only code: the one place TensorFlow is imported (install the ``train`` extra)."""
