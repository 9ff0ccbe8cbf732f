"""Hostile input to the file parsers: structured mutations of valid recordings, labels files,
config files and load-cell byte streams. Each parser raises only its documented error (naming
the file and line or field), or accepts the input with sane values; a valid input read after a
bad one is still read in full. ``LIFTGUARD_HYPOTHESIS_PROFILE=long`` searches deeper."""
from __future__ import annotations

import math
import random
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from liftguard.cli import main
from liftguard.config import load_config
from liftguard.errors import ConfigError
from sensors.frame import IMU_CHANNELS, PLATFORM_CHANNELS, Frame
from sensors.loadcell_protocol import FRAME_SIZE, FrameDecoder, encode_frame
from sensors.recording import (
    INT64_MAX,
    RecordingError,
    read_labels,
    read_labels_meta,
    read_recording,
    write_labels,
    write_recording,
)
from sensors.rep_truth import RepTruth

REPO = Path(__file__).resolve().parents[2]
HOSTILE_NUMBERS = ["1e999", "-1e999", "1e300", "nan", "inf", "1" + "0" * 20, "9" * 400,
                   "-0", "0x10", "1e-400", "", "  ", "\x00", "\ud800", "é", "1,2", "#", "t"]


def _frames() -> list[Frame]:
    rng = random.Random(3)
    out = []
    for i in range(40):
        t = 10**12 + i * 5_000_000
        out.append(Frame("imu", i, t, 1.7e9 + t / 1e9, IMU_CHANNELS,
                         tuple(rng.gauss(0, 3) for _ in IMU_CHANNELS)))
        if i % 2 == 0:
            out.append(Frame("platform", i // 2, t + 1000, 1.7e9 + t / 1e9, PLATFORM_CHANNELS,
                             tuple(200 + rng.gauss(0, 5) for _ in PLATFORM_CHANNELS)))
    return out


@pytest.fixture(scope="module")
def valid_recording(tmp_path_factory) -> tuple[Path, str]:
    path = write_recording(tmp_path_factory.mktemp("rec") / "valid.csv", _frames())
    return path, path.read_text()


def _mutate_recording(text: str, data: st.DataObject) -> str:
    lines = text.split("\n")
    kind = data.draw(st.sampled_from(["cell", "meta", "line", "chars", "truncate", "header"]))
    if kind == "cell":
        k = data.draw(st.integers(4, len(lines) - 2))
        cells = lines[k].split(",")
        j = data.draw(st.integers(0, len(cells) - 1))
        cells[j] = data.draw(st.sampled_from(HOSTILE_NUMBERS) | st.text(max_size=8))
        lines[k] = ",".join(cells)
    elif kind == "meta":
        key = data.draw(st.sampled_from(["start_mono_ns", "start_wall_s"]))
        value = data.draw(st.sampled_from(HOSTILE_NUMBERS + ["-5", str(INT64_MAX), "12"])
                          | st.integers(-(10**30), 10**30).map(str))
        lines[1 if key == "start_mono_ns" else 2] = f"# {key}={value}"
    elif kind == "line":
        k = data.draw(st.integers(0, len(lines) - 1))
        lines.insert(k, data.draw(st.text(max_size=30)))
    elif kind == "chars":
        k = data.draw(st.integers(0, len(text) - 1))
        return text[:k] + data.draw(st.text(max_size=5)) + text[k + 1:]
    elif kind == "truncate":
        return text[: data.draw(st.integers(0, len(text)))]
    else:
        lines[3] = data.draw(st.sampled_from(["t", "t,ax[furlong]", "x,ax", "t,ax,ax", "t,[g]",
                                              "t,ax[g],ay[N]", ","]))
    return "\n".join(lines)


@given(data=st.data())
def test_recording_mutations_raise_only_recording_error(valid_recording, tmp_path_factory, data):
    path, text = valid_recording
    bad = tmp_path_factory.mktemp("bad") / "bad.csv"
    bad.write_text(_mutate_recording(text, data), encoding="utf-8", errors="surrogatepass")
    try:
        rec = read_recording(bad)
    except RecordingError as exc:
        assert str(bad) in str(exc)
    else:
        for f in rec.frames:
            assert 0 <= f.mono_ns <= INT64_MAX and math.isfinite(f.wall_s)
            assert all(math.isfinite(v) for v in f.values)
    assert len(read_recording(path).frames) == len(_frames())


@pytest.mark.parametrize("edit, words", [
    (lambda t: t.replace("# start_mono_ns=1000000000000", "# start_mono_ns=" + "9" * 20),
     ":2: metadata start_mono_ns: 99999999999999999999 is out of range"),
    (lambda t: t.replace("\n0.010000000,", "\n1e300,", 1), "out of range"),
    (lambda t: t.replace("\n0.010000000,", "\n1e999,", 1), "is not a finite number"),
])
def test_the_reported_overflows_name_the_line(valid_recording, tmp_path, edit, words):
    _, text = valid_recording
    assert "\n0.010000000," in text
    bad = tmp_path / "bad.csv"
    bad.write_text(edit(text))
    with pytest.raises(RecordingError, match=words):
        read_recording(bad)


def test_a_huge_value_on_the_fast_path_is_refused(valid_recording, tmp_path):
    _, text = valid_recording
    lines = text.split("\n")
    cells = lines[6].split(",")
    cells[1] = "1e999"
    lines[6] = ",".join(cells)
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join(lines))
    with pytest.raises(RecordingError, match=r"bad.csv:7: column 'ax': '1e999' is not a finite"):
        read_recording(bad)


# ---- labels ---------------------------------------------------------------------------------

def _truth(n: int) -> RepTruth:
    return RepTruth(n, 1.0 * n, 1.5 * n, 2.0 * n, 0.5, 0.5, 0.4, 0.6, 0.9, 3.0, 2.0, 0.01,
                    0.005, 0.006, None, None)


@pytest.fixture(scope="module")
def valid_labels(tmp_path_factory) -> Path:
    return write_labels(tmp_path_factory.mktemp("labels") / "valid.labels.json",
                        [_truth(1), _truth(2)], {"lift": "squat"})


HOSTILE_JSON = st.sampled_from([
    "1e999", "-1e999", "NaN", "9" * 5000, "1" + "0" * 400, '"x"', "null", "true", "[]", "{}",
    '"\\ud800"', '"\\u0000"', "[" * 2000 + "]" * 2000, "{" * 3, '{"a": ' * 1500 + "1" + "}" * 1500,
])


@given(data=st.data())
def test_labels_mutations_raise_only_recording_error(valid_labels, tmp_path_factory, data):
    text = valid_labels.read_text()
    numbers = [i for i, ch in enumerate(text) if ch.isdigit() and not text[i - 1].isdigit()]
    kind = data.draw(st.sampled_from(["value", "truncate", "chars"]))
    if kind == "value":
        k = data.draw(st.sampled_from(numbers))
        end = k
        while end < len(text) and (text[end].isdigit() or text[end] in ".e-"):
            end += 1
        text = text[:k] + data.draw(HOSTILE_JSON) + text[end:]
    elif kind == "truncate":
        text = text[: data.draw(st.integers(0, len(text)))]
    else:
        k = data.draw(st.integers(0, len(text) - 1))
        text = text[:k] + data.draw(st.text(max_size=4)) + text[k + 1:]
    bad = tmp_path_factory.mktemp("bad") / "bad.labels.json"
    bad.write_text(text, errors="surrogatepass")
    for reader in (read_labels, read_labels_meta):
        try:
            reader(bad)
        except RecordingError as exc:
            assert str(bad) in str(exc)
    assert [r.number for r in read_labels(valid_labels)] == [1, 2]


def test_labels_nested_2000_deep_are_refused_clearly(tmp_path):
    bad = tmp_path / "deep.labels.json"
    bad.write_text("[" * 2000 + "]" * 2000)
    with pytest.raises(RecordingError, match="nested too deeply"):
        read_labels(bad)


@pytest.mark.parametrize("literal, words", [
    ("1" + "0" * 400, r"reps\[0\]\.start_s = 1000"),       # found by the long profile
    ("1e999", r"reps\[0\]\.start_s = inf"),
    ('"x"', r"reps\[0\]\.start_s = 'x'"),
    ("9" * 5000, "cannot read labels"),
])
def test_label_values_of_the_wrong_type_name_the_field(valid_labels, tmp_path, literal, words):
    text = valid_labels.read_text().replace('"start_s": 1.0', f'"start_s": {literal}', 1)
    bad = tmp_path / "bad.labels.json"
    bad.write_text(text)
    with pytest.raises(RecordingError, match=words):
        read_labels(bad)


# ---- config ---------------------------------------------------------------------------------

EXAMPLE = (REPO / "config.example.toml").read_text()
TOML_HOSTILE = st.sampled_from([
    "9" * 400, "inf", "nan", "-1", "1e999", '"\\u0000"', '"x"', "true", "[]", "{}",
    "[" * 1000 + "]" * 1000, "{ a = " * 600 + "1" + " }" * 600, '"' + "a" * 5000 + '"',
    "0x7fffffffffffffffffff", "1979-05-27T07:32:00Z",
])


@given(data=st.data())
def test_config_mutations_raise_only_config_error(tmp_path_factory, data):
    lines = EXAMPLE.split("\n")
    assignments = [i for i, line in enumerate(lines) if " = " in line and not line.startswith("#")]
    kind = data.draw(st.sampled_from(["value", "bytes", "truncate"]))
    raw = None
    if kind == "value":
        k = data.draw(st.sampled_from(assignments))
        key = lines[k].split(" = ", 1)[0]
        lines[k] = f"{key} = {data.draw(TOML_HOSTILE)}"
        raw = "\n".join(lines).encode()
    elif kind == "bytes":
        k = data.draw(st.integers(0, len(EXAMPLE) - 1))
        raw = EXAMPLE.encode()[:k] + data.draw(st.binary(min_size=1, max_size=4)) + EXAMPLE.encode()[k:]
    else:
        raw = EXAMPLE.encode()[: data.draw(st.integers(0, len(EXAMPLE)))]
    bad = tmp_path_factory.mktemp("cfg") / "bad.toml"
    bad.write_bytes(raw)
    try:
        load_config(bad)
    except ConfigError as exc:
        assert all(str(bad) in line for line in exc.problems)
    good = tmp_path_factory.mktemp("cfg") / "good.toml"
    good.write_text(EXAMPLE)
    assert load_config(good).get("imu.sample_rate_hz") == 200


@pytest.mark.parametrize("write, words", [
    (lambda p: p.write_bytes(b'[device]\nid = "\xff"\n'), "is not UTF-8"),
    (lambda p: p.write_text("a = " + "[" * 1000 + "]" * 1000), "nested too deeply"),
    (lambda p: p.mkdir(), "is a directory"),
    (lambda p: p.write_text('[device]\nid = "a\\u0000b"\n'), "[device] id holds a NUL"),
])
def test_config_file_problems_exit_2_naming_the_file(tmp_path, capsys, write, words):
    path = tmp_path / "config.toml"
    write(path)
    assert main(["--config", str(path), "config", "check"]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and words in err and "Traceback" not in err


# ---- load-cell frames -----------------------------------------------------------------------

def _stream(n: int, seq0: int = 0) -> bytes:
    return b"".join(encode_frame(seq0 + i, 1000 * i, (i, -i, 2 * i, 3)) for i in range(n))


@given(prefix=st.binary(max_size=200), cuts=st.lists(st.integers(0, 10 * FRAME_SIZE), max_size=5),
       flips=st.lists(st.tuples(st.integers(0, 10 * FRAME_SIZE - 1), st.integers(1, 255)),
                      max_size=4))
def test_loadcell_decoder_survives_garbage_and_finds_the_next_good_frame(prefix, cuts, flips):
    corrupted = bytearray(_stream(10))
    for at, xor in flips:
        corrupted[at] ^= xor
    decoder = FrameDecoder()
    fed = prefix + bytes(corrupted)
    pieces, last = [], 0
    for cut in sorted(cuts):
        pieces.append(fed[last:cut])
        last = cut
    pieces.append(fed[last:])
    frames = [f for piece in pieces for f in decoder.feed(piece)]
    for f in frames:
        assert 0 <= f.seq < 2**32 and len(f.counts) == 4 and f.lost_before >= 0
    good = _stream(3, seq0=100)
    after = decoder.feed(good)
    assert [f.seq for f in after][-3:] == [100, 101, 102]
    stats = decoder.stats
    assert stats.frames == len(frames) + len(after)


@given(seq=st.integers(-(2**70), 2**70), device_us=st.integers(-(2**70), 2**70),
       counts=st.lists(st.integers(-(2**40), 2**40), min_size=0, max_size=6),
       status=st.integers(-(2**20), 2**20))
def test_encode_frame_raises_only_value_error_and_round_trips(seq, device_us, counts, status):
    try:
        frame = encode_frame(seq, device_us, counts, status)
    except ValueError as exc:
        assert str(exc)
        return
    (decoded,) = FrameDecoder().feed(frame)
    assert decoded.seq == seq % 2**32 and decoded.device_us == device_us % 2**32
    assert list(decoded.counts) == counts and decoded.status == status
