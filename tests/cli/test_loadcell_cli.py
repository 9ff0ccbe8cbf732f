"""`liftguard calibrate loadcells` end to end: a fake platform on a pty, an operator on stdin."""
from __future__ import annotations

import io
import json

import numpy as np
import pytest

from liftguard.cli import main
from sensors.frame import STANDARD_GRAVITY
from sensors.loadcell_calibration import load_calibration, standard_spots
from sensors.loadcell_protocol import encode_frame
from tests.support.loadcells import PERIOD_US, TRUE_SCALE, TRUE_TARE, PtyPlatform, corner_forces

MASS_KG = 20.0


class Operator(io.StringIO):
    """Presses Enter on each prompt, having first done what it asked to the fake platform."""

    def __init__(self, platform_state: dict, presses: int | None = None) -> None:
        super().__init__()
        weight = MASS_KG * STANDARD_GRAVITY
        self.loads = [np.zeros(4)] + [corner_forces(weight, s.x_m, s.y_m, twist_n=10.0 * i)
                                      for i, s in enumerate(standard_spots())]
        self.state = platform_state
        self.presses = len(self.loads) if presses is None else presses

    def readline(self, *args) -> str:
        if not self.loads or self.presses == 0:
            return ""  # EOF
        self.presses -= 1
        self.state["forces"] = self.loads.pop(0)
        return "\n"


@pytest.fixture
def streaming_platform(tmp_path):
    rng = np.random.default_rng(21)
    state = {"forces": np.zeros(4)}

    def frame(seq: int) -> bytes:
        counts = np.round(TRUE_TARE + TRUE_SCALE * state["forces"] + rng.normal(0, 3, 4))
        return encode_frame(seq, seq * PERIOD_US, tuple(int(c) for c in counts))

    platform = PtyPlatform(tmp_path / "usb-liftguard-platform")
    platform.stream(frame, period_s=0.004)
    yield platform, state
    platform.unplug()


def write_config(tmp_path, port: str):
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[device]\ndata_dir = "{tmp_path / "data"}"\n\n'
                   f'[loadcells]\nport = "{port}"\n')
    return cfg


def test_interactive_flow_writes_a_calibration_that_recovers_the_truth(
        tmp_path, monkeypatch, capsys, streaming_platform):
    platform, state = streaming_platform
    monkeypatch.setattr("sys.stdin", Operator(state))
    cfg = write_config(tmp_path, str(platform.link))
    code = main(["--config", str(cfg), "calibrate", "loadcells", "--known-kg", "20",
                 "--seconds", "0.3"])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert "Remove all weight" in out.out and "front-left load cell" in out.out
    cal = load_calibration(tmp_path / "data" / "loadcell-calibration.json")
    np.testing.assert_allclose(cal.tare_counts, TRUE_TARE, atol=3.0)
    np.testing.assert_allclose(cal.counts_per_newton, TRUE_SCALE, rtol=5e-3)
    assert set(cal.residual_pct) == {s.name for s in standard_spots()}


def test_out_option_and_closed_stdin(tmp_path, monkeypatch, capsys, streaming_platform):
    platform, state = streaming_platform
    monkeypatch.setattr("sys.stdin", Operator(state, presses=2))
    cfg = write_config(tmp_path, str(platform.link))
    out_file = tmp_path / "elsewhere.json"
    code = main(["--config", str(cfg), "calibrate", "loadcells", "--known-kg", "20",
                 "--seconds", "0.5", "--out", str(out_file)])
    assert code == 2
    assert "stdin closed before step 'corner-fl'" in capsys.readouterr().err
    assert not out_file.exists()


def test_missing_port_fails_with_the_cable_hint(tmp_path, capsys):
    cfg = write_config(tmp_path, str(tmp_path / "no-such-tty"))
    code = main(["--config", str(cfg), "calibrate", "loadcells", "--known-kg", "20"])
    assert code == 1
    assert "USB cable" in capsys.readouterr().err


def test_non_positive_mass_is_a_usage_error(tmp_path, capsys):
    cfg = write_config(tmp_path, "loop://")
    assert main(["--config", str(cfg), "calibrate", "loadcells", "--known-kg", "0"]) == 2
    assert "--known-kg" in capsys.readouterr().err


def test_saved_file_is_plain_json(tmp_path, monkeypatch, streaming_platform):
    platform, state = streaming_platform
    monkeypatch.setattr("sys.stdin", Operator(state))
    cfg = write_config(tmp_path, str(platform.link))
    out_file = tmp_path / "cal.json"
    assert main(["--config", str(cfg), "calibrate", "loadcells", "--known-kg", "20",
                 "--seconds", "0.15", "--out", str(out_file)]) == 0
    assert json.loads(out_file.read_text())["known_mass_kg"] == 20.0
