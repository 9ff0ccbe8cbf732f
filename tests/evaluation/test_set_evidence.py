"""Evidence accumulated over a set's reps (reported apart from the per-rep decision)."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import chi2

from evaluation.set_evidence import running_fisher_p, set_level_figures


def test_running_fisher_matches_the_chi_square_law():
    scores = np.array([1.0, 0.2, 2.5])  # -log10 p of three reps
    expected = [chi2.sf(-2 * np.log(10.0 ** -scores[: i + 1]).sum(), 2 * (i + 1)) for i in range(3)]
    np.testing.assert_allclose(running_fisher_p(scores), expected, rtol=1e-12)


def test_moderate_evidence_repeated_alarms_on_a_later_rep():
    """Every rep at p = 0.1 never reaches a per-rep alpha of 0.01; six of them in a row do."""
    figures = set_level_figures([(True, np.ones(10))], alpha=0.01)
    assert figures["first_alarm_rep_median"] == 6.0
    assert figures["detection"]["k"] == 5 and figures["detection"]["n"] == 10
    assert figures["faulty_sets_never_alarmed"] == 0


def test_clean_sets_of_calibrated_independent_reps_alarm_at_about_alpha():
    rng = np.random.default_rng(0)
    sets = [(False, -np.log10(rng.uniform(size=1))) for _ in range(4000)]  # one-rep sets: the plain rate
    figures = set_level_figures(sets, alpha=0.05)
    assert figures["false_alarms"]["rate"] == pytest.approx(0.05, abs=0.012)
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
    assert out["cue_rep_median"] == 3.0 and out["cue_rep_range"] == [3, 3]
