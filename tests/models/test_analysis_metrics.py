"""Metric formulas, scores and feedback text (models.metrics, models.scores, models.feedback_text)."""
from __future__ import annotations

import math

import numpy as np
import pytest

from models import scores
from models.feedback_text import RULES, rep_feedback, set_feedback
from models.metrics import (
    CHI2_95_2DOF,
    RepMetrics,
    band_rms,
    centre_of_pressure,
    cop_sway,
    mean_asymmetry_pct,
    velocity_loss_pct,
)
from sensors.geometry import DEFAULT_PLATFORM, left_right_asymmetry_pct


def test_cop_is_the_force_weighted_mean_of_the_corner_positions():
    forces = np.array([[100.0, 300.0, 200.0, 400.0]])
    xy = DEFAULT_PLATFORM.corner_xy()
    expect = sum(f * np.array(xy[c]) for f, c in zip(forces[0], ("f_fl", "f_fr", "f_rl", "f_rr")))
    assert np.allclose(centre_of_pressure(forces)[0], expect / forces.sum())
    assert np.isnan(centre_of_pressure(np.zeros((1, 4)))).all()


def test_sway_measures_on_a_known_gaussian_cloud():
    rng = np.random.default_rng(0)
    sd_x, sd_y = 0.01, 0.02
    cop = rng.normal(0, 1, (200_000, 2)) * [sd_x, sd_y]
    sway = cop_sway(cop, 100.0)
    assert sway["cop_ml_rms_m"] == pytest.approx(sd_x, rel=0.01)
    assert sway["cop_ap_rms_m"] == pytest.approx(sd_y, rel=0.01)
    area = math.pi * CHI2_95_2DOF * sd_x * sd_y
    assert sway["cop_ellipse_area_m2"] == pytest.approx(area, rel=0.02)
    # 95 % of the points fall inside that ellipse
    inside = (cop[:, 0] / sd_x) ** 2 + (cop[:, 1] / sd_y) ** 2 <= CHI2_95_2DOF
    assert inside.mean() == pytest.approx(0.95, abs=0.005)


def test_path_velocity_of_a_circle():
    t = np.arange(0, 10, 0.01)
    r, f = 0.01, 0.5
    cop = np.column_stack([r * np.cos(2 * np.pi * f * t), r * np.sin(2 * np.pi * f * t)])
    assert cop_sway(cop, 100.0)["cop_path_velocity_mps"] == pytest.approx(2 * np.pi * r * f, rel=0.02)


def test_asymmetry_is_the_mean_of_the_geometry_formula():
    forces = np.array([[300.0, 200.0, 300.0, 200.0], [250.0, 250.0, 250.0, 250.0]])
    expect = np.mean([left_right_asymmetry_pct(*row) for row in forces])
    assert mean_asymmetry_pct(forces) == pytest.approx(expect)
    assert expect == pytest.approx(10.0)


def test_band_rms_finds_a_tremor_sine():
    t = np.arange(0, 4, 0.01)
    x = 0.8 * np.sin(2 * np.pi * 10 * t) + 0.5 * np.sin(2 * np.pi * 1 * t)
    assert band_rms(x, 100.0) == pytest.approx(0.8 / np.sqrt(2), rel=0.02)


def test_velocity_loss_is_from_the_best_rep_to_the_last():
    assert velocity_loss_pct([0.8, 1.0, 0.9, 0.7]) == pytest.approx(30.0)
    assert velocity_loss_pct([0.8]) is None


def _rep(**kw) -> RepMetrics:
    base = dict(number=3, start_s=1.0, bottom_s=2.0, end_s=3.0, eccentric_s=1.5, concentric_s=0.8,
                rom_m=0.5, mean_concentric_velocity_mps=0.6, peak_concentric_velocity_mps=1.1,
                peak_eccentric_velocity_mps=0.6, sticking_ratio=1.5, max_tilt_deg=0.5,
                signed_max_tilt_deg=0.5, lateral_displacement_m=0.01,
                signed_lateral_displacement_m=0.01, tremor_rms_mps2=0.1, cop_ml_rms_m=0.003,
                cop_ap_rms_m=0.004, asymmetry_pct=0.5, cop_ap_shift_m=0.0)
    base.update(kw)
    return RepMetrics(**base)


@pytest.mark.parametrize("metric,bad", [("max_tilt_deg", 7.0), ("lateral_displacement_m", 0.1),
                                        ("tremor_rms_mps2", 0.8), ("peak_eccentric_velocity_mps", 1.8)])
def test_stability_score_drops_and_risk_rises_with_each_stability_metric(metric, bad):
    clean, faulty = _rep().as_dict(), _rep(**{metric: bad}).as_dict()
    assert scores.stability_score(faulty) < scores.stability_score(clean)
    assert scores.injury_risk(faulty) > scores.injury_risk(clean)
    assert 0 <= scores.injury_risk(faulty) <= 1 and 0 <= scores.stability_score(faulty) <= 100


@pytest.mark.parametrize("metric,bad", [("asymmetry_pct", -12.0), ("cop_ap_rms_m", 0.03)])
def test_balance_score_drops_with_asymmetry_and_sway(metric, bad):
    assert scores.balance_score(_rep(**{metric: bad}).as_dict()) < scores.balance_score(_rep().as_dict())


def test_scores_are_none_without_their_inputs():
    empty = {name: None for name in _rep().as_dict()}
    assert scores.balance_score(empty) is None and scores.stability_score(empty) is None
    assert scores.injury_risk(empty) is None


def test_clean_rep_gets_no_feedback_unless_asked():
    rep = _rep()
    assert rep_feedback(rep) is None
    text = rep_feedback(rep, always=True)
    assert text.startswith("Rep 3: clean rep") and "50 cm" in text and "0.60 m/s" in text


def test_feedback_quotes_the_computed_numbers_and_the_right_side():
    text = rep_feedback(_rep(max_tilt_deg=7.2, signed_max_tilt_deg=7.2))
    assert text.startswith("Rep 3: the bar tipped 7° to the left")
    assert "brace" in text
    text = rep_feedback(_rep(max_tilt_deg=4.4, signed_max_tilt_deg=-4.4, asymmetry_pct=-11.6))
    assert "tipped 4° to the right" in text and "12 % uneven, more on the right" in text
    assert text.count(".") >= 2 and len(text) < 300


def test_at_most_two_findings_most_severe_first():
    rep = _rep(max_tilt_deg=3.1, tremor_rms_mps2=1.5, asymmetry_pct=20.0)
    text = rep_feedback(rep)
    assert "tipped" not in text          # 3.1 / 3: the mildest of the three
    assert text.index("shook") < text.index("uneven")   # 1.5 / 0.3 = 5x before 20 / 5 = 4x


def test_attribution_hook_names_the_top_contributors_when_no_rule_fired():
    text = rep_feedback(_rep(), attribution={"gx": 0.1, "f_fl": 0.6, "az": 0.3})
    assert text.startswith("Rep 3:") and "f_fl and az" in text


def test_set_feedback_summarises_with_recommendations():
    reps = [_rep(number=1), _rep(number=2, max_tilt_deg=6.0, signed_max_tilt_deg=6.0),
            _rep(number=3, max_tilt_deg=5.0, signed_max_tilt_deg=-5.0)]
    summary = {"lift": "squat", "mean_mean_concentric_velocity_mps": 0.61, "velocity_loss_pct": 25.0,
               "balance_score": 93.0, "stability_score": 71.0, "injury_risk": 0.2}
    text = set_feedback(reps, summary)
    assert "Set of 3 squats" in text and "0.61 m/s" in text and "25 %" in text
    assert "(reps 2, 3)" in text and "not a diagnosis" in text
    assert {r.name for r in RULES} >= {"tilt", "asymmetry", "tremor", "sticking", "fast_eccentric"}
