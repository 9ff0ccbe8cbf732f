"""Keep library noise off the console of long model runs (evaluate, train)."""
from __future__ import annotations

import logging
import os

TF_LOG_ENV = {"TF_CPP_MIN_LOG_LEVEL": "2", "GRPC_VERBOSITY": "ERROR", "ABSL_MIN_LOG_LEVEL": "2"}
"""TensorFlow's C++ logging (``E0000`` lines, artefact dumps) and absl/gRPC chatter: errors only.
Set before TensorFlow is imported; a value the user exported wins."""


def quiet_libraries() -> None:
    for key, value in TF_LOG_ENV.items():
        os.environ.setdefault(key, value)
    for name in ("tensorflow", "absl", "h5py", "matplotlib"):
        logging.getLogger(name).setLevel(logging.ERROR)
