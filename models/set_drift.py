"""Technique drift across a set: the evidence of the set's reps so far, and the after-rep cue.

After each rep ``i`` the set's rep decisions (``p`` = each rep's fused tail probability) are
combined by a **trimmed Fisher statistic**: Fisher's ``-2 * sum(ln p)`` over the set's scored
reps so far *without the single most extreme one*, compared with the chi-square law on
``2 (m - 1)`` degrees of freedom (``m`` scored reps so far; ``p = 1`` while ``m < 2``). One very
unusual rep is the within-rep cue's business: with plain Fisher it alone could carry the set
(``scripts/demo``'s one swaying rep cued a drift at that rep); trimmed, a drift cue needs
evidence from at least two reps. The null law used is conservative: the ``m - 1`` largest of
``m`` independent uniforms are stochastically larger than ``m - 1`` independent uniforms, so
the chi-square tail probability is at least the exact one. Nothing rests on the law being
exact: the set is looked at after every rep and clean reps of one set are not independent, so
the threshold ``alpha`` is calibrated on clean sets for a stated false-cue rate per set
(``calibrate_set_alpha``, conformal over sets; ``calibrate_from_reps`` in ``fit_bundle``, over
pseudo-sets drawn within each calibration group). ``evaluation/set_evidence.py`` and
``evaluation/drift_cue.py`` use these same functions. An unscored rep (NaN) adds nothing:
neither evidence nor a degree of freedom (the box skips it).

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
from typing import Any

import numpy as np

DEFAULT_SET_ALPHA = 1.5e-4
"""The drift-cue threshold of a bundle whose manifest has none (bundles fitted before the
threshold became a bundle field): calibrated for the trimmed statistic at 2 % false cues per
clean set on 120 simulated clean 8-rep sets (40 per lift, seed 11) with the default bundle of
commit 492179c, by ``scripts/eval-drift-cue`` (1.58e-4, rounded down; docs/models.md,
"Technique-drift cue"). A bundle fitted now carries its own (``calibration.set_drift.alpha``,
``calibrate_from_reps``)."""

DEFAULT_SET_FALSE_CUE_RATE = 0.02
"""Nominal share of clean sets that cue, for which ``fit_bundle`` calibrates a bundle's
threshold (the issue asks for at most 1 in 20; 2 % leaves room for the calibration's own
noise on few groups)."""

CALIBRATION_SET_REPS = 10
"""Reps per pseudo-set in ``calibrate_from_reps``: a long working set (more reps, more looks,
a lower threshold; shorter sets then cue less often than the nominal rate)."""

PSEUDO_SETS = 2000
"""Pseudo-sets drawn in ``calibrate_from_reps``, shared equally among the groups."""

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


MAX_REP_SCORE = 300.0
"""A rep score (``-log10 p``) above this counts as this (an infinite score stays finite)."""


def running_set_p(rep_scores: Sequence[float]) -> np.ndarray:
    """The set's combined tail probability after each rep, from the reps' ``-log10 p`` scores
    in order: trimmed Fisher (the module docstring), 1 until two reps are scored; an unscored
    rep (NaN) keeps the previous value."""
    from scipy.stats import chi2  # here, not at import: the daemon starts without it

    scores = np.asarray(rep_scores, dtype=np.float64).reshape(-1)
    scored = ~np.isnan(scores)
    minus_ln_p = np.where(scored, np.clip(np.nan_to_num(scores, nan=0.0), 0.0, MAX_REP_SCORE), 0.0) * math.log(10.0)
    kept = np.cumsum(scored) - 1
    trimmed = np.cumsum(minus_ln_p) - np.maximum.accumulate(minus_ln_p) if scores.size else minus_ln_p
    p = np.ones(scores.size)
    some = kept >= 1
    p[some] = chi2.sf(2.0 * np.maximum(trimmed[some], 0.0), 2 * kept[some])
    return p


def first_cue(rep_scores: Sequence[float], alpha: float) -> int | None:
    """1-based rep at which a set with these rep scores cues, or None."""
    hits = np.flatnonzero(running_set_p(rep_scores) <= alpha)
    return int(hits[0]) + 1 if hits.size else None


def calibrate_set_alpha(clean_sets: Iterable[Sequence[float]], rate: float) -> float:
    """The threshold at which at most ``rate`` of clean sets cue, conformal over sets.

    Each clean set's smallest running combined p is its score; a new exchangeable clean set
    cues with probability at most ``rate`` when ``alpha`` lies below the ``k``-th smallest of
    ``n`` such scores with ``k = floor(rate * (n + 1))``. ``ValueError`` when there are too
    few sets for ``rate`` (``k`` = 0), naming how many are needed."""
    if not 0.0 < rate < 1.0:
        raise ValueError(f"rate must be in (0, 1), got {rate}")
    minima = np.sort([float(running_set_p(s).min()) for s in clean_sets if len(s)])
    k = int(math.floor(rate * (len(minima) + 1)))
    if k < 1:
        need = math.ceil(1.0 / rate) - 1
        raise ValueError(f"{len(minima)} clean sets are too few to calibrate a rate of {rate:g} "
                         f"per set; need at least {need}")
    # strictly below the k-th smallest minimum: at most k - 1 of the n sets cue
    return float(np.nextafter(minima[k - 1], 0.0))


@dataclass(frozen=True)
class SetThreshold:
    """A bundle's drift-cue threshold and how it was calibrated (``calibration.set_drift`` in
    the manifest)."""

    alpha: float
    false_cue_rate: float
    groups: int
    reps: int
    pseudo_sets: int
    set_reps: int
    method: str

    def as_manifest(self) -> dict[str, Any]:
        return {"alpha": self.alpha, "false_cue_rate": self.false_cue_rate, "groups": self.groups,
                "reps": self.reps, "pseudo_sets": self.pseudo_sets, "set_reps": self.set_reps,
                "statistic": "trimmed_fisher", "method": self.method}


def calibrate_from_reps(scores_by_group: Iterable[Sequence[float]], rate: float = DEFAULT_SET_FALSE_CUE_RATE, *,
                        set_reps: int = CALIBRATION_SET_REPS, pseudo_sets: int = PSEUDO_SETS,
                        seed: int = 0, source: str = "calibration reps") -> SetThreshold:
    """The drift-cue threshold from clean calibration reps, grouped by athlete (or set).

    ``scores_by_group``: per group, the ``-log10 p`` of its clean reps, each p from a
    calibration that did not see that rep. Training data hold few sets, so sets are made:
    each pseudo-set is ``set_reps`` distinct reps of one group in random order (all of the
    group's reps when it has fewer), groups sharing ``pseudo_sets`` equally; reps of one
    athlete keep the athlete's own offset from the population, which is what makes a real
    clean set cue. ``alpha`` is then ``calibrate_set_alpha`` over the pseudo-sets: the
    conformal quantile of their smallest running p at ``rate``. Pseudo-sets of one group share
    reps, so the rate is nominal, not guaranteed: ``scripts/eval-drift-cue`` measures it on
    sets it was not chosen on. ``ValueError`` when no group has two scored reps."""
    groups = [s[~np.isnan(s)] for s in (np.asarray(g, dtype=np.float64).reshape(-1) for g in scores_by_group)]
    groups = [g for g in groups if g.size >= 2]
    if not groups:
        raise ValueError("no calibration group has two scored reps; a drift-cue threshold needs sets of reps")
    if set_reps < 2:
        raise ValueError(f"set_reps must be at least 2, got {set_reps}")
    rng = np.random.default_rng(seed)
    per_group = max(1, math.ceil(pseudo_sets / len(groups)))
    drawn = [g[rng.permutation(g.size)[:set_reps]] for g in groups for _ in range(per_group)]
    alpha = max(calibrate_set_alpha(drawn, rate), float(np.finfo(np.float64).tiny))
    method = (f"trimmed Fisher; {len(drawn)} pseudo-sets of up to {set_reps} distinct clean reps drawn within each "
              f"of {len(groups)} groups ({source}, p-values from a calibration without them); conformal "
              f"quantile of each pseudo-set's smallest running p at {rate:g} false cues per clean set")
    return SetThreshold(alpha, rate, len(groups), int(sum(g.size for g in groups)), len(drawn), set_reps, method)


def section_alpha(section: Mapping[str, Any], default: float) -> float:
    """The threshold of a manifest section's ``set_drift`` table (``calibration`` or
    ``profile_rep``), else ``default``."""
    alpha = (section.get("set_drift") or {}).get("alpha")
    return float(alpha) if isinstance(alpha, (int, float)) and 0.0 < alpha < 1.0 else default


def bundle_set_alpha(manifest: Mapping[str, Any]) -> float:
    """The drift-cue threshold a bundle's manifest carries, else ``DEFAULT_SET_ALPHA`` (a
    bundle fitted before the field existed)."""
    return section_alpha(manifest.get("calibration") or {}, DEFAULT_SET_ALPHA)


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
        p = float(running_set_p(self.scores)[-1])
        if p > self.alpha:
            return None
        top = sorted(self._z.items(), key=lambda kv: -abs(kv[1]))[:TOP_FEATURES]
        self.cue = DriftCue(rep, p, tuple((name, round(z, 2)) for name, z in top))
        return self.cue
