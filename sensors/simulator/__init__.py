"""Lift simulator with fault injection: squat, bench press and deadlift sets as sensor frames.

Public surface::

    simulate_set(lift, reps, faults, seed, ...) -> SimulatedSet   # frames + per-rep RepTruth
    parse_faults("lateral_sway@3,tilt@6") -> {3: "lateral_sway", 6: "tilt"}
    SimulatorSource                                             # FrameSource, live or fast

See docs/simulator.md for the physics, the faults and their magnitudes.
"""
from sensors.rep_truth import RepTruth
from sensors.simulator.athlete import BENCH_MASS_KG, LIFTS, Style
from sensors.simulator.faults import FAULT_TYPES, FaultSpecError, parse_faults
from sensors.simulator.kinematics import BENCH_SETUPS
from sensors.simulator.noise import NoiseModel
from sensors.simulator.simulate import CleanSignals, SimulatedSet, set_style, simulate_set
from sensors.simulator.source import SimulatorSource

__all__ = ["BENCH_MASS_KG", "BENCH_SETUPS", "FAULT_TYPES", "LIFTS", "CleanSignals", "FaultSpecError",
           "NoiseModel", "RepTruth", "SimulatedSet", "SimulatorSource", "Style", "parse_faults",
           "set_style", "simulate_set"]
