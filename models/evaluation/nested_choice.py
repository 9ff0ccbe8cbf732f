"""Nested leave-one-subject-out check of the rep-feature choice on the squat dataset.

The body-frame features were chosen by looking at all six subjects. This repeats that choice
without the subject being reported: for each outer subject, the feature set with the better
mean inner-LOSO AUROC on the other five subjects is picked, then scored on the outer subject.
A fast proxy of the bundle is used (the same rep features, centred on each athlete's clean
set 1, scaled by the training athletes' clean set-2 MAD, One-Class SVM), so that the whole
nested loop takes seconds; it ranks like the bundle's rep OCSVM (0.898 vs 0.900 LOSO).

Run: ``python -m models.evaluation.nested_choice DATA_DIR`` (prints JSON).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
from sklearn.svm import OneClassSVM

from models.anomaly.pipeline import Geometry
from models.evaluation.metrics import auroc
from models.evaluation.squat_dataset import CHANNELS, SAMPLE_RATE_HZ, load_reps

Z_CLIP = 10.0


def feature_sets(reps) -> dict[str, np.ndarray]:
    geometry = Geometry(CHANNELS, SAMPLE_RATE_HZ, 1, 1, None, body_frame=True)
    names = geometry.rep_feature_names
    full = np.array([geometry.rep_features(r.data, r.data) for r in reps])
    base = [i for i, n in enumerate(names) if i < names.index("duration_s")]
    body = [i for i in range(names.index("duration_s") + 1, len(names))]
    return {"signal_statistics": full[:, base], "signal_statistics+body_frame": full[:, base + body]}


def loso_auroc(X, labels, subjects, sets, test_subject, pool) -> float:
    train = [s for s in pool if s != test_subject]
    centred = X.copy()
    for s in pool:
        own = subjects == s
        centred[own] -= np.median(X[own & (labels == 0) & (sets == 1)], axis=0)
    reference = centred[np.isin(subjects, train) & (labels == 0) & (sets == 2)]
    scale = 1.4826 * np.median(np.abs(reference - np.median(reference, axis=0)), axis=0) + 1e-9
    z = np.clip(centred / scale, -Z_CLIP, Z_CLIP)
    fit = np.isin(subjects, train) & (labels == 0)
    test = (subjects == test_subject) & ~((labels == 0) & (sets == 1))
    detector = OneClassSVM(nu=0.05, gamma="scale").fit(z[fit])
    return auroc(labels[test] != 0, -detector.score_samples(z[test]))


def nested(data_dir: Path) -> dict:
    reps = load_reps(data_dir)
    labels, subjects, sets = (np.array([getattr(r, k) for r in reps]) for k in ("label", "subject", "set_no"))
    variants = feature_sets(reps)
    everyone = sorted(set(subjects.tolist()))
    fixed = {name: float(np.mean([loso_auroc(X, labels, subjects, sets, s, everyone) for s in everyone]))
             for name, X in variants.items()}
    picks, outer = {}, []
    for s in everyone:
        inner_pool = [t for t in everyone if t != s]
        inner = {name: np.mean([loso_auroc(X, labels, subjects, sets, t, inner_pool) for t in inner_pool])
                 for name, X in variants.items()}
        picks[f"subject{s}"] = max(inner, key=inner.get)
        outer.append(loso_auroc(variants[picks[f"subject{s}"]], labels, subjects, sets, s, everyone))
    return {"fixed_choice_loso_auroc": {k: round(v, 3) for k, v in fixed.items()},
            "nested_picks": picks, "nested_loso_auroc": round(float(np.mean(outer)), 3)}


if __name__ == "__main__":
    print(json.dumps(nested(Path(sys.argv[1])), indent=2))
