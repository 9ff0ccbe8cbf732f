"""Turn a rep's metrics into one or two short sentences, and a set into a summary.

Rules, not a model: each rule fires when its metric passes a threshold (``RULES``), its
severity is value / threshold, and the two most severe findings of a rep are phrased as
"Rep N: <what happened, with the computed number>; <what to do>." A clean rep gets no text
unless asked. Every number in the text is the computed metric, rounded for display.

``attribution`` (optional) is the hook for the anomaly models: a mapping from channel or
feature name to its share of the anomaly score. When no rule fired but the models flagged the
rep, the text names the top contributors instead.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

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


def findings(rep: RepMetrics) -> list[tuple[float, Rule]]:
    """(severity, rule) for every rule that fires on ``rep``, most severe first."""
    out = []
    for rule in RULES:
        value = rule.value(rep)
        if value is not None and value >= rule.threshold:
            out.append((value / rule.threshold, rule))
    return sorted(out, key=lambda x: -x[0])


def rep_feedback(rep: RepMetrics, attribution: Mapping[str, float] | None = None,
                 always: bool = False, max_findings: int = 2) -> str | None:
    """One or two sentences for ``rep``; None for a clean rep unless ``always``."""
    found = findings(rep)[:max_findings]
    if found:
        parts = [f"{rule.describe(rep)}; {rule.advice}" for _, rule in found]
        return f"Rep {rep.number}: " + ". Also, ".join(parts) + "."
    if attribution:
        top = sorted(attribution.items(), key=lambda kv: -kv[1])[:2]
        names = " and ".join(name for name, _ in top)
        return (f"Rep {rep.number}: this rep moved differently from your usual ones "
                f"(mostly in {names}); check your set-up and ask your coach to watch the next rep.")
    if always:
        bits = []
        if rep.rom_m is not None:
            bits.append(f"{100 * rep.rom_m:.0f} cm range")
        if rep.mean_concentric_velocity_mps is not None:
            bits.append(f"{rep.mean_concentric_velocity_mps:.2f} m/s up")
        return f"Rep {rep.number}: clean rep" + (f" ({', '.join(bits)})." if bits else ".")
    return None


def set_feedback(reps: Sequence[RepMetrics], summary: Mapping[str, object]) -> str:
    """A short session summary with recommendations, from the analysis summary."""
    lift = str(summary.get("lift", ""))
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
    if not by_rule and (loss is None or loss < 20):
        lines.append("No form issues detected; keep the same set-up next set.")
    return " ".join(lines)
