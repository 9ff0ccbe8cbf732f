"""`liftguard evaluate`: how well the anomaly models work, as JSON + markdown + PNG plots.

1. Simulator faults through the daemon's decision path (``edge_agent.daemon.simfaults``) with
   the given bundle (default: the one shipped in the repo): per fault type the detection rate
   at the shipped thresholds, false alerts per 100 clean reps, delay from fault onset; per-rep
   model scores give ROC curves (faulty reps of each type vs clean reps) and distributions.
2.-4. Real squats (``models.evaluation.squat_dataset``): leave-one-subject-out, per-athlete,
   each detector alone vs the hybrid. Skipped, with the reason, when the dataset is absent.

Plots need matplotlib (the ``train`` extra); without it they are skipped with a message.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import math
import os
from pathlib import Path
from typing import Any

from edge_agent.cli import UsageError

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[2]
DEFAULT_BUNDLE = REPO / "models" / "bundles" / "default"
SQUAT_DATASET = "squat-form-imu-3sensor"
TARGET_DETECTION, TARGET_FALSE_PER_100 = 0.95, 2.0


def default_data_dir() -> Path:
    return Path(os.environ.get("LIFTGUARD_DATA_DIR") or REPO.parent / "shared" / "data")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="evaluate the anomaly models (simulator faults, real squats)",
                       description="Simulator faults through the daemon's decision path, and the "
                                   "real-squat protocols; writes JSON, markdown and PNG plots.")
    p.add_argument("--bundle", default=None, help=f"model bundle (default: {DEFAULT_BUNDLE})")
    p.add_argument("--out", default="liftguard-eval", help="output directory (default ./liftguard-eval)")
    p.add_argument("--seeds", type=int, default=5, metavar="N", help="simulated sets per lift and fault (default 5)")
    p.add_argument("--lift", action="append", choices=("squat", "bench_press", "deadlift"),
                   help="lift(s) to simulate (default: all three)")
    p.add_argument("--fault", action="append", default=None, help="fault type(s) (default: all)")
    p.add_argument("--data-dir", default=None, help="datasets root (default ../shared/data or $LIFTGUARD_DATA_DIR)")
    p.add_argument("--skip-real", action="store_true", help="simulator part only")
    p.add_argument("--subjects", type=int, nargs="*", default=None, help="real data: these subjects only")
    p.add_argument("--no-autoencoder", action="store_true", help="real data: fit without the autoencoder")
    p.add_argument("--ae-epochs", type=int, default=20)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from sensors.simulator import FAULT_TYPES

    if not 1 <= args.seeds <= 200:
        raise UsageError(f"--seeds {args.seeds} is out of range 1..200")
    unknown = set(args.fault or ()) - set(FAULT_TYPES)
    if unknown:
        raise UsageError(f"--fault: unknown fault type(s) {sorted(unknown)}; known: {', '.join(FAULT_TYPES)}")
    bundle = Path(args.bundle) if args.bundle else DEFAULT_BUNDLE
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {"bundle": str(bundle)}
    report["simulator"] = simulator_part(bundle, args, tuple(args.fault or FAULT_TYPES))
    report["real_squats"] = real_part(args, out)
    report["plots"] = write_plots(report["simulator"], out)
    scores = report["simulator"].pop("rep_scores")
    report["simulator"]["rep_score_auroc"] = _aurocs(scores)
    (out / "evaluation.json").write_text(json.dumps(report, indent=2))
    (out / "evaluation.md").write_text(to_markdown(report))
    print(to_markdown(report))
    print(f"written: {out / 'evaluation.json'}, {out / 'evaluation.md'}"
          + "".join(f", {p}" for p in report["plots"].get("files", [])))
    return 0


def simulator_part(bundle: Path, args: argparse.Namespace, faults: tuple[str, ...]) -> dict[str, Any]:
    from edge_agent.daemon.scoring import make_scorer
    from edge_agent.daemon.simfaults import LIFTS, evaluate_faults

    cfg = args.cfg
    alert_on, alert_off = cfg.get("feedback.alert_on"), cfg.get("feedback.alert_off")
    scorer, info, reason = make_scorer(bundle, alert_on)
    result = evaluate_faults(scorer, seeds=range(args.seeds), lifts=tuple(args.lift or LIFTS), faults=faults,
                             model=getattr(scorer, "model", None), alert_on=alert_on, alert_off=alert_off,
                             min_gap_s=cfg.get("feedback.min_alert_gap_s"), hop_s=1.0 / cfg.get("daemon.hop_hz"),
                             window_s=cfg.get("daemon.window_s"))
    result["scorer"] = info or {"kind": scorer.kind, "why_no_model": reason}
    result["targets"] = {"detection_rate": TARGET_DETECTION, "false_alerts_per_100_clean_reps": TARGET_FALSE_PER_100}
    return result


def real_part(args: argparse.Namespace, out: Path) -> dict[str, Any]:
    if args.skip_real:
        return {"skipped": "--skip-real"}
    data = Path(args.data_dir) if args.data_dir else default_data_dir()
    if not (data / SQUAT_DATASET).is_dir():
        reason = f"dataset not found at {data / SQUAT_DATASET}"
        print(f"real-squat evaluation skipped: {reason}")
        return {"skipped": reason}
    from models.evaluation.squat_dataset import evaluate

    report = evaluate(data / SQUAT_DATASET, out, subjects=args.subjects,
                      autoencoder=not args.no_autoencoder, ae_epochs=args.ae_epochs)
    return {protocol: result["mean"] for protocol, result in report["protocols"].items()} | {
        "details": "squat_eval.json / squat_eval.md"}


def _clean(values: list[float]) -> list[float]:
    return [v for v in values if isinstance(v, float) and math.isfinite(v)]


def _aurocs(scores: dict[str, list[float]]) -> dict[str, float | None]:
    from models.evaluation.metrics import auroc

    clean = _clean(scores.get("clean", []))
    out = {}
    for fault, values in scores.items():
        faulty = _clean(values)
        if fault == "clean" or not clean or not faulty:
            continue
        out[fault] = round(auroc([0] * len(clean) + [1] * len(faulty), clean + faulty), 3)
    return out


def _roc(clean: list[float], faulty: list[float]) -> tuple[list[float], list[float]]:
    thresholds = sorted(set(clean + faulty), reverse=True)
    fpr, tpr = [0.0], [0.0]
    for t in thresholds:
        fpr.append(sum(c >= t for c in clean) / len(clean))
        tpr.append(sum(f >= t for f in faulty) / len(faulty))
    return fpr, tpr


def write_plots(sim: dict[str, Any], out: Path) -> dict[str, Any]:
    if importlib.util.find_spec("matplotlib") is None:
        message = "plots skipped: matplotlib is not installed (pip install '.[train]')"
        print(message)
        return {"skipped": message}
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scores = sim["rep_scores"]
    clean = _clean(scores.get("clean", []))
    faults = {k: _clean(v) for k, v in scores.items() if k != "clean" and _clean(v)}
    if not clean or not faults:
        return {"skipped": "no per-rep model scores (no model bundle loaded)"}
    files = []
    fig, ax = plt.subplots(figsize=(6, 6))
    for fault, values in faults.items():
        ax.plot(*_roc(clean, values), label=fault)
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":")
    ax.set(xlabel="false-positive rate (clean reps)", ylabel="detection rate", title="Simulator: per-rep model score ROC")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "roc_simulator.png", dpi=100)
    files.append(str(out / "roc_simulator.png"))
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.hist([clean] + list(faults.values()), bins=30, label=["clean"] + list(faults), histtype="step", density=True)
    ax.set(xlabel="per-rep anomaly score (-log10 fused p)", ylabel="density", title="Simulator: score distributions")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "scores_simulator.png", dpi=100)
    files.append(str(out / "scores_simulator.png"))
    plt.close(fig)
    return {"files": files}


def to_markdown(report: dict[str, Any]) -> str:
    sim = report["simulator"]
    lines = ["# liftguard anomaly-model evaluation", "", f"Bundle: `{report['bundle']}` "
             f"(real-time scorer: {sim['scorer'].get('kind')})", "",
             "## Simulator faults (daemon decision path)", "",
             f"{len(sim['lifts'])} lifts x {len(sim['seeds'])} seeds per fault; {sim['clean_reps']} clean reps.", "",
             "| fault | detection | live detection | delay median ms | live delay median ms | rep-score AUROC |",
             "|---|---|---|---|---|---|"]
    aurocs = sim.get("rep_score_auroc", {})
    for fault, row in sim["per_fault"].items():
        lines.append(f"| {fault} | {row['detection_rate']:.2f} | {row['live_detection_rate']:.2f} | "
                     f"{row['delay_median_ms']} | {row['live_delay_median_ms']} | {aurocs.get(fault, 'n/a')} |")
    lines += ["", f"Mean detection {sim['detection_rate']:.3f} (target >= {TARGET_DETECTION}); false alerts per "
              f"100 clean reps {sim['false_alerts_per_100_clean_reps']} (live {sim['live_false_alerts_per_100_clean_reps']}, "
              f"rep verdicts {sim['rep_flags_per_100_clean_reps']}; target <= {TARGET_FALSE_PER_100}).", ""]
    real = report["real_squats"]
    lines += ["## Real squats (leave-one-subject-out, per-athlete, detectors vs hybrid)", ""]
    if "skipped" in real:
        lines.append(f"Skipped: {real['skipped']}.")
    else:
        for protocol in ("loso", "per_athlete"):
            if protocol in real:
                mean = real[protocol]
                detectors = ", ".join(f"{k} {v:.3f}" for k, v in mean["auroc_detectors"].items())
                lines.append(f"- {protocol}: AUROC hybrid {mean['auroc_hybrid']:.3f} ({detectors}); detection "
                             f"{mean['detection_rate']:.2f} at {mean['false_alarm_rate']:.2f} held-out false alarms")
        lines.append(f"- details: {real['details']}")
    return "\n".join(lines) + "\n"
