"""A bundle's drift-cue threshold from its own clean calibration reps (``models.set_drift``).

Each group's reps (one calibration fold: an athlete with ``groups``, a set with
``fold_groups``, else a shuffled fold; or one held-out set in the split-conformal
recalibration) get their fused p-values from a rep calibration fitted on the *other* groups'
scores, so no rep is scored against a calibration that saw it or its athlete; the threshold
is then calibrated on pseudo-sets drawn within each group (``calibrate_from_reps``).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from models.anomaly.fusion import FusionCalibration
from models.set_drift import DEFAULT_SET_FALSE_CUE_RATE, SetThreshold, calibrate_from_reps


def leave_one_group_out_scores(detectors: tuple[str, ...], per_group: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Per group, ``-log10`` of each rep's fused p against a calibration of the other groups
    (raw fused-detector scores in, one row per rep); groups need at least two others' reps."""
    groups = [np.asarray(g, dtype=np.float64).reshape(len(g), len(detectors)) for g in per_group if len(g)]
    out = []
    for k, scores in enumerate(groups):
        others = np.concatenate([g for j, g in enumerate(groups) if j != k] or [np.empty((0, len(detectors)))])
        if len(others) < 2:
            continue
        _, fused = FusionCalibration.fit(detectors, others).fused_p(scores)
        out.append(-np.log10(fused))
    return out


def set_threshold(detectors: tuple[str, ...], per_group: Sequence[np.ndarray], *,
                  rate: float = DEFAULT_SET_FALSE_CUE_RATE, seed: int = 0, source: str) -> SetThreshold:
    """The drift-cue threshold for a bundle whose rep decision fuses ``detectors``, from its
    clean calibration reps' raw scores grouped as described above. ``ValueError`` (from
    ``calibrate_from_reps``) when fewer than two groups hold reps."""
    return calibrate_from_reps(leave_one_group_out_scores(detectors, per_group), rate, seed=seed, source=source)
