"""Per-stage wall time of a running daemon, for ``scripts/bench`` (never on in production).

``instrument(daemon)`` wraps the callables of each stage of the box's path -- the loop's
window, resampling, window features, each window detector, fusion, the rules, feedback, rep
segmentation, the store hand-off, the per-rep analysis on the session worker and the store
writer's encoding and commits -- with a ``time.perf_counter_ns`` pair, and
``StageTimes.restore()`` puts the originals back. Nothing is wrapped unless a benchmark asks,
so the daemon pays nothing for this module otherwise.

Each call is recorded under the thread that made it (``loop``: the real-time loop, whether it
runs on its own thread or in lockstep on the caller's; else the thread's name, e.g.
``session-worker``), because the window detectors serve both the loop and the worker's rep
decisions. A stage whose target does not exist in the daemon at hand (an older tree, the rules
scorer without a bundle) is listed under ``absent``, so the same benchmark can time older
commits.
"""
from __future__ import annotations

import collections
import functools
import statistics
import threading
import time
from typing import Any, Callable

LOOP_THREADS = frozenset({"realtime", "MainThread"})
CONTEXT_STAGES = frozenset({"session_end_analysis"})
"""Stages whose inner stages are recorded apart (``session_end_analysis/rep_analysis``): the
end-of-session analysis calls the same analysis and model code as each rep."""


def _attr_path(root: Any, path: str) -> Any:
    for name in path.split("."):
        root = getattr(root, name)
    return root


def stage_targets(daemon: Any) -> list[tuple[str, Callable[[], Any], str]]:
    """(stage, owner getter, attribute) for every timed stage; owners are looked up lazily so
    a missing one (older daemon, rules-only scorer) is reported as absent, not an error."""
    import edge_agent.daemon.realtime as realtime
    import edge_agent.daemon.sessions as sessions
    import models.anomaly.model as model_module

    loop = lambda: daemon.loop  # small getters read best inline
    scorer = lambda: daemon.loop.scorer
    components = lambda: daemon.loop.scorer.model.components
    return [
        ("handle", loop, "handle"),
        ("ingest", loop, "_ingest"),
        ("decision", loop, "_decide"),
        ("window", loop, "_window"),
        ("score", scorer, "score"),
        ("rules", lambda: _attr_path(daemon, "loop.scorer.rules.rules"), "evaluate"),
        ("resample", scorer, "window_rows"),
        ("model", lambda: daemon.loop.scorer.model, "score_window"),
        ("screen", lambda: model_module, "screen_windows"),
        ("features", lambda: model_module, "window_features"),
        ("scale", lambda: type(components().window_scaler), "transform"),
        ("detector_autoencoder", components, "autoencoder"),
        ("detector_iforest", lambda: components().window_iforest, "anomaly_score"),
        ("detector_ocsvm", lambda: components().window_ocsvm, "anomaly_score"),
        ("fusion", lambda: type(daemon.loop.scorer.model.window_calibration), "fused_p"),
        ("attribution", lambda: daemon.loop.scorer.model, "_decision"),
        ("feedback", lambda: daemon.dispatcher, "on_decision"),
        ("hand_on", loop, "_hand_on"),
        ("store_submit_frames", lambda: daemon.store, "submit_frames"),
        ("set_frames_kept", lambda: daemon.sessions, "frames_recorded"),
        ("segmentation", lambda: realtime.RepSegmenter, "feed"),
        ("rep_release", loop, "_release_reps"),
        ("rep_job", lambda: daemon.sessions, "_analyse_rep"),
        ("rep_set_so_far", lambda: sessions._SetPlan, "so_far"),
        ("rep_analysis", lambda: sessions, "analyze_reps_in_set"),
        ("rep_analysis", lambda: sessions, "analyze_sources"),   # the rep job's before 492179c+
        ("rep_analysis", lambda: sessions, "analyze_frames"),   # before analyze_sources
        ("rep_model_decision", lambda: daemon.sessions, "_model_decisions"),
        ("rep_model_decision", lambda: daemon.sessions, "_model_attributions"),   # earlier name
        ("rep_store_live_rep", lambda: daemon.store, "submit_live_rep"),
        ("rep_series", lambda: daemon.sessions, "_update_series"),
        ("rep_store_feedback", lambda: daemon.store, "submit_feedback"),
        ("session_end_analysis", lambda: daemon.sessions, "_analyse_session"),
        ("store_encode_chunks", lambda: daemon.store._writer, "_encode"),
        ("store_commit", lambda: daemon.store._writer, "_commit"),
    ]


class StageTimes:
    """Per (thread, stage) call durations in ns, filled by the wrappers ``instrument`` puts in:
    the calling thread's CPU time (``time.thread_time_ns``), which on a shared core leaves out
    the other threads' turns in between, and wall time."""

    def __init__(self) -> None:
        self.samples: dict[tuple[str, str], list[int]] = collections.defaultdict(list)
        self.wall: dict[tuple[str, str], list[int]] = collections.defaultdict(list)
        self.absent: list[str] = []
        self._undo: list[Callable[[], None]] = []
        self._context = threading.local()

    def wrap(self, owner: Any, attribute: str, stage: str) -> bool:
        """Replace ``owner.attribute`` with a timed wrapper; False if it cannot be wrapped."""
        original = owner.__dict__.get(attribute, None) if hasattr(owner, "__dict__") else None
        current = getattr(owner, attribute, None)
        if not callable(current):
            return False
        samples, wall, context = self.samples, self.wall, self._context

        @functools.wraps(current)
        def timed(*args: Any, **kwargs: Any) -> Any:
            outer = getattr(context, "stage", None)
            name = stage if outer is None else f"{outer}/{stage}"
            if stage in CONTEXT_STAGES:
                context.stage = stage
            started, cpu = time.perf_counter_ns(), time.thread_time_ns()
            try:
                return current(*args, **kwargs)
            finally:
                thread = threading.current_thread().name
                key = ("loop" if thread in LOOP_THREADS else thread, name)
                samples[key].append(time.thread_time_ns() - cpu)
                wall[key].append(time.perf_counter_ns() - started)
                context.stage = outer

        try:
            setattr(owner, attribute, staticmethod(timed) if isinstance(original, staticmethod)
                    else timed)
        except (AttributeError, TypeError):
            return False
        if original is not None:
            self._undo.append(lambda: setattr(owner, attribute, original))
        else:
            self._undo.append(lambda: delattr(owner, attribute))
        return True

    def restore(self) -> None:
        """Put every wrapped callable back (last wrapped first)."""
        while self._undo:
            self._undo.pop()()

    def summary(self, sensor_s: float) -> dict[str, dict[str, dict[str, float]]]:
        """Per thread and stage: calls; CPU ms in all, per sensor-second, median and p99 per
        call; wall ms per sensor-second, median and p99 per call."""
        out: dict[str, dict[str, dict[str, float]]] = {}
        for key, ns in sorted(self.samples.items()):
            ms = sorted(v / 1e6 for v in ns)
            wall_ms = sum(self.wall[key]) / 1e6
            walls = sorted(v / 1e6 for v in self.wall[key])
            out.setdefault(key[0], {})[key[1]] = {
                "calls": len(ms), "cpu_ms": round(sum(ms), 2),
                "cpu_ms_per_sensor_s": round(sum(ms) / sensor_s, 3),
                "wall_ms_per_sensor_s": round(wall_ms / sensor_s, 3),
                "median_ms": round(statistics.median(ms), 4), "p99_ms": round(_p99(ms), 4),
                "wall_median_ms": round(statistics.median(walls), 4),
                "wall_p99_ms": round(_p99(walls), 4)}
        return out


def _p99(sorted_ms: list[float]) -> float:
    return sorted_ms[min(len(sorted_ms) - 1, int(round(0.99 * (len(sorted_ms) - 1))))]


def instrument(daemon: Any) -> StageTimes:
    """Wrap every stage of ``daemon`` that exists (see ``stage_targets``); undo with
    ``restore()``. Class-level targets (the segmenter, the set plan) are wrapped on the class,
    so restore before instrumenting another daemon in the same process."""
    times = StageTimes()
    wrapped: set[str] = set()
    for stage, owner_of, attribute in stage_targets(daemon):
        try:
            owner = owner_of()
        except AttributeError:
            owner = None
        if owner is not None and times.wrap(owner, attribute, stage):
            wrapped.add(stage)
    times.absent = sorted({stage for stage, _, _ in stage_targets(daemon)} - wrapped)
    return times


class GcPauses:
    """The garbage collector's pauses while ``start()``..``stop()``: each collection's wall and
    CPU duration, generation and the thread it ran on (a collection runs on whichever thread's
    allocation triggered it, so on the loop's it delays a decision)."""

    def __init__(self) -> None:
        self.pauses: list[tuple[str, int, int, int]] = []   # (thread, generation, wall, cpu ns)
        self._started: dict[int, tuple[int, int]] = {}

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        ident = threading.get_ident()
        if phase == "start":
            self._started[ident] = (time.perf_counter_ns(), time.thread_time_ns())
            return
        began = self._started.pop(ident, None)
        if began is not None:
            thread = threading.current_thread().name
            self.pauses.append(("loop" if thread in LOOP_THREADS else thread,
                                info.get("generation", -1), time.perf_counter_ns() - began[0],
                                time.thread_time_ns() - began[1]))

    def start(self) -> None:
        import gc
        gc.callbacks.append(self._callback)

    def stop(self) -> None:
        import gc
        if self._callback in gc.callbacks:
            gc.callbacks.remove(self._callback)

    def summary(self) -> dict[str, dict[str, float]]:
        """Per thread: collections, gen-2 ones, total, longest wall and longest CPU ms."""
        out: dict[str, dict[str, float]] = {}
        for thread, generation, wall, cpu in self.pauses:
            row = out.setdefault(thread, {"collections": 0, "gen2": 0, "total_ms": 0.0,
                                          "max_ms": 0.0, "max_cpu_ms": 0.0})
            row["collections"] += 1
            row["gen2"] += generation == 2
            row["total_ms"] = round(row["total_ms"] + wall / 1e6, 3)
            row["max_ms"] = round(max(row["max_ms"], wall / 1e6), 3)
            row["max_cpu_ms"] = round(max(row["max_cpu_ms"], cpu / 1e6), 3)
        return out
