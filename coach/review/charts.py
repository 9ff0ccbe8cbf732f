"""Server-rendered SVG charts (matplotlib's object API: ``Figure`` + the SVG canvas, never
pyplot, whose global figure registry leaks memory in a long-running server).

Text stays text in the SVG (``svg.fonttype = none``), so charts are small, crisp and use the
page's font; nothing is fetched from the network. Each chart is drawn at two sizes: for a
desktop, and for a phone (``PHONE``: 3.6 in wide, so its 9 pt text is still 11-12 CSS px when
the SVG is scaled to a 360-390 px screen); the page shows one of them by a CSS media query, or
a ``<picture>`` source for the charts fetched as images. Colours are the Okabe-Ito palette,
which stays distinct for the common colour-vision deficiencies, and faults are also hatched. Each chart gets its own id salt so several
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
# Okabe & Ito (2008), "Color Universal Design": blue, bluish green, vermillion, orange,
# reddish purple, sky blue, yellow
BLUE, TEAL, RED, AMBER, VIOLET, SKY, YELLOW = ("#0072B2", "#009E73", "#D55E00", "#E69F00",
                                               "#CC79A7", "#56B4E9", "#F0E442")
SERIES = (BLUE, AMBER, TEAL, VIOLET, RED, SKY, INK, YELLOW)
PHONE_WIDTH_IN = 3.6
FAULT_HATCH = "////"
MANY_REPS = 12
"""Beyond this many reps, a chart draws them as one collection, without a label each."""
MANY_BARS = 60
TILT_LIMIT_DEG = next(r.threshold for r in RULES if r.name == "tilt")
_STYLE = {
    "svg.fonttype": "none", "font.family": "sans-serif", "font.size": 9,
    "axes.edgecolor": GRID, "axes.labelcolor": MUTED, "axes.titlecolor": INK,
    "axes.titlesize": 10, "axes.titleweight": "bold", "axes.titlelocation": "left",
    "axes.spines.top": False, "axes.spines.right": False, "axes.grid": True,
    "grid.color": GRID, "grid.linewidth": 0.6, "xtick.color": MUTED, "ytick.color": MUTED,
    "legend.frameon": False, "legend.fontsize": 8,
}
_PHONE_STYLE = {**_STYLE, "legend.fontsize": 9, "axes.titlesize": 10}
"""At a phone's size no text is below 9 pt (12 CSS px at scale 1, 11 px on a 360 px screen)."""
_lock = threading.Lock()


def _figure(width_in: float = 7.0, height_in: float = 2.6) -> Figure:
    return Figure(figsize=(width_in, height_in), dpi=100, layout="constrained")


TITLES = {"velocity": "Velocity per rep", "asymmetry": "Left/right load asymmetry per rep",
          "velocity_sets": "Velocity per set", "asymmetry_sets": "Left/right load asymmetry per set",
          "displacement": "Bar height over time", "tilt": "Bar tilt over time",
          "cop": "Centre of pressure seen from above", "raw": "Raw sensor channels",
          "trend": "Velocity and scores across sessions",
          "load_velocity": "Load-velocity profile"}


def to_svg(fig: Figure, name: str, phone: bool = False) -> str:
    """The figure as an SVG document string (no XML prolog, ready to inline in HTML)."""
    buf = io.StringIO()
    size = "phone" if phone else "wide"
    with matplotlib.rc_context({"svg.hashsalt": f"lg-{name}-{size}"}):
        FigureCanvasSVG(fig).print_svg(buf)
    text = buf.getvalue()
    start = text.find("<svg")
    svg = text[start:] if start >= 0 else text
    label = TITLES.get(name, name)
    return svg.replace("<svg ", f'<svg role="img" aria-label="{label} chart" '
                               f'class="chart for-{size}" ', 1)


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


def render(name: str, draw: Any, *args: Any, phone: bool = False) -> str:
    """The SVG of ``draw(*args, phone=phone)`` under the shared style, from ``SVG_CACHE`` when
    the same chart of the same data was drawn before."""
    key = SVG_CACHE.key(name, draw, (phone, args))
    with _lock:
        svg = SVG_CACHE.get(key)
        if svg is None:
            with matplotlib.rc_context(_PHONE_STYLE if phone else _STYLE):
                svg = to_svg(draw(*args, phone=phone), name, phone)
            SVG_CACHE.put(key, svg)
        return svg


def render_both(name: str, draw: Any, *args: Any) -> str:
    """The desktop and the phone SVG, one after the other, for a page to inline (CSS shows
    the one for the screen)."""
    return render(name, draw, *args) + render(name, draw, *args, phone=True)


def empty_chart(message: str, width_in: float = 7.0, height_in: float = 1.2,
                phone: bool = False) -> Figure:
    fig = _figure(PHONE_WIDTH_IN if phone else width_in, height_in)
    ax = fig.add_subplot()
    ax.axis("off")
    ax.text(0.5, 0.5, message, ha="center", va="center", color=MUTED, transform=ax.transAxes,
            wrap=True)
    return fig


def _finite(values: Sequence[float | None]) -> np.ndarray:
    return np.array([np.nan if v is None else float(v) for v in values], dtype=float)


# ---- session charts ------------------------------------------------------------------------

def velocity_per_rep(numbers: Sequence[int], mean_v: Sequence[float | None],
                     peak_v: Sequence[float | None], loss_pct: Sequence[float | None],
                     problem: Sequence[bool], sets: Sequence[tuple[int, int, int]] = (),
                     per: str = "rep", phone: bool = False) -> Figure:
    """Mean concentric velocity per rep (bars; reps with a fault in vermillion and hatched),
    peak velocity (dots) and velocity loss within the set so far (line, right axis, broken
    between sets); ``sets`` (number, first rep, last rep) are marked off and named. With
    ``per="set"`` the points are sets (their reps' mean, best peak, loss at the set's end)."""
    if not numbers:
        return empty_chart("no reps were detected in this session", phone=phone)
    fig = _figure(PHONE_WIDTH_IN, 3.3) if phone else _figure()
    ax = fig.add_subplot()
    x = np.asarray(numbers)
    mv, pv, loss = _finite(mean_v), _finite(peak_v), _finite(loss_pct)
    flagged = np.asarray(problem, dtype=bool)
    label = "mean velocity" if phone else "mean velocity (concentric)"
    if x.size > MANY_BARS:    # a bar each costs a patch each: one line collection instead
        width = max(0.6, 200 / x.size)
        ax.vlines(x[~flagged], 0, np.nan_to_num(mv[~flagged]), color=BLUE, linewidth=width,
                  label=label)
        if flagged.any():
            ax.vlines(x[flagged], 0, np.nan_to_num(mv[flagged]), color=RED, linewidth=width,
                      label="rep with a fault")
    else:
        ax.bar(x[~flagged], np.nan_to_num(mv[~flagged]), width=0.6, color=BLUE, label=label)
        if flagged.any():
            ax.bar(x[flagged], np.nan_to_num(mv[flagged]), width=0.6, color=RED,
                   hatch=FAULT_HATCH, edgecolor="white", linewidth=0, label="rep with a fault")
    ax.plot(x, pv, "o", color=INK, markersize=4,
            label="peak velocity" if per == "rep" else "best peak velocity")
    ax.set_xlabel(per)
    ax.set_ylabel("velocity (m/s)")
    _rep_ticks(ax.xaxis, x, phone)
    ax.set_title(f"Velocity per {per}")
    right = ax.twinx()
    if len(sets) > 1:
        loss = loss.copy()
        for _, first, _ in sets[1:]:   # the loss line starts afresh with each set
            at = np.flatnonzero(x == first)
            if at.size:
                x = np.insert(x.astype(float), at[0], first - 0.5)
                loss = np.insert(loss, at[0], np.nan)
        _set_marks(ax, sets, phone)
    right.plot(x, loss, color=AMBER, linewidth=1.8, marker="s", markersize=3.5,
               label="velocity loss" if phone else "velocity loss in the set" if per == "rep"
               else "velocity loss by the set's end")
    right.set_ylabel("velocity loss (%)", color=INK)
    right.set_ylim(0, max(25.0, float(np.nanmax(loss)) * 1.2 if np.isfinite(loss).any() else 25))
    right.grid(False)
    right.spines["right"].set_visible(True)
    right.spines["right"].set_color(GRID)
    handles = ax.get_legend_handles_labels()
    more = right.get_legend_handles_labels()
    fig.legend(handles[0] + more[0], handles[1] + more[1], loc="outside lower center",
               ncols=2 if phone else 4)
    both = np.concatenate([mv, pv])
    ax.set_ylim(0, (np.nanmax(both) if np.isfinite(both).any() else 1.0) * 1.15)
    return fig


def _set_marks(ax: Any, sets: Sequence[tuple[int, int, int]], phone: bool) -> None:
    """A dotted line between sets and each set's name above its reps (names that would touch
    the one before are left out, so none is printed over another)."""
    lo, hi = sets[0][1] - 0.5, sets[-1][2] + 0.5
    room = (hi - lo) / (6 if phone else 14)
    last = -math.inf
    ax.vlines([first - 0.5 for _, first, _ in sets[1:]], 0, 1, transform=ax.get_xaxis_transform(),
              color=MUTED, linewidth=0.8, linestyle=":")
    for number, first, end in sets:
        centre = (first + end) / 2
        if centre - last >= room:
            ax.annotate(f"set {number}" if len(sets) <= 8 else f"S{number}", (centre, 1.0),
                        xycoords=("data", "axes fraction"), ha="center", va="bottom",
                        fontsize=9 if phone else 8, color=MUTED)
            last = centre


def _rep_ticks(axis: Any, numbers: np.ndarray, phone: bool = False) -> None:
    """A tick per rep for a short set; for long sessions at most 20 (each label costs time),
    10 on a phone."""
    most = 10 if phone else 20
    if numbers.size <= most:
        axis.set_ticks(numbers)
    else:
        axis.set_major_locator(MaxNLocator(nbins=most, integer=True))


def _rep_spans(ax: Any, spans: Sequence[tuple[int, float, float]], phone: bool) -> None:
    """Shade each rep and number it above the plot; a number closer than 1/8 (phone) or 1/24
    of the time axis to the one before is left out, so numbers never print over each other."""
    if not spans:
        return
    lo, hi = ax.get_xlim()
    room = (hi - lo) / (8 if phone else 24)
    last = -math.inf
    ax.broken_barh([(t0, t1 - t0) for _, t0, t1 in spans], (0, 1),
                   transform=ax.get_xaxis_transform(), color=SKY, alpha=0.15, linewidth=0,
                   label="a rep" if phone else "a rep (numbered above)")
    for number, t0, t1 in spans:
        centre = (t0 + t1) / 2
        if centre - last >= room:
            ax.annotate(str(number), (centre, 1.0), xycoords=("data", "axes fraction"),
                        ha="center", va="bottom", fontsize=9 if phone else 7, color=MUTED)
            last = centre


def _alerts(ax: Any, alerts: Sequence[tuple[float, str]]) -> None:
    for i, (t, _) in enumerate(alerts):
        ax.axvline(t, color=RED, linewidth=1.2, linestyle="--",
                   label="live alert" if i == 0 else None)
        ax.plot([t], [1.0], marker="v", color=RED, markersize=6, clip_on=False,
                transform=ax.get_xaxis_transform())


def _time_axis(ax: Any, t: np.ndarray, phone: bool) -> None:
    ax.set_xlabel("seconds from the first sample" if phone else "time since the first sample (s)")
    if t.size:
        ax.set_xlim(float(t[0]), float(t[-1]))
    if phone:
        ax.xaxis.set_major_locator(MaxNLocator(nbins=5))


def displacement_over_time(t: np.ndarray, z: np.ndarray,
                           spans: Sequence[tuple[int, float, float]],
                           alerts: Sequence[tuple[float, str]], phone: bool = False) -> Figure:
    """Bar height during each rep, from that rep's own start (so nothing drifts over a long
    session), with the reps shaded (numbered) and live alerts marked."""
    fig = _figure(PHONE_WIDTH_IN, 3.0) if phone else _figure(7.0, 2.8)
    ax = fig.add_subplot()
    ax.plot(t, 100 * z, color=BLUE, linewidth=1.2,
            label="bar height from the rep's start")
    ax.axhline(0, color=MUTED, linewidth=0.6)
    _time_axis(ax, t, phone)
    _rep_spans(ax, spans, phone)
    _alerts(ax, alerts)
    ax.set_ylabel("height (cm)")
    ax.set_title("Bar height", pad=14)
    fig.legend(loc="outside lower center", ncols=2 if phone else 3)
    return fig


def tilt_over_time(t: np.ndarray, low: np.ndarray, high: np.ndarray,
                   spans: Sequence[tuple[int, float, float]],
                   alerts: Sequence[tuple[float, str]], phone: bool = False) -> Figure:
    """Bar tilt from level (positive = left end low) with the rule's limit band: the range
    the tilt went through in each bucket of the display series (a band, so no peak is lost)
    and the line through its middle."""
    fig = _figure(PHONE_WIDTH_IN, 3.0) if phone else _figure(10.5, 2.6)
    ax = fig.add_subplot()
    ax.axhspan(-TILT_LIMIT_DEG, TILT_LIMIT_DEG, color=TEAL, alpha=0.12, linewidth=0,
               label=f"level enough (within ±{TILT_LIMIT_DEG:.0f}°)")
    ax.fill_between(t, low, high, color=INK, alpha=0.3, linewidth=0, label="tilt range")
    ax.plot(t, (low + high) / 2, color=INK, linewidth=1.0, label="tilt")
    _time_axis(ax, t, phone)
    _rep_spans(ax, spans, phone)
    _alerts(ax, alerts)
    ax.set_ylabel("left end low (°)" if phone else "tilt (°): + = left end low")
    ax.set_title("Bar tilt", pad=14)
    both = np.concatenate([low, high])
    lim = max(TILT_LIMIT_DEG * 2, float(np.nanmax(np.abs(both))) * 1.15
              if np.isfinite(both).any() else 0)
    ax.set_ylim(-lim, lim)
    fig.legend(loc="outside lower center", ncols=2 if phone else 4)
    return fig


def cop_from_above(t: np.ndarray, x: np.ndarray, y: np.ndarray,
                   spans: Sequence[tuple[int, float, float]], phone: bool = False) -> Figure:
    """Centre-of-pressure path seen from above (mm; x to the athlete's right, y towards the
    toes): each rep's path (smoothed over 0.15 s, the sway a coach reads rather than the load
    cells' jitter) in its own colour, its number where it strays furthest (up to
    ``MANY_REPS`` reps; beyond, the paths without numbers), inside the platform's outline;
    the sides are named in words."""
    fig = _figure(PHONE_WIDTH_IN, 4.2) if phone else _figure(3.6, 4.0)
    ax = fig.add_subplot()
    paths = []
    for number, t0, t1 in spans:
        sel = (t >= t0) & (t <= t1) & np.isfinite(x) & np.isfinite(y)
        if sel.any():
            paths.append((number, _smoothed(t[sel], 1000 * x[sel]),
                          _smoothed(t[sel], 1000 * y[sel])))
    if len(paths) > MANY_REPS:   # one line: hundreds of lines and labels cost seconds
        gap = [np.array([np.nan])]
        ax.plot(np.concatenate([p for _, px, _ in paths for p in (px, gap[0])]),
                np.concatenate([p for _, _, py in paths for p in (py, gap[0])]),
                color=BLUE, linewidth=0.8, alpha=0.5, label=f"every rep's path ({len(paths)})")
    for k, (number, px, py) in enumerate(paths if len(paths) <= MANY_REPS else ()):
        colour = SERIES[k % len(SERIES)]
        ax.plot(px, py, linewidth=1.3, color=colour, alpha=0.85, label=f"rep {number}")
        far = int(np.argmax(np.hypot(px - np.median(px), py - np.median(py))))
        ax.annotate(str(number), (px[far], py[far]), ha="center", va="center", fontsize=9,
                    fontweight="bold", color=colour if colour != YELLOW else INK, zorder=6,
                    bbox={"boxstyle": "circle,pad=0.15", "facecolor": "white",
                          "edgecolor": colour, "linewidth": 1})
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
    for text, xy, kw in (("toes", (0.5, 0.98), {"va": "top", "ha": "center"}),
                         ("heels", (0.5, 0.02), {"va": "bottom", "ha": "center"}),
                         ("left", (0.02, 0.5), {"va": "center", "ha": "left"}),
                         ("right", (0.98, 0.5), {"va": "center", "ha": "right"})):
        ax.text(*xy, text, transform=ax.transAxes, color=INK, fontsize=9, fontweight="bold",
                bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8, "pad": 1}, **kw)
    ax.set_xlabel("mm from the platform centre, left to right")
    ax.set_ylabel("mm, heels to toes")
    ax.set_title("Centre of pressure (from above)")
    if 0 < len(paths) <= 8 or len(paths) > MANY_REPS:
        fig.legend(loc="outside lower center", ncols=3)
    return fig


def _smoothed(t: np.ndarray, v: np.ndarray, window_s: float = 0.15) -> np.ndarray:
    """A centred moving average over ``window_s`` (the samples are evenly spaced)."""
    if v.size < 3 or t[-1] <= t[0]:
        return v
    n = max(1, min(v.size, int(round(window_s * (v.size - 1) / (t[-1] - t[0])))))
    if n < 2:
        return v
    kernel = np.ones(n) / n
    pad = np.pad(v, (n // 2, n - 1 - n // 2), mode="edge")
    return np.convolve(pad, kernel, mode="valid")


def asymmetry_per_rep(numbers: Sequence[int], asymmetry_pct: Sequence[float | None],
                      per: str = "rep", phone: bool = False) -> Figure:
    """Left/right load asymmetry per rep: a bar to the left = more load on the left foot,
    labelled with its value; beyond the rule's limit the bar is vermillion and hatched. The
    scale follows the data (the limit lines are drawn when they fall on it), so a small
    asymmetry still shows as a bar."""
    if not numbers:
        return empty_chart("no reps with platform data", 3.4, 1.2, phone=phone)
    limit = next(r.threshold for r in RULES if r.name == "asymmetry")
    fig = _figure(PHONE_WIDTH_IN, 3.2) if phone else _figure(3.6, 3.2)
    ax = fig.add_subplot()
    values = np.nan_to_num(_finite(asymmetry_pct))
    y = np.asarray(numbers)
    beyond = np.abs(values) >= limit
    biggest = float(np.max(np.abs(values))) if values.size else 0.0
    lim = max(2.0, biggest * 1.6)
    if y.size > MANY_BARS:    # one line collection, no value written on each
        width = max(0.6, 150 / y.size)
        ax.hlines(y[~beyond], 0, -values[~beyond], color=TEAL, linewidth=width,
                  label=f"within ±{limit:.0f} %")
        if beyond.any():
            ax.hlines(y[beyond], 0, -values[beyond], color=RED, linewidth=width,
                      label=f"beyond ±{limit:.0f} %")
    else:
        ax.barh(y[~beyond], -values[~beyond], height=0.6, color=TEAL,
                label=f"within ±{limit:.0f} %")
        if beyond.any():
            ax.barh(y[beyond], -values[beyond], height=0.6, color=RED, hatch=FAULT_HATCH,
                    edgecolor="white", linewidth=0, label=f"beyond ±{limit:.0f} %")
    for yy, v in zip(y, values) if y.size <= MANY_BARS else ():
        ax.annotate(f"{abs(v):.1f}", (-v, yy), xytext=(-3 if v > 0 else 3, 0),
                    textcoords="offset points", va="center", ha="right" if v > 0 else "left",
                    fontsize=9, color=INK)
    ax.axvline(0, color=INK, linewidth=0.8)
    if lim > limit:
        for side in (-limit, limit):
            ax.axvline(side, color=AMBER, linewidth=1.2, linestyle=":",
                       label=f"limit ±{limit:.0f} %" if side > 0 else None)
    ax.set_xlim(-lim, lim)
    _rep_ticks(ax.yaxis, y, phone)
    ax.invert_yaxis()
    ax.set_ylabel(per)
    ax.set_xlabel("← more left · % of the load · more right →")
    ax.xaxis.set_major_locator(MaxNLocator(nbins=5 if phone else 8))
    ax.set_title("Left/right load asymmetry" + ("" if per == "rep" else " per set"))
    fig.legend(loc="outside lower center", ncols=2)
    return fig


def raw_channels(raw: dict[str, tuple[np.ndarray, np.ndarray]], phone: bool = False) -> Figure:
    """Raw sensor channels over time in three panels: acceleration, angular rate, force."""
    groups = [("acceleration (m/s²)", ("ax", "ay", "az")), ("angular rate (rad/s)", ("gx", "gy", "gz")),
              ("corner force (N)", ("f_fl", "f_fr", "f_rl", "f_rr"))]
    groups = [(label, [c for c in chans if c in raw]) for label, chans in groups]
    groups = [g for g in groups if g[1]]
    if not groups:
        return empty_chart("no raw sensor data was synced for this session", phone=phone)
    fig = _figure(PHONE_WIDTH_IN, 2.6 * len(groups)) if phone else _figure(10.5, 2.2 * len(groups))
    axes = fig.subplots(len(groups), 1, sharex=True, squeeze=False)[:, 0]
    names = {"ax": "x", "ay": "y", "az": "z", "gx": "x", "gy": "y", "gz": "z",
             "f_fl": "front left", "f_fr": "front right", "f_rl": "back left",
             "f_rr": "back right"}
    for ax, (label, chans) in zip(axes, groups):
        for colour, c in zip(SERIES, chans):
            t, v = raw[c]
            ax.plot(t, v, linewidth=0.8, color=colour, label=names.get(c, c))
        ax.legend(loc="lower left", bbox_to_anchor=(0.0, 1.08), ncols=len(chans) if not phone
                  else 2, borderaxespad=0)
        ax.set_title(label, loc="right")
        if phone:
            ax.xaxis.set_major_locator(MaxNLocator(nbins=5))
    fig.suptitle("Raw channels" if phone else
                 "Raw channels (downsampled: min and max per bucket)", x=0.02, ha="left",
                 fontsize=10, fontweight="bold", color=INK)
    axes[-1].set_xlabel("seconds from the first sample")
    return fig


# ---- athlete charts ------------------------------------------------------------------------

def _label_points(ax: Any, x: np.ndarray, values: np.ndarray, fmt: str, colour: str,
                  dy: float) -> None:
    """Values written beside the points, for trends of a few sessions (where lines do not
    yet say much and two points can fall on each other)."""
    for xx, v in zip(x, values):
        if np.isfinite(v):
            ax.annotate(fmt % v, (xx, v), xytext=(6, dy), textcoords="offset points",
                        va="center", fontsize=9, color=colour)


def trends(dates: Sequence[Any], mcv: Sequence[float | None], loss: Sequence[float | None],
           balance: Sequence[float | None], stability: Sequence[float | None],
           risk: Sequence[float | None], phone: bool = False) -> Figure:
    """Across sessions: mean concentric velocity and velocity loss; the three scores. Each
    series has its own marker shape as well as its colour; velocity and loss start at 0, so a
    single session's two points do not sit on each other, and with up to 3 sessions each
    point carries its value."""
    if not dates:
        return empty_chart("no sessions yet", phone=phone)
    fig = _figure(PHONE_WIDTH_IN, 6.4) if phone else _figure(10.5, 4.8)
    top, bottom = fig.subplots(2, 1, sharex=True)
    x = np.arange(len(dates))
    few = len(dates) <= 3
    v, l = _finite(mcv), _finite(loss)
    top.plot(x, v, marker="o", markersize=5, color=BLUE, label="mean velocity (m/s)")
    top.set_ylabel("m/s")
    top.set_ylim(0, max(1.0, float(np.nanmax(v)) * 1.3) if np.isfinite(v).any() else 1.0)
    top.set_title("Velocity across sessions", loc="left")
    loss_ax = top.twinx()
    loss_ax.plot(x, l, marker="s", markersize=5, color=AMBER, linestyle="--",
                 label="velocity loss (%)")
    loss_ax.set_ylabel("velocity loss (%)", color=INK)
    loss_ax.set_ylim(0, max(25.0, float(np.nanmax(l)) * 1.3) if np.isfinite(l).any() else 25.0)
    loss_ax.grid(False)
    b, st, r = _finite(balance), _finite(stability), _finite(risk)
    bottom.plot(x, b, marker="o", markersize=5, color=TEAL, label="balance")
    bottom.plot(x, st, marker="D", markersize=5, color=VIOLET, label="stability")
    bottom.set_ylabel("score (0-100)")
    bottom.set_ylim(0, 105)
    risk_ax = bottom.twinx()
    risk_ax.plot(x, r, marker="^", markersize=6, color=RED, linestyle="--",
                 label="injury risk (0-1)")
    risk_ax.set_ylim(0, 1.05)
    risk_ax.set_ylabel("injury risk (0-1)", color=INK)
    risk_ax.grid(False)
    bottom.set_title("Scores across sessions", loc="left")
    if few:
        _label_points(top, x, v, "%.2f m/s", BLUE, 0)
        _label_points(loss_ax, x, l, "%.0f %%", AMBER, 0)
        _label_points(bottom, x, b, "balance %.0f", TEAL, 7)
        _label_points(bottom, x, st, "stability %.0f", VIOLET, -7)
        _label_points(risk_ax, x, r, "risk %.2f", RED, 0)
        top.set_xlim(-0.6, len(dates) - 0.4 + (0.6 if phone else 0.3))
    pairs = [(ax.get_legend_handles_labels(), extra.get_legend_handles_labels())
             for ax, extra in ((top, loss_ax), (bottom, risk_ax))]
    if phone:   # one legend under the chart: above each panel it would cover the titles
        fig.legend([h for (h1, _), (h2, _) in pairs for h in h1 + h2],
                   [t for (_, l1), (_, l2) in pairs for t in l1 + l2],
                   loc="outside lower center", ncols=2)
    else:
        for ax, ((h1, l1), (h2, l2)) in zip((top, bottom), pairs):
            ax.legend(h1 + h2, l1 + l2, loc="lower right", bbox_to_anchor=(1.0, 1.0),
                      ncols=len(l1 + l2), borderaxespad=0.2)
    step = max(1, math.ceil(len(dates) / (4 if phone else 12)))
    bottom.set_xticks(x[::step], [str(d) for d in dates][::step], rotation=0)
    return fig


def load_velocity(loads: Sequence[float], velocities: Sequence[float], slope: float | None,
                  intercept: float | None, one_rm: float | None, mvt: float,
                  r2: float | None, phone: bool = False) -> Figure:
    """Mean concentric velocity against bar load, the linear fit and the load where the fit
    reaches the minimum velocity threshold (estimated 1RM)."""
    if not loads:
        return empty_chart("no sessions with a recorded bar load", 10.5, 1.2, phone=phone)
    fig = _figure(PHONE_WIDTH_IN, 4.0) if phone else _figure(10.5, 3.4)
    ax = fig.add_subplot()
    ax.plot(loads, velocities, "o", color=BLUE, markersize=6,
            label="a session (its fastest rep)")
    if slope is not None and intercept is not None:
        top = max(max(loads), one_rm or 0) * 1.05
        xs = np.linspace(0, top, 50)
        ax.plot(xs, intercept + slope * xs, color=INK, linewidth=1,
                label=f"straight-line fit (r² = {r2:.2f})" if r2 is not None else "fit")
    ax.axhline(mvt, color=AMBER, linestyle=":", linewidth=1.5,
               label=f"slowest a lift can go: {mvt:.2f} m/s")
    if one_rm is not None:
        ax.plot([one_rm], [mvt], marker="*", color=RED, markersize=12, linestyle="none",
                label=f"estimated 1RM {one_rm:.0f} kg")
    ax.set_xlabel("bar load (kg)")
    ax.set_ylabel("mean velocity (m/s)")
    ax.set_ylim(bottom=0)
    ax.set_xlim(left=0)
    if phone:
        fig.legend(loc="outside lower center", ncols=1)
    else:
        ax.legend(loc="upper right")
    return fig
