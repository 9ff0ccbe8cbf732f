"""Server-rendered SVG charts (matplotlib's object API: ``Figure`` + the SVG canvas, never
pyplot, whose global figure registry leaks memory in a long-running server).

Text stays text in the SVG (``svg.fonttype = none``), so charts are small, crisp and use the
page's font; nothing is fetched from the network. Each chart gets its own id salt so several
charts inlined in one page never share clip-path ids. Rendering holds a lock because
matplotlib's rc settings are process-global.
"""
from __future__ import annotations

import hashlib
import io
import math
import threading
from collections import OrderedDict
from typing import Any, Sequence

import matplotlib
import numpy as np
from matplotlib.backends.backend_svg import FigureCanvasSVG
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.ticker import MaxNLocator

from models.feedback_text import RULES
from sensors.geometry import DEFAULT_PLATFORM

INK, MUTED, GRID = "#1f2933", "#616e7c", "#e4e7eb"
BLUE, TEAL, RED, AMBER, VIOLET = "#2563eb", "#0d9488", "#dc2626", "#d97706", "#7c3aed"
TILT_LIMIT_DEG = next(r.threshold for r in RULES if r.name == "tilt")
_STYLE = {
    "svg.fonttype": "none", "font.family": "sans-serif", "font.size": 9,
    "axes.edgecolor": GRID, "axes.labelcolor": MUTED, "axes.titlecolor": INK,
    "axes.titlesize": 10, "axes.titleweight": "bold", "axes.titlelocation": "left",
    "axes.spines.top": False, "axes.spines.right": False, "axes.grid": True,
    "grid.color": GRID, "grid.linewidth": 0.6, "xtick.color": MUTED, "ytick.color": MUTED,
    "legend.frameon": False, "legend.fontsize": 8,
}
_lock = threading.Lock()


def _figure(width_in: float = 7.0, height_in: float = 2.6) -> Figure:
    return Figure(figsize=(width_in, height_in), dpi=100, layout="constrained")


def to_svg(fig: Figure, name: str) -> str:
    """The figure as an SVG document string (no XML prolog, ready to inline in HTML)."""
    buf = io.StringIO()
    with matplotlib.rc_context({"svg.hashsalt": f"lg-{name}"}):
        FigureCanvasSVG(fig).print_svg(buf)
    text = buf.getvalue()
    start = text.find("<svg")
    svg = text[start:] if start >= 0 else text
    return svg.replace("<svg ", f'<svg role="img" aria-label="{name} chart" class="chart" ', 1)


def _digest(value: Any, h: Any) -> None:
    if isinstance(value, np.ndarray):
        h.update(f"{value.dtype}{value.shape}".encode())
        h.update(np.ascontiguousarray(value).tobytes())
    elif isinstance(value, (list, tuple)):
        h.update(b"[")
        for item in value:
            _digest(item, h)
        h.update(b"]")
    else:
        h.update(repr(value).encode())
        h.update(b",")


class SvgCache:
    """Rendered charts by a digest of what they draw (matplotlib takes 0.1-0.5 s a chart on a
    Pi-class core; a page viewed again, or the same data drawn for another user, is free)."""

    def __init__(self, size: int = 256) -> None:
        self.size = size
        self._items: OrderedDict[bytes, str] = OrderedDict()

    def key(self, name: str, draw: Any, args: tuple[Any, ...]) -> bytes:
        h = hashlib.blake2b(f"{name}/{draw.__name__}".encode(), digest_size=20)
        _digest(args, h)
        return h.digest()

    def get(self, key: bytes) -> str | None:
        svg = self._items.get(key)
        if svg is not None:
            self._items.move_to_end(key)
        return svg

    def put(self, key: bytes, svg: str) -> None:
        self._items[key] = svg
        while len(self._items) > self.size:
            self._items.popitem(last=False)

    def clear(self) -> None:
        self._items.clear()


SVG_CACHE = SvgCache()


def render(name: str, draw: Any, *args: Any) -> str:
    """The SVG of ``draw(*args)`` under the shared style, from ``SVG_CACHE`` when the same
    chart of the same data was drawn before."""
    key = SVG_CACHE.key(name, draw, args)
    with _lock:
        svg = SVG_CACHE.get(key)
        if svg is None:
            with matplotlib.rc_context(_STYLE):
                svg = to_svg(draw(*args), name)
            SVG_CACHE.put(key, svg)
        return svg


def empty_chart(message: str, width_in: float = 7.0, height_in: float = 1.2) -> Figure:
    fig = _figure(width_in, height_in)
    ax = fig.add_subplot()
    ax.axis("off")
    ax.text(0.5, 0.5, message, ha="center", va="center", color=MUTED, transform=ax.transAxes)
    return fig


def _finite(values: Sequence[float | None]) -> np.ndarray:
    return np.array([np.nan if v is None else float(v) for v in values], dtype=float)


# ---- session charts ------------------------------------------------------------------------

def velocity_per_rep(numbers: Sequence[int], mean_v: Sequence[float | None],
                     peak_v: Sequence[float | None], loss_pct: Sequence[float | None],
                     problem: Sequence[bool]) -> Figure:
    """Mean concentric velocity per rep (bars, red for reps with a fault), peak velocity
    (dots) and velocity loss so far (line, right axis)."""
    if not numbers:
        return empty_chart("no reps were detected in this session")
    fig = _figure()
    ax = fig.add_subplot()
    x = np.asarray(numbers)
    mv, pv, loss = _finite(mean_v), _finite(peak_v), _finite(loss_pct)
    ax.bar(x, np.nan_to_num(mv), width=0.6, color=[RED if p else BLUE for p in problem],
           label="mean concentric velocity")
    ax.plot(x, pv, "o", color=INK, markersize=3.5, label="peak velocity")
    ax.set_xlabel("rep")
    ax.set_ylabel("velocity (m/s)")
    _rep_ticks(ax.xaxis, x)
    ax.set_title("Velocity per rep")
    right = ax.twinx()
    right.plot(x, loss, color=AMBER, linewidth=1.8, marker="s", markersize=3,
               label="velocity loss so far")
    right.set_ylabel("velocity loss (%)", color=AMBER)
    right.set_ylim(0, max(25.0, float(np.nanmax(loss)) * 1.2 if np.isfinite(loss).any() else 25))
    right.grid(False)
    right.spines["right"].set_visible(True)
    right.spines["right"].set_color(GRID)
    handles = ax.get_legend_handles_labels()
    more = right.get_legend_handles_labels()
    fig.legend(handles[0] + more[0], handles[1] + more[1], loc="outside lower center", ncols=3)
    both = np.concatenate([mv, pv])
    ax.set_ylim(0, (np.nanmax(both) if np.isfinite(both).any() else 1.0) * 1.15)
    return fig


def _rep_ticks(axis: Any, numbers: np.ndarray) -> None:
    """A tick per rep for a short set; for long sessions at most 20 (each label costs time)."""
    if numbers.size <= 20:
        axis.set_ticks(numbers)
    else:
        axis.set_major_locator(MaxNLocator(nbins=20, integer=True))


def _rep_spans(ax: Any, spans: Sequence[tuple[int, float, float]]) -> None:
    for number, t0, t1 in spans:
        ax.axvspan(t0, t1, color=BLUE, alpha=0.07, linewidth=0)
        ax.annotate(str(number), ((t0 + t1) / 2, 1.0), xycoords=("data", "axes fraction"),
                    ha="center", va="bottom", fontsize=7, color=MUTED)


def _alerts(ax: Any, alerts: Sequence[tuple[float, str]]) -> None:
    for i, (t, _) in enumerate(alerts):
        ax.axvline(t, color=RED, linewidth=1, linestyle="--",
                   label="live alert" if i == 0 else None)
        ax.plot([t], [1.0], marker="v", color=RED, markersize=6, clip_on=False,
                transform=ax.get_xaxis_transform())


def displacement_over_time(t: np.ndarray, z: np.ndarray,
                           spans: Sequence[tuple[int, float, float]],
                           alerts: Sequence[tuple[float, str]]) -> Figure:
    """Bar vertical displacement with the reps shaded (numbered) and live alerts marked."""
    fig = _figure(7.0, 2.8)
    ax = fig.add_subplot()
    ax.plot(t, 100 * z, color=BLUE, linewidth=1.1, label="bar height")
    _rep_spans(ax, spans)
    _alerts(ax, alerts)
    ax.set_xlabel("time since the first sample (s)")
    ax.set_ylabel("height (cm)")
    ax.set_title("Bar vertical displacement", pad=14)
    ax.set_xlim(float(t[0]) if t.size else 0, float(t[-1]) if t.size else 1)
    ax.legend(loc="lower right", ncols=2)
    return fig


def tilt_over_time(t: np.ndarray, tilt: np.ndarray, spans: Sequence[tuple[int, float, float]],
                   alerts: Sequence[tuple[float, str]]) -> Figure:
    """Bar tilt from level (positive = tipped to the left) with the rule's limit band."""
    fig = _figure(10.5, 2.6)
    ax = fig.add_subplot()
    ax.axhspan(-TILT_LIMIT_DEG, TILT_LIMIT_DEG, color=TEAL, alpha=0.08, linewidth=0,
               label=f"within ±{TILT_LIMIT_DEG:.0f}°")
    ax.plot(t, tilt, color=VIOLET, linewidth=1.0, label="tilt")
    _rep_spans(ax, spans)
    _alerts(ax, alerts)
    ax.set_xlabel("time since the first sample (s)")
    ax.set_ylabel("tilt (°, + = left end low)")
    ax.set_title("Bar tilt", pad=14)
    if t.size:
        ax.set_xlim(float(t[0]), float(t[-1]))
    lim = max(TILT_LIMIT_DEG * 2, float(np.nanmax(np.abs(tilt))) * 1.15
              if np.isfinite(tilt).any() else 0)
    ax.set_ylim(-lim, lim)
    ax.legend(loc="lower right", ncols=3)
    return fig


def cop_from_above(t: np.ndarray, x: np.ndarray, y: np.ndarray,
                   spans: Sequence[tuple[int, float, float]]) -> Figure:
    """Centre-of-pressure path seen from above (mm; x to the athlete's right, y forward), the
    reps in colour over the whole trace in grey, inside the platform's outline."""
    fig = _figure(3.4, 3.4)
    ax = fig.add_subplot()
    ax.plot(1000 * x, 1000 * y, color=GRID, linewidth=0.8)
    colours = matplotlib.colormaps["viridis"]
    for k, (number, t0, t1) in enumerate(spans):
        sel = (t >= t0) & (t <= t1)
        ax.plot(1000 * x[sel], 1000 * y[sel], linewidth=1.0,
                color=colours(k / max(len(spans) - 1, 1)), label=f"rep {number}")
    ok = np.isfinite(x) & np.isfinite(y)
    in_reps = np.zeros_like(ok)
    for _, t0, t1 in spans:
        in_reps |= (t >= t0) & (t <= t1)
    if (ok & in_reps).any():
        ok &= in_reps          # zoom on the reps; walking in and out runs off the edges
    if ok.any():
        cx, cy = 1000 * np.median(x[ok]), 1000 * np.median(y[ok])
        half = max(40.0, 1000 * 1.3 * max(np.ptp(x[ok]), np.ptp(y[ok])) / 2)
        ax.set_xlim(cx - half, cx + half)
        ax.set_ylim(cy - half, cy + half)
    w, d = 1000 * DEFAULT_PLATFORM.width_m, 1000 * DEFAULT_PLATFORM.depth_m
    ax.add_patch(Rectangle((-w / 2, -d / 2), w, d, fill=False, edgecolor=MUTED, linewidth=0.8))
    ax.axhline(0, color=MUTED, linewidth=0.5)
    ax.axvline(0, color=MUTED, linewidth=0.5)
    ax.set_aspect("equal", adjustable="box")
    ax.set_xlabel("left ← ML (mm) → right")
    ax.set_ylabel("heels ← AP (mm) → toes")
    ax.set_title("Centre of pressure")
    if 0 < len(spans) <= 8:
        fig.legend(loc="outside lower center", ncols=min(len(spans), 4), fontsize=7)
    return fig


def asymmetry_per_rep(numbers: Sequence[int], asymmetry_pct: Sequence[float | None]) -> Figure:
    """Left/right load asymmetry per rep, bars left of zero = more on the left foot."""
    if not numbers:
        return empty_chart("no reps with platform data", 3.4, 1.2)
    limit = next(r.threshold for r in RULES if r.name == "asymmetry")
    fig = _figure(3.4, 3.0)
    ax = fig.add_subplot()
    values = _finite(asymmetry_pct)
    y = np.asarray(numbers)
    ax.barh(y, -np.nan_to_num(values), height=0.6,
            color=[RED if abs(v) >= limit else TEAL for v in np.nan_to_num(values)])
    ax.axvline(0, color=INK, linewidth=0.8)
    for side in (-limit, limit):
        ax.axvline(side, color=AMBER, linewidth=0.8, linestyle=":")
    lim = max(limit * 2, float(np.nanmax(np.abs(values))) * 1.2 if np.isfinite(values).any() else 0)
    ax.set_xlim(-lim, lim)
    _rep_ticks(ax.yaxis, y)
    ax.invert_yaxis()
    ax.set_ylabel("rep")
    ax.set_xlabel("← more left   load asymmetry (%)   more right →")
    ax.set_title("Left/right asymmetry")
    return fig


def raw_channels(raw: dict[str, tuple[np.ndarray, np.ndarray]]) -> Figure:
    """Raw sensor channels over time in three panels: acceleration, angular rate, force."""
    groups = [("acceleration (m/s²)", ("ax", "ay", "az")), ("angular rate (rad/s)", ("gx", "gy", "gz")),
              ("corner force (N)", ("f_fl", "f_fr", "f_rl", "f_rr"))]
    groups = [(label, [c for c in chans if c in raw]) for label, chans in groups]
    groups = [g for g in groups if g[1]]
    if not groups:
        return empty_chart("no raw sensor data was synced for this session")
    fig = _figure(10.5, 2.2 * len(groups))
    axes = fig.subplots(len(groups), 1, sharex=True, squeeze=False)[:, 0]
    palette = (BLUE, RED, TEAL, AMBER)
    for ax, (label, chans) in zip(axes, groups):
        for colour, c in zip(palette, chans):
            t, v = raw[c]
            ax.plot(t, v, linewidth=0.8, color=colour, label=c)
        ax.set_ylabel(label)
        ax.legend(loc="upper right", ncols=len(chans))
    axes[0].set_title("Raw channels (downsampled for display: min/max per bucket)")
    axes[-1].set_xlabel("time since the first sample (s)")
    return fig


# ---- athlete charts ------------------------------------------------------------------------

def trends(dates: Sequence[Any], mcv: Sequence[float | None], loss: Sequence[float | None],
           balance: Sequence[float | None], stability: Sequence[float | None],
           risk: Sequence[float | None]) -> Figure:
    """Across sessions: mean concentric velocity and velocity loss; the three scores."""
    if not dates:
        return empty_chart("no sessions yet")
    fig = _figure(10.5, 4.8)
    top, bottom = fig.subplots(2, 1, sharex=True)
    x = np.arange(len(dates))
    top.plot(x, _finite(mcv), marker="o", markersize=3, color=BLUE, label="mean concentric velocity")
    top.set_ylabel("m/s")
    top.set_title("Velocity across sessions")
    loss_ax = top.twinx()
    loss_ax.plot(x, _finite(loss), marker="s", markersize=3, color=AMBER, label="velocity loss")
    loss_ax.set_ylabel("velocity loss (%)", color=AMBER)
    loss_ax.grid(False)
    h1, l1 = top.get_legend_handles_labels()
    h2, l2 = loss_ax.get_legend_handles_labels()
    top.legend(h1 + h2, l1 + l2, loc="lower right", bbox_to_anchor=(1.0, 1.0), ncols=2)
    bottom.plot(x, _finite(balance), marker="o", markersize=3, color=TEAL, label="balance")
    bottom.plot(x, _finite(stability), marker="o", markersize=3, color=VIOLET, label="stability")
    bottom.set_ylabel("score (0-100)")
    bottom.set_ylim(0, 105)
    risk_ax = bottom.twinx()
    risk_ax.plot(x, _finite(risk), marker="^", markersize=3, color=RED, label="injury risk")
    risk_ax.set_ylim(0, 1.05)
    risk_ax.set_ylabel("injury risk (0-1)", color=RED)
    risk_ax.grid(False)
    h1, l1 = bottom.get_legend_handles_labels()
    h2, l2 = risk_ax.get_legend_handles_labels()
    bottom.legend(h1 + h2, l1 + l2, loc="lower right", bbox_to_anchor=(1.0, 1.0), ncols=3)
    bottom.set_title("Scores across sessions")
    step = max(1, math.ceil(len(dates) / 12))
    bottom.set_xticks(x[::step], [str(d) for d in dates][::step], rotation=0)
    return fig


def load_velocity(loads: Sequence[float], velocities: Sequence[float], slope: float | None,
                  intercept: float | None, one_rm: float | None, mvt: float,
                  r2: float | None) -> Figure:
    """Mean concentric velocity against bar load, the linear fit and the load where the fit
    reaches the minimum velocity threshold (estimated 1RM)."""
    if not loads:
        return empty_chart("no sessions with a recorded bar load", 10.5, 1.2)
    fig = _figure(10.5, 3.4)
    ax = fig.add_subplot()
    ax.plot(loads, velocities, "o", color=BLUE, markersize=5,
            label="sessions (fastest rep's mean velocity)")
    if slope is not None and intercept is not None:
        top = max(max(loads), one_rm or 0) * 1.05
        xs = np.linspace(0, top, 50)
        ax.plot(xs, intercept + slope * xs, color=INK, linewidth=1,
                label=f"fit (r² = {r2:.2f})" if r2 is not None else "fit")
    ax.axhline(mvt, color=AMBER, linestyle=":", linewidth=1, label=f"minimum velocity {mvt:.2f} m/s")
    if one_rm is not None:
        ax.plot([one_rm], [mvt], marker="*", color=RED, markersize=10,
                label=f"estimated 1RM {one_rm:.0f} kg")
    ax.set_xlabel("bar load (kg)")
    ax.set_ylabel("mean concentric velocity (m/s)")
    ax.set_ylim(bottom=0)
    ax.set_xlim(left=0)
    ax.legend(loc="upper right")
    return fig
