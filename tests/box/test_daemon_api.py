"""Local API contract: every route, its answers and its errors, on a daemon fed by the simulator."""
from __future__ import annotations

import pytest

from edge_agent.daemon import DaemonError
from edge_agent.daemon.api import MAX_BODY_BYTES, LocalApi
from edge_agent.daemon.errors import ApiConfigError
from liftguard.box import box_daemon
from sensors.simulator import SimulatorSource
from tests.support.daemon_helpers import NO_PINS, call, config, free_port, wait_for


@pytest.fixture
def daemon(tmp_path):
    port = free_port()
    cfg = config(tmp_path, api={"port": port}, feedback=NO_PINS,
                 store={"commit_interval_s": 0.1})
    d = box_daemon(cfg, sources=[SimulatorSource(reps=20, realtime=True)])
    d.start()
    d.base = d.api.url
    yield d
    d.stop()


def test_session_lifecycle_and_reads(daemon):
    base = daemon.base
    status, body = call(base, "POST", "/sessions",
                        {"lift_type": "squat", "athlete": "ann@example.org", "trainer": "bob"})
    assert status == 201 and body["status"] == "active"
    sid = body["id"]
    status, again = call(base, "POST", "/sessions", {"lift_type": "squat", "athlete": "cy"})
    assert status == 409 and sid in again["error"]

    wait_for(lambda: call(base, "GET", "/status")[1]["session"]["last_committed_seq"]
             .get("imu", -1) > 0, what="committed frames")
    status, st = call(base, "GET", "/status")
    assert status == 200 and st["ready"] and st["session"]["id"] == sid
    assert {"sources", "drops", "model", "sync_backlog", "disk", "realtime"} <= set(st)
    assert st["model"]["bundle"].endswith("models/bundles/default")   # the shipped one
    assert "no model bundle installed" in st["model_reason"]
    assert st["sync_backlog"].get("sensor_data", 0) > 0   # stored rows wait for sync

    status, one = call(base, "GET", f"/sessions/{sid}")
    assert status == 200 and one["athlete"] == "ann@example.org" and one["trainer"] == "bob"
    status, listing = call(base, "GET", "/sessions?limit=5&status=active")
    assert status == 200 and [s["id"] for s in listing["sessions"]] == [sid]

    status, page1 = call(base, "GET", f"/sessions/{sid}/sensor_data?limit=1")
    assert status == 200 and len(page1["chunks"]) == 1 and page1["next_after"]
    status, page2 = call(base, "GET",
                         f"/sessions/{sid}/sensor_data?limit=1&after={page1['next_after']}")
    assert status == 200 and page2["chunks"][0]["id"] > page1["chunks"][0]["id"]
    assert page1["chunks"][0]["raw_data"]["n"] == page1["chunks"][0]["n_frames"]

    status, ended = call(base, "POST", f"/sessions/{sid}/end")
    assert status == 200 and ended["status"] == "ended" and ended["end_reason"] == "api"
    status, err = call(base, "POST", f"/sessions/{sid}/end")
    assert status == 409 and "not active" in err["error"]
    daemon.sessions.wait_idle(30)
    status, done = call(base, "GET", f"/sessions/{sid}")
    assert done["metrics_id"] and done["feedback_id"]
    assert done["performance_metrics"] and any(f["id"] == done["feedback_id"]
                                                for f in done["feedback"])


@pytest.mark.parametrize("body, raw, code, words", [
    (None, b"{not json", 400, "not valid JSON"),
    ({"lift_type": "squat", "athlete": "a", "colour": "red"}, None, 400, "unknown field(s) colour"),
    ({"lift_type": "curl", "athlete": "a"}, None, 422, "lift_type 'curl'"),
    ({"lift_type": "squat"}, None, 400, "missing field 'athlete'"),
    ({"lift_type": "squat", "athlete": 7}, None, 400, "'athlete' must be a string"),
    ([1, 2], None, 400, "JSON object"),
    (None, b"x" * (MAX_BODY_BYTES + 1), 413, "limit"),
])
def test_bad_session_requests(daemon, body, raw, code, words):
    status, err = call(daemon.base, "POST", "/sessions", body, raw=raw)
    assert status == code and words in err["error"]
    assert daemon.sessions.active_id is None


@pytest.mark.parametrize("method, path, code", [
    ("GET", "/nowhere", 404), ("DELETE", "/sessions", 405), ("POST", "/status", 405),
    ("GET", "/sessions/00000000-0000-0000-0000-000000000000", 404),
    ("POST", "/sessions/00000000-0000-0000-0000-000000000000/end", 404),
    ("GET", "/sessions/00000000-0000-0000-0000-000000000000/sensor_data", 404),
    ("GET", "/sessions?limit=0", 400), ("GET", "/sessions?limit=abc", 400),
    ("GET", "/sessions?status=maybe", 400),
])
def test_route_errors(daemon, method, path, code):
    status, err = call(daemon.base, method, path)
    assert status == code and err["error"]


def test_public_bind_needs_a_token(tmp_path):
    cfg = config(tmp_path, api={"bind": "0.0.0.0", "port": free_port()}, feedback=NO_PINS)
    with pytest.raises(DaemonError, match="api_token"):
        box_daemon(cfg, sources=[SimulatorSource(reps=1)])


def test_bearer_token_is_checked(daemon):
    api = LocalApi(daemon.sessions, daemon.status, bind="0.0.0.0", port=free_port(),
                   token="s3cret")
    api.start()
    try:
        base = f"http://127.0.0.1:{api.server.server_address[1]}"
        assert call(base, "GET", "/status")[0] == 401
        assert call(base, "GET", "/status", headers={"Authorization": "Bearer wrong"})[0] == 401
        status, st = call(base, "GET", "/status", headers={"Authorization": "Bearer s3cret"})
        assert status == 200 and st["ready"]
    finally:
        api.close()
    with pytest.raises(ApiConfigError):
        LocalApi(daemon.sessions, daemon.status, bind="0.0.0.0", port=free_port())
