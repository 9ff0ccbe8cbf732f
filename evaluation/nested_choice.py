"""Nested leave-one-subject-out check of the rep-model choices made on the squat dataset.

The rep features (body-frame curves or not) and the rep detector (One-Class SVM, or the
shrunk-covariance Mahalanobis distance with z-scores clipped at 5 or 10, its covariance over
all clean reps or within each subject's set) were chosen by
looking at all six subjects. This repeats those choices without the subject being reported:
for each outer subject, the variant with the best mean inner-LOSO AUROC on the other five
subjects is picked, then scored on the outer subject. A fast proxy of the bundle is used
(the same rep features, centred on each athlete's clean set 1, robust z-scores against the
training athletes' clean reps, then the detector), so that the whole nested loop takes
seconds; it ranks like the bundle's rep detectors (docs/models.md).

Run: ``python -m evaluation.nested_choice DATA_DIR`` (prints JSON).
"""
from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
from sklearn.svm import OneClassSVM

from evaluation.metrics import auroc
from evaluation.squat_dataset import CHANNELS, SAMPLE_RATE_HZ, load_reps
from models.anomaly.detectors import CompiledMahalanobis, fit_shrunk_covariance
from models.anomaly.pipeline import Geometry

Detector = Callable[[np.ndarray, list, np.ndarray], np.ndarray]
"""(clean training z, their occasions (subject, set), test z) -> anomaly scores of the test rows."""


def _ocsvm(train: np.ndarray, occasions: list, test: np.ndarray) -> np.ndarray:
    clip = 10.0
    model = OneClassSVM(nu=0.05, gamma="scale").fit(np.clip(train, -clip, clip))
    return -model.score_samples(np.clip(test, -clip, clip))


def _mahalanobis(clip: float, within_sets: bool = False) -> Detector:
    def score(train: np.ndarray, occasions: list, test: np.ndarray) -> np.ndarray:
        # the detector clips at its own Z_CLIP; a wider clip is applied first so it stays the bound
        scale = 5.0 / clip
        covariance = fit_shrunk_covariance(np.clip(train, -clip, clip) * scale, occasions if within_sets else None)
        return CompiledMahalanobis(covariance).anomaly_score(np.clip(test, -clip, clip) * scale)
    return score


DETECTORS: dict[str, Detector] = {"ocsvm": _ocsvm, "mahalanobis_clip5": _mahalanobis(5.0),
                                  "mahalanobis_clip10": _mahalanobis(10.0),
                                  "mahalanobis_clip5_within_sets": _mahalanobis(5.0, within_sets=True)}


def feature_sets(reps) -> dict[str, np.ndarray]:
    geometry = Geometry(CHANNELS, SAMPLE_RATE_HZ, 1, 1, None, body_frame=True)
    names = geometry.rep_feature_names
    full = np.array([geometry.rep_features(r.data, r.data) for r in reps])
    base = [i for i, n in enumerate(names) if i < names.index("duration_s")]
    body = [i for i in range(names.index("duration_s") + 1, len(names))]
    return {"signal_statistics": full[:, base], "signal_statistics+body_frame": full[:, base + body]}


def loso_auroc(X, labels, subjects, sets, test_subject, pool, detector: Detector) -> float:
    train = [s for s in pool if s != test_subject]
    centred = X.copy()
    for s in pool:
        own = subjects == s
        centred[own] -= np.median(X[own & (labels == 0) & (sets == 1)], axis=0)
    fit = np.isin(subjects, train) & (labels == 0)
    reference = centred[fit]
    median = np.median(reference, axis=0)
    scale = 1.4826 * np.median(np.abs(reference - median), axis=0) + 1e-9
    z = (centred - median) / scale
    test = (subjects == test_subject) & ~((labels == 0) & (sets == 1))
    occasions = list(zip(subjects[fit].tolist(), sets[fit].tolist()))
    return auroc(labels[test] != 0, detector(z[fit], occasions, z[test]))


def nested(data_dir: Path) -> dict:
    reps = load_reps(data_dir)
    labels, subjects, sets = (np.array([getattr(r, k) for r in reps]) for k in ("label", "subject", "set_no"))
    variants = {(f, d): (X, DETECTORS[d]) for f, X in feature_sets(reps).items() for d in DETECTORS}
    everyone = sorted(set(subjects.tolist()))

    def mean_loso(variant, pool) -> float:
        X, detector = variants[variant]
        return float(np.mean([loso_auroc(X, labels, subjects, sets, t, pool, detector) for t in pool]))

    fixed = {f"{f} + {d}": round(mean_loso((f, d), everyone), 3) for f, d in variants}
    picks, outer = {}, []
    for s in everyone:
        inner_pool = [t for t in everyone if t != s]
        pick = max(variants, key=lambda v: mean_loso(v, inner_pool))
        picks[f"subject{s}"] = " + ".join(pick)
        X, detector = variants[pick]
        outer.append(loso_auroc(X, labels, subjects, sets, s, everyone, detector))
    return {"fixed_choice_loso_auroc": fixed, "nested_picks": picks, "nested_loso_auroc": round(float(np.mean(outer)), 3),
            "nested_loso_auroc_per_subject": [round(v, 3) for v in outer]}


if __name__ == "__main__":
    print(json.dumps(nested(Path(sys.argv[1])), indent=2))
