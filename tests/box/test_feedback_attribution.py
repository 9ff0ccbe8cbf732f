"""Rep feedback text from the model's attribution and from shifts against the set's earlier reps."""
from __future__ import annotations

import statistics

import pytest

from models import analyze_frames, rep_feedback, set_feedback
from models.feedback_text import attribution_hint, attribution_reason
from sensors.simulator import simulate_set


def _rep_of(analysis, truth):
    return max(analysis.reps, key=lambda r: min(r.end_s, truth.end_s) - max(r.start_s, truth.start_s))


@pytest.mark.parametrize("sign, side", [(1.0, "left"), (-1.0, "right")])
def test_left_right_corner_load_deviation_reads_as_a_weight_shift(sign, side):
    attribution = {"channels": [("f_fl", 0.4), ("ax", 0.3)],
                   "features": [("f_fl_mean", 4.0 * sign), ("f_rl_phase2_mean", 3.5 * sign),
                                ("f_fr_mean", -4.2 * sign), ("ax_std", 1.0)]}
    assert attribution_hint(attribution) == f"a weight shift onto the {side} foot"
    assert attribution_reason(attribution) == f"a weight shift onto the {side} foot (anomaly model)"


def test_other_patterns_and_the_fallback():
    assert "swaying sideways" in attribution_hint({"features": [("ax_std", 6.0), ("ax_range", 5.0)]})
    assert attribution_reason({"features": [("gy_std", 6.0)]}) == "bar tipping to one side (anomaly model)"
    assert "tremor" in attribution_hint({"features": [("az_rms_diff", 5.0), ("gx_rms_diff", 4.0)]})
    assert "quicker" in attribution_hint({"features": [("duration_s", -4.0)]})
    # nothing clear among the features: the channels the autoencoder blamed are named
    assert attribution_hint({"channels": [("gz", 0.6), ("az", 0.3)], "features": [("gz_mean", 1.0)]}) == \
        "unusual movement, mostly in gz and az"


def test_a_flagged_rep_without_rule_findings_gets_the_attribution_text():
    sset = simulate_set("squat", reps=3, seed=4)
    rep = analyze_frames(sset.frames, "squat").reps[1]
    assert rep_feedback(rep) is None, "a clean simulated rep fires no rule"
    text = rep_feedback(rep, {"channels": [], "features": [("f_fr_mean", 5.0), ("f_fl_mean", -5.0)]})
    assert text.startswith(f"Rep {rep.number}: ") and "weight shift onto the right foot" in text


@pytest.mark.parametrize("fault, seed", [("weight_shift", 0), ("weight_shift", 3), ("cop_forward", 0)])
def test_shift_against_earlier_reps_names_the_side_and_the_computed_numbers(fault, seed):
    sset = simulate_set("squat", reps=6, faults={4: fault}, seed=seed)
    analysis = analyze_frames(sset.frames, "squat")
    truth = sset.reps[3]
    rep = _rep_of(analysis, truth)
    k = analysis.reps.index(rep)
    earlier = analysis.reps[:k]
    text = rep_feedback(rep, earlier=earlier)
    assert text is not None
    if fault == "weight_shift":
        side = "left" if truth.asymmetry_pct > 0 else "right"   # + = more load on the left
        if abs(rep.asymmetry_pct) < 5.0:                          # below the absolute rule
            assert f"shifted towards the {side} foot" in text
            assert f"({abs(rep.asymmetry_pct):.0f} % uneven" in text
        else:
            assert f"more on the {side} foot" in text
    elif rep.cop_ap_shift_m >= 0.02:                              # the absolute rule says it
        assert f"moved {100 * rep.cop_ap_shift_m:.0f} cm towards your toes" in text
    else:
        change = rep.cop_ap_shift_m - statistics.median(r.cop_ap_shift_m for r in earlier)
        assert f"moved {100 * change:.1f} cm towards your toes compared with your earlier reps" in text
    # the clean reps before it are not flagged against their own history
    assert all(rep_feedback(r, earlier=analysis.reps[:i]) is None for i, r in enumerate(earlier))


def test_set_summary_names_the_reps_the_model_flagged():
    sset = simulate_set("squat", reps=3, seed=4)
    analysis = analyze_frames(sset.frames, "squat")
    clean = set_feedback(analysis.reps, analysis.summary)
    assert "No form issues detected" in clean
    flagged = set_feedback(analysis.reps, analysis.summary, {2: "shaking (a tremor)"})
    assert "The anomaly model flagged rep 2 (shaking (a tremor))" in flagged
    assert "No form issues detected" not in flagged
