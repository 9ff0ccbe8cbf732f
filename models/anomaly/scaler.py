"""MinMax scaling fitted on clean training data only, stored in (and rebuilt from) the manifest.

Fitting uses scikit-learn's ``MinMaxScaler``; the box applies the saved ``scale_``/``min_``
with numpy (one multiply-add), which is what ``MinMaxScaler.transform`` computes.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.preprocessing import MinMaxScaler


@dataclass(frozen=True)
class MinMaxParams:
    data_min: np.ndarray
    data_max: np.ndarray
    scale: np.ndarray
    min: np.ndarray

    @classmethod
    def fit(cls, data: np.ndarray) -> "MinMaxParams":
        scaler = MinMaxScaler().fit(data)
        return cls(scaler.data_min_, scaler.data_max_, scaler.scale_, scaler.min_)

    def transform(self, data: np.ndarray) -> np.ndarray:
        return data * self.scale + self.min

    def to_manifest(self) -> dict[str, list[float]]:
        return {
            "data_min": self.data_min.tolist(),
            "data_max": self.data_max.tolist(),
            "scale": self.scale.tolist(),
            "min": self.min.tolist(),
        }

    @classmethod
    def from_manifest(cls, entry: dict, expected_size: int, name: str) -> "MinMaxParams":
        try:
            arrays = {key: np.asarray(entry[key], dtype=np.float64) for key in ("data_min", "data_max", "scale", "min")}
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"scaler '{name}' in manifest is malformed: {exc}") from exc
        for key, array in arrays.items():
            if array.shape != (expected_size,):
                raise ValueError(f"scaler '{name}' key '{key}' has {array.size} values; expected {expected_size}")
        return cls(arrays["data_min"], arrays["data_max"], arrays["scale"], arrays["min"])
