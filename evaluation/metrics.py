"""Ranking and operating-point metrics, numpy only."""
from __future__ import annotations

import numpy as np


def average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks with ties given their average rank."""
    values = np.asarray(values, dtype=np.float64)
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(len(values))
    ranks[order] = np.arange(1, len(values) + 1)
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    sums = np.bincount(inverse, weights=ranks)
    return sums[inverse] / counts[inverse]


def auroc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve via the Mann-Whitney U statistic (positives = label 1)."""
    labels = np.asarray(labels).astype(bool)
    n_pos, n_neg = int(labels.sum()), int((~labels).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = average_ranks(scores)
    return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def rate(flags: np.ndarray) -> float:
    flags = np.asarray(flags, dtype=bool)
    return float(flags.mean()) if flags.size else float("nan")


def clopper_pearson(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Exact binomial interval for k successes in n trials (NaN, NaN when n == 0)."""
    from scipy.stats import beta

    if n == 0:
        return float("nan"), float("nan")
    tail = (1.0 - confidence) / 2.0
    low = 0.0 if k == 0 else float(beta.ppf(tail, k, n - k + 1))
    high = 1.0 if k == n else float(beta.ppf(1.0 - tail, k + 1, n - k))
    return low, high


def count_with_interval(flags) -> dict:
    """``{"k", "n", "rate", "ci95"}`` for a boolean array (rate and interval NaN when empty)."""
    flags = np.asarray(flags, dtype=bool)
    k, n = int(flags.sum()), int(flags.size)
    return {"k": k, "n": n, "rate": rate(flags), "ci95": list(clopper_pearson(k, n))}


def smallest_provable_rate(n: int, confidence: float = 0.95) -> float:
    """The upper interval end with zero events in n trials: no lower false-alarm rate can be
    shown with n clean reps (e.g. 60 reps cannot show <= 5 %)."""
    return clopper_pearson(0, n, confidence)[1] if n else float("nan")


def reps_needed_to_show(target_rate: float, confidence: float = 0.95) -> int:
    """Clean reps needed before zero events can show a rate at or below ``target_rate``."""
    tail = (1.0 - confidence) / 2.0
    return int(np.ceil(np.log(tail) / np.log1p(-target_rate)))


def support_note(n: int, target_rate: float, what: str = "held-out clean reps") -> str | None:
    """A sentence saying that ``n`` reps cannot support a figure at ``target_rate``, or None."""
    if n == 0:
        return f"no {what}: no false-alarm figure can be given"
    floor = smallest_provable_rate(n)
    if floor <= target_rate:
        return None
    return (f"{n} {what} are too few to show a rate of {100 * target_rate:g} %: even with no events the 95 % "
            f"interval reaches {100 * floor:.1f} %; that needs at least {reps_needed_to_show(target_rate)} reps")


def format_count(entry: dict) -> str:
    """``k/n = rate (95 % CI low-high)`` from ``count_with_interval``; ``none (0 reps)`` when n is 0."""
    if not entry["n"]:
        return "none (0 reps)"
    low, high = entry["ci95"]
    return f"{entry['k']}/{entry['n']} = {entry['rate']:.2f} (95 % CI {low:.2f}-{high:.2f})"
