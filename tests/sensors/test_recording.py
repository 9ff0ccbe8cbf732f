"""Recording CSV: round trip, units, aux channels, gaps, every error with its line; labels."""
from __future__ import annotations

import math

import pytest

from sensors.frame import STANDARD_GRAVITY, Frame
from sensors.recording import (
    RecordingError,
    describe_frames,
    labels_path_for,
    read_labels,
    read_recording,
    write_labels,
    write_recording,
)
from sensors.simulator import simulate_set


@pytest.fixture(scope="module")
def sim():
    return simulate_set(lift="bench_press", reps=2, seed=9, faults={2: "tremor"},
                        start_mono_ns=123_456_789, start_wall_s=1.75e9)


def write(tmp_path, text, name="rec.csv"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_round_trip_preserves_frames(tmp_path, sim):
    path = write_recording(tmp_path / "rec.csv", sim.frames)
    rec = read_recording(path)
    assert rec.sources == ("imu", "platform")
    assert rec.channels == sim.frames[0].channels + next(
        f.channels for f in sim.frames if f.source == "platform")
    assert len(rec.frames) == len(sim.frames)
    for a, b in zip(sim.frames, rec.frames):
        assert (a.source, a.seq, a.mono_ns, a.channels) == (b.source, b.seq, b.mono_ns, b.channels)
        assert b.wall_s == pytest.approx(a.wall_s, abs=1e-6)
        assert b.values == pytest.approx(a.values, rel=1e-6, abs=1e-9)


def test_header_and_blank_cells(tmp_path, sim):
    path = write_recording(tmp_path / "rec.csv", sim.frames)
    lines = [ln for ln in path.read_text().splitlines() if not ln.startswith("#")]
    assert lines[0] == "t,ax,ay,az,gx,gy,gz,f_fl,f_fr,f_rl,f_rr"
    assert lines[1].startswith("0.000000000,") and lines[1].endswith(",,,,")
    platform_row = next(ln for ln in lines[1:] if ln.split(",")[1] == "")
    assert all(c == "" for c in platform_row.split(",")[1:7])


def test_units_are_converted_to_si(tmp_path):
    p = write(tmp_path, "t[ms],ax[g],gx[deg/s],f_fl[kN],f_fr[kgf],f_rl,f_rr\n"
                        "0,1,180,1.5,10,1,2\n"
                        "12.5,0.5,90,0.1,20,3,4\n")
    rec = read_recording(p)
    imu = rec.source_frames("imu")
    assert imu[0].channels == ("ax", "gx")
    assert imu[0].values == pytest.approx((STANDARD_GRAVITY, math.pi))
    assert imu[1].mono_ns == 12_500_000
    plat = rec.source_frames("platform")
    assert plat[1].values == pytest.approx((100.0, 20 * STANDARD_GRAVITY, 3.0, 4.0))


def test_unknown_channels_become_aux_source(tmp_path):
    p = write(tmp_path, "t,az,temp_c\n0,9.8,\n0.01,,21.5\n0.02,9.7,21.6\n")
    rec = read_recording(p)
    assert rec.sources == ("imu", "aux")
    assert [(f.source, f.channels) for f in rec.frames] == [
        ("imu", ("az",)), ("aux", ("temp_c",)), ("imu", ("az",)), ("aux", ("temp_c",))]


def test_sequence_gaps_survive_round_trip(tmp_path):
    frames = [Frame("imu", s, s * 5_000_000, 100 + s * 0.005, ("az",), (9.8,))
              for s in (0, 1, 2, 5, 6, 7, 8, 12)]
    rec = read_recording(write_recording(tmp_path / "gaps.csv", frames))
    assert [f.seq for f in rec.frames] == [0, 1, 2, 5, 6, 7, 8, 12]
    stats = describe_frames(rec.frames)[0]
    assert (stats.lost_samples, stats.gaps, stats.rate_hz) == (5, 2, 200.0)


def test_comments_metadata_and_blank_lines(tmp_path):
    p = write(tmp_path, "# recorded on box-3\n# start_wall_s=1700000000.5\n\n"
                        "t,az\n0,9.8\n\n# pause\n0.005,9.81\n")
    rec = read_recording(p)
    assert [f.values[0] for f in rec.frames] == [9.8, 9.81]
    assert rec.frames[1].wall_s == pytest.approx(1700000000.505)


@pytest.mark.parametrize("text, line, words", [
    ("", None, "empty recording"),
    ("# only a comment\n", None, "empty recording"),
    ("time,ax\n0,1\n", 1, "first column must be 't'"),
    ("t\n0\n", 1, "no channel columns"),
    ("t,ax,ax\n0,1,2\n", 1, "appears twice"),
    ("t,ax[furlong]\n0,1\n", 1, "unknown unit 'furlong'"),
    ("t,ax[N]\n0,1\n", 1, "'N' is a unit of force, but ax is acceleration"),
    ("t,ax\n", None, "no data rows"),
    ("t,ax,az\n0,1,2\n0.1,3,abc\n", 3, "column 'az': 'abc' is not a number"),
    ("t,ax,az\n0,1,2\n0.1,3,nan\n", 3, "column 'az': 'nan' is not a finite number"),
    ("t,ax,az\n0,1,2\n0.1,3\n", 3, "row has 2 cells, the header has 3"),
    ("t,ax,az\n0,1,2\n# c\n0.2,1,2\n0.1,1,2\n", 5, "time goes backwards"),
    ("t,ax,az\n0,1,2\n,1,2\n", 3, "column 't' is blank"),
    ("t,ax,az\n0,1,2\n0.1,1,\n", 3, "imu columns partly blank (az missing)"),
    ("t,ax,f_fl\n0,1,\n0.1,,\n", 3, "no channel values"),
    ("# start_wall_s=yesterday\nt,ax\n0,1\n", 1, "start_wall_s: 'yesterday' is not a number"),
])
def test_bad_recordings_name_file_and_line(tmp_path, text, line, words):
    p = write(tmp_path, text)
    with pytest.raises(RecordingError) as exc:
        read_recording(p)
    prefix = f"{p}:{line}: " if line is not None else f"{p}: "
    assert str(exc.value).startswith(prefix)
    assert words in str(exc.value)


def test_missing_file(tmp_path):
    with pytest.raises(RecordingError, match="not found"):
        read_recording(tmp_path / "nope.csv")


def test_labels_round_trip(tmp_path, sim):
    path = labels_path_for(tmp_path / "rec.csv")
    assert path.name == "rec.labels.json"
    write_labels(path, sim.reps, sim.meta())
    assert read_labels(path) == sim.reps


@pytest.mark.parametrize("text, words", [
    ("{not json", ":1: not valid JSON"),
    ('{"format": "other"}', "not a liftguard labels file"),
    ('{"format": "liftguard-labels", "reps": [{"number": 1}]}', "missing keys"),
])
def test_bad_labels(tmp_path, text, words):
    p = write(tmp_path, text, "x.labels.json")
    with pytest.raises(RecordingError, match=words):
        read_labels(p)


def test_careful_parser_agrees_with_fast_path(tmp_path, sim):
    """A comment in the body sends the file through the line-by-line parser: same frames."""
    path = write_recording(tmp_path / "rec.csv", sim.frames[:400])
    lines = path.read_text().splitlines()
    lines.insert(10, "# operator note")
    commented = write(tmp_path, "\n".join(lines) + "\n", "commented.csv")
    assert read_recording(commented).frames == read_recording(path).frames


def test_writing_no_frames_is_refused(tmp_path):
    with pytest.raises(ValueError, match="no frames"):
        write_recording(tmp_path / "empty.csv", [])
    assert not (tmp_path / "empty.csv").exists()
