"""Train a bundle from whole clean sets: fit, calibrate the real-time threshold, write a report.

Used by ``liftguard train`` and ``scripts/train-default-bundle``. The sets are split into
fitting sets and held-out sets; the held-out sets are never fitted on and give the real-time
window threshold (``models.anomaly.realtime``), the rep decision's calibration
(``models.anomaly.split_calibration``, when they hold enough reps) and the report's held-out
false-alarm figures (for the rep decision, each held-out set against the others).
The report (``training_report.json`` + ``.md``) is written into the bundle and checksummed
with the rest of it, as is the population norm (``models.anomaly.overlay``) that athlete
overlays are measured against.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from evaluation.metrics import count_with_interval, format_count, support_note
from models.anomaly.api import fit_bundle, load_bundle
from models.anomaly.errors import TrainingDataError
from models.anomaly.overlay import POPULATION_KEY
from models.anomaly.pipeline import compute_profile
from models.anomaly.profile_rep import (
    PROFILE_REP_KEY,
    AthleteSets,
    drift_threshold,
    fit_profile_rep,
    write_profile_rep,
)
from models.anomaly.realtime import (
    REALTIME_KEY,
    calibrate_threshold,
    update_manifest,
    window_p_stream,
)
from models.anomaly.segments import (
    SetSegments,
    set_segments,
    simulate_athletes,
    simulate_sets,
    training_segments,
)
from models.anomaly.split_calibration import (
    MIN_HELD_OUT_REPS,
    held_out_rep_scores,
    leave_one_set_out_flags,
    recalibrate_reps,
    usable,
)

log = logging.getLogger(__name__)

REPORT_JSON = "training_report.json"
REPORT_MD = "training_report.md"


@dataclass
class LabelledSet:
    """One clean set, already cut: where it came from and which lift it is."""

    name: str
    lift: str
    segments: SetSegments


@dataclass(frozen=True)
class TrainOptions:
    channels: tuple[str, ...]
    sample_rate_hz: float
    lift_types: tuple[str, ...]
    seed: int = 0
    autoencoder: bool = True
    rep_autoencoder: bool = False
    rep_detectors: tuple[str, ...] | None = None
    false_alarm_rate: float = 0.01
    realtime_false_alerts_per_100_reps: float = 1.0
    window_s: float = 1.0
    hop_s: float = 0.25
    ae_epochs: int = 40
    saturation_limits: dict[str, float] | None = None
    enrolment_baseline: float = 0.75
    """Weight of the enrolment baseline in the profile rep decision (with athletes)."""


def split_held_out(sets: Sequence[LabelledSet], fraction: float, seed: int) -> tuple[list[LabelledSet], list[LabelledSet]]:
    """(fit, held out): about ``fraction`` of the sets of each lift held out, at least one
    per lift when that lift has two or more sets."""
    rng = np.random.default_rng(seed)
    fit, held = [], []
    for lift in sorted({s.lift for s in sets}):
        group = [s for s in sets if s.lift == lift]
        order = rng.permutation(len(group))
        n_held = min(len(group) - 1, max(1, round(fraction * len(group)))) if len(group) > 1 else 0
        held += [group[i] for i in order[:n_held]]
        fit += [group[i] for i in order[n_held:]]
    return fit, held


def train_bundle(fit_sets: Sequence[LabelledSet], held_out: Sequence[LabelledSet], out_dir: Path,
                 options: TrainOptions, signing_key: bytes | None = None,
                 athletes: Sequence[AthleteSets] = (), held_out_athletes: Sequence[AthleteSets] = ()) -> dict[str, Any]:
    """Fit a bundle on ``fit_sets``, calibrate on ``held_out``, write the report; return it.

    With ``athletes`` (each an enrolment set and a later set), the bundle also gets the rep
    decision used when an athlete profile is loaded (``models.anomaly.profile_rep``), fitted on
    them and calibrated on ``held_out_athletes``; everything else, and every decision without a
    profile, is what the same call without athletes gives."""
    if len(fit_sets) < 2:
        raise TrainingDataError(
            f"need at least 2 clean sets to fit on, got {len(fit_sets)}: calibration folds are whole sets (a set's "
            "reps overlap the set), and held-out sets come on top (give 3 or more recordings)")
    segments, window_only, fold_groups = training_segments(s.segments for s in fit_sets)
    log.info("fitting on %d sets (%d reps), %d sets held out", len(fit_sets),
             window_only.count(False), len(held_out))
    fit_bundle(segments, options.channels, options.sample_rate_hz, out_dir, window_only=window_only,
               fold_groups=fold_groups,
               window_s=options.window_s, hop_s=options.hop_s, false_alarm_rate=options.false_alarm_rate,
               seed=options.seed, autoencoder=options.autoencoder, ae_epochs=options.ae_epochs,
               rep_autoencoder=options.rep_autoencoder, rep_detectors=options.rep_detectors,
               lift_types=options.lift_types, saturation_limits=options.saturation_limits)
    model = load_bundle(out_dir)
    report: dict[str, Any] = {
        "channels": list(options.channels),
        "sample_rate_hz": options.sample_rate_hz,
        "lift_types": list(options.lift_types),
        "seed": options.seed,
        "autoencoder": options.autoencoder,
        "rep_detectors": model.manifest["detectors"]["rep"],
        "fit_sets": [s.name for s in fit_sets],
        "held_out_sets": [s.name for s in held_out],
        "fit_reps": window_only.count(False),
        "manifest_training": model.manifest["training"],
        "rep_false_alarm_rate_target": options.false_alarm_rate,
        "libraries": model.manifest["libraries"],
    }
    realtime = None
    held_reps = sum(len(s.segments.reps) for s in held_out)
    if held_reps:
        per_set = held_out_rep_scores(model, [s.segments.reps for s in held_out])
        if usable(per_set):
            flags = leave_one_set_out_flags(per_set, model.components.rep_fusion, options.false_alarm_rate)
            calibration = recalibrate_reps(out_dir, model, per_set, seed=options.seed)
            update_manifest(out_dir, {"calibration": calibration}, signing_key)
            model = load_bundle(out_dir)
            report["rep_calibration"] = "held-out sets (leave one set out for the figure below)"
        else:
            _, rep_p = model.rep_calibration.fused_p(np.concatenate(per_set))
            flags = rep_p <= options.false_alarm_rate
            report["rep_calibration"] = (f"out of fold (fewer than {MIN_HELD_OUT_REPS} scored held-out reps from "
                                         "2 or more sets)")
        streams = [window_p_stream(model, s.segments.rows) for s in held_out]
        realtime = calibrate_threshold(streams, held_reps, options.realtime_false_alerts_per_100_reps)
        alerts = int(round(realtime["calibration_false_alerts_per_100_reps"] * held_reps / 100.0))
        report["held_out"] = {
            "reps": held_reps,
            "reps_scored": int(flags.size),
            "rep_false_alarm_rate": round(float(np.mean(flags)), 4) if flags.size else None,
            "rep_flags": count_with_interval(flags),
            "rep_flags_support": support_note(int(flags.size), options.false_alarm_rate),
            "realtime_false_alerts": count_with_interval(np.arange(held_reps) < min(alerts, held_reps)),
            "realtime_support": support_note(held_reps, options.realtime_false_alerts_per_100_reps / 100.0),
            "windows_unscored": int(sum(np.isnan(s).sum() for s in streams)),
        }
    else:
        log.warning("no held-out clean sets: the real-time threshold is not calibrated; the daemon "
                    "falls back to its default (see docs/models.md)")
    report["realtime"] = realtime
    report["set_drift"] = model.manifest["calibration"].get("set_drift")
    (out_dir / REPORT_JSON).write_text(json.dumps(report, indent=2, sort_keys=True))
    (out_dir / REPORT_MD).write_text(report_markdown(report))
    population = compute_profile([r for s in fit_sets for r in s.segments.reps], model.geometry)
    update_manifest(out_dir, {REALTIME_KEY: realtime or {}, POPULATION_KEY: population.to_dict()}, signing_key)
    if athletes:
        report["profile_rep"] = _add_profile_rep(out_dir, model, athletes, held_out_athletes, options, signing_key)
        (out_dir / REPORT_JSON).write_text(json.dumps(report, indent=2, sort_keys=True))
        (out_dir / REPORT_MD).write_text(report_markdown(report))
        update_manifest(out_dir, {}, signing_key)
    return report


def _add_profile_rep(out_dir: Path, model: Any, athletes: Sequence[AthleteSets], held_out: Sequence[AthleteSets],
                     options: TrainOptions, signing_key: bytes | None) -> dict[str, Any]:
    log.info("fitting the profile rep decision on %d athletes, calibrating on %d held-out athletes",
             len(athletes), len(held_out))
    components, calibration, flags, per_athlete = fit_profile_rep(model, athletes, held_out,
                                                                  options.enrolment_baseline)
    n_reps = sum(len(a.enrolment) + len(a.later) for a in athletes)
    section = write_profile_rep(out_dir, components, calibration, {
        "false_alarm_rate": model.false_alarm_rate,
        "rep_threshold_fisher": calibration.threshold_statistic(model.false_alarm_rate),
        **drift_threshold(per_athlete, options.seed),
        "training": {"athletes": len(athletes), "reps": n_reps, "held_out_athletes": len(held_out),
                     "enrolment": "each athlete's first set"},
    })
    update_manifest(out_dir, {PROFILE_REP_KEY: section}, signing_key)
    return {"athletes": [a.athlete for a in athletes], "held_out_athletes": [a.athlete for a in held_out],
            "fit_reps": n_reps, "enrolment_baseline": options.enrolment_baseline,
            "rep_flags": count_with_interval(flags),
            "rep_flags_support": support_note(int(flags.size), options.false_alarm_rate)}


def report_markdown(report: dict[str, Any]) -> str:
    lines = [
        "# Training report", "",
        f"- channels: {', '.join(report['channels'])} at {report['sample_rate_hz']:g} Hz",
        f"- lifts: {', '.join(report['lift_types'])}; seed {report['seed']}; "
        f"autoencoder {'on' if report['autoencoder'] else 'off'}",
        f"- fitted on {len(report['fit_sets'])} clean sets ({report['fit_reps']} reps, "
        f"{report['manifest_training']['usable_windows']} windows); "
        f"{len(report['held_out_sets'])} clean sets held out",
        f"- per-rep decision: fused tail probability <= {report['rep_false_alarm_rate_target']}",
    ]
    held = report.get("held_out")
    if held:
        lines.append(f"- rep threshold calibrated on: {report['rep_calibration']}")
        lines.append(f"- held-out clean reps flagged by the rep decision: {format_count(held['rep_flags'])}")
        if held["rep_flags_support"]:
            lines.append(f"  - {held['rep_flags_support']}")
    rt = report.get("realtime")
    if rt:
        lines.append(f"- real-time window threshold: fused_p <= {rt['window_p_threshold']:.3g}, chosen on the held-out "
                     f"sets (so this is a calibration figure, not an independent test): false alerts "
                     f"{format_count(held['realtime_false_alerts'])} clean reps; target "
                     f"{rt['target_false_alerts_per_100_reps']:g} per 100")
        if held["realtime_support"]:
            lines.append(f"  - {held['realtime_support']}")
    else:
        lines.append("- real-time window threshold: not calibrated (no held-out sets)")
    drift = report.get("set_drift")
    if drift:
        lines.append(f"- technique-drift cue threshold: the set's combined p <= {drift['alpha']:.3g}, for "
                     f"{drift['false_cue_rate']:g} false cues per clean set ({drift['method']})")
    profile = report.get("profile_rep")
    if profile:
        lines.append(f"- with an athlete profile: rep decision fitted on {len(profile['athletes'])} athletes "
                     f"({profile['fit_reps']} reps, first set = enrolment, enrolment baseline "
                     f"{profile['enrolment_baseline']:g}), calibrated on {len(profile['held_out_athletes'])} held-out "
                     f"athletes in both directions; their clean reps flagged (each athlete against the others' "
                     f"calibration): {format_count(profile['rep_flags'])}")
        if profile["rep_flags_support"]:
            lines.append(f"  - {profile['rep_flags_support']}")
    lines += ["", "Libraries: " + ", ".join(f"{k} {v}" for k, v in sorted(report["libraries"].items())), ""]
    return "\n".join(lines)


def simulated_clean_sets(n_sets: int, lifts: Sequence[str], seed: int, channels: Sequence[str],
                         rate_hz: float) -> list[LabelledSet]:
    """``n_sets`` clean simulated sets per lift (varied athletes and loads), cut like recordings."""
    return [LabelledSet(f"sim:{lift}:seed{s.seed}", lift, set_segments(s.frames, lift, channels, rate_hz))
            for lift, s in simulate_sets(n_sets, lifts, seed)]


def simulated_athlete_sets(n_athletes: int, lifts: Sequence[str], seed: int, channels: Sequence[str], rate_hz: float,
                           rep_variability: tuple[float, float]) -> list[AthleteSets]:
    """``n_athletes`` simulated athletes per lift with two clean sets each, cut like recordings
    (the first set is the athlete's enrolment)."""
    out = []
    for lift, index, spread, (first, second) in simulate_athletes(n_athletes, lifts, seed,
                                                                  rep_variability=rep_variability):
        cut = [set_segments(s.frames, lift, channels, rate_hz).reps for s in (first, second)]
        out.append(AthleteSets(f"sim:{lift}:athlete{index}:spread{spread:.2f}", *cut))
    return out
