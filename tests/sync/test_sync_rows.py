"""sync/rows.py against a real PostgreSQL: what the writers put in the seed columns, in which
order, and what they refuse or defer (docs/database.md, "How the boxes fill the seed columns")."""
from __future__ import annotations

import logging
import math
import uuid

import pytest

from sync.rows import SyncRecord, apply_records
from tests.support.sync_support import migrated

pytestmark = pytest.mark.integration

BOX = "box-1"


@pytest.fixture
def pg(pg_db):
    conn = migrated(pg_db)
    conn.autocommit = False
    yield conn
    conn.close()


def _session(sid: str, **over) -> dict:
    return {"id": sid, "device_id": BOX, "athlete": None, "trainer": None, "lift_type": "squat",
            "status": "active", "start_time": 1_700_000_000.0, "wall_clock_synced": 1,
            "mono_to_wall_offset_s": 1.6e9, **over}


def _chunk(sid: str, t0_ns: int) -> dict:
    return {"id": str(uuid.uuid4()), "session_id": sid, "timestamp": 1_700_000_000.0 + t0_ns / 1e9,
            "t_first_ns": t0_ns, "t_last_ns": t0_ns + 10, "n_frames": 1,
            "raw_data": '{"v": 1, "t0_ns": %d, "values": [[1.0]]}' % t0_ns}


def _write(pg, *rows: tuple[str, dict], device: str = BOX):
    with pg.cursor() as cur:
        outcome = apply_records(cur, [SyncRecord(kind, row, device, i)
                                      for i, (kind, row) in enumerate(rows)])
    pg.commit()
    return outcome


def _one(pg, sql, params=()):
    with pg.cursor() as cur:
        cur.execute(sql, params)
        row = cur.fetchone()
    pg.rollback()
    return row


def test_every_session_upsert_advances_updated_at_and_keeps_created_at(pg):
    sid = str(uuid.uuid4())
    _write(pg, ("sessions", _session(sid)))
    first = _one(pg, "SELECT created_at, updated_at, started_at FROM sessions")
    for status in ("active", "ended"):  # the same snapshot again, then the end
        _write(pg, ("sessions", _session(sid, status=status, end_time=1_700_000_060.0)))
        created, updated, _ = _one(pg, "SELECT created_at, updated_at, started_at FROM sessions")
        assert created == first[0] and updated > first[1]
        first = (created, updated)
    started, ended = _one(pg, "SELECT extract(epoch FROM started_at), "
                              "extract(epoch FROM ended_at) FROM sessions")
    assert (float(started), float(ended)) == (1_700_000_000.0, 1_700_000_060.0)


def test_children_before_their_session_are_deferred_then_stored(pg):
    sid = str(uuid.uuid4())
    chunk = _chunk(sid, 0)
    outcome = _write(pg, ("sensor_data", chunk))
    assert [r.row["id"] for r in outcome.deferred] == [chunk["id"]] and outcome.stored == []
    assert _one(pg, "SELECT count(*) FROM sessions") == (0,)     # no stub: seed NOT NULLs
    outcome = _write(pg, ("sessions", _session(sid)), ("sensor_data", chunk))
    assert len(outcome.stored) == 2 and outcome.deferred == []
    assert _one(pg, "SELECT sensor_data_id::text FROM sessions") == (chunk["id"],)


def test_sensor_data_id_names_the_first_chunk_even_when_chunks_arrive_out_of_order(pg):
    sid = str(uuid.uuid4())
    late, early = _chunk(sid, 5_000_000_000), _chunk(sid, 1_000_000_000)
    _write(pg, ("sessions", _session(sid)), ("sensor_data", late))
    assert _one(pg, "SELECT sensor_data_id::text FROM sessions") == (late["id"],)
    _write(pg, ("sensor_data", early))
    assert _one(pg, "SELECT sensor_data_id::text FROM sessions") == (early["id"],)
    _write(pg, ("sensor_data", _chunk(sid, 9_000_000_000)))
    assert _one(pg, "SELECT sensor_data_id::text FROM sessions") == (early["id"],)


def test_feedback_waits_for_its_sessions_metrics_and_missing_scores_are_nan(pg):
    sid, mid, fid = (str(uuid.uuid4()) for _ in range(3))
    _write(pg, ("sessions", _session(sid)))
    feedback = ("feedback", {"id": fid, "session_id": sid, "feedback_text": "rep 1: fine"})
    outcome = _write(pg, feedback)
    assert [r.row["id"] for r in outcome.deferred] == [fid]
    metrics = ("performance_metrics", {"id": mid, "session_id": sid, "balance_score": None,
                                       "stability_score": 0.8, "injury_risk": 0.2})
    outcome = _write(pg, metrics, feedback,
                     ("sessions", _session(sid, status="ended", end_time=1_700_000_050.0,
                                           metrics_id=mid, feedback_id=fid)))
    assert outcome.deferred == [] and len(outcome.stored) == 3
    assert _one(pg, "SELECT metrics_id::text FROM feedback") == (mid,)
    balance, stability = _one(pg, "SELECT pm.balance_score, pm.stability_score FROM sessions s "
                                  "JOIN performance_metrics pm ON pm.id = s.performance_metric_id")
    assert math.isnan(balance) and stability == 0.8
    assert _one(pg, "SELECT feedback_id::text FROM sessions") == (fid,)


def test_unknown_athlete_is_kept_as_given_and_the_log_says_why(pg, caplog):
    with pg.cursor() as cur:
        cur.execute("INSERT INTO users (first_name, last_name, email, role) "
                    "VALUES ('Ann', 'Lee', 'ann@x.org', 'athlete') RETURNING id::text")
        ann = cur.fetchone()[0]
    pg.commit()
    known, unknown = str(uuid.uuid4()), str(uuid.uuid4())
    with caplog.at_level(logging.WARNING, logger="sync.rows"):
        outcome = _write(pg, ("sessions", _session(known, athlete="ANN@x.org")),
                         ("sessions", _session(unknown, athlete="bob@x.org", trainer=ann)))
    assert len(outcome.stored) == 2 and outcome.dead == [] and outcome.deferred == []
    assert _one(pg, "SELECT athlete::text, athlete_email FROM sessions WHERE id = %s",
                (known,)) == (ann, "ANN@x.org")
    assert _one(pg, "SELECT athlete, athlete_email, trainer::text FROM sessions WHERE id = %s",
                (unknown,)) == (None, "bob@x.org", ann)
    messages = [r.getMessage() for r in caplog.records]
    assert any(unknown in m and "'bob@x.org' is not in users" in m for m in messages)
    assert not any(known in m for m in messages)


def test_a_large_batch_of_sessions_names_each_ones_own_unknown_athlete(pg, caplog):
    """Each warning is matched to its own row (by canonical id, upper-case ids included)."""
    sids = [str(uuid.uuid4()) for _ in range(60)]
    rows = [("sessions", _session(sid.upper() if k % 2 else sid, athlete=f"a{k}@x.org"))
            for k, sid in enumerate(sids)]
    with caplog.at_level(logging.WARNING, logger="sync.rows"):
        outcome = _write(pg, *rows)
    assert len(outcome.stored) == 60 and outcome.dead == []
    messages = [r.getMessage() for r in caplog.records if "is not in users" in r.getMessage()]
    assert len(messages) == 60
    for k, sid in enumerate(sids):
        assert sum(sid in m and f"'a{k}@x.org' is not in users" in m for m in messages) == 1


def test_rows_for_another_devices_session_are_refused_as_spoofed(pg):
    sid = str(uuid.uuid4())
    _write(pg, ("sessions", _session(sid)))
    outcome = _write(pg, ("sensor_data", _chunk(sid, 0)),
                     ("sessions", _session(sid, device_id="box-2", status="ended")),
                     device="box-2")
    assert [reason.split(":")[0] for _, reason in outcome.dead] == ["spoofed", "spoofed"]
    assert outcome.stored == []
    assert _one(pg, "SELECT count(*) FROM sensor_data") == (0,)
    assert _one(pg, "SELECT device_id, status FROM sessions") == (BOX, "active")
