"""Keras LSTM autoencoder: build, train on clean windows, export to TFLite with builtin ops.

TFLite (TF 2.21) converts a Keras LSTM with builtin ops only when the batch size is fixed or
the LSTM is unrolled; with a dynamic batch conversion fails on ``TensorListReserve``. We train
with a dynamic batch, copy the weights into a batch-1 twin, convert that, and check that the
TFLite model reproduces Keras within ``AGREEMENT_TOLERANCE``.
"""
from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import tensorflow as tf

from models.anomaly.autoencoder_runtime import Interpreter

log = logging.getLogger(__name__)

AGREEMENT_TOLERANCE = 1e-5


@dataclass(frozen=True)
class AutoencoderSpec:
    steps: int
    channels: int
    units: int = 16
    epochs: int = 40
    batch_size: int = 32
    learning_rate: float = 3e-3


@dataclass
class TrainedAutoencoder:
    model: "tf.keras.Model"
    spec: AutoencoderSpec
    final_loss: float


def _build(spec: AutoencoderSpec, batch_size: int | None) -> "tf.keras.Model":
    inputs = tf.keras.Input(shape=(spec.steps, spec.channels), batch_size=batch_size)
    encoded = tf.keras.layers.LSTM(spec.units)(inputs)
    repeated = tf.keras.layers.RepeatVector(spec.steps)(encoded)
    decoded = tf.keras.layers.LSTM(spec.units, return_sequences=True)(repeated)
    outputs = tf.keras.layers.TimeDistributed(tf.keras.layers.Dense(spec.channels))(decoded)
    return tf.keras.Model(inputs, outputs, name="lstm_autoencoder")


def train_autoencoder(windows: np.ndarray, spec: AutoencoderSpec, seed: int) -> TrainedAutoencoder:
    """Train on scaled clean windows (n, steps, channels) to reconstruct themselves."""
    tf.keras.utils.set_random_seed(seed)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    tf.config.threading.set_intra_op_parallelism_threads(1)
    model = _build(spec, batch_size=None)
    model.compile(optimizer=tf.keras.optimizers.Adam(spec.learning_rate), loss="mse")
    data = windows.astype(np.float32)
    history = model.fit(data, data, epochs=spec.epochs, batch_size=spec.batch_size, shuffle=True, verbose=0)
    final_loss = float(history.history["loss"][-1])
    log.info("autoencoder trained on %d windows: %d epochs, final loss %.5f", len(data), spec.epochs, final_loss)
    return TrainedAutoencoder(model, spec, final_loss)


def channel_errors(trained: TrainedAutoencoder, windows: np.ndarray) -> np.ndarray:
    """Per-channel MSE of the Keras model, (n, steps, C) -> (n, C); used for out-of-fold scores."""
    data = windows.astype(np.float32)
    reconstruction = trained.model.predict(data, batch_size=256, verbose=0)
    return np.mean((reconstruction - data) ** 2, axis=1).astype(np.float64)


def export_tflite(trained: TrainedAutoencoder) -> bytes:
    """Convert a batch-1 copy of the trained model to a builtin-ops-only TFLite flatbuffer."""
    batch_one = _build(trained.spec, batch_size=1)
    batch_one.set_weights(trained.model.get_weights())
    converter = tf.lite.TFLiteConverter.from_keras_model(batch_one)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    with _native_output_captured() as captured:
        try:
            return converter.convert()
        except Exception:
            log.error("TFLite conversion failed; converter output:\n%s", captured())
            raise


@contextlib.contextmanager
def _native_output_captured() -> Iterator:
    """The converter writes artefact paths and ``E0000``/``W0000`` lines straight to file
    descriptors 1 and 2, past Python logging; keep them off the console (kept for a failure)."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    with tempfile.TemporaryFile(mode="w+b") as sink:
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)

        def text() -> str:
            sink.seek(0)
            return sink.read().decode(errors="replace")

        try:
            yield text
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)


def check_agreement(trained: TrainedAutoencoder, tflite_model: bytes, windows: np.ndarray) -> float:
    """Max |Keras - TFLite| over ``windows``; raises if above ``AGREEMENT_TOLERANCE``."""
    interpreter = Interpreter(model_content=tflite_model, num_threads=1)
    interpreter.allocate_tensors()
    input_index = interpreter.get_input_details()[0]["index"]
    output_index = interpreter.get_output_details()[0]["index"]
    data = windows.astype(np.float32)
    keras_out = trained.model.predict(data, batch_size=256, verbose=0)
    worst = 0.0
    for window, expected in zip(data, keras_out):
        interpreter.set_tensor(input_index, window[None])
        interpreter.invoke()
        worst = max(worst, float(np.max(np.abs(interpreter.get_tensor(output_index)[0] - expected))))
    if worst > AGREEMENT_TOLERANCE:
        raise RuntimeError(f"TFLite autoencoder differs from Keras by {worst:.2e} (> {AGREEMENT_TOLERANCE:.0e})")
    return worst


def tensorflow_version() -> str:
    return tf.__version__
