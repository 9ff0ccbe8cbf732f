"""`liftguard evaluate` on a tiny run: JSON, markdown, plots, and the real-data part's skip reason."""
from __future__ import annotations

import importlib.util
import json

from edge_agent.cli import main


def test_tiny_simulator_evaluation_writes_json_markdown_and_plots(tmp_path):
    out = tmp_path / "eval"
    rc = main(["evaluate", "--seeds", "1", "--lift", "squat", "--fault", "tremor", "--fault", "tilt",
               "--data-dir", str(tmp_path / "no-data"), "--out", str(out)])
    assert rc == 0
    report = json.loads((out / "evaluation.json").read_text())
    sim = report["simulator"]
    assert sim["scorer"]["kind"] == "model"
    assert set(sim["per_fault"]) == {"tremor", "tilt"}
    for row in sim["per_fault"].values():
        assert row["sets"] == 1 and 0.0 <= row["detection_rate"] <= 1.0
        assert row["live_detection_rate"] <= row["detection_rate"]
    assert sim["clean_reps"] > 0
    assert sim["false_alerts_per_100_clean_reps"] == sim["live_false_alerts_per_100_clean_reps"] + sim["rep_flags_per_100_clean_reps"]
    assert set(sim["rep_score_auroc"]) <= {"tremor", "tilt"}
    assert "dataset not found" in report["real_squats"]["skipped"]
    markdown = (out / "evaluation.md").read_text()
    assert "| tremor |" in markdown and "Skipped: dataset not found" in markdown
    if importlib.util.find_spec("matplotlib") is None:
        assert "matplotlib" in report["plots"]["skipped"]
    else:
        for name in ("roc_simulator.png", "scores_simulator.png"):
            assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_unknown_fault_is_a_usage_error(tmp_path, capsys):
    assert main(["evaluate", "--fault", "wobble", "--out", str(tmp_path)]) == 2
    assert "unknown fault type" in capsys.readouterr().err
