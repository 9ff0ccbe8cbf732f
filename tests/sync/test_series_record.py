"""The display-series record (sync/series.py) as the ingester and the web app take it:
structured mutations of a real record either pass ``check_series`` (and then decode for the
charts) or raise ``SeriesFormatError`` naming the field, nothing else; inside a sync message a
bad record is one rejected item with that reason, and a valid one after it is still stored."""
from __future__ import annotations

import copy
import json
import uuid

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coach.review.series_record import chart_series
from models.analysis import analyze_frames
from models.display_series import RepSpan, series_from_frames
from sensors.simulator import simulate_set
from sync.json_values import ValueProblem, check_value
from sync.payloads import data_topic, decode_message
from sync.series import MAX_SERIES_BYTES, SeriesFormatError, check_series
from tests.support.payload_mutations import _dump, mutate

_SIM = simulate_set(reps=3, seed=11)
_T0 = min(f.mono_ns for f in _SIM.frames)
RECORD = series_from_frames(_SIM.frames, [
    RepSpan(r.number, _T0 + int(r.start_s * 1e9), _T0 + int(r.end_s * 1e9))
    for r in analyze_frames(_SIM.frames, "squat").reps])
SID = str(uuid.uuid4())
SETTINGS = settings(deadline=None, max_examples=300,
                    suppress_health_check=[HealthCheck.too_slow])


def _small(record: dict) -> dict:
    """The record with short envelopes, so mutations reach every kind of field often."""
    out = copy.deepcopy(record)
    for env in out["envelopes"].values():
        env["min"], env["max"] = env["min"][:3], env["max"][:3]
    return out


SMALL = _small(RECORD)


@st.composite
def mutated_records(draw):
    record = copy.deepcopy(SMALL)
    how = draw(st.sampled_from(("replace", "delete", "add", "swap")))
    if how != "swap":
        record = mutate(draw, record, how)
    else:  # min above max, reps out of order in time
        env = record["envelopes"][draw(st.sampled_from(sorted(record["envelopes"])))]
        env["min"], env["max"] = env["max"], env["min"]
        rep = record["reps"][0]
        rep["t0"], rep["t1"] = rep["t1"], rep["t0"]
    return record


def test_a_real_record_is_valid_small_and_decodes():
    check_series(RECORD)
    assert len(json.dumps(RECORD, separators=(",", ":"))) < MAX_SERIES_BYTES
    series = chart_series(RECORD)
    assert len(series.reps) == 3 and series.tilt is not None and series.cop_paths() is not None


@SETTINGS
@given(mutated_records())
def test_mutated_records_pass_or_raise_series_format_error(record):
    try:
        check_series(record)
    except SeriesFormatError as exc:
        assert str(exc).startswith("series")
    else:   # what the check lets through, the web app can draw
        series = chart_series(record)
        for trace in series.reps:
            assert trace.t.size == trace.z_m.size
        for t, v in series.envelopes.values():
            assert t.size == v.size and np.all(np.diff(t) > 0)
    check_series(SMALL)   # a valid record after a bad one is still taken


def _message(record, outbox_id: int) -> bytes:
    row = {"id": SID, "session_id": SID, "version": 2, "final": True, "series": record}
    return _dump({"v": 1, "device_id": "box-1", "kind": "session_series", "sent_at": 1.0,
                  "items": [{"outbox_id": outbox_id, "row": row}]})


@SETTINGS
@given(mutated_records())
def test_the_ingester_rejects_a_bad_record_as_one_item_and_takes_the_next(record):
    topic = data_topic("box-1", "session_series")
    msg = decode_message(topic, _message(record, 1))
    try:
        check_series(record)
        check_value(record, "series")
        valid = True
    except (SeriesFormatError, ValueProblem):
        valid = False
    if valid:
        assert [r.outbox_id for r in msg.records] == [1] and msg.rejected == []
    else:
        assert msg.records == [] and len(msg.rejected) == 1
        assert "session_series row field 'series'" in msg.rejected[0][1]
    good = decode_message(topic, _message(SMALL, 2))
    assert [r.outbox_id for r in good.records] == [2] and good.rejected == []
