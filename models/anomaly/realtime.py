"""The real-time alert threshold: per-window decisions every hop, calibrated on whole clean sets.

A bundle's per-window ``fused_p`` is a tail probability *per window*. The daemon decides every
hop (0.1 s, about 30 decisions per rep), so alerting at the bundle's per-window rate (e.g. 5 %)
would sound several times per clean rep. The real-time threshold is therefore set on whole
clean sets the bundle was not fitted on, scored window by window exactly as the daemon does:
the largest p threshold whose alert episodes (a run of windows at or below it; a new episode
needs ``min_gap_s`` since the last, like the feedback policy) stay within the target number of
false alerts per 100 clean reps. It is stored in the manifest under ``realtime``.

The daemon maps a window's ``fused_p`` to its alert probability as
``alert_on * log10(fused_p) / log10(window_p_threshold)`` (clipped to [0, 1]), so the feedback
policy's ``alert_on`` is reached exactly at the calibrated threshold.
"""
from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from models.anomaly.bundle import MANIFEST, write_manifest
from models.anomaly.model import AnomalyModel
from models.anomaly.windows import sliding_windows

REALTIME_KEY = "realtime"
DEFAULT_HOP_S = 0.1
DEFAULT_MIN_GAP_S = 2.0


def window_p_stream(model: AnomalyModel, rows: np.ndarray, hop_s: float = DEFAULT_HOP_S) -> np.ndarray:
    """``fused_p`` of the window ending at every hop of ``rows`` (T×C at the model's rate);
    NaN where the window was not scored (gap, saturation)."""
    hop = max(1, int(round(hop_s * model.sample_rate_hz)))
    windows = sliding_windows(rows, model.window_len, hop)
    return np.array([d.fused_p if d.scored else math.nan for d in map(model.score_window, windows)])


def alert_episodes(p_stream: np.ndarray, threshold: float, hop_s: float = DEFAULT_HOP_S,
                   min_gap_s: float = DEFAULT_MIN_GAP_S) -> list[int]:
    """Indices of the decisions that would sound an alert at ``threshold``."""
    below = np.nan_to_num(p_stream, nan=1.0) <= threshold
    starts = np.flatnonzero(below & ~np.concatenate([[False], below[:-1]]))
    gap = int(round(min_gap_s / hop_s))
    alerts: list[int] = []
    for i in starts:
        if not alerts or i - alerts[-1] >= gap:
            alerts.append(int(i))
    return alerts


def calibrate_threshold(clean_streams: Sequence[np.ndarray], clean_reps: int,
                        target_per_100_reps: float, hop_s: float = DEFAULT_HOP_S,
                        min_gap_s: float = DEFAULT_MIN_GAP_S) -> dict[str, Any]:
    """The largest window p threshold with at most ``target_per_100_reps`` false alerts on
    ``clean_streams`` (window p streams of whole clean sets holding ``clean_reps`` reps)."""
    if clean_reps < 1 or not clean_streams:
        raise ValueError("need clean held-out sets with reps to calibrate the real-time threshold")
    pooled = np.concatenate([s[np.isfinite(s)] for s in clean_streams])
    candidates = np.unique(np.concatenate([pooled, [pooled.min() * 0.5]]))
    allowed = target_per_100_reps * clean_reps / 100.0

    def false_alerts(threshold: float) -> int:
        return sum(len(alert_episodes(s, threshold, hop_s, min_gap_s)) for s in clean_streams)

    lo, hi = 0, len(candidates) - 1   # false_alerts is non-decreasing in the threshold
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if false_alerts(candidates[mid]) <= allowed:
            lo = mid
        else:
            hi = mid - 1
    # Sit half-way (in log p) to the next candidate up, not on a clean window's own p.
    threshold = float(candidates[lo])
    if lo + 1 < len(candidates):
        threshold = float(np.sqrt(candidates[lo] * candidates[lo + 1]))
        if false_alerts(threshold) > allowed:
            threshold = float(candidates[lo])
    return {
        "window_p_threshold": threshold,
        "target_false_alerts_per_100_reps": target_per_100_reps,
        "calibration_false_alerts_per_100_reps": round(100.0 * false_alerts(threshold) / clean_reps, 3),
        "calibration_sets": len(clean_streams),
        "calibration_reps": int(clean_reps),
        "hop_s": hop_s,
        "min_gap_s": min_gap_s,
        "method": "largest per-window fused_p threshold whose alert episodes (min gap between "
                  "alerts) on whole held-out clean sets stay within the target",
    }


def update_manifest(bundle_dir: Path, sections: dict[str, Any], signing_key: bytes | None = None) -> None:
    """Add sections to a freshly written bundle's manifest; checksums of every file in the
    bundle (including files added since) and the signature are redone."""
    manifest = json.loads((Path(bundle_dir) / MANIFEST).read_text())
    manifest.pop("signature", None)
    manifest.update(sections)
    write_manifest(Path(bundle_dir), manifest, signing_key)


def realtime_threshold(model: AnomalyModel) -> float | None:
    section = model.manifest.get(REALTIME_KEY) or {}
    value = section.get("window_p_threshold")
    return float(value) if isinstance(value, (int, float)) and 0 < value < 1 else None
