"""TFLite LSTM-autoencoder inference on the box (no TensorFlow import).

The model takes one MinMax-scaled window resampled to a fixed number of steps, shape
(1, steps, channels), and returns its reconstruction. The per-channel mean squared error is
both the anomaly evidence (its mean over channels) and the attribution (each channel's share).

A TFLite interpreter must not be used from two threads at once (the daemon scores windows on
the real-time thread and finished reps on the session worker), so each thread gets its own
interpreter, built from the model bytes read once at load.
"""
from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

try:
    from ai_edge_litert.interpreter import Interpreter
except ImportError:  # pragma: no cover - older boxes ship tflite-runtime instead
    from tflite_runtime.interpreter import Interpreter  # type: ignore[no-redef]


class AutoencoderRuntime:
    """A loaded batch-1 autoencoder; ``channel_errors`` scores one or many windows."""

    def __init__(self, model_path: Path) -> None:
        self._content = Path(model_path).read_bytes()
        self._local = threading.local()
        interpreter = self._interpreter
        input_detail = interpreter.get_input_details()[0]
        self._input_index = input_detail["index"]
        self._output_index = interpreter.get_output_details()[0]["index"]
        self.input_shape = tuple(int(d) for d in input_detail["shape"])
        if len(self.input_shape) != 3 or self.input_shape[0] != 1:
            raise ValueError(f"autoencoder input shape {self.input_shape} is not (1, steps, channels)")

    @property
    def _interpreter(self) -> Interpreter:
        interpreter = getattr(self._local, "interpreter", None)
        if interpreter is None:
            interpreter = Interpreter(model_content=self._content, num_threads=1)
            interpreter.allocate_tensors()
            self._local.interpreter = interpreter
        return interpreter

    @property
    def steps(self) -> int:
        return self.input_shape[1]

    @property
    def n_channels(self) -> int:
        return self.input_shape[2]

    def reconstruct(self, window: np.ndarray) -> np.ndarray:
        """Reconstruction of one scaled window (steps, channels)."""
        interpreter = self._interpreter
        interpreter.set_tensor(self._input_index, window[None].astype(np.float32))
        interpreter.invoke()
        return interpreter.get_tensor(self._output_index)[0]

    def channel_errors(self, windows: np.ndarray) -> np.ndarray:
        """Per-channel mean squared reconstruction error, (n, steps, C) -> (n, C)."""
        errors = np.empty((windows.shape[0], windows.shape[2]))
        for i, window in enumerate(windows):
            errors[i] = np.mean((self.reconstruct(window) - window) ** 2, axis=0)
        return errors
