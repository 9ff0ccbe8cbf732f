"""The set so far kept as arrays (models.signals.FrameColumns) gives what converting its frames
again gives, and a segmentation reusing the last one's work (models.segmentation.
SegmentationMemo) gives what a fresh one gives, so the per-rep analysis within the set so far
is unchanged by either.

Properties over hostile frame streams (several sources, channels that come and go, None
values, arrivals out of time order, trims as the session worker's deque made them), and on
simulated sets: the rep analysis and the model's rep decision of each rep from the kept arrays
equal those of the frames' full re-conversion.
"""
from __future__ import annotations

import collections
import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from models import analyze_frames
from models.analysis import analyze_sources
from models.anomaly import load_bundle
from models.anomaly.segments import rep_decisions, source_rep_decisions
from models.metrics import RepMetrics
from models.orientation import UpFilter
from models.segmentation import SegmentationMemo
from models.signals import FrameColumns, split_by_source
from sensors.frame import Frame

SOURCES = {"imu": ("ax", "ay", "az", "gx"), "platform": ("f_fl", "f_fr"), "aux": ("x",)}
BUNDLE = Path(__file__).resolve().parents[2] / "models" / "bundles" / "default"


def assert_same_samples(got: dict, want: dict) -> None:
    assert list(got) == list(want)
    for source in want:
        g, w = got[source], want[source]
        assert g.mono_ns.dtype == w.mono_ns.dtype and np.array_equal(g.mono_ns, w.mono_ns)
        assert np.array_equal(g.seq, w.seq)
        assert list(g.values) == list(w.values)
        for channel in w.values:
            assert np.array_equal(g.values[channel], w.values[channel], equal_nan=True)


@st.composite
def frame_batches(draw):
    """Batches of frames as a loop hands them on: mostly in time order, some out of it, some
    frames lacking channels or holding None, a source that comes late."""
    batches, seq = [], collections.Counter()
    t = draw(st.integers(0, 10**12))
    for _ in range(draw(st.integers(1, 12))):
        batch = []
        for _ in range(draw(st.integers(0, 15))):
            source = draw(st.sampled_from(sorted(SOURCES)))
            names = SOURCES[source]
            if draw(st.booleans()):
                names = tuple(c for c in names if draw(st.booleans())) or names[:1]
            values = tuple(draw(st.one_of(st.none(), st.floats(-1e6, 1e6))) for _ in names)
            t += draw(st.integers(-3_000_000_000, 400_000_000))
            seq[source] += draw(st.integers(1, 3))
            batch.append(Frame(source, seq[source], t, 0.0, names, values))
        batches.append(batch)
    return batches


@given(frame_batches(), st.integers(100_000_000, 6_000_000_000), st.data())
def test_kept_arrays_equal_the_frames_converted_again(batches, keep_ns, data):
    """Read now, or later at a mark taken earlier (a rep handed to a lagging worker): the
    frames kept at that moment, converted again."""
    columns, reference, marks = FrameColumns(), collections.deque(), []
    for batch in batches:
        columns.extend(batch)
        reference.extend(batch)
        if reference:
            horizon = reference[-1].mono_ns - keep_ns
            columns.drop_leading_before(columns.last_mono_ns() - keep_ns)
            while reference and reference[0].mono_ns < horizon:
                reference.popleft()
        assert len(columns) == len(reference)
        if data.draw(st.booleans(), label="mark now"):
            marks.append((columns.mark(), list(reference)))
        if data.draw(st.booleans(), label="read now"):
            assert_same_samples(columns.samples(), split_by_source(list(reference)))
        if marks and data.draw(st.booleans(), label="read a mark"):
            mark, kept = marks.pop(0)
            still = [f for f in kept if any(f is g for g in reference)] if kept else []
            # frames trimmed since the mark are not brought back
            want = kept if len(still) == len(kept) else kept[len(kept) - len(still):]
            assert_same_samples(columns.samples(mark), split_by_source(want))
    assert_same_samples(columns.samples(), split_by_source(list(reference)))


def test_a_long_set_keeps_only_its_horizon_and_still_matches():
    frames = [Frame("imu", k, k * 5_000_000, 0.0, ("ax",), (float(k),)) for k in range(20_000)]
    columns, reference = FrameColumns(), collections.deque()
    for k in range(0, len(frames), 20):
        columns.extend(frames[k:k + 20])
        reference.extend(frames[k:k + 20])
        columns.drop_leading_before(columns.last_mono_ns() - 10_000_000_000)
        while reference[0].mono_ns < reference[-1].mono_ns - 10_000_000_000:
            reference.popleft()
        if k % 2000 == 0:
            assert_same_samples(columns.samples(), split_by_source(list(reference)))
    assert len(columns) == len(reference) == 2001
    assert_same_samples(columns.samples(), split_by_source(list(reference)))


def _plain(value):
    return json.loads(json.dumps(value, default=str, sort_keys=True),
                      parse_constant=lambda c: c)


@pytest.fixture(scope="module")
def model():
    if not (BUNDLE / "manifest.json").exists():
        pytest.skip(f"no shipped bundle at {BUNDLE}")
    return load_bundle(BUNDLE)


@pytest.mark.parametrize("lift,faults,seed", [("squat", {3: "lateral_sway"}, 11),
                                              ("bench_press", {2: "tilt"}, 4),
                                              ("deadlift", {}, 7)])
def test_rep_analysis_of_the_kept_set_equals_the_full_reanalysis(model, lift, faults, seed):
    from sensors.simulator import simulate_set

    frames = sorted(simulate_set(lift=lift, reps=6, faults=faults, seed=seed).frames,
                    key=lambda f: f.mono_ns)
    ends = [r.end_s for r in analyze_frames(frames, lift).reps]
    assert len(ends) == 6
    t0 = frames[0].mono_ns
    columns, fed, memo = FrameColumns(), 0, SegmentationMemo()
    for end in ends:   # the worker analyses each rep once its tail has come in
        upto = next((i for i, f in enumerate(frames) if f.mono_ns > t0 + (end + 0.6) * 1e9),
                    len(frames))
        columns.extend(frames[fed:upto])
        fed = upto
        sources = columns.samples()
        kept = analyze_sources({k: s.copy() for k, s in sources.items()}, lift, memo=memo)
        full = analyze_frames(frames[:upto], lift)
        assert _plain(kept.as_dict()) == _plain(full.as_dict())
        last = kept.reps[-1:]
        got = source_rep_decisions(model, sources, last)
        want = rep_decisions(model, frames[:upto], full.reps[-1:])
        assert [(d.score, d.anomalous, d.attribution) for d in got] == \
            [(d.score, d.anomalous, d.attribution) for d in want]
        assert all(math.isfinite(d.score) for d in got)


samples = st.one_of(st.floats(-40.0, 40.0), st.just(float("nan")))


@given(st.lists(st.tuples(*[samples] * 6), min_size=1, max_size=60),
       st.lists(st.tuples(st.floats(0.0, 1.0), st.integers(0, 5), samples), max_size=4),
       st.integers(0, 30), st.integers(2, 5))
def test_the_filter_reused_from_the_last_segmentation_equals_a_fresh_one(rows, edits, grow, rounds):
    """Each round the input grows and some samples change (as the set's end is resampled and
    cleaned again): the memo's ``up`` equals a fresh filter's bit for bit."""
    memo = SegmentationMemo()
    memo.CHECKPOINT_EVERY = 4
    x = np.array(rows, dtype=float).reshape(-1, 6) + np.array([0, 0, 9.81, 0, 0, 0])
    for _ in range(rounds):
        want = UpFilter(100.0).update(x[:, :3], x[:, 3:])
        got = memo.up(UpFilter(100.0), x[:, :3], x[:, 3:])
        assert np.array_equal(got, want, equal_nan=True)
        x = np.vstack([x, x[-1:].repeat(grow, axis=0)])
        for where, column, value in edits:
            x[int(where * (x.shape[0] - 1)), column] = value


def test_rep_detection_is_reused_only_for_identical_inputs():
    """Last time's detection at the same rest is reused only when the samples up to it are
    bit-identical to those it was computed on, and the other parameters the same."""
    memo, calls = SegmentationMemo(), []
    a_v, rest = np.linspace(-1, 1, 50), np.zeros(50, bool)

    def compute(tag):
        def run():
            calls.append(tag)
            from models.kinematics import VerticalMotion
            return VerticalMotion(a_v.copy(), a_v.copy(), rest.copy()), []
        return run

    key = ("squat", 100.0, None, 30, False)
    memo.begin()
    memo.detect(key, a_v, rest, compute("first"))
    memo.begin()
    memo.detect(key, a_v.copy(), rest.copy(), compute("same"))
    memo.begin()
    changed = a_v.copy()
    changed[40] = 7.0                      # after the rest: the detection there is the same
    memo.detect(key, changed, rest.copy(), compute("later sample"))
    memo.begin()
    earlier = changed.copy()
    earlier[7] = np.nextafter(earlier[7], 2.0)
    memo.detect(key, earlier, rest.copy(), compute("one bit"))
    memo.begin()
    quiet = rest.copy()
    quiet[3] = True
    memo.detect(key, earlier, quiet, compute("one rest"))
    memo.detect(("squat", 100.0, 0.2, 30, False), earlier, quiet, compute("other parameters"))
    memo.begin()
    memo.detect(("squat", 100.0, 0.2, 30, True), earlier, quiet, compute("end of data"))
    assert calls == ["first", "one bit", "one rest", "other parameters", "end of data"]


@given(st.dictionaries(st.sampled_from([f.name for f in dataclasses.fields(RepMetrics)
                                        if f.name not in ("number", "unavailable")]),
                       st.one_of(st.none(), st.floats(allow_nan=True),
                                 st.floats(-1e3, 1e3).map(np.float64))),
       st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=3))
def test_rep_as_dict_is_what_dataclasses_asdict_gives(values, unavailable):
    rep = RepMetrics(number=3, start_s=0.0, bottom_s=1.0, end_s=2.0, unavailable=unavailable)
    for name, value in values.items():
        setattr(rep, name, value)
    got, want = rep.as_dict(), dataclasses.asdict(rep)
    assert list(got) == list(want)
    assert json.dumps(got, default=repr) == json.dumps(want, default=repr)
    before = dict(rep.unavailable)
    got["unavailable"]["not a metric"] = "changed"
    assert rep.unavailable == before


def _without(frames: list, source: str, t0_ns: int, span_s: tuple[float, float] | None) -> list:
    """``frames`` less ``source``'s in ``span_s`` (s since ``t0_ns``; None: all of them)."""
    def dropped(f) -> bool:
        if f.source != source:
            return False
        return span_s is None or span_s[0] <= (f.mono_ns - t0_ns) / 1e9 <= span_s[1]
    return [f for f in frames if not dropped(f)]


@pytest.mark.parametrize("lift,faults,seed,reps,damage", [
    ("squat", {3: "lateral_sway", 9: "tilt"}, 5, 12, None),
    ("bench_press", {2: "tilt"}, 4, 10, ("platform", None)),       # no platform: no COP
    ("deadlift", {6: "lateral_sway"}, 7, 10, ("imu", 4)),          # rep 4's bar IMU lost
])
def test_the_wanted_rep_alone_equals_its_full_analysis_within_the_set_so_far(
        lift, faults, seed, reps, damage):
    """``analyze_reps_in_set`` (the session worker's per-rep analysis: only the new rep's
    metrics, the others' velocities and COP for the set-relative values) gives each rep bit
    for bit what ``analyze_frames`` of the whole set so far gives it, including velocity loss,
    COP shift and scores, which depend on the other reps; and every rep when all are wanted."""
    from models.analysis import analyze_reps_in_set
    from sensors.simulator import simulate_set

    sim = simulate_set(lift=lift, reps=reps, faults=faults, seed=seed)
    frames = sorted(sim.frames, key=lambda f: f.mono_ns)
    t0 = frames[0].mono_ns
    if damage is not None:
        source, rep = damage
        span = None if rep is None else (sim.reps[rep - 1].start_s + 0.2, sim.reps[rep - 1].end_s)
        frames = _without(frames, source, t0, span)
    whole = analyze_frames(frames, lift)
    assert len(whole.reps) >= reps - 1
    if damage == ("imu", 4):
        assert any(r.unavailable for r in whole.reps), "the damage left every rep measurable"
    columns, fed, memo, found = FrameColumns(), 0, SegmentationMemo(), 0
    for end in [r.end_s for r in whole.reps]:
        upto = next((i for i, f in enumerate(frames) if f.mono_ns > t0 + (end + 0.6) * 1e9),
                    len(frames))
        columns.extend(frames[fed:upto])
        fed = upto
        sources = columns.samples()
        got = analyze_reps_in_set({k: s.copy() for k, s in sources.items()}, lift,
                                  lambda end_s: abs(end_s - end) < 1.0, memo=memo)
        want = [r for r in analyze_frames(frames[:upto], lift).reps if abs(r.end_s - end) < 1.0]
        found += bool(want)
        assert _plain([r.as_dict() for r in got]) == _plain([r.as_dict() for r in want])
    assert found >= len(whole.reps) - 1
    every = analyze_reps_in_set(split_by_source(frames), lift, lambda end_s: True)
    assert _plain([r.as_dict() for r in every]) == _plain([r.as_dict() for r in whole.reps])


@given(frame_batches(), st.integers(-50, 3000), st.integers(0, 3000))
def test_a_span_of_the_alignment_equals_that_span_of_the_whole(batches, start, length):
    """The session worker's model decision resamples only its rep's span of the set so far
    (``align_sources(span=...)``): the same values bit for bit as that span of the whole."""
    from hypothesis import assume

    from models.signals import align_sources

    sources = split_by_source([f for batch in batches for f in batch])
    assume(sources)
    whole = align_sources({k: s.copy() for k, s in sources.items()}, 100.0)
    part = align_sources({k: s.copy() for k, s in sources.items()}, 100.0,
                         span=(start, start + length))
    n = whole.t.size
    i0, i1 = min(max(start, 0), n), min(start + length, n)
    assert part.t.tobytes() == whole.t[i0:max(i0, i1)].tobytes()
    assert list(part.channels) == list(whole.channels)
    for name, values in whole.channels.items():
        assert part.channels[name].tobytes() == values[i0:max(i0, i1)].tobytes(), name


@given(st.lists(st.one_of(st.floats(-2.0, 2.0), st.sampled_from([0.0, 0.25, -0.25])),
                min_size=1, max_size=80),
       st.lists(st.tuples(st.floats(0.0, 1.0), st.floats(-2.0, 2.0)), max_size=4),
       st.integers(0, 30), st.integers(2, 5), st.sampled_from([0.1, 0.2, 0.5]))
def test_the_zigzag_scan_resumed_from_the_last_one_equals_a_fresh_one(values, edits, grow, rounds,
                                                                      threshold):
    """Each round the trace grows and some samples change (as the displacement of the set so
    far does from its last rest on): the memo's pivots equal a fresh scan's."""
    from models.segmentation import zigzag

    memo = SegmentationMemo()
    memo.CHECKPOINT_EVERY = 3
    x = np.array(values, dtype=float)
    for _ in range(rounds):
        assert memo.zigzag(x, threshold) == zigzag(x, threshold)
        x = np.concatenate([x, np.linspace(x[-1], x[-1] + 1.0, grow)])
        for where, value in edits:
            x[int(where * (x.shape[0] - 1))] = value


@given(st.lists(st.tuples(st.booleans(), st.one_of(st.floats(-3.0, 3.0), st.just(0.0),
                                                   st.just(float("nan")))),
                min_size=1, max_size=120),
       st.lists(st.tuples(st.floats(0.0, 1.0), st.booleans(), st.floats(-3.0, 3.0)), max_size=4),
       st.integers(0, 40), st.integers(2, 5), st.booleans())
def test_the_rest_scan_resumed_from_the_last_one_equals_a_fresh_one(samples, edits, grow, rounds,
                                                                    quiet_tail):
    """Each round the quiet flags and vertical acceleration grow and some samples change: the
    memo's rest decisions (long quiet stretches turning rest from their start included) and
    the detector's state after them equal a fresh detector's."""
    from models.kinematics import RestDetector

    memo = SegmentationMemo()
    memo.CHECKPOINT_EVERY = 3
    quiet = np.array([q for q, _ in samples], bool)
    a_vert = np.array([a for _, a in samples], float)
    for _ in range(rounds):
        fresh, resumed = RestDetector(10.0), RestDetector(10.0)   # quiet stretches of 5 and 20
        want = fresh.update(quiet, a_vert)
        got = memo.rest(resumed, quiet, a_vert)
        assert np.array_equal(got, want)
        assert (resumed._v, resumed._v_unknown, resumed._quiet_since, resumed.fed,
                resumed.backfill_from) == (fresh._v, fresh._v_unknown, fresh._quiet_since,
                                           fresh.fed, fresh.backfill_from)
        quiet = np.concatenate([quiet, np.full(grow, quiet_tail)])
        a_vert = np.concatenate([a_vert, np.linspace(0.0, 0.5, grow)])
        for where, q, a in edits:
            k = int(where * (quiet.size - 1))
            quiet[k], a_vert[k] = q, a


def test_a_quiet_stretch_recognised_late_last_time_is_not_rest_when_it_breaks_off_now():
    """Last time a long quiet stretch became rest from its start once it had lasted; now the
    same stretch breaks off before that: the samples the memo reuses must not keep last
    time's late recognition."""
    from models.kinematics import RestDetector

    memo = SegmentationMemo()
    memo.CHECKPOINT_EVERY = 3
    quiet = np.array([False] + [True] * 25)
    a_vert = np.array([5.0] + [0.0] * 25)     # moving too fast to call the stretch rest early
    first = memo.rest(RestDetector(10.0), quiet, a_vert)
    assert first[1:21].all()                   # recognised after 20 quiet samples (2 s)
    quiet[16] = False
    want = RestDetector(10.0).update(quiet, a_vert)
    assert not want[1:16].any()
    assert np.array_equal(memo.rest(RestDetector(10.0), quiet, a_vert), want)
