"""Coach labels -> the box's athlete profile, on real PostgreSQL: the box pulls the labels of
its sessions, builds the athlete's overlay from the clean reps only, reports it, and uses it for
that athlete's next session and no one else's."""
from __future__ import annotations

import numpy as np

from edge_agent.daemon.profiles import ProfileRefresher
from edge_agent.daemon.session_commands import BoxCommands
from edge_agent.uplink import sync_runner
from edge_agent.uplink.session_command_runner import SessionCommandRunner
from liftguard.box import box_daemon
from liftguard.box import run_box_session as run_session
from liftguard.config import validate
from liftguard.secrets import secrets_for
from models import analyze_frames
from models.anomaly.overlay import load_overlay, overlay_dir
from models.anomaly.segments import rep_decisions
from sensors.simulator import SimulatorSource, simulate_set
from sync.labels import fetch_labels
from tests.support.command_support import BUNDLE, DEVICE, add_user, pg_row
from tests.support.daemon_helpers import NO_PINS
from tests.support.sync_support import migrated

HEAVY = {"athlete_mass_kg": 125.0, "bar_load_kg": 140.0}


def _cfg(tmp_path, dsn):
    return validate({"device": {"id": DEVICE, "data_dir": str(tmp_path / "box"),
                                "secrets_file": ""},
                     "daemon": {"model_bundle": str(BUNDLE)},
                     "feedback": {"console": False, **NO_PINS},
                     "database": {"dsn": dsn},
                     "sync": {"mode": "direct", "hold_unsynced_clock_s": 0}}, "<test>")


def _label(conn, sid, verdicts, by):
    with conn.cursor() as cur:
        for n, verdict in verdicts.items():
            cur.execute("INSERT INTO rep_labels (session_id, rep_number, verdict, labelled_by) "
                        "VALUES (%s, %s, %s, %s) ON CONFLICT (session_id, rep_number) DO UPDATE "
                        "SET verdict = EXCLUDED.verdict", (sid, n, verdict, by))
    conn.commit()


def _profile_row(conn, athlete_id):
    return pg_row(conn, "SELECT rep_count, session_count FROM athlete_profiles "
                        "WHERE athlete = %s", (athlete_id,))


def test_clean_labels_build_the_profile_used_for_that_athletes_next_session_only(tmp_path,
                                                                                  pg_db):
    pg = migrated(pg_db)
    pg.autocommit = False
    heavy, other, trainer = add_user(pg, "athlete"), add_user(pg, "athlete"), add_user(pg, "trainer")
    cfg = _cfg(tmp_path, pg_db.dsn)
    first = run_session(cfg, SimulatorSource(reps=6, seed=9, realtime=False, **HEAVY), "squat",
                        realtime=False, athlete=heavy["email"]).session_id
    outbox = sync_runner.OutboxFile(cfg.data_dir)
    try:
        assert sync_runner.direct_worker(cfg, secrets_for(cfg), outbox).drain_once().error is None
    finally:
        outbox.close()
    with pg.cursor() as cur:
        cur.execute("SELECT count(*) FROM rep_metrics r JOIN sessions s ON s.id = r.session_id "
                    "WHERE s.id = %s", (first,))
        n_reps = cur.fetchone()[0]
    pg.rollback()
    assert n_reps >= 4

    daemon = box_daemon(cfg, sources=[SimulatorSource(reps=1, realtime=False)], api=False,
                    console=False)
    runner = SessionCommandRunner(cfg, secrets_for(cfg), BoxCommands(daemon.sessions, DEVICE, cfg.data_dir),
                           ProfileRefresher(daemon.store, lambda: daemon.scorer.model,
                                            cfg.data_dir))
    directory = overlay_dir(cfg.data_dir / "athletes", heavy["email"], "squat")
    try:
        # unlabelled reps build nothing; two clean + the rest faults is below the minimum
        runner.poll_once()
        assert not directory.exists()
        _label(pg, first, {1: "clean", 2: "clean", **{n: "fault" for n in range(3, n_reps + 1)}},
               trainer["id"])
        runner.poll_once()
        assert not directory.exists() and _profile_row(pg, heavy["id"]) == (0, 0)

        _label(pg, first, {n: "clean" for n in range(1, n_reps)}, trainer["id"])  # last: fault
        runner.poll_once()
        assert _profile_row(pg, heavy["id"]) == (n_reps - 1, 1)
        model = daemon.scorer.model
        profile = load_overlay(directory, model)

        # the next session of that athlete uses it, another athlete's does not
        daemon.sessions.start("squat", heavy["email"], reason="command")
        daemon.loop._follow_session()
        np.testing.assert_allclose(daemon.scorer.profile.channel_offset, profile.channel_offset)
        daemon.sessions.end(None, "api")
        daemon.sessions.start("squat", other["email"], reason="command")
        daemon.loop._follow_session()
        assert daemon.scorer.profile is None
        daemon.sessions.end(None, "api")

        # and it changes the box's decisions on the heavy athlete's next clean set
        nxt = simulate_set("squat", reps=6, seed=31, **HEAVY)
        reps = analyze_frames(nxt.frames, "squat").reps
        base = [d.score for d in rep_decisions(model, nxt.frames, reps) if d is not None]
        tuned = [d.score for d in rep_decisions(model, nxt.frames, reps, profile) if d is not None]
        assert np.median(tuned) < np.median(base), "closer to clean against their own profile"
        assert runner.profiles.refresh(fetch_labels(pg, DEVICE)) == [], "unchanged labels rebuild nothing"
    finally:
        runner.stop()
        daemon.close()
        pg.close()
