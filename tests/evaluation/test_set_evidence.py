"""Evidence accumulated over a set's reps (reported apart from the per-rep decision)."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import chi2

from evaluation import set_evidence
from evaluation.set_evidence import set_level_figures
from models import set_drift


def test_the_evaluation_uses_the_box_s_statistic_trimmed_fisher_against_the_chi_square_law():
    assert set_evidence.running_set_p is set_drift.running_set_p
    assert set_evidence.first_cue is set_drift.first_cue
    scores = np.array([1.0, 0.2, 2.5, 0.7])  # -log10 p of four reps
    expected = [1.0] + [chi2.sf(2 * np.log(10.0) * (scores[: i + 1].sum() - scores[: i + 1].max()), 2 * i)
                        for i in range(1, 4)]
    np.testing.assert_allclose(set_evidence.running_set_p(scores), expected, rtol=1e-12)


def test_moderate_evidence_repeated_alarms_on_a_later_rep():
    """Every rep at p = 0.1 never reaches a per-rep alpha of 0.01; seven of them in a row do
    (six count: the most extreme is left out)."""
    figures = set_level_figures([(True, np.ones(10))], alpha=0.01)
    assert figures["first_alarm_rep_median"] == 7.0
    assert figures["detection"]["k"] == 4 and figures["detection"]["n"] == 10
    assert figures["faulty_sets_never_alarmed"] == 0


def test_clean_sets_of_calibrated_independent_reps_alarm_at_most_at_alpha():
    """Two-rep sets of uniform p-values: the trimmed statistic is the larger p, which is at
    most alpha with probability alpha squared; the chi-square law is conservative."""
    rng = np.random.default_rng(0)
    sets = [(False, -np.log10(rng.uniform(size=2))) for _ in range(4000)]
    figures = set_level_figures(sets, alpha=0.2)
    assert figures["false_alarms"]["k"] == pytest.approx(4000 * 0.2 ** 2, rel=0.2)
    assert np.isnan(figures["first_alarm_rep_median"]) and figures["faulty_sets"] == 0


def test_an_unscored_rep_adds_no_evidence_and_a_quiet_set_never_alarms():
    figures = set_level_figures([(True, np.array([np.nan, 0.1, 0.1]))], alpha=0.01)
    assert figures["faulty_sets_never_alarmed"] == 1 and figures["detection"]["k"] == 0


def test_set_cue_figures_count_sets_once_and_say_where_the_cue_fired():
    from evaluation.set_evidence import set_cue_figures

    sets = [(True, np.array([0.1, 3.0, 3.0, 3.0])), (True, np.array([0.1, 0.1, 0.1, 0.1])),
            (False, np.array([0.2, 0.3, 0.1, 0.2])), (False, np.array([5.0, 5.0, 0.0, 0.0]))]
    out = set_cue_figures(sets, alpha=1e-3)
    assert (out["faulty_sets_cued"]["k"], out["faulty_sets_cued"]["n"]) == (1, 2)
    assert (out["clean_sets_cued"]["k"], out["clean_sets_cued"]["n"]) == (1, 2)
    assert out["cue_rep_median"] == 4.0 and out["cue_rep_range"] == [4, 4]


def test_each_set_at_its_own_bundle_s_threshold():
    from evaluation.set_evidence import own_threshold_cue_figures

    drift = np.array([0.1, 3.0, 3.0, 3.0])
    out = own_threshold_cue_figures([(True, drift, 1e-3), (True, drift, 1e-5), (False, np.zeros(4), 0.5)])
    assert (out["faulty_sets_cued"]["k"], out["faulty_sets_cued"]["n"]) == (1, 2)
    assert (out["clean_sets_cued"]["k"], out["clean_sets_cued"]["n"]) == (0, 1)
    assert out["alpha_range"] == [1e-5, 0.5]
