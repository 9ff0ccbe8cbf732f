"""Technique drift across a set: the evidence of the set's reps so far, and the after-rep cue.

After each rep ``i`` the set's rep decisions are combined as Fisher's statistic
``F_i = -2 * sum(ln p_1..p_i)`` (``p`` = each rep's fused tail probability) and compared with
its chi-square law on ``2 i`` degrees of freedom (``evaluation/set_evidence.py`` is the
same computation for evaluation). The set cues once, at the first rep where that combined tail
probability is at or below ``alpha``. The law assumes calibrated, independent clean p-values,
and a set is looked at after every rep, so the chance that a clean set ever cues is not
``alpha``: ``alpha`` itself is chosen on clean sets so that the share of clean sets that cue
holds a stated rate (``calibrate_set_alpha``, conformal over sets).

What drifted is named from the attributions of the set's reps: each feature's robust z summed
over the reps so far (signed, so a shift that repeats adds up and noise cancels; a rep's
attribution lists its five largest features, the others count as 0), the largest five passed
to ``models.feedback_text.attribution_hint``. The mean over the reps was tried: it falls below
the hint's per-rep thresholds and names nothing.
"""
from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

DEFAULT_SET_ALPHA = 1.3e-5
"""The box's drift-cue threshold on the running combined tail probability: calibrated for
2 % false cues per clean set on 120 simulated clean 8-rep sets (40 per lift, seed 11) with the
shipped default bundle, by ``scripts/eval-drift-cue``, which reports it on other sets
(docs/models.md, "Technique-drift cue"). A bundle with a different rep calibration needs its
own value."""

TOP_FEATURES = 5


@dataclass(frozen=True)
class DriftCue:
    """The set crossed its threshold at rep ``rep`` with combined tail probability ``p``;
    ``features`` are the set's summed attribution, largest first."""

    rep: int
    p: float
    features: tuple[tuple[str, float], ...]

    @property
    def attribution(self) -> dict[str, list[tuple[str, float]]]:
        return {"channels": [], "features": list(self.features)}


def running_fisher_p(rep_scores: Sequence[float]) -> np.ndarray:
    """Combined tail probability after each rep, from the reps' ``-log10 p`` scores in order
    (an unscored rep, NaN, adds no evidence but counts as a rep)."""
    from scipy.stats import chi2  # here, not at import: the daemon starts without it

    scores = np.asarray(rep_scores, dtype=np.float64)
    minus_ln_p = np.where(np.isfinite(scores), scores, 0.0) * math.log(10.0)
    reps_so_far = np.arange(1, len(minus_ln_p) + 1)
    return chi2.sf(2.0 * np.cumsum(minus_ln_p), 2 * reps_so_far)


def first_cue(rep_scores: Sequence[float], alpha: float) -> int | None:
    """1-based rep at which a set with these rep scores cues, or None."""
    hits = np.flatnonzero(running_fisher_p(rep_scores) <= alpha)
    return int(hits[0]) + 1 if hits.size else None


def calibrate_set_alpha(clean_sets: Iterable[Sequence[float]], rate: float) -> float:
    """The threshold at which at most ``rate`` of clean sets cue, conformal over sets.

    Each clean set's smallest running combined p is its score; a new exchangeable clean set
    cues with probability at most ``rate`` when ``alpha`` lies below the ``k``-th smallest of
    ``n`` such scores with ``k = floor(rate * (n + 1))``. ``ValueError`` when there are too
    few sets for ``rate`` (``k`` = 0), naming how many are needed."""
    if not 0.0 < rate < 1.0:
        raise ValueError(f"rate must be in (0, 1), got {rate}")
    minima = np.sort([float(running_fisher_p(s).min()) for s in clean_sets if len(s)])
    k = int(math.floor(rate * (len(minima) + 1)))
    if k < 1:
        need = math.ceil(1.0 / rate) - 1
        raise ValueError(f"{len(minima)} clean sets are too few to calibrate a rate of {rate:g} "
                         f"per set; need at least {need}")
    # strictly below the k-th smallest minimum: at most k - 1 of the n sets cue
    return float(np.nextafter(minima[k - 1], 0.0))


@dataclass
class SetDriftEvidence:
    """One set's running evidence on the box: ``add`` each rep's decision in order; it returns
    the cue once, at the rep where the set first crosses ``alpha``, and None otherwise."""

    alpha: float = DEFAULT_SET_ALPHA
    scores: list[float] = field(default_factory=list)
    cue: DriftCue | None = None
    _z: dict[str, float] = field(default_factory=lambda: defaultdict(float))

    def __post_init__(self) -> None:
        if not (0.0 < self.alpha < 1.0):
            raise ValueError(f"drift-cue alpha must be in (0, 1), got {self.alpha}")

    def add(self, rep: int, score: float,
            attribution: Mapping[str, Sequence[tuple[str, float]]] | None) -> DriftCue | None:
        self.scores.append(float(score) if score is not None else math.nan)
        for name, z in (attribution or {}).get("features") or []:
            self._z[name] += float(z)
        if self.cue is not None:
            return None
        p = float(running_fisher_p(self.scores)[-1])
        if p > self.alpha:
            return None
        top = sorted(self._z.items(), key=lambda kv: -abs(kv[1]))[:TOP_FEATURES]
        self.cue = DriftCue(rep, p, tuple((name, round(z, 2)) for name, z in top))
        return self.cue
