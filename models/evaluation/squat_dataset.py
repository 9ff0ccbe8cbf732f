"""Evaluation on the squat-form IMU dataset (3 IMUs, 18 channels, ~111 Hz, 6 subjects, 5 classes).

Reps are ``raw[start_sample:end_sample]`` from the manual ``rep_windows`` metadata. Models are
fitted on correct reps (class0) only. Protocols:

- ``loso``: fit on class0 of five subjects, each centred on their own set-1 reps
  (enrolment), calibrated out of fold by athlete on their set-2 reps; the held-out subject
  enrols with their 10 class0 set-1 reps, which are then left out of the test; test on all
  their other reps (10 clean, 80 faulty).
- ``per_athlete``: fit on one subject's class0 set 1 (10 reps, calibrated out of fold);
  test on that subject's set 2 of every class (10 clean, 40 faulty).

Reported per subject and overall: rep-level AUROC of the hybrid and of each detector alone
(ranked by its own tail probability), per fault class AUROC, and at the shipped threshold
the detection rate on faulty reps and the false-alarm rate on held-out clean reps.

Run: ``python -m models.evaluation.squat_dataset DATA_DIR OUT_DIR`` (writes JSON + markdown).
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from models.anomaly import fit_bundle, load_bundle
from models.evaluation.metrics import auroc, rate

log = logging.getLogger(__name__)

DATASET = "squat-form-imu-3sensor"
SAMPLE_RATE_HZ = 111.0
SENSORS = ("s0", "s1", "s2")
AXES = ("ax", "ay", "az", "gx", "gy", "gz")
CHANNELS = tuple(f"{s}_{a}" for s in SENSORS for a in AXES)
OTHER_ALPHAS = (0.01, 0.05, 0.1, 0.2)
"""Nominal false-alarm rates at which detection/false alarms are also reported (threshold sweep)."""
CLASS_NAMES = {0: "correct", 1: "knee_valgus", 2: "butt_wink", 3: "trunk_lean", 4: "partial_squat"}


@dataclass(frozen=True)
class Rep:
    subject: int
    label: int
    set_no: int
    index: int
    data: np.ndarray


def load_reps(data_dir: Path, subjects: Sequence[int] | None = None) -> list[Rep]:
    """All manually marked reps; ``data_dir`` is the dataset folder (holding raw/ and rep_windows/)."""
    data_dir = Path(data_dir)
    reps = []
    for meta_path in sorted(data_dir.glob("rep_windows/class*/subject*_set*_metadata.json")):
        label = int(meta_path.parent.name.removeprefix("class"))
        stem = meta_path.name.removesuffix("_metadata.json")
        subject_part, set_part = stem.split("_")
        subject, set_no = int(subject_part.removeprefix("subject")), int(set_part.removeprefix("set"))
        if subjects is not None and subject not in subjects:
            continue
        raw_path = data_dir / "raw" / meta_path.parent.name / f"{stem}.csv.gz"
        header = np.loadtxt(raw_path, delimiter=",", max_rows=1, dtype=str)
        columns = [list(header).index(ch) for ch in CHANNELS]
        raw = np.loadtxt(raw_path, delimiter=",", skiprows=1, usecols=columns)
        windows = json.loads(meta_path.read_text())["windows"]
        for window in windows:
            start, end = int(window["start_sample"]), int(window["end_sample"])
            if not 0 <= start < end <= len(raw):
                raise ValueError(f"{meta_path}: window {window['window_id']} [{start}:{end}] outside {len(raw)} rows")
            reps.append(Rep(subject, label, set_no, int(window["window_id"]), raw[start:end]))
    if not reps:
        raise FileNotFoundError(f"no reps found under {data_dir} (expected rep_windows/class*/…_metadata.json)")
    return reps


def _score(model, reps: list[Rep], profile=None) -> dict:
    decisions = [model.rep_decision(rep.data, profile) for rep in reps]
    detectors = {name: [-np.log10(d.p_values[name]) for d in decisions]
                 for name in model.rep_calibration.detectors}
    if model.components.autoencoder is not None and "autoencoder_mean" not in detectors:
        # Not fused into the rep decision, still reported alone (its raw error ranks the reps).
        detectors["autoencoder_mean"] = [d.reconstruction_error for d in decisions]
    return {
        "labels": [rep.label for rep in reps],
        "hybrid": [d.score for d in decisions],
        "alarm": [d.anomalous for d in decisions],
        "detectors": detectors,
    }


def _summarise(scored: dict) -> dict:
    labels = np.array(scored["labels"])
    faulty = labels != 0
    alarm = np.array(scored["alarm"])
    hybrid = np.array(scored["hybrid"])
    per_class = {
        CLASS_NAMES[c]: auroc(np.r_[np.zeros((labels == 0).sum()), np.ones((labels == c).sum())],
                              np.r_[hybrid[labels == 0], hybrid[labels == c]])
        for c in sorted(set(labels.tolist()) - {0})
    }
    operating_points = {
        f"{alpha:g}": {"detection_rate": rate(hybrid[faulty] >= -np.log10(alpha)),
                       "false_alarm_rate": rate(hybrid[~faulty] >= -np.log10(alpha))}
        for alpha in OTHER_ALPHAS
    }
    return {
        "n_clean": int((~faulty).sum()),
        "n_faulty": int(faulty.sum()),
        "auroc_hybrid": auroc(faulty, hybrid),
        "auroc_detectors": {name: auroc(faulty, np.array(v)) for name, v in scored["detectors"].items()},
        "auroc_per_fault": per_class,
        "detection_rate": rate(alarm[faulty]),
        "false_alarm_rate": rate(alarm[~faulty]),
        "operating_points": operating_points,
    }


def _fit(reps: list[Rep], out_dir: Path, groups, options: dict, enrolment=None):
    fit_bundle([r.data for r in reps], CHANNELS, SAMPLE_RATE_HZ, out_dir, groups=groups, enrolment=enrolment, **options)
    return load_bundle(out_dir, expect_channels=CHANNELS, expect_rate=SAMPLE_RATE_HZ)


def leave_one_subject_out(reps: list[Rep], work_dir: Path, options: dict) -> dict:
    results = {}
    for subject in sorted({r.subject for r in reps}):
        train = [r for r in reps if r.subject != subject and r.label == 0]
        enrol = [r for r in reps if r.subject == subject and r.label == 0 and r.set_no == 1]
        test = [r for r in reps if r.subject == subject and not (r.label == 0 and r.set_no == 1)]
        model = _fit(train, work_dir / f"loso_s{subject}", [r.subject for r in train], options,
                     enrolment=[r.set_no == 1 for r in train])
        profile = model.enrol([r.data for r in enrol])
        results[f"subject{subject}"] = {"scores": _score(model, test, profile)}
        results[f"subject{subject}"].update(_summarise(results[f"subject{subject}"]["scores"]))
        log.info("loso subject %d: AUROC %.3f", subject, results[f"subject{subject}"]["auroc_hybrid"])
    return results


def per_athlete(reps: list[Rep], work_dir: Path, options: dict) -> dict:
    results = {}
    for subject in sorted({r.subject for r in reps}):
        train = [r for r in reps if r.subject == subject and r.label == 0 and r.set_no == 1]
        test = [r for r in reps if r.subject == subject and r.set_no == 2]
        model = _fit(train, work_dir / f"athlete_s{subject}", None, options)
        results[f"subject{subject}"] = {"scores": _score(model, test)}
        results[f"subject{subject}"].update(_summarise(results[f"subject{subject}"]["scores"]))
        log.info("per-athlete subject %d: AUROC %.3f", subject, results[f"subject{subject}"]["auroc_hybrid"])
    return results


def _mean_over_subjects(per_subject: dict) -> dict:
    rows = list(per_subject.values())
    keys = ("auroc_hybrid", "detection_rate", "false_alarm_rate")
    summary = {key: float(np.nanmean([row[key] for row in rows])) for key in keys}
    summary["auroc_detectors"] = {
        name: float(np.nanmean([row["auroc_detectors"][name] for row in rows])) for name in rows[0]["auroc_detectors"]
    }
    summary["operating_points"] = {
        alpha: {key: float(np.nanmean([row["operating_points"][alpha][key] for row in rows]))
                for key in ("detection_rate", "false_alarm_rate")}
        for alpha in rows[0]["operating_points"]
    }
    summary["auroc_per_fault"] = {
        name: float(np.nanmean([row["auroc_per_fault"].get(name, np.nan) for row in rows]))
        for name in rows[0]["auroc_per_fault"]
    }
    return summary


PROTOCOLS = {"loso": leave_one_subject_out, "per_athlete": per_athlete}


def evaluate(
    data_dir: Path,
    out_dir: Path | None = None,
    *,
    protocols: Sequence[str] = ("loso", "per_athlete"),
    subjects: Sequence[int] | None = None,
    autoencoder: bool = True,
    rep_autoencoder: bool = False,
    ae_epochs: int = 20,
    false_alarm_rate: float = 0.05,
    seed: int = 0,
) -> dict:
    """Run the protocols; returns the report dict and, with ``out_dir``, writes JSON + markdown."""
    reps = load_reps(data_dir, subjects)
    options = {"autoencoder": autoencoder, "rep_autoencoder": rep_autoencoder, "ae_epochs": ae_epochs, "false_alarm_rate": false_alarm_rate, "seed": seed}
    report: dict = {"dataset": DATASET, "options": options, "n_reps": len(reps), "protocols": {}}
    with tempfile.TemporaryDirectory(prefix="liftguard-eval-") as tmp:
        for name in protocols:
            started = time.monotonic()
            per_subject = PROTOCOLS[name](reps, Path(tmp), options)
            report["protocols"][name] = {
                "mean": _mean_over_subjects(per_subject),
                "per_subject": per_subject,
                "seconds": round(time.monotonic() - started, 1),
            }
    if out_dir is not None:
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "squat_eval.json").write_text(json.dumps(report, indent=2))
        (out_dir / "squat_eval.md").write_text(to_markdown(report))
    return report


def to_markdown(report: dict) -> str:
    lines = [f"# Anomaly model evaluation: {report['dataset']}", "", f"Options: `{json.dumps(report['options'])}`", ""]
    for name, result in report["protocols"].items():
        mean = result["mean"]
        detectors = list(mean["auroc_detectors"])
        lines += [f"## {name}", "", "| subject | AUROC hybrid | " + " | ".join(f"AUROC {d}" for d in detectors)
                  + " | detection rate | false-alarm rate |",
                  "|---|---|" + "---|" * len(detectors) + "---|---|"]
        rows = list(result["per_subject"].items()) + [("**mean**", mean)]
        for subject, row in rows:
            cells = [f"{row['auroc_hybrid']:.3f}"] + [f"{row['auroc_detectors'][d]:.3f}" for d in detectors]
            cells += [f"{row['detection_rate']:.2f}", f"{row['false_alarm_rate']:.2f}"]
            lines.append(f"| {subject} | " + " | ".join(cells) + " |")
        lines += ["", "Per fault AUROC (hybrid, mean over subjects): "
                  + ", ".join(f"{k} {v:.3f}" for k, v in mean["auroc_per_fault"].items()), "",
                  "Threshold sweep (mean detection / false-alarm rate at nominal rate a): "
                  + ", ".join(f"a={a}: {v['detection_rate']:.2f} / {v['false_alarm_rate']:.2f}"
                              for a, v in mean["operating_points"].items()), ""]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Evaluate liftguard anomaly models on the squat IMU dataset")
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--protocol", action="append", choices=sorted(PROTOCOLS))
    parser.add_argument("--subjects", type=int, nargs="*")
    parser.add_argument("--no-autoencoder", action="store_true")
    parser.add_argument("--rep-autoencoder", action="store_true",
                        help="also fuse the reconstruction error into the rep decision (older bundles)")
    parser.add_argument("--ae-epochs", type=int, default=20)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    report = evaluate(args.data_dir, args.out_dir, protocols=args.protocol or ("loso", "per_athlete"),
                      subjects=args.subjects, autoencoder=not args.no_autoencoder, rep_autoencoder=args.rep_autoencoder,
                      ae_epochs=args.ae_epochs)
    print(to_markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
