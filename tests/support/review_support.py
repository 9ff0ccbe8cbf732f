"""Test data for the review pages: simulated sets analysed by the box's own analysis, written
into PostgreSQL in the seed schema (sessions, sensor_data chunks, performance_metrics,
feedback, rep_metrics) the way a synced box leaves them. Used where a test needs exact control
over athletes, dates and loads; the browser test syncs through the real box path instead."""
from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta
from typing import Any, Sequence

from models.analysis import analyze_frames
from models.feedback_text import rep_feedback, set_feedback
from sensors.frame import Frame
from sensors.simulator import simulate_set
from sync.chunks import (
    DEFAULT_DECIMALS,
    DEFAULT_RESOLUTION,
    chunk_to_json,
    encode_chunk,
    encode_counts_chunk,
)

CHUNK_S = 1.0


def add_user(conn: Any, role: str, email: str, first: str = "Test", last: str = "User") -> str:
    with conn.cursor() as cur:
        cur.execute("INSERT INTO users (first_name, last_name, email, role) VALUES (%s, %s, %s, %s)"
                    " RETURNING id::text", (first, last, email, role))
        uid = cur.fetchone()[0]
    conn.commit()
    return uid


def chunks_of(frames: Sequence[Frame], chunk_s: float = CHUNK_S) -> list[dict[str, Any]]:
    """The box's chunking: one chunk per source per ``chunk_s`` of monotonic time. The first
    half of the session's chunks are version 1 (as boxes stored them before version 2), the
    rest version 2, so every page and export reads both."""
    by_key: dict[tuple[str, int], list[Frame]] = {}
    t0 = min(f.mono_ns for f in frames)
    for f in frames:
        by_key.setdefault((f.source, int((f.mono_ns - t0) / (chunk_s * 1e9))), []).append(f)
    runs = [v for _, v in sorted(by_key.items(), key=lambda kv: (kv[0][1], kv[0][0]))]
    half = len(runs) // 2
    return ([encode_chunk(v, DEFAULT_DECIMALS) for v in runs[:half]]
            + [encode_counts_chunk(v, DEFAULT_RESOLUTION) for v in runs[half:]])


def insert_session(conn: Any, athlete_id: str | None, *, lift: str = "squat",
                   started_at: datetime | None = None, status: str = "ended",
                   device_id: str = "box-1", trainer_id: str | None = None,
                   chunks: Sequence[dict[str, Any]] = (), reps: Sequence[dict[str, Any]] = (),
                   scores: tuple[float, float, float] | None = (80.0, 75.0, 0.2),
                   set_text: str | None = "Set done.", notes: Sequence[str] = ()) -> str:
    """One session with its rows; ``reps`` items: number, metrics, balance, stability, risk,
    text. Returns the session id."""
    sid = str(uuid.uuid4())
    started_at = started_at or datetime(2026, 11, 30, 9, 0)
    with conn.cursor() as cur:
        cur.execute("INSERT INTO devices (device_id) VALUES (%s) ON CONFLICT (device_id) DO "
                    "UPDATE SET last_seen = now()", (device_id,))
        cur.execute("INSERT INTO sessions (id, athlete, trainer, lift_type, status, started_at, "
                    "ended_at, device_id) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                    (sid, athlete_id, trainer_id, lift, status, started_at,
                     None if status == "active" else started_at + timedelta(minutes=2),
                     device_id))
        first_chunk = None
        for seq, chunk in enumerate(chunks):
            cid = str(uuid.uuid4())
            first_chunk = first_chunk or cid
            last_ns = chunk["t0_ns"] + (chunk["dt_ns"] * (chunk["n"] - 1)
                                        if isinstance(chunk.get("dt_ns"), int) else 0)
            cur.execute("INSERT INTO sensor_data (id, athlete, session, raw_data, chunk_seq, "
                        "mono_start_ns, mono_end_ns) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                        (cid, athlete_id, sid, chunk_to_json(chunk), seq, chunk["t0_ns"],
                         last_ns))
        for rep in reps:
            cur.execute("INSERT INTO rep_metrics (id, session_id, rep_number, metrics, "
                        "balance_score, stability_score, injury_risk, feedback_text) "
                        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                        (str(uuid.uuid4()), sid, rep["number"],
                         json.dumps(rep["metrics"], allow_nan=False), rep.get("balance"),
                         rep.get("stability"), rep.get("risk"), rep.get("text")))
        metrics_id = feedback_id = None
        if scores is not None:
            metrics_id = str(uuid.uuid4())
            cur.execute("INSERT INTO performance_metrics (id, session, balance_score, "
                        "stability_score, injury_risk) VALUES (%s, %s, %s, %s, %s)",
                        (metrics_id, sid, *scores))
            for k, text in enumerate(notes):
                cur.execute("INSERT INTO feedback (id, session, metrics_id, feedback_text, "
                            "created_at) VALUES (%s, %s, %s, %s, %s)",
                            (str(uuid.uuid4()), sid, metrics_id, text,
                             started_at + timedelta(seconds=k + 1)))
            if set_text is not None:
                feedback_id = str(uuid.uuid4())
                cur.execute("INSERT INTO feedback (id, session, metrics_id, feedback_text, "
                            "created_at) VALUES (%s, %s, %s, %s, %s)",
                            (feedback_id, sid, metrics_id, set_text,
                             started_at + timedelta(minutes=2)))
        cur.execute("UPDATE sessions SET sensor_data_id = %s, performance_metric_id = %s, "
                    "feedback_id = %s WHERE id = %s", (first_chunk, metrics_id, feedback_id, sid))
    conn.commit()
    return sid


def _clean(values: dict[str, Any]) -> dict[str, Any]:
    return {k: (None if isinstance(v, float) and v != v else v) for k, v in values.items()}


def simulated_session(conn: Any, athlete_id: str | None, *, lift: str = "squat", reps: int = 5,
                      faults: dict[int, str] | None = None, seed: int = 7,
                      load_kg: float | None = 60.0, **kwargs: Any) -> str:
    """A simulated set analysed with ``models.analysis`` and stored like a synced session
    (raw chunks, reps with their feedback, scores, set feedback)."""
    sim = simulate_set(lift=lift, reps=reps, faults=faults, seed=seed,
                       bar_load_kg=load_kg or 60.0)
    analysis = analyze_frames(sim.frames, lift)
    rows = []
    for k, rep in enumerate(analysis.reps):
        metrics = _clean(rep.as_dict())
        if load_kg is not None:
            metrics["bar_load_kg"] = load_kg
        rows.append({"number": rep.number, "metrics": metrics, "balance": rep.balance_score,
                     "stability": rep.stability_score, "risk": rep.injury_risk,
                     "text": rep_feedback(rep, earlier=analysis.reps[:k])})
    s = analysis.summary
    scores = (s.get("balance_score") or 0.0, s.get("stability_score") or 0.0,
              s.get("injury_risk") or 0.0)
    return insert_session(conn, athlete_id, lift=lift, chunks=chunks_of(sim.frames), reps=rows,
                          scores=scores, set_text=set_feedback(analysis.reps, s), **kwargs)


def ready(client: Any, url: str, timeout_s: float = 120.0) -> Any:
    """GET ``url`` until the session's display series is ready (the web app computes it in
    the background for a session synced without one: charts say "preparing" meanwhile)."""
    import time

    deadline = time.monotonic() + timeout_s
    while True:
        response = client.get(url)
        body = response.get_data()
        if b"preparing this chart" not in body and b"series-preparing" not in body:
            return response
        assert time.monotonic() < deadline, f"{url}: still preparing after {timeout_s} s"
        time.sleep(0.2)


# ---- long sessions (scripts/bench-web and the browser test) -------------------------------

def analysed_set(seed: int = 5) -> tuple[list[dict], list[dict], list[dict], dict]:
    """One analysed 8-rep squat set: its chunks, the first (bar racked) chunk per source, its
    rep rows (number, metrics, balance, stability, risk, text) and the summary."""
    sim = simulate_set(lift="squat", reps=8, faults={5: "lateral_sway"}, seed=seed)
    analysis = analyze_frames(sim.frames, "squat")
    chunks = chunks_of(sim.frames)
    rest: dict[str, dict] = {}
    for c in chunks:
        rest.setdefault(c["source"], c)
    reps = [{"number": r.number, "metrics": _clean(r.as_dict()), "balance": r.balance_score,
             "stability": r.stability_score, "risk": r.injury_risk,
             "text": rep_feedback(r, earlier=analysis.reps[:k])}
            for k, r in enumerate(analysis.reps)]
    return chunks, list(rest.values()), reps, analysis.summary


def shifted(chunk: dict[str, Any], offset_ns: int, seq_offset: int) -> dict[str, Any]:
    c = dict(chunk)
    c["t0_ns"] = chunk["t0_ns"] + offset_ns
    c["wall_t0"] = chunk["wall_t0"] + offset_ns / 1e9
    c["seq0"] = chunk["seq0"] + seq_offset
    return c


def iter_session_chunks(set_chunks: list[dict], rest_chunks: list[dict], seconds: int,
                        set_every_s: int):
    """``seconds`` of one-second chunks per source: the set at the start of every
    ``set_every_s``, racked-bar chunks in between, timestamps and sequence numbers shifted so
    they run on as a box's would."""
    set_s = max(c["t0_ns"] for c in set_chunks) // 1_000_000_000 + 1
    seqs = {"imu": 0, "platform": 0}
    for second in range(seconds):
        block, within = divmod(second, set_every_s)
        if within < set_s:
            for c in (c for c in set_chunks if c["t0_ns"] // 1_000_000_000 == within):
                yield shifted(c, block * set_every_s * 1_000_000_000, seqs[c["source"]] - c["seq0"])
                seqs[c["source"]] += c["n"]
        else:
            for c in rest_chunks:
                yield shifted(c, second * 1_000_000_000 - c["t0_ns"], seqs[c["source"]] - c["seq0"])
                seqs[c["source"]] += c["n"]


def insert_long_session(conn: Any, athlete_id: str, trainer_id: str | None, seconds: int, *,
                        set_every_s: int = 360, started_at: datetime | None = None,
                        device_id: str = "bench-box") -> tuple[str, int]:
    """A ``seconds``-long session of a simulated 8-rep set every ``set_every_s`` (the bar
    racked in between), stored as a box syncs it but without its display-series record
    (a session synced before boxes built them): returns (session id, reps)."""
    from psycopg2.extras import execute_values

    set_chunks, rest_chunks, reps, summary = analysed_set()
    sid, mid, fid = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
    t = started_at or datetime(2026, 6, 1, 7, 0)
    sql = ("INSERT INTO sensor_data (id, athlete, session, raw_data, chunk_seq, mono_start_ns, "
           "mono_end_ns) VALUES %s")
    with conn.cursor() as cur:
        cur.execute("INSERT INTO devices (device_id) VALUES (%s) ON CONFLICT (device_id) DO "
                    "NOTHING", (device_id,))
        cur.execute("INSERT INTO sessions (id, athlete, trainer, lift_type, status, started_at, "
                    "ended_at, device_id) VALUES (%s, %s, %s, 'squat', 'ended', %s, %s, %s)",
                    (sid, athlete_id, trainer_id, t, t + timedelta(seconds=seconds), device_id))
        batch: list[tuple] = []
        for i, c in enumerate(iter_session_chunks(set_chunks, rest_chunks, seconds,
                                                  set_every_s)):
            batch.append((str(uuid.uuid4()), athlete_id, sid, chunk_to_json(c), i, c["t0_ns"],
                          c["t0_ns"] + 999_000_000))
            if len(batch) == 2000:
                execute_values(cur, sql, batch, page_size=500)
                batch = []
        if batch:
            execute_values(cur, sql, batch, page_size=500)
        rows = []
        for block in range(seconds // set_every_s):
            for r in reps:
                m = dict(r["metrics"])
                for key in ("start_s", "bottom_s", "end_s"):
                    m[key] = m[key] + block * set_every_s
                rows.append((str(uuid.uuid4()), sid, block * len(reps) + r["number"],
                             json.dumps(m), r["balance"], r["stability"], r["risk"], r["text"]))
        execute_values(cur, "INSERT INTO rep_metrics (id, session_id, rep_number, metrics, "
                            "balance_score, stability_score, injury_risk, feedback_text) "
                            "VALUES %s", rows)
        cur.execute("INSERT INTO performance_metrics (id, session, balance_score, "
                    "stability_score, injury_risk) VALUES (%s, %s, %s, %s, %s)",
                    (mid, sid, summary["balance_score"], summary["stability_score"],
                     summary["injury_risk"]))
        cur.execute("INSERT INTO feedback (id, session, metrics_id, feedback_text) VALUES "
                    "(%s, %s, %s, 'Sets of 8 squats.')", (fid, sid, mid))
        cur.execute("UPDATE sessions SET performance_metric_id = %s, feedback_id = %s "
                    "WHERE id = %s", (mid, fid, sid))
    conn.commit()
    return sid, len(rows)
