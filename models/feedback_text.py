"""Turn a rep's metrics into one or two short sentences, and a set into a summary.

Rules, not a model: each rule fires when its metric passes a threshold (``RULES``), its
severity is value / threshold, and the two most severe findings of a rep are phrased as
"Rep N: <what happened, with the computed number>; <what to do>." A clean rep gets no text
unless asked. Every number in the text is the computed metric, rounded for display.

``attribution`` (optional) is the anomaly model's attribution of a flagged rep,
``{"channels": [(name, share), ...], "features": [(name, robust z), ...]}`` (a plain
``{name: share}`` mapping is also accepted and names the top contributors). When no rule fired
but the model flagged the rep, the text says what the deviating features point to
(:func:`attribution_hint`): left/right corner loads moving apart is a weight shift, front/rear
a rock onto toes or heels, bar lateral acceleration a sideways sway, rotation about the bar's
y axis a tip, rough signals on several channels a tremor, a short or long rep its tempo.
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

from models.metrics import RepMetrics

LIFT_NAMES = {"squat": "squats", "bench_press": "bench presses", "deadlift": "deadlifts"}


@dataclass(frozen=True)
class Rule:
    name: str
    threshold: float
    value: Callable[[RepMetrics], float | None]
    describe: Callable[[RepMetrics], str]
    advice: str


def _side(signed: float | None, positive: str, negative: str) -> str:
    return positive if (signed or 0.0) > 0 else negative


def _abs(name: str) -> Callable[[RepMetrics], float | None]:
    return lambda r: None if getattr(r, name) is None else abs(getattr(r, name))


RULES: tuple[Rule, ...] = (
    Rule("tilt", 3.0, _abs("max_tilt_deg"),
         lambda r: f"the bar tipped {r.max_tilt_deg:.0f}° to the "
                   f"{_side(r.signed_max_tilt_deg, 'left', 'right')}",
         "keep both hands even and brace before you drive"),
    Rule("lateral", 0.06, _abs("lateral_displacement_m"),
         lambda r: f"the bar drifted {100 * r.lateral_displacement_m:.0f} cm to the "
                   f"{_side(r.signed_lateral_displacement_m, 'right', 'left')}",
         "keep the bar centred over mid-foot and push evenly with both arms and legs"),
    Rule("asymmetry", 5.0, _abs("asymmetry_pct"),
         lambda r: f"your load was {abs(r.asymmetry_pct):.0f} % uneven, more on the "
                   f"{_side(r.asymmetry_pct, 'left', 'right')} foot",
         "push through both feet equally"),
    Rule("cop_forward", 0.02, lambda r: r.cop_ap_shift_m,
         lambda r: f"your weight moved {100 * r.cop_ap_shift_m:.0f} cm towards your toes",
         "keep your heels down and the weight over mid-foot"),
    Rule("cop_backward", 0.02, lambda r: None if r.cop_ap_shift_m is None else -r.cop_ap_shift_m,
         lambda r: f"your weight rocked {100 * abs(r.cop_ap_shift_m):.0f} cm back onto your heels",
         "keep the whole foot planted and the weight over mid-foot"),
    Rule("tremor", 0.3, lambda r: r.tremor_rms_mps2,
         lambda r: f"the bar shook ({r.tremor_rms_mps2:.1f} m/s² tremor)",
         "that is a sign of fatigue: consider ending the set or lowering the load"),
    Rule("sticking", 2.0, lambda r: None if not r.sticking_ratio else 1.0 / r.sticking_ratio,
         lambda r: f"the bar nearly stalled mid-way up (down to "
                   f"{r.sticking_ratio * (r.mean_concentric_velocity_mps or 0):.2f} m/s)",
         "drive hard through the middle of the lift and keep tension at the bottom"),
    Rule("fast_eccentric", 1.0, lambda r: r.peak_eccentric_velocity_mps,
         lambda r: f"the bar came down fast ({r.peak_eccentric_velocity_mps:.1f} m/s, "
                   f"{r.eccentric_s:.1f} s)",
         "lower it under control, about 2 seconds"),
)


@dataclass(frozen=True)
class ShiftRule:
    """A change of a metric against the median of the same set's earlier reps.

    An athlete's own left/right balance and foot pressure are steady from rep to rep (on
    simulated clean sets the change stays under 1.2 points of asymmetry and 0.7 cm of COP);
    a rep that moves clearly away from them is a shift even below the absolute thresholds
    (which must allow for people's natural, steady asymmetry).
    """

    name: str
    metric: str
    min_change: float
    describe: Callable[[RepMetrics, float], str]
    advice: str
    covered_by: str          # the absolute rule that says it already when it fires


def _towards(rep: RepMetrics, metric: str, baseline: float, positive: str, negative: str) -> str:
    return positive if getattr(rep, metric) > baseline else negative


SHIFT_RULES: tuple[ShiftRule, ...] = (
    ShiftRule("asymmetry_change", "asymmetry_pct", 3.0,
              lambda r, b: f"your load shifted towards the "
                           f"{_towards(r, 'asymmetry_pct', b, 'left', 'right')} foot compared with your "
                           f"earlier reps ({abs(r.asymmetry_pct):.0f} % uneven, usually {abs(b):.0f} %)",
              "push through both feet equally", "asymmetry"),
    ShiftRule("cop_change", "cop_ap_shift_m", 0.015,
              lambda r, b: f"your weight moved {100 * abs(r.cop_ap_shift_m - b):.1f} cm "
                           f"{_towards(r, 'cop_ap_shift_m', b, 'towards your toes', 'back onto your heels')} "
                           f"compared with your earlier reps",
              "keep the whole foot planted and the weight over mid-foot", "cop"),
)
MIN_EARLIER_REPS = 2


def shift_findings(rep: RepMetrics, earlier: Sequence[RepMetrics]) -> list[tuple[float, ShiftRule, float]]:
    """(severity, rule, baseline) for each metric that moved away from the earlier reps' median."""
    out = []
    for rule in SHIFT_RULES:
        value = getattr(rep, rule.metric)
        history = [getattr(r, rule.metric) for r in earlier if getattr(r, rule.metric) is not None]
        if value is None or len(history) < MIN_EARLIER_REPS:
            continue
        baseline = float(statistics.median(history))
        change = abs(value - baseline)
        if change >= rule.min_change:
            out.append((change / rule.min_change, rule, baseline))
    return out


def findings(rep: RepMetrics) -> list[tuple[float, Rule]]:
    """(severity, rule) for every rule that fires on ``rep``, most severe first."""
    out = []
    for rule in RULES:
        value = rule.value(rep)
        if value is not None and value >= rule.threshold:
            out.append((value / rule.threshold, rule))
    return sorted(out, key=lambda x: -x[0])


LEFT, RIGHT, FRONT, REAR = ("f_fl", "f_rl"), ("f_fr", "f_rr"), ("f_fl", "f_fr"), ("f_rl", "f_rr")
LEVEL_STATS = ("_mean", "_min", "_max")
ROUGHNESS_STATS = ("_rms_diff",)
SPREAD_STATS = ("_std", "_range", "_rms_diff")
HINT_MIN_Z = 3.0
"""A feature counts as evidence once it is this many robust spreads from the clean norm."""


def _channel(feature: str) -> str:
    for prefix in ("f_fl", "f_fr", "f_rl", "f_rr"):
        if feature.startswith(prefix + "_"):
            return prefix
    return feature.split("_", 1)[0]


def _level_z(features: Mapping[str, float], corners: Sequence[str]) -> float:
    return sum(z for name, z in features.items() if _channel(name) in corners and
               (name.endswith(LEVEL_STATS) or "_phase" in name))


def attribution_hint(attribution: Mapping[str, Sequence[tuple[str, float]]] | None) -> str | None:
    """What the model's most deviating features point to, in words (None when nothing is clear)."""
    if not attribution:
        return None
    if all(isinstance(v, (int, float)) for v in attribution.values()):
        # the plain form {channel or feature: share of the score}: name the top contributors
        attribution = {"channels": sorted(attribution.items(), key=lambda kv: -kv[1])}
    features = {name: float(z) for name, z in attribution.get("features") or [] if abs(z) >= HINT_MIN_Z}
    hints: list[tuple[float, str]] = []
    lr = _level_z(features, LEFT) - _level_z(features, RIGHT)
    if abs(lr) >= HINT_MIN_Z:
        hints.append((abs(lr), f"a weight shift onto the {'left' if lr > 0 else 'right'} foot"))
    ap = _level_z(features, FRONT) - _level_z(features, REAR)
    if abs(ap) >= HINT_MIN_Z:
        hints.append((abs(ap), f"the weight rocking {'towards the toes' if ap > 0 else 'back onto the heels'}"))
    sway = sum(z for name, z in features.items() if _channel(name) == "ax" and name.endswith(SPREAD_STATS) and z > 0)
    if sway:
        hints.append((sway, "the bar swaying sideways"))
    tip = sum(abs(z) for name, z in features.items() if _channel(name) == "gy")
    if tip:
        hints.append((tip, "the bar tipping to one side"))
    rough = [z for name, z in features.items() if name.endswith(ROUGHNESS_STATS) and z > 0]
    if len(rough) >= 2:
        hints.append((sum(rough), "shaking (a tremor)"))
    if "duration_s" in features:
        z = features["duration_s"]
        hints.append((abs(z), "a rep much quicker than usual" if z < 0 else "a rep much slower than usual"))
    if hints:
        return max(hints)[1]
    channels = [name for name, share in attribution.get("channels") or [] if share > 0][:2]
    named = channels or list(dict.fromkeys(_channel(name) for name in features))[:2]
    return f"unusual movement, mostly in {' and '.join(named)}" if named else None


def attribution_reason(attribution: Mapping[str, Sequence[tuple[str, float]]] | None) -> str:
    """A live alert's reason from a window decision's attribution, worded like the metric
    rules' reasons ("bar tipping to one side (anomaly model)")."""
    hint = attribution_hint(attribution) or "unusual movement"
    return f"{hint.removeprefix('the ')} (anomaly model)"


def rep_feedback(rep: RepMetrics, attribution: Mapping[str, Sequence[tuple[str, float]]] | None = None,
                 always: bool = False, max_findings: int = 2,
                 earlier: Sequence[RepMetrics] = ()) -> str | None:
    """One or two sentences for ``rep``; None for a clean rep unless ``always``.

    ``earlier`` (the same set's previous reps) enables the shift rules (``SHIFT_RULES``)."""
    absolute = findings(rep)
    fired = {rule.name for _, rule in absolute}
    parts = [(severity, f"{rule.describe(rep)}; {rule.advice}") for severity, rule in absolute]
    parts += [(severity, f"{rule.describe(rep, baseline)}; {rule.advice}")
              for severity, rule, baseline in shift_findings(rep, earlier)
              if not any(name.startswith(rule.covered_by) for name in fired)]
    if parts:
        ordered = [text for _, text in sorted(parts, key=lambda p: -p[0])[:max_findings]]
        return f"Rep {rep.number}: " + ". Also, ".join(ordered) + "."
    if attribution:
        hint = attribution_hint(attribution)
        what = f", pointing to {hint}" if hint else ""
        return (f"Rep {rep.number}: this rep moved differently from clean reps{what}; "
                f"check your set-up and ask your coach to watch the next rep.")
    if always:
        bits = []
        if rep.rom_m is not None:
            bits.append(f"{100 * rep.rom_m:.0f} cm range")
        if rep.mean_concentric_velocity_mps is not None:
            bits.append(f"{rep.mean_concentric_velocity_mps:.2f} m/s up")
        return f"Rep {rep.number}: clean rep" + (f" ({', '.join(bits)})." if bits else ".")
    return None


def set_feedback(reps: Sequence[RepMetrics], summary: Mapping[str, object],
                 model_flags: Mapping[int, str | None] | None = None) -> str:
    """A short session summary with recommendations, from the analysis summary.

    ``model_flags`` maps the numbers of reps the anomaly model flagged to what their
    attribution points to (``attribution_hint``; None when unclear)."""
    lift = str(summary.get("lift", ""))
    if not reps:
        why = summary.get("no_reps_reason") or "no rep was recognised"
        return f"No {LIFT_NAMES.get(lift, lift)} found: {why}. No scores for this set."
    lines = [f"Set of {len(reps)} {LIFT_NAMES.get(lift, lift)}."]
    mcv, loss = summary.get("mean_mean_concentric_velocity_mps"), summary.get("velocity_loss_pct")
    if mcv is not None:
        lines.append(f"Mean concentric velocity {mcv:.2f} m/s"
                     + (f", velocity loss {loss:.0f} % from your best rep." if loss is not None else "."))
    scores = [f"{label} {summary[key]:.0f}/100" for key, label in
              (("balance_score", "balance"), ("stability_score", "stability"))
              if summary.get(key) is not None]
    if summary.get("injury_risk") is not None:
        scores.append(f"injury risk {summary['injury_risk']:.2f} (a heuristic, not a diagnosis)")
    if scores:
        lines.append("Scores: " + ", ".join(scores) + ".")
    by_rule: dict[str, list[int]] = {}
    for rep in reps:
        for _, rule in findings(rep):
            by_rule.setdefault(rule.name, []).append(rep.number)
    rules = {r.name: r for r in RULES}
    for name, numbers in sorted(by_rule.items(), key=lambda kv: -len(kv[1]))[:2]:
        which = ", ".join(str(n) for n in numbers)
        lines.append(f"Work on: {rules[name].advice} (reps {which}).")
    if loss is not None and loss >= 20:
        lines.append(f"Your speed dropped {loss:.0f} %: for strength work, end the set around a "
                     "20 % loss; beyond 40 % fatigue dominates.")
    if model_flags:
        described = [f"{number}" + (f" ({hint})" if hint else "") for number, hint in sorted(model_flags.items())]
        lines.append("The anomaly model flagged rep" + ("s " if len(described) > 1 else " ")
                     + ", ".join(described) + " as unlike clean reps.")
    if not by_rule and not model_flags and (loss is None or loss < 20):
        lines.append("No form issues detected; keep the same set-up next set.")
    return " ".join(lines)


def velocity_cue_text(cue: Mapping[str, Any]) -> str | None:
    """The set summary's sentence about the velocity-loss cue (None when the set had no limit)."""
    limit = cue.get("limit_pct")
    if limit is None:
        return None
    if cue.get("rep") is None:
        return f"Velocity loss stayed below the {limit:g} % limit."
    what = "the box cued to stop the set" if cue.get("given") else "no cue was given live"
    return (f"Velocity loss reached the {limit:g} % limit at rep {cue['rep']} "
            f"({cue['velocity_loss_pct']:.0f} %): {what}.")


def drift_cue_text(cue: Mapping[str, Any] | None) -> str | None:
    """The summary's sentence on the technique-drift cue (None when it did not fire)."""
    if not cue or cue.get("rep") is None:
        return None
    what = cue.get("drifted") or "the movement"
    told = "the box cued it" if cue.get("given") else "found by the analysis; no cue was given live"
    return f"Technique drifted over the set from rep {cue['rep']} ({what}): {told}."


def bar_load_text(load: Mapping[str, Any]) -> str:
    """The set summary's sentence about the bar load and where it comes from."""
    measured, unc = load.get("bar_load_measured_kg"), load.get("bar_load_uncertainty_kg")
    weighed = (f"{measured:.1f} ± {unc:.1f} kg weighed by the platform" if measured is not None
               else f"not weighed by the platform: {load.get('bar_load_unmeasured_reason')}")
    if load.get("bar_load_source") == "entered":
        return f"Bar load {load['bar_load_kg']:g} kg as entered ({weighed})."
    return f"Bar load {weighed}."
