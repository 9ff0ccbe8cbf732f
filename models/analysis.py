"""End to end: frames of one set -> per-rep metrics, scores and a set summary.

This is the entry point the daemon and ``liftguard analyze`` use. Steps: group frames per
source, flag bad samples (:mod:`models.quality`), align and resample (:mod:`models.signals`),
segment reps on the bar IMU (:mod:`models.segmentation`), then compute metrics
(:mod:`models.metrics`) and scores (:mod:`models.scores`). Whatever cannot be computed from the
channels present is listed in ``unavailable`` with the reason.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from models import metrics as m
from models import scores
from models.bar_load import BarLoad, measure_bar_load
from models.kinematics import vertical_acceleration
from models.orientation import bar_tilt_deg
from models.quality import ChannelIssue, clean_source
from models.segmentation import (
    MIN_ROM_M,
    RepBounds,
    SegmentationMemo,
    canonical_lift,
    lift_direction,
    segment_bar,
)
from models.signals import (
    ANALYSIS_RATE_HZ,
    AlignedSignals,
    SourceSamples,
    align_sources,
    split_by_source,
)
from models.velocity_cue import running_velocity_loss
from sensors.frame import IMU_CHANNELS, PLATFORM_CHANNELS, STANDARD_GRAVITY, Frame
from sensors.geometry import DEFAULT_PLATFORM, PlatformGeometry

log = logging.getLogger(__name__)

MAX_MISSING_FRACTION = 0.10   # a rep metric needs at least 90 % valid samples in the rep
NO_REST = ("the bar never rested still in this recording, so there is no gravity "
           "reference to measure vertical motion against")
NO_IMU = "no usable bar IMU channels (ax ay az gx gy gz)"
NO_PLATFORM = "no usable platform channels (f_fl f_fr f_rl f_rr)"
IMU_METRICS = ("eccentric_s", "concentric_s", "pause_s", "rom_m", "mean_concentric_velocity_mps",
               "peak_concentric_velocity_mps", "mid_range_velocity_mps", "peak_eccentric_velocity_mps", "sticking_ratio",
               "max_tilt_deg", "signed_max_tilt_deg", "rms_tilt_deg", "lateral_displacement_m",
               "signed_lateral_displacement_m", "tremor_rms_mps2")
PLATFORM_METRICS = ("cop_ml_rms_m", "cop_ap_rms_m", "cop_path_velocity_mps",
                    "cop_ellipse_area_m2", "cop_ap_shift_m", "asymmetry_pct")


@dataclass
class SetAnalysis:
    lift: str
    rate_hz: float
    reps: list[m.RepMetrics]
    summary: dict[str, Any]
    issues: list[ChannelIssue] = field(default_factory=list)
    unavailable: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"lift": self.lift, "rate_hz": self.rate_hz,
                "reps": [r.as_dict() for r in self.reps], "summary": self.summary,
                "issues": [str(i) for i in self.issues], "unavailable": dict(self.unavailable)}


@dataclass
class _Context:
    sig: AlignedSignals
    lift: str
    accel: np.ndarray | None
    gyro: np.ndarray | None
    up: np.ndarray | None
    level_deg: float
    z: np.ndarray | None
    v: np.ndarray | None
    forces: np.ndarray | None
    cop: np.ndarray | None


def _phases(b: RepBounds, lift: str) -> tuple[tuple[int, int], tuple[int, int], int]:
    """(eccentric (i0, i1), concentric (i0, i1), bottom index) for the lift."""
    if lift_direction(lift) > 0:
        return (b.start, b.first_end), (b.turn, b.end), b.turn
    return (b.turn, b.end), (b.start, b.first_end), b.first_end


def _valid(x: np.ndarray, i0: int, i1: int) -> bool:
    seg = x[i0:i1 + 1]
    return seg.size > 0 and np.mean(~np.all(np.isfinite(seg.reshape(seg.shape[0], -1)), axis=1)) \
        <= MAX_MISSING_FRACTION


def _imu_metrics(ctx: _Context, b: RepBounds, rep: m.RepMetrics) -> None:
    t, rate = ctx.sig.t, ctx.sig.rate_hz
    (e0, e1), (c0, c1), _ = _phases(b, ctx.lift)
    if not _valid(ctx.accel, b.start, b.end):
        rep.unavailable.update({k: "bar IMU samples missing during the rep (gap or bad data)"
                                for k in IMU_METRICS})
        return
    z, v = ctx.z, ctx.v
    rep.eccentric_s = float(t[e1] - t[e0])
    rep.concentric_s, rep.mean_concentric_velocity_mps, rep.mid_range_velocity_mps = \
        _concentric_velocities(ctx, b)
    rep.pause_s = float(t[b.turn] - t[b.first_end])
    rep.rom_m = float(np.ptp(z[b.start:b.end + 1]))
    rep.peak_concentric_velocity_mps = float(np.max(v[c0:c1 + 1]))
    rep.peak_eccentric_velocity_mps = float(np.max(-v[e0:e1 + 1]))
    ratio = m.sticking_ratio(z[c0:c1 + 1], v[c0:c1 + 1], rep.mean_concentric_velocity_mps or 0.0)
    rep.sticking_ratio = ratio if math.isfinite(ratio) else None
    up = ctx.up[b.start:b.end + 1]
    tilt = bar_tilt_deg(up) - ctx.level_deg
    k = int(np.nanargmax(np.abs(tilt)))
    rep.max_tilt_deg, rep.signed_max_tilt_deg = float(abs(tilt[k])), float(tilt[k])
    rep.rms_tilt_deg = float(np.sqrt(np.nanmean(tilt ** 2)))
    acc = ctx.accel[b.start:b.end + 1]
    a_v = vertical_acceleration(acc, up)
    a_lat = (acc[:, 0] - up[:, 0] * (a_v + STANDARD_GRAVITY)) / np.sqrt(1 - up[:, 0] ** 2)
    x = m.lateral_excursion(a_lat, rate)
    j = int(np.argmax(np.abs(x)))
    rep.lateral_displacement_m, rep.signed_lateral_displacement_m = float(abs(x[j])), float(x[j])
    rep.tremor_rms_mps2 = m.band_rms(a_v, rate)


def _concentric_velocities(ctx: _Context, b: RepBounds) -> tuple[float, float | None, float | None]:
    """(concentric_s, mean concentric velocity, mid-range velocity) of a rep whose bar IMU
    samples are valid: the rep metrics' values, and what the set-relative velocity losses of
    the other reps need (``_RepBasis``)."""
    t, z = ctx.sig.t, ctx.z
    _, (c0, c1), _ = _phases(b, ctx.lift)
    concentric_s = float(t[c1] - t[c0])
    mean = float((z[c1] - z[c0]) / concentric_s) if concentric_s > 0 else None
    mid = m.mid_range_velocity(z[c0:c1 + 1], t[c0:c1 + 1])
    return concentric_s, mean, (mid if math.isfinite(mid) else None)


def _platform_metrics(ctx: _Context, b: RepBounds, rep: m.RepMetrics) -> None:
    if not _valid(ctx.forces, b.start, b.end):
        rep.unavailable.update({k: "platform samples missing during the rep (gap or bad data)"
                                for k in PLATFORM_METRICS})
        return
    sway = m.cop_sway(ctx.cop[b.start:b.end + 1], ctx.sig.rate_hz)
    for name, value in sway.items():
        setattr(rep, name, value)
    rep.asymmetry_pct = m.mean_asymmetry_pct(ctx.forces[b.start:b.end + 1])


def _level_reference(up: np.ndarray, rest: np.ndarray) -> float:
    """The bar's tilt reading when level: median over the set's rests (racked, set up, between
    reps). Removes the accelerometer's zero-g offset and any mounting misalignment (a 50 mg
    offset alone reads as 2.9 deg)."""
    tilt = bar_tilt_deg(up)
    sel = rest & np.isfinite(tilt)
    return float(np.median(tilt[sel])) if sel.any() else 0.0


def _usable(sig: AlignedSignals, names: tuple[str, ...]) -> bool:
    return sig.has(*names) and all(np.isfinite(sig.channels[n]).any() for n in names)


def analyze_frames(frames: Iterable[Frame], lift: str, rate_hz: float = ANALYSIS_RATE_HZ,
                   geometry: PlatformGeometry = DEFAULT_PLATFORM,
                   bench_on_platform: bool = True) -> SetAnalysis:
    """Analyse one set; see the module docstring. Raises ValueError for no frames / bad lift.

    ``bench_on_platform``: whether the bench press's bench stands on the platform (else the
    platform cannot weigh the bar, :mod:`models.bar_load`)."""
    return analyze_sources(split_by_source(frames), lift, rate_hz, geometry, bench_on_platform)


def analyze_sources(by_source: dict[str, SourceSamples], lift: str,
                    rate_hz: float = ANALYSIS_RATE_HZ, geometry: PlatformGeometry = DEFAULT_PLATFORM,
                    bench_on_platform: bool = True,
                    memo: SegmentationMemo | None = None) -> SetAnalysis:
    """``analyze_frames`` of frames already grouped per source (``split_by_source``, or a
    ``FrameColumns`` kept as a set records); the dict is cleaned in place (flagged samples set
    to NaN, unusable channels dropped), its arrays are not written to. ``memo``: the same
    set's ``SegmentationMemo`` when it is analysed again as it grows (same result, less work)."""
    ctx, bounds, rest, issues, unavailable = _set_context(by_source, lift, rate_hz, geometry, memo)
    reps = [_rep_metrics(ctx, b) for b in bounds]
    _finish_reps(reps, ctx, [_basis_of(rep, ctx) for rep in reps])
    summary = summarise(reps, ctx, unavailable)
    load = measure_bar_load(ctx.forces, rate_hz, ctx.lift, rest, [(b.start, b.end) for b in bounds],
                            bench_on_platform)
    summary["bar_load"] = load.as_dict()
    if load.kg is None:
        unavailable["bar_load_kg"] = load.reason or "not measured"
    return SetAnalysis(ctx.lift, rate_hz, reps, summary, issues, unavailable)


def analyze_reps_in_set(by_source: dict[str, SourceSamples], lift: str,
                        wanted: Callable[[float], bool], rate_hz: float = ANALYSIS_RATE_HZ,
                        geometry: PlatformGeometry = DEFAULT_PLATFORM,
                        memo: SegmentationMemo | None = None) -> list[m.RepMetrics]:
    """The reps of ``analyze_sources(by_source, lift, ...).reps`` whose end (``end_s``, s
    since the set's first sample) ``wanted`` accepts, with the same values bit for bit.

    The session worker analyses each rep within the whole set so far; computing every earlier
    rep's metrics again at each rep made its work grow with the set (a 30-rep set: 14 of its
    38 ms). Here only the wanted reps get their metrics; the others give only what the
    set-relative values need (``_RepBasis``: their velocities and mean COP), computed by the
    same functions as their metrics, and the set summary and bar load are skipped."""
    ctx, bounds, _, _, _ = _set_context(by_source, lift, rate_hz, geometry, memo)
    t = ctx.sig.t
    picked = [k for k, b in enumerate(bounds) if wanted(float(t[b.end]))]
    if not picked:
        return []
    reps = [_rep_metrics(ctx, bounds[k]) for k in picked]
    full = dict(zip(picked, reps))
    basis = [_basis_of(full[k], ctx) if k in full else _light_basis(ctx, b)
             for k, b in enumerate(bounds)]
    _finish_reps(reps, ctx, basis, picked)
    return reps


def _set_context(by_source: dict[str, SourceSamples], lift: str, rate_hz: float,
                 geometry: PlatformGeometry, memo: SegmentationMemo | None
                 ) -> tuple[_Context, list[RepBounds], np.ndarray | None, list[ChannelIssue],
                            dict[str, str]]:
    """Clean, align and segment the set: (context, rep bounds, rest mask or None, issues,
    what is unavailable and why)."""
    lift = canonical_lift(lift)
    issues: list[ChannelIssue] = []
    for samples in by_source.values():
        issues += clean_source(samples)
    for issue in issues:
        log.warning("data quality: %s", issue)
    sig = align_sources(by_source, rate_hz)
    unavailable: dict[str, str] = {}
    ctx = _Context(sig, lift, None, None, None, 0.0, None, None, None, None)
    bounds: list[RepBounds] = []
    seg = None
    if _usable(sig, IMU_CHANNELS):
        ctx.accel, ctx.gyro = sig.stack(IMU_CHANNELS[:3]), sig.stack(IMU_CHANNELS[3:])
        bounds, seg = segment_bar(ctx.accel, ctx.gyro, lift, rate_hz, memo=memo)
    if seg is not None and seg.motion is not None:
        ctx.up, ctx.z, ctx.v = seg.up, seg.motion.displacement, seg.motion.velocity
        ctx.level_deg = _level_reference(ctx.up, seg.motion.rest)
    elif seg is not None:
        unavailable["reps"] = NO_REST
        unavailable.update({k: NO_REST for k in IMU_METRICS})
    else:
        unavailable["reps"] = NO_IMU + ": reps are segmented on the bar's vertical motion"
        unavailable.update({k: NO_IMU for k in IMU_METRICS})
    if _usable(sig, PLATFORM_CHANNELS):
        ctx.forces = sig.stack(PLATFORM_CHANNELS)
        ctx.cop = m.centre_of_pressure(ctx.forces, geometry)
    else:
        unavailable.update({k: NO_PLATFORM for k in PLATFORM_METRICS})
        unavailable["balance_score"] = NO_PLATFORM
    rest = seg.motion.rest if seg is not None and seg.motion is not None else None
    return ctx, bounds, rest, issues, unavailable


def set_bar_load(analysis: SetAnalysis) -> BarLoad:
    """The set's bar load as the platform weighed it (``summary["bar_load"]``)."""
    return BarLoad(**analysis.summary["bar_load"])


def _rep_metrics(ctx: _Context, b: RepBounds) -> m.RepMetrics:
    t = ctx.sig.t
    _, _, bottom = _phases(b, ctx.lift)
    rep = m.RepMetrics(number=b.number, start_s=float(t[b.start]), bottom_s=float(t[bottom]),
                       end_s=float(t[b.end]))
    _imu_metrics(ctx, b, rep)
    if ctx.forces is not None:
        _platform_metrics(ctx, b, rep)
    return rep


@dataclass(frozen=True)
class _RepBasis:
    """What the set-relative values of the other reps need from one rep."""

    velocity: float | None       # mean concentric velocity
    cue_velocity: float | None   # the velocity-loss cue's (models.velocity_cue.CUE_VELOCITY)
    cop_y: float | None          # mean AP centre of pressure over the rep; None without COP sway


def _rep_cop_y(ctx: _Context, start_s: float, end_s: float) -> float:
    i0, i1 = round(start_s * ctx.sig.rate_hz), round(end_s * ctx.sig.rate_hz)
    return float(np.nanmean(ctx.cop[i0:i1 + 1, 1]))


def _basis_of(rep: m.RepMetrics, ctx: _Context) -> _RepBasis:
    cop_y = (_rep_cop_y(ctx, rep.start_s, rep.end_s)
             if ctx.cop is not None and rep.cop_ap_rms_m is not None else None)
    return _RepBasis(rep.mean_concentric_velocity_mps, rep.mid_range_velocity_mps, cop_y)


def _light_basis(ctx: _Context, b: RepBounds) -> _RepBasis:
    """``_basis_of(_rep_metrics(ctx, b), ctx)`` without the rep's other metrics: the same
    validity checks and functions as ``_imu_metrics`` and ``_platform_metrics``."""
    velocity = cue_velocity = cop_y = None
    if _valid(ctx.accel, b.start, b.end):
        _, velocity, cue_velocity = _concentric_velocities(ctx, b)
    if (ctx.forces is not None and ctx.cop is not None and _valid(ctx.forces, b.start, b.end)
            and m.cop_sway_defined(ctx.cop[b.start:b.end + 1])):
        t = ctx.sig.t
        cop_y = _rep_cop_y(ctx, float(t[b.start]), float(t[b.end]))
    return _RepBasis(velocity, cue_velocity, cop_y)


def _finish_reps(reps: list[m.RepMetrics], ctx: _Context, basis: Sequence[_RepBasis],
                 at: Sequence[int] | None = None) -> None:
    """Set-relative values (COP shift vs the set's median, velocity loss so far) and scores.
    ``basis``: every rep of the set's; ``at``: where ``reps`` are in it (default: all)."""
    ys = [b.cop_y for b in basis if b.cop_y is not None] if ctx.cop is not None else []
    baseline = float(np.median(ys)) if ys else None
    losses = running_velocity_loss([b.velocity for b in basis])
    cue_losses = running_velocity_loss([b.cue_velocity for b in basis])
    for rep, k in zip(reps, range(len(reps)) if at is None else at):
        rep.mid_range_velocity_loss_pct = cue_losses[k]
        if baseline is not None and rep.cop_ap_rms_m is not None:
            rep.cop_ap_shift_m = _rep_cop_y(ctx, rep.start_s, rep.end_s) - baseline
        rep.velocity_loss_pct = losses[k]
        values = rep.as_dict()
        rep.balance_score = scores.balance_score(values)
        rep.stability_score = scores.stability_score(values)
        rep.injury_risk = scores.injury_risk(values)


def _mean(values: Iterable[float | None]) -> float | None:
    v = [x for x in values if x is not None and math.isfinite(x)]
    return float(np.mean(v)) if v else None


def no_reps_reason(lift: str) -> str:
    """Why a recording with a usable bar IMU has no reps of ``lift``."""
    rom = MIN_ROM_M[lift]
    way = "up from rest and back down" if lift_direction(lift) < 0 else "down from rest and back up"
    return (f"the bar never moved {way} by at least {rom * 100:.0f} cm between two pauses, as "
            f"a {lift.replace('_', ' ')} rep does (is this the right lift, and did the bar "
            f"rest still before and after the set?)")


def summarise(reps: list[m.RepMetrics], ctx: _Context, unavailable: dict[str, str]) -> dict[str, Any]:
    """Set summary: rep count, means of the per-rep metrics, velocity loss, the three scores.

    Session scores: balance and stability are the mean over reps; injury_risk is the worst rep
    (a set is as risky as its riskiest rep). Without reps there are no scores (a score would
    judge walk-outs and set-up, not lifting) and ``no_reps_reason`` says why; the whole-set COP
    sway is still reported (``set_*`` keys).
    """
    summary: dict[str, Any] = {"lift": ctx.lift, "rep_count": len(reps)}
    for name in IMU_METRICS + PLATFORM_METRICS:
        if not name.startswith("signed_") and name != "cop_ap_shift_m":
            summary[f"mean_{name}"] = _mean(getattr(r, name) for r in reps)
    summary["velocity_loss_pct"] = m.velocity_loss_pct(
        [r.mean_concentric_velocity_mps for r in reps])
    summary["balance_score"] = _mean(r.balance_score for r in reps)
    summary["stability_score"] = _mean(r.stability_score for r in reps)
    risks = [r.injury_risk for r in reps if r.injury_risk is not None]
    summary["injury_risk"] = max(risks) if risks else None
    if not reps:
        summary["no_reps_reason"] = unavailable.get("reps") or no_reps_reason(ctx.lift)
    if not reps and ctx.forces is not None:
        whole = m.cop_sway(ctx.cop, ctx.sig.rate_hz)
        whole["asymmetry_pct"] = m.mean_asymmetry_pct(ctx.forces)
        summary.update({f"set_{k}": v for k, v in whole.items()})
    if summary["velocity_loss_pct"] is None and "reps" not in unavailable:
        unavailable.setdefault("velocity_loss_pct", "needs at least two reps with a velocity")
    summary["gap_fraction"] = {s: float(g.mean()) for s, g in ctx.sig.gap.items()}
    summary["analysis_rate_hz"] = ctx.sig.rate_hz
    return summary
