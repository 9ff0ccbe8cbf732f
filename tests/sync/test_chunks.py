"""Columnar chunk encoding: lossless for seq, gaps and monotonic time; compact."""
from __future__ import annotations

import json
import math
import random

import pytest

from sensors.frame import IMU_CHANNELS, PLATFORM_CHANNELS, Frame
from sync.chunks import (
    DEFAULT_DECIMALS,
    WALL_TOLERANCE_S,
    ChunkFormatError,
    chunk_to_json,
    decode_chunk,
    encode_chunk,
)
from tests.support.frames import OVERCLAIMING_CHUNKS, imu_frames


def test_exact_round_trip_without_rounding():
    frames = imu_frames(200)
    chunk = encode_chunk(frames)
    assert chunk["dt_ns"] == 5_000_000  # uniform spacing is one number
    back = decode_chunk(chunk_to_json(chunk))
    assert back == frames


def test_seq_gaps_jittered_times_and_nan_round_trip():
    rng = random.Random(2)
    frames, seq, t = [], 50, 7_000_000_000
    for i in range(300):
        seq += 1 if i % 37 else rng.randint(2, 9)  # lost samples
        t += 12_500_000 + rng.randint(-40_000, 40_000)
        values = tuple(math.nan if (i == 5 and c == 2) else rng.uniform(0, 900)
                       for c in range(4))
        frames.append(Frame("platform", seq, t, 1_700_000_000 + t / 1e9, PLATFORM_CHANNELS,
                            values))
    chunk = encode_chunk(frames)
    text = chunk_to_json(chunk)
    assert "NaN" not in text  # PostgreSQL JSONB would refuse it
    back = decode_chunk(text)
    assert [f.seq for f in back] == [f.seq for f in frames]
    assert [f.mono_ns for f in back] == [f.mono_ns for f in frames]
    assert math.isnan(back[5].values[2])
    for a, b in zip(back, frames):
        assert [x for x in a.values if not math.isnan(x)] == \
               [x for x in b.values if not math.isnan(x)]
        assert abs(a.wall_s - b.wall_s) <= WALL_TOLERANCE_S


def test_wall_clock_step_is_kept_as_an_anchor():
    frames = imu_frames(100)
    stepped = frames[:40] + [f._replace(wall_s=f.wall_s + 3600.0) for f in frames[40:]]
    chunk = encode_chunk(stepped)
    assert chunk["wall_steps"] == [[40, stepped[40].wall_s]]
    back = decode_chunk(chunk)
    assert back[40].wall_s == stepped[40].wall_s
    assert all(abs(a.wall_s - b.wall_s) <= WALL_TOLERANCE_S for a, b in zip(back, stepped))


def test_default_rounding_stays_within_half_a_unit_and_shrinks_the_json():
    frames = imu_frames(200)
    exact = chunk_to_json(encode_chunk(frames))
    rounded = encode_chunk(frames, DEFAULT_DECIMALS)
    back = decode_chunk(rounded)
    for a, b in zip(back, frames):
        for ch, x, y in zip(IMU_CHANNELS, a.values, b.values):
            assert abs(x - y) <= 0.5 * 10 ** -DEFAULT_DECIMALS[ch] + 1e-12
    assert len(chunk_to_json(rounded)) < 0.6 * len(exact)


def test_columnar_is_smaller_than_one_object_per_frame():
    frames = imu_frames(200)
    per_frame = json.dumps([{"seq": f.seq, "t_ns": f.mono_ns, "wall": f.wall_s, **f.as_dict()}
                            for f in frames], separators=(",", ":"))
    assert len(chunk_to_json(encode_chunk(frames))) < 0.8 * len(per_frame)


def test_default_rounding_covers_every_box_channel():
    assert set(DEFAULT_DECIMALS) == set(IMU_CHANNELS + PLATFORM_CHANNELS)


def test_single_frame_chunk():
    frames = imu_frames(1)
    assert decode_chunk(encode_chunk(frames)) == frames


def test_mixed_sources_are_refused():
    imu = imu_frames(2)
    plat = Frame("platform", 0, imu[1].mono_ns, 0.0, PLATFORM_CHANNELS, (1.0,) * 4)
    with pytest.raises(ValueError, match="one source per chunk"):
        encode_chunk([imu[0], plat])


@pytest.mark.parametrize("mutate, field", [
    (lambda c: c.update(v=3), "'v'"),
    (lambda c: c.pop("seq0"), "'seq0'"),
    (lambda c: c.update(dt_ns=[1, 2]), "'dt_ns'"),
    (lambda c: c["values"].pop(), "'values'"),
    (lambda c: c["values"][0].__setitem__(3, "x"), "channel 'ax'"),
    (lambda c: c.update(seq_jumps=[[0, 5]]), "'seq_jumps'"),
])
def test_bad_chunks_name_the_field(mutate, field):
    chunk = encode_chunk(imu_frames(10, rng=random.Random(3)))
    chunk["dt_ns"] = [5] * 9
    mutate(chunk)
    with pytest.raises(ChunkFormatError, match=field):
        decode_chunk(chunk)


def test_invalid_json_text_is_reported():
    with pytest.raises(ChunkFormatError, match="not valid JSON"):
        decode_chunk('{"v": 1,')


@pytest.mark.parametrize("chunk", OVERCLAIMING_CHUNKS)
def test_a_chunk_claiming_more_samples_than_it_carries_is_refused_before_allocating(chunk):
    """Refused, not 10**12 sequence numbers built first (that exhausted 24 GB of memory)."""
    with pytest.raises(ChunkFormatError):
        decode_chunk(chunk)
