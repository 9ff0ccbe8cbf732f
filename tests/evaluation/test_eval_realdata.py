"""Reduced real-data evaluation (squat IMU dataset): metrics are computed correctly and complete.

Targets are not asserted here (see docs/models.md for the full-run figures); the figures are
printed so that ``pytest -s`` shows them.
"""
from __future__ import annotations

import io

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from evaluation.metrics import auroc
from evaluation.squat_dataset import CHANNELS, DATASET, evaluate, load_reps, to_markdown

pytestmark = pytest.mark.data


@pytest.fixture
def dataset(shared_data):
    path = shared_data / DATASET
    if not path.is_dir():
        pytest.skip(f"{path} not found")
    return path


def test_rep_slices_follow_the_metadata(dataset):
    reps = load_reps(dataset, subjects=[3])
    assert len(reps) == 100  # 5 classes x 2 sets x 10 reps
    assert all(rep.data.shape[1] == len(CHANNELS) for rep in reps)
    assert all(184 <= len(rep.data) <= 461 for rep in reps)
    magnitude = np.linalg.norm(reps[0].data[:, :3], axis=1)
    assert 5.0 < np.median(magnitude) < 15.0, "s0 accelerometer is in m/s^2 (gravity ~9.8)"


def test_reduced_evaluation_metrics_are_consistent(dataset, tmp_path):
    progress = io.StringIO()
    report = evaluate(dataset, tmp_path, protocols=("per_athlete", "loso", "enrolment"), subjects=[1, 2, 3],
                      autoencoder=False, progress_stream=progress)
    lines = progress.getvalue().splitlines()
    assert len(lines) == 6, "3 population fits (loso + enrolment) and 3 own-data fits"
    assert any("[loso + enrolment] subject" in line for line in lines) and "(6 of 6," in lines[-1]
    assert all("left" in line for line in lines)
    per_athlete = report["protocols"]["per_athlete"]["per_subject"]
    loso = report["protocols"]["loso"]["per_subject"]
    enrolment = report["protocols"]["enrolment"]["per_subject"]
    assert set(per_athlete) == set(loso) == set(enrolment) == {"subject1", "subject2", "subject3"}
    for protocol, results, n_clean, n_faulty in (("per_athlete", per_athlete, 10, 40), ("loso", loso, 10, 80),
                                                 ("enrolment", enrolment, 10, 40)):
        pooled = report["protocols"][protocol]["pooled"]
        assert pooled["false_alarms"]["n"] == 3 * n_clean and pooled["detection"]["n"] == 3 * n_faulty
        assert pooled["false_alarms"]["k"] == sum(
            sum(a for a, lab in zip(row["scores"]["alarm"], row["scores"]["labels"]) if lab == 0) for row in results.values())
        low, high = pooled["false_alarms"]["ci95"]
        assert low <= pooled["false_alarms"]["rate"] <= high
        for subject, row in results.items():
            labels = np.array(row["scores"]["labels"]) != 0
            assert (row["n_clean"], row["n_faulty"]) == (n_clean, n_faulty)
            assert row["auroc_hybrid"] == pytest.approx(roc_auc_score(labels, row["scores"]["hybrid"]))
            for name, scores in row["scores"]["detectors"].items():
                assert row["auroc_detectors"][name] == pytest.approx(roc_auc_score(labels, scores))
            alarms = np.array(row["scores"]["alarm"])
            assert row["detection_rate"] == pytest.approx(alarms[labels].mean())
            assert row["false_alarm_rate"] == pytest.approx(alarms[~labels].mean())
            assert set(row["auroc_per_fault"]) == {"knee_valgus", "butt_wink", "trunk_lean", "partial_squat"}
            print(f"{protocol} {subject}: AUROC {row['auroc_hybrid']:.3f} "
                  f"DR {row['detection_rate']:.2f} FA {row['false_alarm_rate']:.2f} {row['auroc_detectors']}")
    assert (tmp_path / "squat_eval.json").is_file()
    markdown = (tmp_path / "squat_eval.md").read_text()
    assert markdown == to_markdown(report)
    assert "| subject2 |" in markdown and "## loso" in markdown and "## enrolment" in markdown
    assert "None" not in markdown and "95 % CI" in markdown
    # the enrolment protocol is the loso fit tested on set 2 only
    for subject, row in enrolment.items():
        loso_scores = loso[subject]["scores"]
        on_set_2 = [h for h, k in zip(loso_scores["hybrid"], loso_scores["set_no"]) if k == 2]
        assert row["scores"]["hybrid"] == on_set_2
    # set-level evidence: every set of the next set (clean + 4 faults per subject), each rep counted once
    for level in report["protocols"]["enrolment"]["set_level"]:
        assert level["faulty_sets"] == 3 * 4 and level["false_alarms"]["n"] == 3 * 10
        assert level["detection"]["n"] == 3 * 40 and f"alpha {level['alpha']}" in markdown
    assert "set_level" not in report["protocols"]["loso"]
    # the drift cue per set: each set counted once, cues consistent with the evidence
    for cue, level in zip(report["protocols"]["enrolment"]["set_cue"][2:],
                          report["protocols"]["enrolment"]["set_level"]):
        assert cue["alpha"] == level["alpha"]
        assert cue["faulty_sets_cued"]["n"] == 3 * 4 and cue["clean_sets_cued"]["n"] == 3
        assert cue["faulty_sets_cued"]["k"] == 3 * 4 - level["faulty_sets_never_alarmed"]
        assert f"Drift cue per set (once per set, alpha {cue['alpha']:g})" in markdown
    # the drift cue at each fold's own bundle threshold (calibrated in fit_bundle without the subject)
    own = report["protocols"]["enrolment"]["set_cue_own"]
    alphas = [row["set_drift_alpha"] for row in enrolment.values()]
    assert all(0.0 < a < 1.0 for a in alphas) and own["alpha_range"] == [min(alphas), max(alphas)]
    assert own["faulty_sets_cued"]["n"] == 3 * 4 and own["clean_sets_cued"]["n"] == 3
    assert "at each fold's own bundle threshold" in markdown
    drift = report["set_drift"]
    assert drift["subjects"] == 3 and drift["signal_statistics_mean_abs_d"] > 0


def test_auroc_matches_sklearn_with_ties():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 200)
    scores = np.round(rng.normal(size=200) + labels, 1)
    assert auroc(labels, scores) == pytest.approx(roc_auc_score(labels, scores))
