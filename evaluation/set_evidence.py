"""Evidence accumulated across the reps of a set, reported apart from the per-rep decision.

A fault repeated rep after rep should become clearer the more reps it lasts. After each rep
of a set, the box's set statistic (``models.set_drift.running_set_p``: Fisher's combination
of the set's rep tail probabilities so far without the most extreme one, against its
chi-square law) is compared with ``alpha``; the set alarms from the first rep where it is at
or below. The law assumes calibrated, independent clean p-values; reps of one set are neither
quite (a clean set that drifts from the enrolment keeps adding small p-values), which is
exactly what the held-out false-alarm figure measures. The cost is delay: an alarm on a later rep than the per-rep
decision would give, reported as the median rep of the first alarm in faulty sets.
"""
from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from evaluation.metrics import count_with_interval
from models.set_drift import first_cue, running_set_p


def set_level_figures(sets: Iterable[tuple[bool, np.ndarray]], alpha: float) -> dict:
    """``sets``: (faulty, rep scores in rep order) per set. Per-rep false alarms in clean sets,
    per-rep detection in faulty sets (a rep counts once the set has alarmed), and the first
    alarm's rep number in faulty sets (median; sets that never alarm counted apart)."""
    clean_flags, faulty_flags, first_alarm, never = [], [], [], 0
    for faulty, scores in sets:
        alarmed = np.maximum.accumulate(running_set_p(scores) <= alpha)
        if not faulty:
            clean_flags.append(alarmed)
            continue
        faulty_flags.append(alarmed)
        if alarmed.any():
            first_alarm.append(int(np.argmax(alarmed)) + 1)
        else:
            never += 1
    return {
        "alpha": alpha,
        "false_alarms": count_with_interval(np.concatenate(clean_flags) if clean_flags else []),
        "detection": count_with_interval(np.concatenate(faulty_flags) if faulty_flags else []),
        "first_alarm_rep_median": float(np.median(first_alarm)) if first_alarm else float("nan"),
        "faulty_sets_never_alarmed": never,
        "faulty_sets": len(faulty_flags),
    }


def set_cue_figures(sets: Iterable[tuple[bool, np.ndarray]], alpha: float) -> dict:
    """The drift cue per set, as the box gives it (once per set): faulty sets that cued, clean
    sets that cued (false cues per clean set), and the rep at which it fired in faulty sets
    (median and range), with counts and 95 % Clopper-Pearson intervals."""
    return {"alpha": alpha, **own_threshold_cue_figures((faulty, scores, alpha) for faulty, scores in sets)}


def own_threshold_cue_figures(sets: Iterable[tuple[bool, np.ndarray, float]]) -> dict:
    """``set_cue_figures`` with each set at its own threshold (the bundle that scored it:
    in a nested evaluation, the one fitted without that set's subject), and the thresholds'
    range."""
    faulty_cued, clean_cued, at, alphas = [], [], [], []
    for faulty, scores, alpha in sets:
        rep = first_cue(scores, alpha)
        alphas.append(alpha)
        (faulty_cued if faulty else clean_cued).append(rep is not None)
        if faulty and rep is not None:
            at.append(rep)
    return {
        "alpha_range": [float(min(alphas)), float(max(alphas))] if alphas else None,
        "faulty_sets_cued": count_with_interval(faulty_cued),
        "clean_sets_cued": count_with_interval(clean_cued),
        "cue_rep_median": float(np.median(at)) if at else float("nan"),
        "cue_rep_range": [int(min(at)), int(max(at))] if at else None,
    }
