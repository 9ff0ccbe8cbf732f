"""Load-cell calibration math and file: recovers a known tare and scale from placements."""
from __future__ import annotations

import json

import numpy as np
import pytest

from sensors.errors import SensorError
from sensors.frame import PLATFORM_CHANNELS, STANDARD_GRAVITY
from sensors.geometry import DEFAULT_PLATFORM
from sensors.loadcell_calibration import (
    CalibrationError,
    LoadCellCalibration,
    load_calibration,
    noise_counts,
    placement_from_samples,
    save_calibration,
    solve_calibration,
    standard_spots,
    tare_from_samples,
)
from tests.support.loadcells import TRUE_SCALE, TRUE_TARE, corner_forces

NOISE = 3.0
MASS_KG = 20.0


def counts_for(forces: np.ndarray, rng: np.random.Generator, n: int = 200) -> np.ndarray:
    ideal = TRUE_TARE + TRUE_SCALE * forces
    return np.round(ideal + rng.normal(0.0, NOISE, size=(n, 4)))


def record_session(rng: np.random.Generator, mass_kg: float = MASS_KG,
                   placed_kg: dict[str, float] | None = None):
    """(tare samples, placements) as the CLI would record them."""
    empty = counts_for(np.zeros(4), rng)
    placements = []
    for spot in standard_spots():
        kg = (placed_kg or {}).get(spot.name, mass_kg)
        forces = corner_forces(kg * STANDARD_GRAVITY, spot.x_m, spot.y_m,
                               twist_n=rng.uniform(-15, 15))
        placements.append(placement_from_samples(spot, counts_for(forces, rng)))
    return empty, placements


def test_corner_forces_model_is_in_equilibrium():
    f = corner_forces(100.0, 0.1, -0.2, twist_n=7.0)
    xy = np.array([DEFAULT_PLATFORM.corner_xy()[c] for c in PLATFORM_CHANNELS])
    assert f.sum() == pytest.approx(100.0)
    assert f @ xy[:, 0] == pytest.approx(100.0 * 0.1)
    assert f @ xy[:, 1] == pytest.approx(100.0 * -0.2)


def test_solver_recovers_tare_and_scale_despite_unknown_load_split():
    rng = np.random.default_rng(11)
    empty, placements = record_session(rng)
    cal = solve_calibration(tare_from_samples(empty), placements, MASS_KG,
                            noise=noise_counts(empty))
    np.testing.assert_allclose(cal.tare_counts, TRUE_TARE, atol=2.0)
    np.testing.assert_allclose(cal.counts_per_newton, TRUE_SCALE, rtol=2e-3)
    assert max(abs(r) for r in cal.residual_pct.values()) < 0.5
    assert noise_counts(empty) == pytest.approx([NOISE] * 4, rel=0.3)


def test_calibration_turns_counts_back_into_the_true_forces():
    rng = np.random.default_rng(12)
    empty, placements = record_session(rng)
    cal = solve_calibration(tare_from_samples(empty), placements, MASS_KG)
    true = corner_forces(800.0, -0.12, 0.05, twist_n=20.0)
    counts = np.round(TRUE_TARE + TRUE_SCALE * true).astype(int)
    np.testing.assert_allclose(cal.forces(counts), true, atol=2.0)
    assert sum(cal.forces(counts)) == pytest.approx(800.0, rel=5e-3)


def test_dead_corner_is_named():
    rng = np.random.default_rng(13)
    empty, placements = record_session(rng)
    dead = [type(p)(p.name, p.x_m, p.y_m, p.counts[:3] + (TRUE_TARE[3],)) for p in placements]
    with pytest.raises(CalibrationError, match="rear-right"):
        solve_calibration(tare_from_samples(empty), dead, MASS_KG, noise=noise_counts(empty))


def test_centre_only_cannot_separate_the_corners():
    rng = np.random.default_rng(14)
    empty, placements = record_session(rng)
    with pytest.raises(CalibrationError, match="cannot separate"):
        solve_calibration(tare_from_samples(empty), placements[:1], MASS_KG)


def test_wrong_mass_in_one_step_is_refused():
    rng = np.random.default_rng(15)
    empty, placements = record_session(rng, placed_kg={"corner-fr": 30.0})
    with pytest.raises(CalibrationError, match="off the known 20 kg"):
        solve_calibration(tare_from_samples(empty), placements, MASS_KG)


def test_calibration_error_is_a_sensor_error():
    assert issubclass(CalibrationError, SensorError)


def test_save_is_atomic_and_round_trips(tmp_path):
    rng = np.random.default_rng(16)
    empty, placements = record_session(rng)
    cal = solve_calibration(tare_from_samples(empty), placements, MASS_KG)
    path = tmp_path / "sub" / "loadcell-calibration.json"
    path.parent.mkdir()
    path.write_text("old")
    save_calibration(cal, path)
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left
    loaded = load_calibration(path)
    assert loaded == cal


@pytest.mark.parametrize("content, message", [
    ("{not json", "not valid JSON"),
    ('{"format": 2}', "'format'"),
    ('{"format": 1, "counts_per_newton": {}}', "'tare_counts'"),
])
def test_bad_calibration_files_name_the_problem(tmp_path, content, message):
    path = tmp_path / "cal.json"
    path.write_text(content)
    with pytest.raises(CalibrationError, match=message) as err:
        load_calibration(path)
    assert str(path) in str(err.value)


def test_bad_corner_value_names_the_key(tmp_path):
    cal = LoadCellCalibration((0.0,) * 4, (1.0,) * 4)
    raw = cal.to_json()
    raw["counts_per_newton"]["f_rl"] = 0
    path = tmp_path / "cal.json"
    path.write_text(json.dumps(raw))
    with pytest.raises(CalibrationError, match=r"counts_per_newton\.f_rl"):
        load_calibration(path)
    raw["counts_per_newton"]["f_rl"] = "heavy"
    path.write_text(json.dumps(raw))
    with pytest.raises(CalibrationError, match=r"counts_per_newton\.f_rl"):
        load_calibration(path)


def test_missing_file_says_how_to_make_one(tmp_path):
    with pytest.raises(CalibrationError, match="liftguard calibrate loadcells"):
        load_calibration(tmp_path / "absent.json")
