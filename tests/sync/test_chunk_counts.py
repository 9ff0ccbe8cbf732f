"""Raw chunks version 2 (counts of each channel's resolution, delta-coded): lossless at the
stated resolution, malformed chunks refused with ChunkFormatError naming the field, and chunks
of version 1 (what boxes stored before) still read by the ingester and the web app."""
from __future__ import annotations

import json
import math
import random
import uuid

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sensors.frame import IMU_CHANNELS, PLATFORM_CHANNELS, Frame
from sensors.simulator import simulate_set
from sync.chunks import (
    COUNTS_VERSION,
    DEFAULT_DECIMALS,
    DEFAULT_RESOLUTION,
    MAX_COUNT,
    WALL_TOLERANCE_S,
    ChunkFormatError,
    check_chunk,
    chunk_resolution,
    chunk_to_json,
    decode_chunk,
    encode_chunk,
    encode_counts_chunk,
)
from sync.payloads import decode_message, encode_item, encode_message

SIM = simulate_set("squat", reps=2, seed=11)
SETTINGS = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _of(source: str, n: int = 400) -> list[Frame]:
    return [f for f in SIM.frames if f.source == source][:n]


def assert_within_resolution(got: list[Frame], want: list[Frame],
                             resolution: dict[str, float]) -> None:
    """Same seq and monotonic time, wall time within tolerance, every value within half its
    channel's resolution (plus float rounding of count * scale) and NaN where NaN was."""
    assert [(f.source, f.seq, f.mono_ns, f.channels) for f in got] == \
           [(f.source, f.seq, f.mono_ns, f.channels) for f in want]
    for a, b in zip(got, want):
        assert abs(a.wall_s - b.wall_s) <= WALL_TOLERANCE_S
        for name, x, y in zip(a.channels, a.values, b.values):
            if math.isnan(y):
                assert math.isnan(x)
            else:
                assert abs(x - y) <= resolution[name] / 2 * (1 + 1e-9) + abs(y) * 1e-15


# ---- round trip -------------------------------------------------------------------------

@pytest.mark.parametrize("source", ["imu", "platform"])
def test_simulated_frames_round_trip_at_the_resolution(source):
    frames = _of(source)
    chunk = encode_counts_chunk(frames, DEFAULT_RESOLUTION)
    assert chunk["v"] == COUNTS_VERSION and "values" not in chunk
    assert chunk["scale"] == [DEFAULT_RESOLUTION[c] for c in frames[0].channels]
    assert_within_resolution(decode_chunk(chunk_to_json(chunk)), frames, DEFAULT_RESOLUTION)


def test_imu_values_on_the_lsb_grid_come_back_exactly():
    """The simulator quantises like the MPU-6050 at the default ranges: nothing is lost."""
    frames = _of("imu")
    assert decode_chunk(encode_counts_chunk(frames, chunk_resolution(8, 1000))) == frames


def test_resolution_is_one_lsb_of_the_configured_range():
    res = chunk_resolution(2, 250)
    assert res["ax"] == pytest.approx(9.80665 / 16384)             # 16384 LSB/g at +-2 g
    assert res["gx"] == pytest.approx(math.radians(1) / 131, rel=1e-3)  # 131 LSB/(deg/s)
    assert res["f_fl"] == 0.01


def test_gaps_jittered_times_nan_and_wall_steps_round_trip():
    rng = random.Random(4)
    frames, seq, t = [], 10, 5_000_000_000
    for i in range(300):
        seq += 1 if i % 41 else rng.randint(2, 9)
        t += 12_500_000 + rng.randint(-40_000, 40_000)
        wall = 1.7e9 + t / 1e9 + (3600.0 if i >= 200 else 0.0)
        values = tuple(math.nan if i in (0, 7) and c == 1 else rng.uniform(-50, 900)
                       for c in range(4))
        frames.append(Frame("platform", seq, t, wall, PLATFORM_CHANNELS, values))
    chunk = encode_counts_chunk(frames, DEFAULT_RESOLUTION)
    assert isinstance(chunk["dt_ns"], str) and chunk["wall_steps"]
    assert "NaN" not in chunk_to_json(chunk)
    assert_within_resolution(decode_chunk(chunk_to_json(chunk)), frames, DEFAULT_RESOLUTION)


def test_the_new_format_is_smaller_than_the_old():
    frames = _of("imu")
    old = chunk_to_json(encode_chunk(frames, DEFAULT_DECIMALS))
    new = chunk_to_json(encode_counts_chunk(frames, DEFAULT_RESOLUTION))
    assert len(new) < len(old) / 2


def test_a_channel_without_resolution_or_a_value_beyond_the_counts_is_not_encoded():
    aux = [Frame("aux", i, i, 1.0, ("hr",), (60.0,)) for i in range(3)]
    with pytest.raises(ValueError, match="'hr' has no resolution"):
        encode_counts_chunk(aux, DEFAULT_RESOLUTION)
    big = [f._replace(values=(1e300,) + f.values[1:]) for f in _of("platform", 3)]
    with pytest.raises(ValueError, match="beyond"):
        encode_counts_chunk(big, DEFAULT_RESOLUTION)


def test_the_box_store_falls_back_to_version_1_for_what_counts_cannot_hold():
    from edge_agent.store.records import _encode
    aux = [Frame("aux", i, i, 1.0, ("hr",), (60.123456,)) for i in range(3)]
    assert _encode(aux, DEFAULT_RESOLUTION)["v"] == 1
    assert_within_resolution(decode_chunk(_encode(aux, DEFAULT_RESOLUTION)), aux, {"hr": 0.0})
    assert _encode(_of("imu", 5), DEFAULT_RESOLUTION)["v"] == COUNTS_VERSION


# ---- properties ---------------------------------------------------------------------------

VALUE = st.one_of(st.floats(-1e6, 1e6), st.just(math.nan))


@st.composite
def frame_runs(draw):
    channels = draw(st.sampled_from([IMU_CHANNELS, PLATFORM_CHANNELS]))
    resolution = {c: draw(st.sampled_from([DEFAULT_RESOLUTION[c], 1e-3, 0.5, 7.0]))
                  for c in channels}
    n = draw(st.integers(1, 40))
    seq, t = draw(st.integers(0, 2**40)), draw(st.integers(0, 2**60))
    frames = []
    for i in range(n):
        if i:
            seq += draw(st.sampled_from([1, 1, 1, 2, 50]))
            t += draw(st.sampled_from([5_000_000, 5_000_000, 4_999_000, 12_500_000]))
        frames.append(Frame("imu" if channels == IMU_CHANNELS else "platform", seq, t,
                            1.7e9 + t / 1e9, channels,
                            tuple(draw(VALUE) for _ in channels)))
    return frames, resolution


@SETTINGS
@given(frame_runs())
def test_encoding_is_lossless_at_the_stated_resolution(run):
    frames, resolution = run
    chunk = json.loads(chunk_to_json(encode_counts_chunk(frames, resolution)))
    check_chunk(chunk)
    assert_within_resolution(decode_chunk(chunk), frames, resolution)
    # Decoding is a fixed point: encoding the decoded frames again gives the same chunk.
    assert encode_counts_chunk(decode_chunk(chunk), resolution)["counts"] == chunk["counts"]


VALID = [encode_counts_chunk(_of("imu", 30), DEFAULT_RESOLUTION),
         encode_counts_chunk(_of("platform", 12), DEFAULT_RESOLUTION),
         encode_counts_chunk([f._replace(mono_ns=f.mono_ns + 7 * i)
                              for i, f in enumerate(_of("platform", 9))], DEFAULT_RESOLUTION)]
JUNK = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(),
                 st.text(max_size=8), st.lists(st.integers(), max_size=3),
                 st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))


def _truncate_counts(c, draw):
    i = draw(st.integers(0, len(c["counts"]) - 1))
    text = c["counts"][i]
    c["counts"][i] = text[:draw(st.integers(0, max(0, len(text) - 1)))]
    return f"channel {c['channels'][i]!r}"


def _huge_count(c, draw):
    i = draw(st.integers(0, len(c["counts"]) - 1))
    fields = c["counts"][i].split(",")
    j = draw(st.integers(0, len(fields) - 1))
    # Beyond +-MAX_COUNT whatever the counts before it sum to (they are small).
    fields[j] = draw(st.sampled_from(["-" + str(MAX_COUNT * 2), "9" * 17, "1" * 40]
                                     + ([str(MAX_COUNT + 1)] if j == 0 else [])))
    c["counts"][i] = ",".join(fields)
    return "'counts'"


def _bad_field_text(c, draw):
    i = draw(st.integers(0, len(c["counts"]) - 1))
    fields = c["counts"][i].split(",")
    fields[draw(st.integers(0, len(fields) - 1))] = draw(st.sampled_from(
        ["NaN", "1.5", "1e3", " 3", "+2", "--1", "0x10", "٣"]))
    c["counts"][i] = ",".join(fields)
    return "'counts'"


def _missing_scale(c, draw):
    how = draw(st.integers(0, 2))
    if how == 0:
        del c["scale"]
    elif how == 1:
        c["scale"].pop()
    else:
        c["scale"][0] = draw(st.sampled_from([None, "0.01", 0, -1.0, math.nan, math.inf, True,
                                              10**400]))
    return "'scale'"


def _overclaim(c, draw):
    c["n"] += draw(st.sampled_from([1, 2, 1000, 10**12]))
    return "carries"


def _wrong_type(c, draw):
    key = draw(st.sampled_from(sorted(c)))
    c[key] = draw(JUNK)
    return None  # whatever the junk is, the field refused may be another one


def _dt_truncated(c, draw):
    if not isinstance(c.get("dt_ns"), str):
        c["dt_ns"] = "5000000"
        return "'dt_ns'"
    c["dt_ns"] = c["dt_ns"].rsplit(",", 1)[0]
    return "'dt_ns'"


MUTATIONS = [_truncate_counts, _huge_count, _bad_field_text, _missing_scale, _overclaim,
             _wrong_type, _dt_truncated]


@st.composite
def malformed(draw):
    chunk = json.loads(json.dumps(draw(st.sampled_from(VALID))))
    mutation = draw(st.sampled_from(MUTATIONS))
    names = mutation(chunk, draw)
    return chunk, names, mutation.__name__


@SETTINGS
@given(malformed(), st.sampled_from(range(len(VALID))))
def test_malformed_chunks_are_refused_naming_what_was_wrong(case, good):
    chunk, names, mutation = case
    try:
        frames = decode_chunk(chunk)
    except ChunkFormatError as exc:
        with pytest.raises(ChunkFormatError) as checked:   # the ingester's cheaper check
            check_chunk(chunk)
        assert str(checked.value) == str(exc)
        message = str(exc)
        assert message.startswith("chunk")
        if names is not None:
            assert names in message, (mutation, message)
    else:
        # A wrong-type mutation can hit a key the decoder ignores or replace a value by an
        # equal one; then the chunk must still decode as valid frames.
        assert mutation in ("_wrong_type", "_truncate_counts") and frames
        check_chunk(chunk)
    # The next, valid chunk still decodes.
    assert decode_chunk(VALID[good]) == decode_chunk(json.loads(json.dumps(VALID[good])))


def test_a_chunk_claiming_far_more_samples_than_it_carries_is_refused_at_once():
    chunk = json.loads(json.dumps(VALID[0]))
    chunk["n"] = 10**12
    with pytest.raises(ChunkFormatError, match="not the 1000000000000 the chunk claims"):
        decode_chunk(chunk)


# ---- version 1 still read everywhere ------------------------------------------------------

def _sensor_row(chunk: dict) -> dict:
    return {"id": str(uuid.uuid4()), "session_id": str(uuid.uuid4()), "timestamp": 1.7e9,
            "t_first_ns": 0, "t_last_ns": 10, "n_frames": chunk["n"],
            "raw_data": chunk_to_json(chunk)}


def test_the_ingester_takes_both_versions_and_refuses_a_bad_counts_chunk_by_name():
    old = encode_chunk(_of("imu", 20), DEFAULT_DECIMALS)
    new = encode_counts_chunk(_of("imu", 20), DEFAULT_RESOLUTION)
    bad = json.loads(json.dumps(new))
    bad["counts"][2] = bad["counts"][2].rsplit(",", 3)[0]
    items = [encode_item(i, _sensor_row(c)) for i, c in enumerate([old, bad, new])]
    msg = decode_message("liftguard/v1/box-1/sensor_data",
                         encode_message("box-1", "sensor_data", items, 1.0))
    assert [r.outbox_id for r in msg.records] == [0, 2]
    assert [(oid, reason) for oid, reason, _ in msg.rejected] == [
        (1, "items[1]: sensor_data raw_data: chunk field 'counts' of channel 'az' carries "
            "17 values, not the 20 the chunk claims")]
    assert decode_chunk(msg.records[1].row["raw_data"]) == decode_chunk(new)


def test_the_web_series_read_both_versions_alike():
    from coach.review.raw_series import chunk_columns, session_sources
    frames = _of("imu", 200) + _of("platform", 80)
    old = [encode_chunk(frames[:200], DEFAULT_DECIMALS), encode_chunk(frames[200:],
                                                                      DEFAULT_DECIMALS)]
    new = [encode_counts_chunk(frames[:200], DEFAULT_RESOLUTION),
           encode_counts_chunk(frames[200:], DEFAULT_RESOLUTION)]
    for o, n in zip(old, new):
        src_o, ch_o, mono_o, seq_o, val_o = chunk_columns(o)
        src_n, ch_n, mono_n, seq_n, val_n = chunk_columns(json.loads(chunk_to_json(n)))
        assert (src_o, ch_o) == (src_n, ch_n)
        assert mono_o.tolist() == mono_n.tolist() and seq_o.tolist() == seq_n.tolist()
        tol = np.array([max(DEFAULT_RESOLUTION[c] / 2, 0.5 * 10 ** -DEFAULT_DECIMALS[c])
                        for c in ch_o]) * (1 + 1e-9)
        assert np.all(np.abs(val_o - val_n) <= tol)
    skipped: list[str] = []
    mixed = session_sources(iter([old[0], new[1]]), skipped)
    assert skipped == [] and set(mixed) == {"imu", "platform"}
    assert mixed["platform"].mono_ns.size == 80


def test_liftguard_export_gives_the_same_frames_from_either_version(tmp_path):
    """A box store holding a session written before version 2 and one written after: the
    recording CSV of ``liftguard export`` (what ``liftguard replay`` reads) has the simulated
    frames in both, each value within half its resolution (v2) or decimal place (v1)."""
    import subprocess
    import sys
    from pathlib import Path

    from edge_agent.store import LocalStore
    from sensors.recording import read_recording

    frames = sorted(SIM.frames, key=lambda f: (f.mono_ns, f.source))
    sessions = {}
    for label, kwargs in (("old", {"resolution": {}}), ("new", {})):
        with LocalStore(tmp_path / "data", "box-x", commit_interval_s=0.05, **kwargs) as store:
            sid = store.start_session("squat", wall_clock_synced=True)
            store.submit_frames(sid, frames)
            store.end_session(sid, "button")
            store.flush()
        sessions[label] = sid
    versions = {}
    for label, sid in sessions.items():
        out = tmp_path / f"{label}.csv"
        done = subprocess.run([sys.executable, "-m", "liftguard", "export", sid, "--csv",
                               str(out), "--data-dir", str(tmp_path / "data")],
                              capture_output=True, text=True, timeout=120,
                              cwd=Path(__file__).resolve().parents[2])
        assert done.returncode == 0, done.stderr
        got = sorted(read_recording(out).frames, key=lambda f: (f.mono_ns, f.source))
        assert len(got) == len(frames)
        tol = {c: max(DEFAULT_RESOLUTION[c] / 2, 0.5 * 10 ** -DEFAULT_DECIMALS[c]) * 1.0001
               for c in DEFAULT_RESOLUTION}
        for a, b in zip(got, frames):
            assert a.mono_ns - got[0].mono_ns == b.mono_ns - frames[0].mono_ns
            for name, x, y in zip(a.channels, a.values, b.values):
                assert abs(x - y) <= tol[name], (label, name, x, y)
        with LocalStore(tmp_path / "data", "box-x") as store:
            versions[label] = {c["raw_data"]["v"] for c in store.sensor_chunks(sid, 1000)}
    assert versions == {"old": {1}, "new": {COUNTS_VERSION}}


def test_the_box_counts_in_its_configured_ranges_and_its_load_cell_calibration(tmp_path):
    from edge_agent.daemon.wiring import box_chunk_resolution
    from liftguard.config import load_config
    from sensors.loadcell_calibration import LoadCellCalibration, save_calibration

    cfg_path = tmp_path / "config.toml"
    cfg_path.write_text(f'[device]\nid = "res-box"\ndata_dir = "{tmp_path}"\nsecrets_file = ""\n'
                        f'[imu]\naccel_range_g = 4\ngyro_range_dps = 500\n')
    uncalibrated = box_chunk_resolution(load_config(cfg_path))
    assert uncalibrated == chunk_resolution(4, 500)
    assert uncalibrated["f_fl"] == 0.01            # no calibration file yet
    save_calibration(LoadCellCalibration((0.0,) * 4, (104.2, 98.7, -1013.0, 99.9), 20.0, {}, ""),
                     tmp_path / "loadcell-calibration.json")
    calibrated = box_chunk_resolution(load_config(cfg_path))
    assert calibrated["f_rl"] == 1 / 1013.0 and calibrated["f_fl"] == 1 / 104.2
    assert calibrated["ax"] == 4 * 9.80665 / 32768
