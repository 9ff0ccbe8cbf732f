"""Session commands on real Mosquitto (the shipped ACL, a password file) and PostgreSQL: a
daemon on the simulator starts and ends sessions by command over MQTT and by the direct poll;
expired, spoofed and duplicate commands are not acted on. The server side is `liftguard
ingest` started by its command (it records the acknowledgements)."""
from __future__ import annotations

import threading

import pytest

from sync.mqtt_publisher import make_client
from sync.session_command_mqtt import BoxCommandClient, CommandPublisher
from sync.session_command_store import insert_command
from sync.session_commands import command_topic
from tests.support.command_support import (
    DEVICE,
    add_device,
    add_user,
    command_box,
    command_status,
    end_command,
    login,
    mqtt_box,
    shipped_broker,
    start_command,
    stop_all,
    wait_settled,
)
from tests.support.daemon_helpers import wait_for
from tests.support.deployed import Deployment
from tests.support.sync_support import migrated


@pytest.fixture
def pg(pg_db):
    conn = migrated(pg_db)
    conn.autocommit = False
    add_device(conn)
    yield conn
    conn.close()


@pytest.fixture
def people(pg):
    return add_user(pg, "athlete"), add_user(pg, "trainer")


def _issue(pg, web, cmd, issued_by):
    insert_command(pg, cmd, issued_by["id"])
    pg.commit()
    web.publish(cmd)


def test_mqtt_start_and_end_on_a_simulated_box(tmp_path, pg, pg_db, people, mosquitto_factory,
                                               monkeypatch):
    athlete, trainer = people
    broker = shipped_broker(mosquitto_factory)
    server = Deployment.install(pg_db, mosquitto_factory, tmp_path / "server", broker)
    server.start_ingest()
    web = CommandPublisher(login(broker, "liftguard-web"), "web-1")
    web.start()
    assert web.wait_ready(10)
    box = mqtt_box(tmp_path, broker, monkeypatch, reps=4)
    try:
        start = start_command(athlete, trainer)
        _issue(pg, web, start, trainer)
        wait_for(lambda: box.sessions.active_id == start.session_id, 10, "the session to start")
        assert wait_settled(pg, start.id) == ("done", f"session {start.session_id} started")

        busy = start_command(athlete, trainer)
        _issue(pg, web, busy, trainer)
        status, reason = wait_settled(pg, busy.id)
        assert status == "refused" and f"session {start.session_id} is still active" in reason
        assert box.sessions.active_id == start.session_id

        wait_for(box.sources_finished, 60, "the simulated set to finish")
        end = end_command(start.session_id)
        _issue(pg, web, end, trainer)
        assert wait_settled(pg, end.id)[0] == "done"
        box.sessions.wait_idle(60)

        def synced():
            with pg.cursor() as cur:
                cur.execute("SELECT status, athlete::text, performance_metric_id IS NOT NULL, "
                            "feedback_id IS NOT NULL FROM sessions WHERE id = %s",
                            (start.session_id,))
                row = cur.fetchone()
            pg.rollback()
            return row if row and row[2] and row[3] else None
        assert wait_for(synced, 60, "the analysed session in PostgreSQL") == \
            ("ended", athlete["id"], True, True)
        with pg.cursor() as cur:
            cur.execute("SELECT count(*) FROM rep_metrics WHERE session_id = %s",
                        (start.session_id,))
            assert cur.fetchone()[0] >= 1
        pg.rollback()
    finally:
        box.stop()
        web.stop()
        assert server.stop() == {"ingest": 0}


def test_a_start_that_expired_while_the_broker_was_down_is_ignored(tmp_path, pg, pg_db, people,
                                                                   mosquitto_factory):
    athlete, trainer = people
    broker = shipped_broker(mosquitto_factory)
    server = Deployment.install(pg_db, mosquitto_factory, tmp_path / "server", broker)
    server.start_ingest()
    handled = []
    from edge_agent.daemon.session_commands import BoxCommands
    box = command_box(tmp_path, {"mode": "off"})
    commands = BoxCommands(box.sessions, DEVICE, tmp_path)
    client = BoxCommandClient(login(broker, DEVICE), DEVICE,
                              lambda p: handled.append(p) or commands.handle_payload(p))
    client.start()
    web = CommandPublisher(login(broker, "liftguard-web"), "web-1")
    web.start()
    try:
        assert client.wait_ready(10) and web.wait_ready(10)
        broker.stop()
        cmd = start_command(athlete, trainer, ttl_s=0.5)
        _issue(pg, web, cmd, trainer)          # paho keeps the QoS 1 message until it reconnects
        wait_for(lambda: not web.ready.is_set(), 10, "the web client to notice")
        threading.Event().wait(1.0)
        broker.start()
        status, reason = wait_settled(pg, cmd.id, 60)
        assert status == "expired" and "after its expiry" in reason
        assert len(handled) == 1 and box.sessions.active_id is None
    finally:
        stop_all(client, web, box)
        server.stop()
        commands.close()


def test_the_broker_refuses_commands_from_a_box_login(tmp_path, pg, people, mosquitto_factory):
    athlete, trainer = people
    broker = shipped_broker(mosquitto_factory)
    got = []
    box1 = BoxCommandClient(login(broker, DEVICE), DEVICE, lambda p: got.append(p))
    box1.start()
    spoofer, props = make_client(login(broker, "box-2"), "spoofer")
    reasons = {}
    spoofer.on_publish = lambda c, u, mid, rc, p: reasons.__setitem__(mid, rc)
    spoofer.connect(broker.host, broker.port, properties=props)
    spoofer.loop_start()
    web = CommandPublisher(login(broker, "liftguard-web"), "web-1")
    web.start()
    try:
        assert box1.wait_ready(10) and web.wait_ready(10)
        spoofs = [spoofer.publish(command_topic(d), start_command(athlete, trainer, d).encode(),
                                  qos=1) for d in (DEVICE, "box-2")]
        wait_for(lambda: len(reasons) == 2, 10, "the broker's answer to the spoofed publishes")
        assert all(reasons[s.mid].value == 0x87 for s in spoofs), reasons   # not authorised
        genuine = start_command(athlete, trainer)
        web.publish(genuine)
        wait_for(lambda: got, 10, "the genuine command")
        assert got == [genuine.encode()], "only the web app's command reached the box"
        # and box-1's login never reads box-2's commands (Mosquitto grants the subscription
        # but delivers nothing the ACL forbids)
        peeked = []
        peek = BoxCommandClient(login(broker, DEVICE), "box-2", lambda p: peeked.append(p),
                                client_id="box-1-peeking")
        peek.start()
        box2 = BoxCommandClient(login(broker, "box-2"), "box-2", lambda p: got.append(p))
        box2.start()
        assert peek.wait_ready(10) and box2.wait_ready(10)
        for_box2 = start_command(athlete, trainer, device="box-2")
        web.publish(for_box2)
        wait_for(lambda: len(got) == 2, 10, "box-2's command at box-2")
        assert got[1] == for_box2.encode() and peeked == []
        stop_all(peek, box2)
    finally:
        spoofer.loop_stop()
        spoofer.disconnect()
        stop_all(box1, web)


def test_direct_mode_polls_its_commands_and_a_duplicate_acts_once(tmp_path, pg, pg_db, people):
    athlete, trainer = people
    box = command_box(tmp_path, {"mode": "direct", "interval_s": 0.1},
                      database={"dsn": pg_db.dsn})
    try:
        other = start_command(athlete, trainer, device="box-2")
        add_device(pg, "box-2")
        insert_command(pg, other, trainer["id"])
        cmd = start_command(athlete, trainer)
        insert_command(pg, cmd, trainer["id"])
        pg.commit()
        assert wait_settled(pg, cmd.id)[0] == "done"
        assert box.sessions.active_id == cmd.session_id
        assert command_status(pg, other.id) == ("pending", None), "not this box's command"
        box.sessions.end(cmd.session_id, "api")
        with pg.cursor() as cur:            # delivered again (e.g. an ack that was lost)
            cur.execute("UPDATE session_commands SET status = 'pending' WHERE id = %s", (cmd.id,))
        pg.commit()
        assert wait_settled(pg, cmd.id)[0] == "done"
        assert box.sessions.active_id is None, "the repeated start did not act again"
        assert box.command_runner.commands.acted == 1
    finally:
        box.stop()
