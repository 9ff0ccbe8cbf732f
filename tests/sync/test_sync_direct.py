"""Direct sync (psycopg2) against a real PostgreSQL: contents, idempotency, outage, poison."""
from __future__ import annotations

import psycopg2

from edge_agent.store import LocalStore
from sync.direct import DirectSink, PgWriter
from sync.worker import Backoff, SyncState, SyncWorker
from tests.support.sync_support import (
    DEVICE,
    assert_same_contents,
    box_counts,
    pg_counts,
    record_session,
)


def _worker(store, pg_db, tmp_path, batch_size=50):
    sink = DirectSink(PgWriter(lambda: psycopg2.connect(pg_db.dsn)), DEVICE)
    return SyncWorker(store, sink, batch_size=batch_size, state_path=tmp_path / "state.json",
                      backoff=Backoff(0.01, 0.05))


def test_full_session_synced_directly_equals_the_box(pg, pg_db, tmp_path):
    with LocalStore(tmp_path / "box", DEVICE) as store:
        with pg.cursor() as cur:
            cur.execute("INSERT INTO users (first_name, last_name, email, role) "
                        "VALUES ('Ann', 'Lee', 'ann@example.org', 'athlete') RETURNING id::text")
            ann = cur.fetchone()[0]
        record_session(store, seconds=20, reps=3, athlete="Ann@Example.org")
        worker = _worker(store, pg_db, tmp_path)
        report = worker.drain_once()
        assert report.error is None and store.backlog() == {}
        counts = box_counts(store.path)
        assert pg_counts(pg) == {**counts, "duplicate_chunks": 0}
        assert counts["sensor_data"] == 40 and counts["frames"] == 20 * 280
        assert_same_contents(store.path, pg)
        with pg.cursor() as cur:
            cur.execute("SELECT athlete::text, athlete_email FROM sessions")
            assert cur.fetchone() == (ann, "Ann@Example.org")
            cur.execute("SELECT DISTINCT athlete::text FROM sensor_data")
            assert cur.fetchall() == [(ann,)]
        state = SyncState.load(tmp_path / "state.json")
        assert state.last_success is not None and state.rows_synced == report.sent


def test_replaying_everything_adds_nothing(pg, pg_db, tmp_path):
    with LocalStore(tmp_path / "box", DEVICE) as store:
        record_session(store, seconds=5)
        entries = store.pending(1000)
        sink = DirectSink(PgWriter(lambda: psycopg2.connect(pg_db.dsn)), DEVICE)
        for _ in range(3):  # as if every ack had been lost twice
            done, deferred = sink.send(entries)
            assert sorted(done) == sorted(e.id for e in entries) and deferred == []
        assert pg_counts(pg) == {**box_counts(store.path), "duplicate_chunks": 0}


def test_postgres_restarted_mid_drain_loses_and_duplicates_nothing(pg, pg_db, pg_server,
                                                                      tmp_path):
    with LocalStore(tmp_path / "box", DEVICE) as store:
        record_session(store, seconds=30)
        worker = _worker(store, pg_db, tmp_path, batch_size=10)
        entries = store.pending(10)
        done, _ = worker.sink.send(entries)
        store.ack(done)
        pg.close()
        pg_server.stop("immediate")  # a crash: in-flight transactions are lost
        report = worker.drain_once()
        assert report.error is not None and "PostgreSQL" in report.error
        assert SyncState.load(tmp_path / "state.json").last_error == report.error
        assert sum(store.backlog().values()) > 0
        assert not {e.id for e in store.pending(1000)} & set(done)
        pg_server.start()
        report = worker.drain_once()
        assert report.error is None and store.backlog() == {}
        conn = psycopg2.connect(pg_db.dsn)
        try:
            assert pg_counts(conn) == {**box_counts(store.path), "duplicate_chunks": 0}
            assert_same_contents(store.path, conn)
        finally:
            conn.close()


def test_a_row_postgres_refuses_goes_to_dead_letters_and_the_rest_is_stored(pg, pg_db,
                                                                           tmp_path):
    with LocalStore(tmp_path / "box", DEVICE) as store:
        sid = record_session(store, seconds=3, reps=0, end=False)
        store.submit_rep(sid, 1, 0, 10, {"x": 1}, injury_risk=1.5)  # CHECK 0..1 in PostgreSQL
        store.submit_rep(sid, 2, 20, 30, {"x": 2}, injury_risk=0.5)
        store.flush()
        report = _worker(store, pg_db, tmp_path).drain_once()
        assert report.error is None and store.backlog() == {}
        with pg.cursor() as cur:
            cur.execute("SELECT rep_number FROM rep_metrics")
            assert [r[0] for r in cur.fetchall()] == [2]
            cur.execute("SELECT reason, convert_from(payload, 'UTF8') FROM dead_letters")
            (reason, payload), = cur.fetchall()
        assert "injury_risk" in reason and '"rep_number":1' in payload
        assert pg_counts(pg)["sensor_data"] == 6


def test_backoff_is_jittered_exponential_and_capped():
    draws = iter([1.0, 1.0, 1.0, 1.0, 0.5])
    b = Backoff(1.0, 4.0, rng=lambda: next(draws))
    assert [b.next_delay() for _ in range(5)] == [1.0, 2.0, 4.0, 4.0, 2.0]
    b.reset()
    assert Backoff(1.0, 4.0, rng=lambda: 0.25).next_delay() == 0.25


def test_roster_pulled_from_postgres(pg):
    from sync.roster import fetch_roster
    with pg.cursor() as cur:
        cur.execute("INSERT INTO users (first_name, last_name, email, role) VALUES "
                    "('Bo', 'Berg', 'bo@x.org', 'athlete'), ('Ada', 'Min', 'ada@x.org', 'admin') "
                    "RETURNING id::text")
        bo, ada = (r[0] for r in cur.fetchall())
    roster = fetch_roster(pg, 1.0)
    assert roster.resolve("BO@x.org").id == bo and roster.resolve(bo).name == "Bo Berg"
    assert (roster.resolve(ada).first_name, roster.resolve(ada).last_name,
            roster.resolve(ada).role) == ("Ada", "Min", "admin")
    assert roster.resolve("ada@x.org", role="athlete") is None
