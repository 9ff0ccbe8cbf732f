"""The bar load weighed by the platform (models.bar_load) on simulated sets: per lift, the
set-ups it must refuse with their reason, a spotter touching the bar, and what a rep stores."""
from __future__ import annotations

import pytest

from models import analyze_frames
from models.analysis import set_bar_load
from models.bar_load import rep_load_fields
from sensors.simulator import NoiseModel, simulate_set

WEIGHABLE = {"squat": {}, "bench_press": {"bench_setup": "rack_off_platform"},
             "deadlift": {"lockout_hold_s": 0.8}}


def weigh(lift: str, bench_on_platform: bool = True, **kwargs):
    sim = simulate_set(lift=lift, reps=4, **kwargs)
    return set_bar_load(analyze_frames(sim.frames, lift, bench_on_platform=bench_on_platform))


@pytest.mark.parametrize("lift", sorted(WEIGHABLE))
@pytest.mark.parametrize("load, noise_n", [(20.0, 1.0), (140.0, 5.0)])
def test_each_lift_is_weighed_within_its_uncertainty(lift, load, noise_n):
    got = weigh(lift, seed=4, bar_load_kg=load, athlete_mass_kg=90,
                noise=NoiseModel(loadcell_noise_n=noise_n), **WEIGHABLE[lift])
    assert got.reason is None and got.kg is not None
    assert abs(got.kg - load) <= got.uncertainty_kg <= max(1.0, 0.02 * load)
    assert got.alone_stretches >= 1 and got.holding_stretches >= 1


@pytest.mark.parametrize("lift, kwargs, on_platform, says", [
    ("bench_press", {"bench_setup": "uprights_on_platform"}, True, "never left the rack"),
    ("bench_press", {"bench_setup": "bench_off_platform"}, False, "bench stands off the platform"),
    ("deadlift", {}, True, "no still stretch of at least 0.4 s with the bar"),
])
def test_what_the_platform_cannot_weigh_is_refused_with_its_reason(lift, kwargs, on_platform, says):
    got = weigh(lift, on_platform, seed=3, bar_load_kg=60.0, **kwargs)
    assert got.kg is None and says in got.reason


@pytest.mark.parametrize("lift, kwargs", [("squat", {"spotter_rep": 3}),
                                          ("bench_press", {"bench_setup": "rack_off_platform",
                                                           "spotter_rep": 2})])
def test_a_spotter_touching_the_bar_never_gives_a_wrong_load(lift, kwargs):
    """Refused naming the spotter when the touch spans a still stretch with the bar; when it
    spans none, the stretches are clean and the load is right."""
    outcomes = []
    for seed in range(6):
        got = weigh(lift, seed=seed, bar_load_kg=60.0, **kwargs)
        if got.kg is None:
            assert "spotter" in got.reason
        else:
            assert abs(got.kg - 60.0) <= got.uncertainty_kg
        outcomes.append(got.kg is None)
    assert sum(outcomes) >= 4      # most touches span a stretch: the fault is really exercised


def test_spotter_touch_moves_the_simulated_platform_force_by_its_share():
    clean = simulate_set("squat", 4, seed=2, noise=NoiseModel.none())
    touched = simulate_set("squat", 4, seed=2, noise=NoiseModel.none(), spotter_rep=3)
    diff = (clean.clean.forces.sum(1) - touched.clean.forces.sum(1)) / 9.80665
    share = touched.plan.spotter_share
    assert diff.max() == pytest.approx(share * 60.0, rel=1e-3)     # the spotter holds that weight
    assert diff[:len(diff) // 3].max() == pytest.approx(0.0, abs=1e-9)   # not before rep 3
    assert (clean.clean.accel == touched.clean.accel).all()        # the bar moves the same


def test_default_sets_are_unchanged_by_the_load_path_options():
    for lift in ("squat", "bench_press", "deadlift"):
        a = simulate_set(lift, 3, seed=9)
        b = simulate_set(lift, 3, seed=9, bench_setup="uprights_on_platform", lockout_hold_s=0.0)
        assert [f.values for f in a.frames] == [f.values for f in b.frames]


def test_entered_load_wins_and_both_are_kept():
    measured = weigh("squat", seed=5, bar_load_kg=60.0)
    fields = rep_load_fields(measured, 70.0)
    assert fields["bar_load_kg"] == 70.0 and fields["bar_load_source"] == "entered"
    assert fields["bar_load_measured_kg"] == pytest.approx(60.0, abs=0.5)
    only = rep_load_fields(measured, None)
    assert only["bar_load_source"] == "measured" and only["bar_load_kg"] == measured.kg
    refused = rep_load_fields(weigh("deadlift", seed=5), None)
    assert refused["bar_load_kg"] is None and refused["bar_load_source"] is None
    assert "lockout" in refused["bar_load_unmeasured_reason"]


def test_simulate_and_analyze_commands_weigh_a_held_deadlift(tmp_path):
    import subprocess
    import sys

    rec = tmp_path / "dl.csv"
    run = [sys.executable, "-m", "liftguard"]
    made = subprocess.run(run + ["simulate", "--lift", "deadlift", "--reps", "3", "--bar-kg", "100",
                                 "--lockout-hold", "0.8", "--out", str(rec)],
                          capture_output=True, text=True, timeout=120)
    assert made.returncode == 0, made.stderr
    out = subprocess.run(run + ["analyze", str(rec), "--lift", "deadlift"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    line = next(l for l in out.stdout.splitlines() if l.startswith("Bar load "))
    kg, unc = (float(x) for x in line.split()[2:5:2])
    assert abs(kg - 100.0) <= unc and line.endswith("kg weighed by the platform.")
    bad = subprocess.run(run + ["simulate", "--lift", "squat", "--reps", "3", "--spotter", "4"],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "--spotter 4 is out of range 1..3" in bad.stderr


@pytest.mark.parametrize("on_platform, says", [
    ("true", "the bar never left the rack as far as the platform can tell"),
    ("false", "the bench stands off the platform ([loadcells] bench_on_platform = false)")])
def test_the_box_says_why_a_bench_press_was_not_weighed(tmp_path, on_platform, says):
    """`liftguard demo` on a bench whose uprights stand on the platform (the simulator's
    default): the box's config decides which reason the set summary gives."""
    import os
    import subprocess
    import sys

    cfg = tmp_path / "box.toml"
    cfg.write_text(f"[loadcells]\nbench_on_platform = {on_platform}\n")
    env = dict(os.environ, LIFTGUARD_DEMO_DIR=str(tmp_path / "demo"))
    out = subprocess.run([sys.executable, "-m", "liftguard", "--config", str(cfg), "demo",
                          "--fast", "--lift", "bench_press", "--reps", "3", "--faults", ""],
                         capture_output=True, text=True, env=env, timeout=180)
    assert out.returncode == 0, out.stderr[-2000:]
    summary = next(l for l in out.stdout.splitlines() if l.startswith("session summary:"))
    assert f"Bar load not weighed by the platform: {says}" in summary
