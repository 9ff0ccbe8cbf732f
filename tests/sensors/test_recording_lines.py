"""The recording reader's lines are the lines an editor shows: split on \\n and \\r\\n only
(never on the other characters str.splitlines treats as line ends), and every line number in
an error is one that exists and holds what the error is about. Labels refuse non-finite times
naming the field; a duplicated metadata key names both of its lines.
"""
from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sensors.recording import RecordingError, read_labels, read_recording, write_recording
from tests.cli import test_parser_properties as base

# What str.splitlines splits on besides \n, \r and \r\n.
UNICODE_BREAKS = ["\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"]
comment_text = st.lists(st.sampled_from(UNICODE_BREAKS) | st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\n\r"), max_size=6),
    min_size=1, max_size=5).map("".join)


@pytest.fixture(scope="module")
def valid(tmp_path_factory) -> tuple[str, int]:
    path = write_recording(tmp_path_factory.mktemp("rec") / "valid.csv", base._frames())
    return path.read_text(), len(read_recording(path).frames)


def _write(tmp_path_factory, text: str) -> Path:
    path = tmp_path_factory.mktemp("lines") / "rec.csv"
    path.write_bytes(text.encode("utf-8"))
    return path


def _line_of(error: RecordingError, path: Path) -> int:
    found = re.match(re.escape(str(path)) + r":(\d+): ", str(error))
    assert found, str(error)
    return int(found.group(1))


@given(data=st.data())
def test_a_comment_with_unicode_line_breaks_stays_one_comment(valid, tmp_path_factory, data):
    text, n_frames = valid
    lines = text.split("\n")[:-1]
    k = data.draw(st.integers(0, len(lines)), label="insert at")
    lines.insert(k, "# " + data.draw(comment_text, label="comment"))
    newline = data.draw(st.sampled_from(["\n", "\r\n"]), label="newline")
    rec = read_recording(_write(tmp_path_factory, newline.join(lines) + newline))
    assert len(rec.frames) == n_frames


@given(data=st.data())
def test_an_error_names_the_line_an_editor_shows(valid, tmp_path_factory, data):
    """Comments full of Unicode line breaks before a bad cell: the error names the bad row's
    line, counted as `sed -n Np` counts (one per \\n)."""
    text, _ = valid
    lines = text.split("\n")[:-1]
    for _ in range(data.draw(st.integers(1, 4), label="comments")):
        lines.insert(data.draw(st.integers(0, len(lines) - 1)), "# " + data.draw(comment_text))
    rows = [i for i, line in enumerate(lines) if line[:1].isdigit()]
    k = data.draw(st.sampled_from(rows), label="bad row")
    cells = lines[k].split(",")
    cells[1] = data.draw(st.sampled_from(["x", "1e999", "nan", "--1", "0x1"]), label="cell")
    lines[k] = ",".join(cells)
    newline = data.draw(st.sampled_from(["\n", "\r\n"]), label="newline")
    path = _write(tmp_path_factory, newline.join(lines) + newline)
    with pytest.raises(RecordingError) as caught:
        read_recording(path)
    assert _line_of(caught.value, path) == k + 1
    assert path.read_bytes().split(b"\n")[k].decode().rstrip("\r") == lines[k]


@given(data=st.data())
def test_every_line_number_in_an_error_exists(valid, tmp_path_factory, data):
    """Any mutation of a valid file (the fuzzing campaign's, plus Unicode breaks anywhere):
    a line number in the error is between 1 and the file's line count."""
    text, n_frames = valid
    mutated = base._mutate_recording(text, data)
    if data.draw(st.booleans(), label="break inserted"):
        k = data.draw(st.integers(0, len(mutated)))
        mutated = mutated[:k] + data.draw(st.sampled_from(UNICODE_BREAKS)) + mutated[k:]
    path = tmp_path_factory.mktemp("lines") / "rec.csv"
    path.write_text(mutated, encoding="utf-8", errors="surrogatepass")
    try:
        read_recording(path)
    except RecordingError as exc:
        found = re.match(re.escape(str(path)) + r":(\d+): ", str(exc))
        if found:
            assert 1 <= int(found.group(1)) <= path.read_bytes().count(b"\n") + 1
    path.write_text(text)
    assert len(read_recording(path).frames) == n_frames


@given(key=st.sampled_from(["start_mono_ns", "start_wall_s"]),
       first=st.sampled_from(["1e308", "0", "12", "1700000000.5", "-1", "x"]),
       second=st.sampled_from(["1e308", "0", "12", "1700000000.5"]),
       at=st.integers(0, 3), data=st.data())
def test_a_metadata_key_given_twice_names_both_lines(valid, tmp_path_factory, key, first,
                                                     second, at, data):
    text, n_frames = valid
    lines = [line for line in text.split("\n")[:-1] if not line.startswith(f"# {key}=")]
    header = next(i for i, line in enumerate(lines) if line.startswith("t,"))
    i = min(at, header)
    lines.insert(i, f"# {key}={first}")
    j = data.draw(st.integers(i + 1, header + 1), label="second at")
    lines.insert(j, f"# {key}={second}")
    path = _write(tmp_path_factory, "\n".join(lines) + "\n")
    with pytest.raises(RecordingError) as caught:
        read_recording(path)
    message = str(caught.value)
    named = _line_of(caught.value, path)
    shown = path.read_text().split("\n")
    assert named <= len(shown) - 1 and shown[named - 1].startswith(f"# {key}=")
    assert f"metadata {key} given again" in message
    assert named == j + 1 and f"first on line {i + 1}" in message


TIME_FIELDS = ["start_s", "bottom_s", "end_s", "eccentric_s", "concentric_s", "fault_onset_s"]


@given(rep=st.integers(0, 1), field=st.sampled_from(TIME_FIELDS),
       literal=st.sampled_from(["NaN", "Infinity", "-Infinity"]))
def test_labels_refuse_non_finite_times_naming_the_field(tmp_path_factory, rep, field, literal):
    folder = tmp_path_factory.mktemp("labels")
    valid = base.write_labels(folder / "ok.labels.json", [base._truth(1), base._truth(2)],
                              {"lift": "squat"})
    doc = json.loads(valid.read_text())
    doc["reps"][rep][field] = "@@"
    bad = folder / "bad.labels.json"
    bad.write_text(json.dumps(doc).replace('"@@"', literal))
    with pytest.raises(RecordingError, match=re.escape(f"reps[{rep}].{field} = ")
                       + r"(nan|inf|-inf): a time must be a finite number of seconds"):
        read_labels(bad)
    assert [r.start_s for r in read_labels(valid)] == [1.0, 2.0]


def test_a_metric_may_still_be_nan_but_never_infinite(tmp_path):
    """NaN marks a metric the simulator could not compute (docs/recording-format.md)."""
    valid = base.write_labels(tmp_path / "ok.labels.json", [base._truth(1)], {})
    text = valid.read_text()
    nan = tmp_path / "nan.labels.json"
    nan.write_text(text.replace('"rom_m": 0.4', '"rom_m": NaN'))
    assert math.isnan(read_labels(nan)[0].rom_m)
    inf = tmp_path / "inf.labels.json"
    inf.write_text(text.replace('"rom_m": 0.4', '"rom_m": Infinity'))
    with pytest.raises(RecordingError, match=r"reps\[0\]\.rom_m = inf: a value must be a finite number"):
        read_labels(inf)
