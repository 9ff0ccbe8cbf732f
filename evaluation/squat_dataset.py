"""Evaluation on the squat-form IMU dataset (3 IMUs, 18 channels, ~111 Hz, 6 subjects, 5 classes).

Reps are ``raw[start_sample:end_sample]`` from the manual ``rep_windows`` metadata. Models are
fitted on correct reps (class0) only. Protocols:

- ``loso``: fit on class0 of five subjects, each centred on their own set-1 reps
  (enrolment), calibrated out of fold by athlete on their set-2 reps (with the enrolment
  baseline, also on their set-1 reps against a set-2 norm); the held-out subject
  enrols with their 10 class0 set-1 reps, which are then left out of the test; test on all
  their other reps (10 clean, 80 faulty).
- ``per_athlete``: fit on one subject's class0 set 1 (10 reps, calibrated out of fold);
  test on that subject's set 2 of every class (10 clean, 40 faulty).

Reported per subject and overall: rep-level AUROC of the decision (``hybrid``: whatever the
bundle fuses, by default the rep Mahalanobis distance alone) and of every rep detector alone
(ranked by its raw score), per fault class AUROC, and at the shipped threshold
the detection rate on faulty reps and the false-alarm rate on held-out clean reps; for the
enrolment protocol also the evidence accumulated over each set's reps (``set_evidence``).

Run: ``python -m evaluation.squat_dataset DATA_DIR OUT_DIR`` (writes JSON + markdown).
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import joblib
import numpy as np

from evaluation.logs import quiet_libraries
from evaluation.metrics import (
    auroc,
    count_with_interval,
    format_count,
    rate,
    smallest_provable_rate,
)
from evaluation.set_evidence import own_threshold_cue_figures, set_cue_figures, set_level_figures
from models.anomaly import fit_bundle, load_bundle
from models.anomaly.features import rep_feature_names, window_feature_names
from models.anomaly.pipeline import AthleteProfile, Geometry
from models.set_drift import DEFAULT_SET_ALPHA

log = logging.getLogger(__name__)

DATASET = "squat-form-imu-3sensor"
SAMPLE_RATE_HZ = 111.0
SENSORS = ("s0", "s1", "s2")
AXES = ("ax", "ay", "az", "gx", "gy", "gz")
CHANNELS = tuple(f"{s}_{a}" for s in SENSORS for a in AXES)
OTHER_ALPHAS = (0.01, 0.05, 0.1, 0.2)
"""Nominal false-alarm rates at which detection/false alarms are also reported (threshold sweep)."""
DECISION_DETECTORS = ("rep_mahalanobis",)
"""The rep decision these protocols test (docs/models.md: the shrunk-covariance distance alone
ranked above every fusion of it with the other rep detectors)."""
ENROLMENT_BASELINE = 0.75
"""Weight of each athlete's ``rep_distance_baseline`` (the far end of their leave-one-out
enrolment distances) taken off the rep distance (``models.anomaly.enrolment_baseline``;
``nested_baseline`` picks it for half the subjects and 1.0 for the others, docs/models.md)."""
SET_LEVEL_ALPHAS = (0.01, 0.05)
"""Rates at which the evidence accumulated over a set's reps is reported (``set_evidence``)."""
SET_CUE_ALPHAS = (DEFAULT_SET_ALPHA, 1e-3, 0.01, 0.05)
"""Fixed thresholds at which the drift cue is also reported per set: the fallback for bundles
without their own (calibrated on the simulator's bundle) and chi-square levels, none chosen on
these subjects. The headline is ``set_cue_own``: each set at the threshold its own fold's
bundle calibrated for itself (``calibration.set_drift``, from the other subjects' reps)."""
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


def _score(model, reps: list[Rep], profile, enrol_durations: np.ndarray, score_duration: bool,
           reconstruction=None) -> dict:
    batch = model.decide_segments([rep.data for rep in reps], profile, score_duration=score_duration)
    # every rep detector alone, fused or not, ranked by its raw score
    detectors = {name: values.tolist() for name, values in batch.raw_scores.items()}
    if "autoencoder_mean" not in detectors:
        # Not fused into the rep decision, still reported alone (its raw error ranks the reps).
        if reconstruction is not None:
            detectors["autoencoder_mean"] = reconstruction(reps, profile)
        elif model.components.autoencoder is not None:
            detectors["autoencoder_mean"] = [d.reconstruction_error for d in batch.decisions]
    return {
        "labels": [rep.label for rep in reps],
        "set_no": [rep.set_no for rep in reps],
        "rep_index": [rep.index for rep in reps],
        "hybrid": batch.scores.tolist(),
        "alarm": batch.anomalous.tolist(),
        "detectors": detectors,
        # tempo against the athlete's own norm, never part of a decision: faulty sets were
        # recorded after the clean ones, so tempo may be an artefact of the recording order
        "duration_shift": np.abs(np.log(_durations(reps) / np.median(enrol_durations))).tolist(),
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
        "auroc_duration_alone": auroc(faulty, np.array(scored["duration_shift"])),
        "auroc_per_fault": per_class,
        "detection_rate": rate(alarm[faulty]),
        "false_alarm_rate": rate(alarm[~faulty]),
        "operating_points": operating_points,
    }


def _fit(reps: list[Rep], out_dir: Path, groups, options: dict, enrolment=None):
    """The bundle the protocol tests and, when the autoencoder is asked for but not fused into
    rep decisions, a function giving its reconstruction error alone (see ``_autoencoder_alone``)."""
    fit_options = {k: v for k, v in options.items() if k != "score_duration"}
    fit_options["rep_detectors"] = options["rep_detectors"] and tuple(options["rep_detectors"])
    alone = fit_options["autoencoder"] and not fit_options["rep_autoencoder"]
    if alone:
        fit_options["autoencoder"] = False
    fit_bundle([r.data for r in reps], CHANNELS, SAMPLE_RATE_HZ, out_dir, groups=groups, enrolment=enrolment,
               **fit_options)
    model = load_bundle(out_dir, expect_channels=CHANNELS, expect_rate=SAMPLE_RATE_HZ)
    return model, (_autoencoder_alone(model, reps, groups, enrolment, options) if alone else None)


def _autoencoder_alone(model, reps: list[Rep], groups, enrolment, options: dict):
    """One autoencoder trained on the windows the bundle's final autoencoder would see (each
    athlete centred on their enrolment, the bundle's channel scaling, same seed and size).

    The rep decision does not fuse the reconstruction error, and this evaluation reports no
    window decisions, so the out-of-fold autoencoders that only calibrate window decisions are
    not trained: one autoencoder per fit instead of one per calibration fold plus one.
    """
    from models.anomaly.autoencoder_training import (
        AutoencoderSpec,
        channel_errors,
        train_autoencoder,
    )
    from models.anomaly.fitting import FitOptions
    from models.anomaly.model import enrolment_profile
    from models.anomaly.pipeline import prepare_segment
    from models.anomaly.windows import resample_steps

    geometry, scaler, defaults = model.geometry, model.components.channel_scaler, FitOptions()
    keys = groups if groups is not None else [None] * len(reps)
    flags = enrolment if enrolment is not None else [True] * len(reps)
    identity = AthleteProfile.identity(geometry.n_channels, len(window_feature_names(CHANNELS)),
                                       len(geometry.rep_feature_names))
    profiles = {g: (enrolment_profile([r.data for r, k, e in zip(reps, keys, flags) if k == g and e], geometry)
                    if g is not None else identity) for g in set(keys)}
    windows = np.concatenate([prepare_segment(r.data, geometry, profiles[k]).windows for r, k in zip(reps, keys)])

    def inputs(batch: np.ndarray) -> np.ndarray:
        return resample_steps(scaler.transform(batch), defaults.ae_steps)

    spec = AutoencoderSpec(defaults.ae_steps, geometry.n_channels, units=defaults.ae_units, epochs=options["ae_epochs"])
    trained = train_autoencoder(inputs(windows), spec, options["seed"])

    def errors(test: list[Rep], profile) -> list[float]:
        prepared = [prepare_segment(r.data, geometry, identity if profile is None else profile) for r in test]
        return [float(channel_errors(trained, inputs(p.windows)).mean()) if len(p.windows) else float("nan")
                for p in prepared]

    return errors


def _durations(reps: list[Rep]) -> np.ndarray:
    return np.array([len(r.data) / SAMPLE_RATE_HZ for r in reps])


def population_subject(reps: list[Rep], subject: int, work_dir: Path, options: dict) -> dict[str, dict]:
    """One population fit without ``subject`` serves two protocols: ``loso`` (test every rep of
    the subject but the 10 clean set-1 reps they enrol with) and ``enrolment`` (test their set 2
    only: the next set after enrolling, 10 clean and 40 faulty reps)."""
    train = [r for r in reps if r.subject != subject and r.label == 0]
    enrol = [r for r in reps if r.subject == subject and r.label == 0 and r.set_no == 1]
    test = [r for r in reps if r.subject == subject and not (r.label == 0 and r.set_no == 1)]
    model, reconstruction = _fit(train, work_dir / f"loso_s{subject}", [r.subject for r in train], options,
                                 enrolment=[r.set_no == 1 for r in train])
    profile = model.enrol([r.data for r in enrol])
    scores = _score(model, test, profile, _durations(enrol), options["score_duration"], reconstruction)
    next_set = [i for i, r in enumerate(test) if r.set_no == 2]
    enrolment_scores = _subset(scores, next_set)
    alpha = model.set_drift_alpha
    return {"loso": {"scores": scores, **_summarise(scores), "set_drift_alpha": alpha},
            "enrolment": {"scores": enrolment_scores, **_summarise(enrolment_scores), "set_drift_alpha": alpha}}


def own_data_subject(reps: list[Rep], subject: int, work_dir: Path, options: dict) -> dict[str, dict]:
    """``per_athlete``: a model of the subject's own 10 clean set-1 reps alone, tested on set 2."""
    train = [r for r in reps if r.subject == subject and r.label == 0 and r.set_no == 1]
    test = [r for r in reps if r.subject == subject and r.set_no == 2]
    # one athlete, one enrolment set: no other athlete to calibrate an enrolment baseline on
    model, reconstruction = _fit(train, work_dir / f"athlete_s{subject}", None, {**options, "enrolment_baseline": 0.0})
    scores = _score(model, test, None, _durations(train), options["score_duration"], reconstruction)
    return {"per_athlete": {"scores": scores, **_summarise(scores)}}


def _subset(scores: dict, index: list[int]) -> dict:
    def pick(values):
        return [values[i] for i in index]

    return {key: ({k: pick(v) for k, v in value.items()} if isinstance(value, dict) else pick(value))
            for key, value in scores.items()}


def _mean_over_subjects(per_subject: dict) -> dict:
    rows = list(per_subject.values())
    keys = ("auroc_hybrid", "auroc_duration_alone", "detection_rate", "false_alarm_rate")
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


def _pooled(per_subject: dict) -> dict:
    """Counts over every subject's test reps with 95 % Clopper-Pearson intervals."""
    labels = np.concatenate([row["scores"]["labels"] for row in per_subject.values()])
    alarm = np.concatenate([row["scores"]["alarm"] for row in per_subject.values()]).astype(bool)
    clean = labels == 0
    return {
        "false_alarms": count_with_interval(alarm[clean]),
        "detection": count_with_interval(alarm[~clean]),
        "detection_per_fault": {CLASS_NAMES[c]: count_with_interval(alarm[labels == c])
                                for c in sorted(set(labels.tolist()) - {0})},
        "lowest_false_alarm_rate_provable": smallest_provable_rate(int(clean.sum())),
    }


PROTOCOLS = {"loso": population_subject, "enrolment": population_subject, "per_athlete": own_data_subject}
"""Protocol -> per-subject job; ``loso`` and ``enrolment`` share one fit per subject."""


def _jobs(protocols: Sequence[str], subjects: list[int]) -> list[tuple[str, int]]:
    kinds = []
    if {"loso", "enrolment"} & set(protocols):
        kinds.append("population")
    if "per_athlete" in protocols:
        kinds.append("own_data")
    return [(kind, s) for kind in kinds for s in subjects]


def _run_job(reps, kind: str, subject: int, work_dir: Path, options: dict) -> tuple[str, int, dict, float]:
    quiet_libraries()
    logging.getLogger("models.anomaly").setLevel(logging.WARNING)
    started = time.monotonic()
    job = population_subject if kind == "population" else own_data_subject
    return kind, subject, job(reps, subject, work_dir, options), time.monotonic() - started


class Progress:
    """One line per finished subject job: which protocol(s), which subject, k of N, time left."""

    def __init__(self, total: int, stream=None) -> None:
        self.total, self.done, self.started = total, 0, time.monotonic()
        self.stream = stream or sys.stderr

    def finished(self, kind: str, subject: int, seconds: float) -> None:
        self.done += 1
        elapsed = time.monotonic() - self.started
        left = elapsed / self.done * (self.total - self.done)
        label = "loso + enrolment" if kind == "population" else "per_athlete"
        print(f"real squats [{label}] subject {subject} done ({self.done} of {self.total}, {seconds:.0f} s); "
              f"elapsed {_mmss(elapsed)}, about {_mmss(left)} left", file=self.stream, flush=True)


def _mmss(seconds: float) -> str:
    return f"{int(seconds // 60)}m{int(seconds % 60):02d}s"


def default_jobs() -> int:
    """Parallel fits: one per core, at most 2 (the fits are CPU-bound and memory is shared)."""
    return max(1, min(2, os.cpu_count() or 1))


def evaluate(
    data_dir: Path,
    out_dir: Path | None = None,
    *,
    protocols: Sequence[str] = ("loso", "enrolment", "per_athlete"),
    subjects: Sequence[int] | None = None,
    autoencoder: bool = True,
    rep_autoencoder: bool = False,
    rep_detectors: Sequence[str] | None = DECISION_DETECTORS,
    enrolment_baseline: float = ENROLMENT_BASELINE,
    body_frame: bool = True,
    score_duration: bool = False,
    ae_epochs: int = 20,
    false_alarm_rate: float = 0.05,
    seed: int = 0,
    n_jobs: int | None = None,
    progress_stream=None,
) -> dict:
    """Run the protocols; returns the report dict and, with ``out_dir``, writes JSON + markdown.

    Subjects are fitted in parallel (``n_jobs`` processes, joblib): each job is one subject's
    whole protocol with a fixed seed, so the figures do not depend on ``n_jobs``.
    """
    unknown = set(protocols) - set(PROTOCOLS)
    if unknown:
        raise ValueError(f"unknown protocol(s) {sorted(unknown)}; known: {', '.join(PROTOCOLS)}")
    reps = load_reps(data_dir, subjects)
    options = {"autoencoder": autoencoder, "rep_autoencoder": rep_autoencoder,
               "rep_detectors": None if rep_detectors is None else list(rep_detectors),
               "enrolment_baseline": enrolment_baseline, "body_frame": body_frame,
               "score_duration": score_duration, "ae_epochs": ae_epochs, "false_alarm_rate": false_alarm_rate,
               "seed": seed}
    report: dict = {"dataset": DATASET, "options": options, "n_reps": len(reps), "protocols": {},
                    "set_drift": set_drift(reps)}
    subject_ids = sorted({r.subject for r in reps})
    jobs = _jobs(protocols, subject_ids)
    progress = Progress(len(jobs), progress_stream)
    results: dict[str, dict] = {name: {} for name in protocols}
    seconds: dict[str, float] = {name: 0.0 for name in protocols}
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="liftguard-eval-") as tmp:
        n_jobs = min(n_jobs or default_jobs(), len(jobs))
        runner = joblib.Parallel(n_jobs=n_jobs, return_as="generator_unordered") if n_jobs > 1 else None
        calls = [(reps, kind, s, Path(tmp), options) for kind, s in jobs]
        outputs = runner(joblib.delayed(_run_job)(*c) for c in calls) if runner else (_run_job(*c) for c in calls)
        for kind, subject, by_protocol, took in outputs:
            for name, result in by_protocol.items():
                if name in results:
                    results[name][f"subject{subject}"] = result
                    seconds[name] += took
            progress.finished(kind, subject, took)
    for name in protocols:
        per_subject = dict(sorted(results[name].items(), key=lambda kv: int(kv[0].removeprefix("subject"))))
        report["protocols"][name] = {"mean": _mean_over_subjects(per_subject), "pooled": _pooled(per_subject),
                                     "per_subject": per_subject, "fit_seconds": round(seconds[name], 1)}
        if name == "enrolment":
            report["protocols"][name]["set_level"] = [set_level_figures(_sets_in_order(per_subject), alpha)
                                                      for alpha in SET_LEVEL_ALPHAS]
            report["protocols"][name]["set_cue"] = [set_cue_figures(_sets_in_order(per_subject), alpha)
                                                    for alpha in SET_CUE_ALPHAS]
            report["protocols"][name]["set_cue_own"] = own_threshold_cue_figures(
                (faulty, scores, alpha) for faulty, scores, alpha in _sets_in_order(per_subject, with_alpha=True))
    report["seconds"] = round(time.monotonic() - started, 1)
    report["n_jobs"] = n_jobs
    if out_dir is not None:
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "squat_eval.json").write_text(json.dumps(report, indent=2))
        (out_dir / "squat_eval.md").write_text(to_markdown(report))
    return report


def _sets_in_order(per_subject: dict, with_alpha: bool = False):
    """(faulty, hybrid scores in rep order) for every set of every subject's test reps; with
    ``with_alpha`` also the drift-cue threshold of the bundle that scored the subject."""
    for row in per_subject.values():
        scores = row["scores"]
        keys = list(zip(scores["labels"], scores["set_no"]))
        for label, set_no in dict.fromkeys(keys):
            members = sorted((i for i, k in enumerate(keys) if k == (label, set_no)), key=lambda i: scores["rep_index"][i])
            values = np.array([scores["hybrid"][i] for i in members])
            yield (label != 0, values, row["set_drift_alpha"]) if with_alpha else (label != 0, values)


def set_drift(reps: list[Rep]) -> dict:
    """How far clean set 2 moves from clean set 1, per subject, in within-set SD units
    (mean |Cohen's d| over features), for the signal statistics and the body-frame curves."""
    geometry = Geometry(CHANNELS, SAMPLE_RATE_HZ, 1, 1, None, body_frame=True)
    names = geometry.rep_feature_names
    n_base = len(rep_feature_names(CHANNELS))
    effect = []
    for subject in sorted({r.subject for r in reps}):
        sets = [np.array([geometry.rep_features(r.data, r.data) for r in reps
                          if r.subject == subject and r.label == 0 and r.set_no == k]) for k in (1, 2)]
        if min(len(s) for s in sets) < 2:
            continue
        pooled_sd = np.sqrt((sets[0].var(axis=0, ddof=1) + sets[1].var(axis=0, ddof=1)) / 2) + 1e-12
        effect.append(np.abs(sets[1].mean(axis=0) - sets[0].mean(axis=0)) / pooled_sd)
    if not effect:
        return {}
    d = np.mean(effect, axis=0)
    top = np.argsort(d)[::-1][:5]
    return {"signal_statistics_mean_abs_d": round(float(d[:n_base].mean()), 3),
            "body_frame_mean_abs_d": round(float(d[n_base:].mean()), 3),
            "duration_abs_d": round(float(d[names.index("duration_s")]), 3),
            "largest": [(names[i], round(float(d[i]), 2)) for i in top],
            "subjects": len(effect)}


PROTOCOL_TITLES = {
    "loso": "leave one subject out (population fit without the subject; enrol on clean set 1; test all other reps)",
    "enrolment": "enrolment protocol (the same fits; enrol on clean set 1, test the next set: set 2)",
    "per_athlete": "own data only (fit on the subject's 10 clean set-1 reps; test set 2)",
}


def _cell(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None or not np.isfinite(value) else f"{value:.{digits}f}"


def to_markdown(report: dict) -> str:
    lines = [f"# Anomaly model evaluation: {report['dataset']}", "", f"Options: `{json.dumps(report['options'])}`", ""]
    drift = report.get("set_drift")
    if drift:
        lines += [f"Clean set 1 -> set 2 drift (mean |Cohen's d| over features, {drift['subjects']} subjects): "
                  f"signal statistics {drift['signal_statistics_mean_abs_d']}, body-frame angle curves "
                  f"{drift['body_frame_mean_abs_d']}, rep duration {drift['duration_abs_d']}; largest: "
                  + ", ".join(f"{n} {d}" for n, d in drift["largest"]), ""]
    for name, result in report["protocols"].items():
        mean, pooled = result["mean"], result["pooled"]
        detectors = list(mean["auroc_detectors"])
        lines += [f"## {name}", "", PROTOCOL_TITLES.get(name, name), "",
                  "| subject | AUROC hybrid | " + " | ".join(f"AUROC {d}" for d in detectors)
                  + " | AUROC duration alone (not in decision) | detection rate | false-alarm rate |",
                  "|---|---|" + "---|" * len(detectors) + "---|---|---|"]
        rows = list(result["per_subject"].items()) + [("**mean**", mean)]
        for subject, row in rows:
            cells = [_cell(row["auroc_hybrid"])] + [_cell(row["auroc_detectors"][d]) for d in detectors]
            cells += [_cell(row["auroc_duration_alone"]), _cell(row["detection_rate"], 2), _cell(row["false_alarm_rate"], 2)]
            lines.append(f"| {subject} | " + " | ".join(cells) + " |")
        lines += ["", "Per fault AUROC (hybrid, mean over subjects): "
                  + ", ".join(f"{k} {_cell(v)}" for k, v in mean["auroc_per_fault"].items()), "",
                  f"At the shipped threshold, pooled over subjects: false alarms {format_count(pooled['false_alarms'])}, "
                  f"detection {format_count(pooled['detection'])}; per fault: "
                  + ", ".join(f"{k} {format_count(v)}" for k, v in pooled["detection_per_fault"].items()) + ".",
                  f"With {pooled['false_alarms']['n']} clean test reps no false-alarm rate below "
                  f"{_cell(pooled['lowest_false_alarm_rate_provable'], 3)} can be shown (zero alarms, upper 95 % end).", "",
                  "Threshold sweep (mean detection / false-alarm rate at nominal rate a): "
                  + ", ".join(f"a={a}: {_cell(v['detection_rate'], 2)} / {_cell(v['false_alarm_rate'], 2)}"
                              for a, v in mean["operating_points"].items()), ""]
        for level in result.get("set_level", []):
            lines += [f"Evidence over the set's reps (trimmed Fisher, reported apart, alpha {level['alpha']}): false alarms "
                      f"{format_count(level['false_alarms'])}, detection {format_count(level['detection'])}; first alarm "
                      f"at rep {_cell(level['first_alarm_rep_median'], 1)} (median), "
                      f"{level['faulty_sets_never_alarmed']} of {level['faulty_sets']} faulty sets never alarm.", ""]
        own = result.get("set_cue_own")
        if own:
            lines += [f"**Drift cue per set at each fold's own bundle threshold** (calibrated in fit_bundle on the "
                      f"other subjects, alpha {own['alpha_range'][0]:.2g}-{own['alpha_range'][1]:.2g}): faulty sets "
                      f"cued {format_count(own['faulty_sets_cued'])}, clean sets cued (false cues) "
                      f"{format_count(own['clean_sets_cued'])}; cue at rep {_cell(own['cue_rep_median'], 1)} "
                      f"(median, range {own['cue_rep_range']}).", ""]
        for cue in result.get("set_cue", []):
            lines += [f"Drift cue per set (once per set, alpha {cue['alpha']:g}): faulty sets cued "
                      f"{format_count(cue['faulty_sets_cued'])}, clean sets cued (false cues) "
                      f"{format_count(cue['clean_sets_cued'])}; cue at rep {_cell(cue['cue_rep_median'], 1)} "
                      f"(median, range {cue['cue_rep_range']}).", ""]
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
    parser.add_argument("--rep-detectors", default=",".join(DECISION_DETECTORS),
                        help="comma-separated rep detectors fused into the decision (default: %(default)s)")
    parser.add_argument("--enrolment-baseline", type=float, default=ENROLMENT_BASELINE,
                        help="weight of the athlete's enrolment distance taken off the rep distance; 0: off "
                             "(default: %(default)s)")
    parser.add_argument("--no-body-frame", action="store_true", help="signal statistics only (older bundles)")
    parser.add_argument("--score-duration", action="store_true", help="let rep duration count (see docs/models.md)")
    parser.add_argument("--ae-epochs", type=int, default=20)
    parser.add_argument("--jobs", type=int, default=None, help="parallel fits (default: cores, at most 2)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    report = evaluate(args.data_dir, args.out_dir, protocols=args.protocol or tuple(PROTOCOLS),
                      subjects=args.subjects, autoencoder=not args.no_autoencoder, rep_autoencoder=args.rep_autoencoder,
                      rep_detectors=tuple(args.rep_detectors.split(",")), enrolment_baseline=args.enrolment_baseline,
                      body_frame=not args.no_body_frame, score_duration=args.score_duration,
                      ae_epochs=args.ae_epochs, n_jobs=args.jobs)
    print(to_markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
