"""`liftguard evaluate`: how well the anomaly models work, as JSON + markdown + PNG plots.

1. Simulator faults through the daemon's decision path (``evaluation.simfaults``) with
   the given bundle (default: the one shipped in the repo): per fault type the detection rate
   at the shipped thresholds, false alerts per 100 clean reps, delay from fault onset; per-rep
   model scores give ROC curves (faulty reps of each type vs clean reps) and distributions.
2.-4. Real squats (``evaluation.squat_dataset``): leave-one-subject-out, per-athlete,
   each detector alone vs the hybrid. Skipped, with the reason, when the dataset is absent.

Plots need matplotlib (the ``train`` extra); without it they are skipped with a message. The
real-squat part trains autoencoders and needs TensorFlow (also the ``train`` extra): that is
checked before anything runs. ``--quick`` (one seed, squats, real squats without the
autoencoder, population protocols only) finishes in about a minute.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

from evaluation.logs import quiet_libraries
from liftguard.errors import EXIT_USAGE, UsageError

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
    p.add_argument("--jobs", type=int, default=None, metavar="N",
                   help="parallel processes: simulator lifts and real-data subjects (default: cores, at most 2)")
    p.add_argument("--with-profile", action="store_true",
                   help="simulator: also replay every set with its athlete's profile loaded (an overlay from "
                        "another clean set of that athlete, as the box builds it; docs/models.md)")
    p.add_argument("--quick", action="store_true",
                   help="about a minute: 1 seed, squats only, real squats without the autoencoder, "
                        "subjects 1-4, population protocols (loso, enrolment) only")
    p.set_defaults(func=run)


QUICK_PROTOCOLS = ("loso", "enrolment")
QUICK_SUBJECTS = (1, 2, 3, 4)
"""A smoke test, not the reported figures: LOSO then fits on 3 subjects instead of 5."""


def _apply_quick(args: argparse.Namespace) -> None:
    if args.quick:
        args.seeds = 1
        args.lift = args.lift or ["squat"]
        args.no_autoencoder = True
        args.subjects = args.subjects or list(QUICK_SUBJECTS)


def _missing_requirement(args: argparse.Namespace) -> str | None:
    """What the requested run needs but this installation lacks (checked before starting)."""
    if args.skip_real or args.no_autoencoder or not (_data_root(args) / SQUAT_DATASET).is_dir():
        return None
    if importlib.util.find_spec("tensorflow") is None:
        return ("the real-squat evaluation trains autoencoders and needs TensorFlow: install the train extra "
                "(pip install '.[train]'), or pass --no-autoencoder, --skip-real or --quick")
    return None


def _data_root(args: argparse.Namespace) -> Path:
    return Path(args.data_dir) if args.data_dir else default_data_dir()


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    from sensors.simulator import FAULT_TYPES

    _apply_quick(args)
    if not 1 <= args.seeds <= 200:
        raise UsageError(f"--seeds {args.seeds} is out of range 1..200")
    if args.jobs is not None and not 1 <= args.jobs <= 16:
        raise UsageError(f"--jobs {args.jobs} is out of range 1..16")
    missing = _missing_requirement(args)
    if missing:
        print(f"liftguard evaluate: {missing}", file=sys.stderr)
        return EXIT_USAGE
    quiet_libraries()
    unknown = set(args.fault or ()) - set(FAULT_TYPES)
    if unknown:
        raise UsageError(f"--fault: unknown fault type(s) {sorted(unknown)}; known: {', '.join(FAULT_TYPES)}")
    bundle = Path(args.bundle) if args.bundle else DEFAULT_BUNDLE
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {"bundle": str(bundle)}
    faults = tuple(args.fault or FAULT_TYPES)
    lifts = args.lift or ["squat", "bench_press", "deadlift"]
    started = time.monotonic()
    _say(f"simulator: {len(faults)} faults x {len(lifts)} lifts x {args.seeds} seeds through the daemon path ...")
    report["simulator"] = simulator_part(bundle, args, faults)
    _say(f"simulator: done in {time.monotonic() - started:.0f} s")
    if args.with_profile:
        _say("simulator: again, each athlete with their profile loaded ...")
        report["simulator_with_profile"] = simulator_part(bundle, args, faults, with_profile=True)
        report["simulator_with_profile"].pop("rep_scores")
        _say(f"simulator with profiles: done in {time.monotonic() - started:.0f} s")
    report["real_squats"] = real_part(args, out)
    report["plots"] = write_plots(report["simulator"], out)
    real_plot = write_real_plot(out)
    if real_plot:
        report["plots"].setdefault("files", []).append(real_plot)
    scores = report["simulator"].pop("rep_scores")
    report["simulator"]["rep_score_auroc"] = _aurocs(scores)
    (out / "evaluation.json").write_text(json.dumps(report, indent=2))
    (out / "evaluation.md").write_text(to_markdown(report))
    print(to_markdown(report))
    print(f"written: {out / 'evaluation.json'}, {out / 'evaluation.md'}"
          + "".join(f", {p}" for p in report["plots"].get("files", [])))
    return 0


def simulator_part(bundle: Path, args: argparse.Namespace, faults: tuple[str, ...],
                   with_profile: bool = False) -> dict[str, Any]:
    from evaluation.simfaults import LIFTS
    from liftguard.commands.evaluate_simulator import SimulatorRun, evaluate_lifts

    cfg = args.cfg
    run = SimulatorRun(bundle=bundle, seeds=tuple(range(args.seeds)), faults=faults,
                       alert_on=cfg.get("feedback.alert_on"), alert_off=cfg.get("feedback.alert_off"),
                       min_gap_s=cfg.get("feedback.min_alert_gap_s"), hop_s=1.0 / cfg.get("daemon.hop_hz"),
                       window_s=cfg.get("daemon.window_s"), with_profile=with_profile)
    result, scorer = evaluate_lifts(run, tuple(args.lift or LIFTS), _jobs(args), progress=_say)
    result["scorer"] = scorer
    result["targets"] = {"detection_rate": TARGET_DETECTION, "false_alerts_per_100_clean_reps": TARGET_FALSE_PER_100}
    return result


def _jobs(args: argparse.Namespace) -> int:
    from evaluation.squat_dataset import default_jobs

    return args.jobs or default_jobs()


def real_part(args: argparse.Namespace, out: Path) -> dict[str, Any]:
    if args.skip_real:
        return {"skipped": "--skip-real"}
    data = Path(args.data_dir) if args.data_dir else default_data_dir()
    if not (data / SQUAT_DATASET).is_dir():
        reason = f"dataset not found at {data / SQUAT_DATASET}"
        print(f"real-squat evaluation skipped: {reason}")
        return {"skipped": reason}
    from evaluation.squat_dataset import PROTOCOLS, evaluate

    protocols = QUICK_PROTOCOLS if args.quick else tuple(PROTOCOLS)
    _say(f"real squats: protocols {', '.join(protocols)}; autoencoder {'off' if args.no_autoencoder else 'on'}")
    report = evaluate(data / SQUAT_DATASET, out, subjects=args.subjects, protocols=protocols,
                      autoencoder=not args.no_autoencoder, ae_epochs=args.ae_epochs, n_jobs=_jobs(args))
    return {protocol: result["mean"] | {"pooled": result["pooled"]} for protocol, result in report["protocols"].items()} | {
        "details": "squat_eval.json / squat_eval.md", "seconds": report["seconds"]}


def _clean(values: list[float]) -> list[float]:
    return [v for v in values if isinstance(v, float) and math.isfinite(v)]


def _aurocs(scores: dict[str, list[float]]) -> dict[str, float | None]:
    from evaluation.metrics import auroc

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


SIM_ROC_CAPTION = ("Each panel ranks one decision: the per-rep model score (-log10 fused p of the bundle's rep "
                   "decision) of that fault's faulty reps against all clean reps. The table's detection also "
                   "counts the metric rules and live window alerts, so a fault they catch (e.g. load shifts) "
                   "can sit on or below the diagonal here and still be detected.")
REAL_ROC_CAPTION = ("Enrolment protocol (population model without the subject, enrolled on clean set 1, tested on "
                    "set 2), all subjects pooled: each panel ranks that fault's reps against the clean set-2 reps "
                    "by the rep decision's fused score (hybrid) and by each detector's own tail probability.")


def _pyplot():
    if importlib.util.find_spec("matplotlib") is None:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _panels(plt, n: int):
    cols = min(3, n)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 3.4 * rows + 0.9), squeeze=False)
    for ax in axes.ravel()[n:]:
        ax.axis("off")
    return fig, axes.ravel()[:n]


def _finish(fig, caption: str, path: Path) -> str:
    import textwrap

    fig.text(0.01, 0.01, "\n".join(textwrap.wrap(caption, 140)), fontsize=7, va="bottom")
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    fig.savefig(path, dpi=100)
    return str(path)


def write_plots(sim: dict[str, Any], out: Path) -> dict[str, Any]:
    plt = _pyplot()
    if plt is None:
        message = "plots skipped: matplotlib is not installed (pip install '.[train]')"
        print(message)
        return {"skipped": message}
    scores = sim["rep_scores"]
    clean = _clean(scores.get("clean", []))
    faults = {k: _clean(v) for k, v in scores.items() if k != "clean" and _clean(v)}
    if not clean or not faults:
        return {"skipped": "no per-rep model scores (no model bundle loaded)"}
    files = []
    fig, axes = _panels(plt, len(faults))
    for ax, (fault, values) in zip(axes, faults.items()):
        ax.plot(*_roc(clean, values), color="tab:blue")
        ax.plot([0, 1], [0, 1], color="grey", linestyle=":")
        row = sim["per_fault"].get(fault, {})
        ax.set_title(f"{fault} (n={len(values)}; daemon detection {_fmt(row.get('detection_rate'), 2)})", fontsize=8)
        ax.set(xlabel="false-positive rate (clean reps)", ylabel="detection rate", xlim=(0, 1), ylim=(0, 1.02))
    files.append(_finish(fig, SIM_ROC_CAPTION, out / "roc_simulator.png"))
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


def write_real_plot(out: Path) -> str | None:
    """Per-fault ROC panels of the real-squat enrolment protocol, when it ran and plots can be drawn."""
    path = out / "squat_eval.json"
    plt = _pyplot()
    if plt is None or not path.is_file():
        return None
    from evaluation.squat_dataset import CLASS_NAMES

    protocol = json.loads(path.read_text())["protocols"].get("enrolment")
    if not protocol:
        return None
    rows = [row["scores"] for row in protocol["per_subject"].values()]
    labels = [label for row in rows for label in row["labels"]]
    rankers = {"hybrid (rep decision)": [v for row in rows for v in row["hybrid"]]}
    for name in rows[0]["detectors"]:
        rankers[name] = [v for row in rows for v in row["detectors"][name]]
    faults = sorted(set(labels) - {0})
    fig, axes = _panels(plt, len(faults))
    styles = ["-", "--", "-.", ":", (0, (5, 1)), (0, (3, 1, 1, 1))]
    for ax, fault in zip(axes, faults):
        for (name, values), style in zip(rankers.items(), styles):
            clean = _clean([float(v) for v, lab in zip(values, labels) if lab == 0])
            faulty = _clean([float(v) for v, lab in zip(values, labels) if lab == fault])
            if clean and faulty:
                ax.plot(*_roc(clean, faulty), linestyle=style, linewidth=2.0 if name.startswith("hybrid") else 1.2,
                        label=name)
        ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=0.8)
        ax.set_title(f"{CLASS_NAMES[fault]} (n={labels.count(fault)} vs {labels.count(0)} clean)", fontsize=8)
        ax.set(xlabel="false-positive rate (clean set-2 reps)", ylabel="detection rate", xlim=(0, 1), ylim=(0, 1.02))
    axes[0].legend(fontsize=6, loc="lower right")
    written = _finish(fig, REAL_ROC_CAPTION, out / "roc_real_squats.png")
    plt.close(fig)
    return written


def _fmt(value: Any, digits: int = 3) -> str:
    """A number for a table cell; ``n/a`` for a missing or non-finite one (never ``None``)."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def per_lift_lines(sim: dict[str, Any], with_profile: dict[str, Any] | None) -> list[str]:
    """Per lift: faulty sets detected and false alerts per 100 clean reps, counts and 95 %
    Clopper-Pearson intervals, without and (when run) with each athlete's profile."""
    def cell(entry: dict[str, Any], per: int) -> str:
        low, high = entry["ci95"]
        return f"{entry['k']}/{entry['n']} = {per * entry['rate']:.{0 if per == 100 else 3}f} ({per * low:.{1 if per == 100 else 2}f}-{per * high:.{1 if per == 100 else 2}f})"

    runs = [("no profile", sim)] + ([("with profile", with_profile)] if with_profile else [])
    lines = ["| lift | athlete | detection (95 % CI) | false alerts / clean reps = per 100 (95 % CI) |", "|---|---|---|---|"]
    for lift in sim.get("by_lift", {}):
        for name, run in runs:
            row = run["by_lift"][lift]
            lines.append(f"| {lift} | {name} | {cell(row['detection'], 1)} | {cell(row['false_alerts_per_clean_rep'], 100)} |")
    if with_profile:
        lines += ["", f"With profiles: mean detection {with_profile['detection_rate']:.3f}; false alerts per 100 clean reps "
                  f"{with_profile['false_alerts_per_100_clean_reps']} (live {with_profile['live_false_alerts_per_100_clean_reps']}, "
                  f"rep verdicts {with_profile['rep_flags_per_100_clean_reps']})."]
    return lines + [""]


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
        lines.append(f"| {fault} | {_fmt(row['detection_rate'], 2)} | {_fmt(row['live_detection_rate'], 2)} | "
                     f"{_fmt(row['delay_median_ms'], 0)} | {_fmt(row['live_delay_median_ms'], 0)} | "
                     f"{_fmt(aurocs.get(fault), 3)} |")
    lines += ["", f"Mean detection {sim['detection_rate']:.3f} (target >= {TARGET_DETECTION}); false alerts per "
              f"100 clean reps {sim['false_alerts_per_100_clean_reps']} (live {sim['live_false_alerts_per_100_clean_reps']}, "
              f"rep verdicts {sim['rep_flags_per_100_clean_reps']}; target <= {TARGET_FALSE_PER_100}).", ""]
    lines += per_lift_lines(sim, report.get("simulator_with_profile"))
    if "drift_cue" in sim:
        from evaluation.metrics import count_with_interval, format_count

        drift = sim["drift_cue"]
        cued = count_with_interval([True] * drift["clean_sets_cued"]
                                   + [False] * (drift["clean_sets"] - drift["clean_sets_cued"]))
        by_lift = "".join(f", {lift} {row['clean_sets_cued']}/{row['clean_sets']}"
                          for lift, row in drift.get("by_lift", {}).items())
        lines += [f"Technique-drift cue (alpha {drift['alpha']:g}): clean sets cued {format_count(cued)}"
                  f"{' (' + by_lift[2:] + ')' if by_lift else ''}; false cues per clean set over 210 "
                  "sets, and drifting sets: scripts/eval-drift-cue.", ""]
    real = report["real_squats"]
    lines += ["## Real squats (leave-one-subject-out, per-athlete, detectors vs hybrid)", ""]
    if "skipped" in real:
        lines.append(f"Skipped: {real['skipped']}.")
    else:
        from evaluation.metrics import format_count

        for protocol in ("loso", "enrolment", "per_athlete"):
            if protocol in real:
                mean = real[protocol]
                detectors = ", ".join(f"{k} {_fmt(v)}" for k, v in mean["auroc_detectors"].items())
                pooled = mean["pooled"]
                lines.append(f"- {protocol}: AUROC hybrid {_fmt(mean['auroc_hybrid'])} ({detectors}); at the shipped "
                             f"threshold detection {format_count(pooled['detection'])}, false alarms on held-out clean "
                             f"reps {format_count(pooled['false_alarms'])}")
        lines.append(f"- details: {real['details']}")
    return "\n".join(lines) + "\n"
