"""Range and type checks of every manifest value the loader uses, before any file is read.

A manifest is JSON: a number may be a 400-digit integer, ``1e999`` (read as infinity) or a
string. Each check here names the field, so that ``liftguard model install`` refuses such a
bundle with a message an operator can act on, and the daemon never meets it at start-up.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from models.anomaly.errors import BundleError

MAX_CHANNELS = 64
MAX_VECTOR = 100_000
RATE_HZ = (1.0, 10_000.0)
WINDOW_SAMPLES = (4, 100_000)
AUTOENCODER_STEPS = (1, 10_000)
MAX_BASELINE_WEIGHT = 1e6
"""Largest ``enrolment_baseline`` weight ``fit_bundle`` takes and a bundle manifest may hold."""

_MISSING = object()


class _Checker:
    def __init__(self, path: Path, manifest: dict[str, Any]) -> None:
        self.path, self.manifest = path, manifest

    def fail(self, field: str, value: Any, problem: str) -> BundleError:
        shown = repr(value)
        if len(shown) > 40:
            shown = shown[:37] + "..."
        return BundleError(f"{self.path}: manifest field {field} = {shown} {problem}")

    def get(self, field: str, required: bool = True) -> Any:
        node: Any = self.manifest
        for part in field.split("."):
            if not isinstance(node, dict) or part not in node:
                if required:
                    raise BundleError(f"{self.path}: manifest field {field} is missing")
                return _MISSING
            node = node[part]
        return node

    def number(self, field: str, lo: float, hi: float, *, integer: bool = False,
               required: bool = True, open_low: bool = False) -> None:
        value = self.get(field, required)
        if value is _MISSING:
            return
        kind = int if integer else (int, float)
        if isinstance(value, bool) or not isinstance(value, kind):
            raise self.fail(field, value, f"is not {'an integer' if integer else 'a number'}")
        if not (lo < value if open_low else lo <= value) or not value <= hi:
            bracket = "(" if open_low else "["
            raise self.fail(field, value, f"is out of range {bracket}{lo:g}, {hi:g}]")

    def text(self, field: str, required: bool = True) -> None:
        value = self.get(field, required)
        if value is not _MISSING and (not isinstance(value, str) or not value):
            raise self.fail(field, value, "is not a non-empty string")

    def texts(self, field: str, required: bool = True) -> None:
        value = self.get(field, required)
        if value is _MISSING:
            return
        if (not isinstance(value, list) or len(value) > MAX_CHANNELS
                or not all(isinstance(v, str) and v for v in value)):
            raise self.fail(field, value, f"is not a list of at most {MAX_CHANNELS} names")

    def vector(self, field: str, required: bool = True, allow_null: bool = False) -> None:
        value = self.get(field, required)
        if value is _MISSING:
            return
        if not isinstance(value, list) or len(value) > MAX_VECTOR:
            raise self.fail(field, value, f"is not a list of at most {MAX_VECTOR} numbers")
        for i, v in enumerate(value):
            if v is None and allow_null:
                continue
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not -1e300 <= v <= 1e300:
                raise self.fail(f"{field}[{i}]", v, "is not a finite number")

    def table(self, field: str, required: bool = True) -> bool:
        value = self.get(field, required)
        if value is _MISSING or (value is None and not required):
            return False
        if not isinstance(value, dict):
            raise self.fail(field, value, "is not an object")
        return True


def check_manifest_values(path: Path, manifest: dict[str, Any]) -> None:
    """Raise ``BundleError`` naming the first malformed or out-of-range field."""
    c = _Checker(path, manifest)
    c.texts("channels")
    channels = manifest["channels"]
    if not channels or len(set(channels)) != len(channels):
        raise c.fail("channels", channels, "must name at least one channel, each once")
    c.number("sample_rate_hz", *RATE_HZ)
    c.table("window")
    c.number("window.length_samples", *WINDOW_SAMPLES, integer=True)
    c.number("window.hop_samples", 1, manifest["window"]["length_samples"], integer=True)
    c.number("window.length_s", 0, 600, required=False, open_low=True)
    c.number("window.hop_s", 0, 600, required=False, open_low=True)
    limits = manifest.get("saturation_limits")
    if limits is not None:
        c.vector("saturation_limits", allow_null=True)
        if len(limits) != len(channels):
            raise c.fail("saturation_limits", limits, f"must hold {len(channels)} values, one "
                                                      f"per channel")
    c.table("detectors")
    c.text("detectors.file")
    c.texts("detectors.window")
    c.texts("detectors.rep", required=False)
    c.number("detectors.rep_baseline_weight", 0, MAX_BASELINE_WEIGHT, required=False)
    if c.table("autoencoder", required=False):
        c.text("autoencoder.file")
        c.number("autoencoder.steps", *AUTOENCODER_STEPS, integer=True, required=False)
    for scaler in ("channels", "window_features", "rep_features"):
        c.table(f"scalers.{scaler}")
        for key in ("data_min", "data_max", "scale", "min"):
            c.vector(f"scalers.{scaler}.{key}")
    for key in ("window_median", "window_spread", "rep_median", "rep_spread"):
        c.vector(f"norms.{key}")
    c.table("calibration")
    c.text("calibration.file")
    c.number("calibration.false_alarm_rate", 0, 1, open_low=True)
    if c.table("calibration.set_drift", required=False):
        c.number("calibration.set_drift.alpha", 0, 1 - 1e-12, open_low=True)
        c.number("calibration.set_drift.false_cue_rate", 0, 1 - 1e-12, open_low=True, required=False)
    if c.table("realtime", required=False):
        c.number("realtime.window_p_threshold", 0, 1, required=False, open_low=True)
        c.number("realtime.hop_s", 0, 60, required=False, open_low=True)
        c.number("realtime.min_gap_s", 0, 3600, required=False)
    if not isinstance(manifest.get("athlete_centring", False), bool):
        raise c.fail("athlete_centring", manifest["athlete_centring"], "is not true or false")
    c.texts("lift_types", required=False)
    if c.table("profile_rep", required=False):
        _check_profile_rep(c, manifest)
    if c.table("population_norm", required=False):
        for key in manifest["population_norm"]:
            if key == "rep_distance_baseline":
                c.number(f"population_norm.{key}", 0, 1e300)
            else:
                c.vector(f"population_norm.{key}")


def _check_profile_rep(c: _Checker, manifest: dict[str, Any]) -> None:
    """The profile rep decision (``models.anomaly.profile_rep``) scores the athlete's norm as
    overlay + population norm, so it needs the population norm and a bundle without centring."""
    c.text("profile_rep.file")
    c.texts("profile_rep.rep")
    if manifest["profile_rep"]["rep"] != ["rep_mahalanobis"]:
        raise c.fail("profile_rep.rep", manifest["profile_rep"]["rep"], "must be ['rep_mahalanobis']")
    c.number("profile_rep.rep_baseline_weight", 0, MAX_BASELINE_WEIGHT)
    c.vector("profile_rep.rep_median")
    c.vector("profile_rep.rep_spread")
    c.number("profile_rep.false_alarm_rate", 0, 1, open_low=True, required=False)
    if c.table("profile_rep.set_drift", required=False):
        c.number("profile_rep.set_drift.alpha", 0, 1 - 1e-12, open_low=True)
    if not c.table("population_norm", required=False) or manifest.get("athlete_centring"):
        raise c.fail("profile_rep", "{...}", "needs population_norm and a bundle without athlete_centring")
