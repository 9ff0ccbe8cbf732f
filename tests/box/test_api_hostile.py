"""The local API under hostile clients, on real daemon components and a real SQLite store:
invalid strings never cost a stored session, every error is JSON, slow or half-sent requests
are cut off, threads are bounded, query parameters are checked."""
from __future__ import annotations

import json
import socket
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge_agent.daemon import api_server
from edge_agent.daemon.api import _Handler
from liftguard.box import box_daemon
from tests.support.daemon_helpers import NO_PINS, call, config, free_port, wait_for


@pytest.fixture(scope="module")
def daemon(tmp_path_factory):
    cfg = config(tmp_path_factory.mktemp("api"), api={"port": free_port()}, feedback=NO_PINS,
                 store={"commit_interval_s": 0.05})
    d = box_daemon(cfg, sources=[])
    d.start(live=False)
    yield d
    d.stop()


def raw_request(daemon, data: bytes, *, read_s: float = 5.0) -> bytes:
    host, port = daemon.api.server.server_address[:2]
    with socket.create_connection((host, port), timeout=read_s) as s:
        s.sendall(data)
        chunks = []
        try:
            while chunk := s.recv(65536):
                chunks.append(chunk)
        except (TimeoutError, ConnectionResetError):
            pass
    return b"".join(chunks)


def split(response: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = response.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
    return int(lines[0].split()[1]), headers, body


def start_and_end_one_session(daemon, athlete: str = "ann@example.org") -> str:
    status, body = call(daemon.api.url, "POST", "/sessions",
                        {"lift_type": "squat", "athlete": athlete, "trainer": "bob"})
    assert status == 201, body
    sid = body["id"]
    assert call(daemon.api.url, "POST", f"/sessions/{sid}/end")[0] == 200
    daemon.sessions.wait_idle(30)
    assert daemon.store.flush(10)
    stored = daemon.store.get_session(sid)
    assert stored is not None and stored["athlete"] == athlete and stored["status"] == "ended"
    return sid


def assert_healthy(daemon) -> None:
    st_ = call(daemon.api.url, "GET", "/status")[1]
    assert st_["threads_dead"] == [] and st_["store"]["writer_alive"]
    assert st_["store"]["rejected_rows"] == 0


BAD_BODIES = [
    (b'{"lift_type": "squat", "athlete": "bob", "trainer": "\\ud800"}', "lone surrogate"),
    (b'{"lift_type": "squat", "athlete": "b\\u0000ob"}', "control character U+0000"),
    (b'{"lift_type": "squat", "athlete": "' + b"a" * 300 + b'"}', "300 characters long"),
    (b'{"lift_type": "squat", "athlete": "bob", "x": ' + b"[" * 5000 + b"]" * 5000 + b"}",
     "nested more than"),
    (b'{"lift_type": "squat", "athlete": "bob", "n": ' + b"7" * 4000 + b"}", "4000 characters"),
    (b'{"lift_type": "squat", "athlete": "bob", "n": 1e999}', "out of range"),
    (b'{"lift_type": "squat", "athlete": "bob", "n": NaN}', "NaN"),
    (b'{"lift_type": "squat", "athlete": "\xff"}', "not UTF-8"),
]


@pytest.mark.parametrize("raw, words", BAD_BODIES, ids=[
    "surrogate", "nul", "long", "deep", "digits", "1e999", "nan", "latin1"])
def test_invalid_strings_never_cost_a_stored_session(daemon, raw, words):
    status, err = call(daemon.api.url, "POST", "/sessions", raw=raw)
    assert status == 400 and words in err["error"], err
    assert daemon.sessions.active_id is None
    start_and_end_one_session(daemon)
    assert_healthy(daemon)


TEXT = st.text(alphabet=st.one_of(
    st.characters(), st.integers(0xD800, 0xDFFF).map(chr),   # lone surrogates too
    st.sampled_from(["\x00", "\x1b", "\x7f", "\u0085", "@", " "])), max_size=300)


@given(athlete=TEXT, trainer=st.one_of(st.none(), TEXT), lift=st.sampled_from(
    ["squat", "deadlift", "bench_press", "curl", ""]))
def test_any_session_body_is_stored_whole_or_refused_with_400(daemon, athlete, trainer, lift):
    raw = json.dumps({"lift_type": lift, "athlete": athlete, "trainer": trainer}).encode()
    status, body = call(daemon.api.url, "POST", "/sessions", raw=raw)
    assert status in (201, 400, 422), body
    if status == 201:
        sid = body["id"]
        assert call(daemon.api.url, "POST", f"/sessions/{sid}/end")[0] == 200
        daemon.sessions.wait_idle(30)
        assert daemon.store.flush(10)
        stored = daemon.store.get_session(sid)
        sent = json.loads(raw)   # JSON joins an escaped surrogate pair into one character
        assert stored["athlete"] == sent["athlete"] and stored["trainer"] == sent["trainer"]
    else:
        assert isinstance(body["error"], str) and daemon.sessions.active_id is None
    start_and_end_one_session(daemon)
    assert_healthy(daemon)


@pytest.mark.parametrize("request_bytes, code", [
    (b"GARBAGE\r\n\r\n", 400),
    (b"GET /status HTTP/9.9\r\n\r\n", 505),
    (b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\n\r\n", 414),
    (b"GET /status HTTP/1.1\r\nX-Long: " + b"a" * 70_000 + b"\r\n\r\n", 431),
    (b"GET /status HTTP/1.1\r\n" + b"".join(b"X-%d: 1\r\n" % i for i in range(150)) + b"\r\n",
     431),
    (b"BREW /status HTTP/1.1\r\n\r\n", 501),
    (b"OPTIONS /status HTTP/1.1\r\n\r\n", 405),
    (b"POST /sessions HTTP/1.1\r\nContent-Length: -5\r\n\r\n", 400),
    (b"POST /sessions HTTP/1.1\r\nContent-Length: " + b"9" * 5000 + b"\r\n\r\n", 400),
])
def test_every_error_is_json(daemon, request_bytes, code):
    status, headers, body = split(raw_request(daemon, request_bytes))
    assert status == code
    assert headers["Content-Type"] == "application/json"
    assert isinstance(json.loads(body)["error"], str)


def test_head_answers_headers_only(daemon):
    status, headers, body = split(raw_request(
        daemon, b"HEAD /status HTTP/1.1\r\nConnection: close\r\n\r\n"))
    assert status == 200 and int(headers["Content-Length"]) > 0 and body == b""


def test_sessions_filter_by_athlete_and_unknown_parameters(daemon):
    mine = start_and_end_one_session(daemon, "filter-me@example.org")
    start_and_end_one_session(daemon, "someone-else@example.org")
    status, body = call(daemon.api.url, "GET", "/sessions?athlete=filter-me%40example.org")
    assert status == 200 and [s["id"] for s in body["sessions"]] == [mine]
    status, err = call(daemon.api.url, "GET", "/sessions?athelete=x")
    assert status == 400 and "'athelete'" in err["error"] and "athlete" in err["error"]
    assert call(daemon.api.url, "GET", "/status?verbose=1")[0] == 400


def test_a_half_sent_request_is_cut_off_and_the_api_goes_on(daemon, monkeypatch):
    monkeypatch.setattr(_Handler, "timeout", 0.5)
    t0 = time.monotonic()
    answer = raw_request(daemon, b"POST /sessions HTTP/1.1\r\nContent-Length: 100\r\n\r\n{\"li",
                         read_s=10)
    assert answer == b"" and time.monotonic() - t0 < 5   # closed by the server, not by us
    assert call(daemon.api.url, "GET", "/status")[0] == 200


def test_a_dripping_client_is_cut_off_at_the_connection_deadline(daemon, monkeypatch):
    monkeypatch.setattr(daemon.api.server, "connection_deadline_s", 1.0)
    host, port = daemon.api.server.server_address[:2]
    with socket.create_connection((host, port), timeout=10) as s:
        s.sendall(b"GET /status HTTP/1.1\r\n")
        closed = False
        for _ in range(40):
            try:
                s.sendall(b"X: 1\r\n")
                if s.recv(1, socket.MSG_DONTWAIT) == b"":
                    closed = True
                    break
            except BlockingIOError:
                pass
            except OSError:
                closed = True
                break
            time.sleep(0.2)
    assert closed and daemon.api.server.cut_off >= 1
    status, body = call(daemon.api.url, "GET", "/status")
    assert status == 200 and body["api"]["connections_cut_off"] >= 1


def test_threads_are_bounded_and_the_excess_gets_503_json(tmp_path):
    cfg = config(tmp_path, api={"port": free_port()}, feedback=NO_PINS)
    d = box_daemon(cfg, sources=[], api=False)
    from edge_agent.daemon.api import LocalApi

    api = LocalApi(d.sessions, d.status, port=free_port(), max_threads=2)
    api.start()
    host, port = api.server.server_address[:2]
    idle = [socket.create_connection((host, port), timeout=5) for _ in range(2)]
    try:
        wait_for(lambda: api.server.in_progress == 2, what="both slots taken")
        status, headers, body = split(raw_request(type("D", (), {"api": api}),
                                                  b"GET /status HTTP/1.1\r\n\r\n"))
        assert status == 503 and "try again" in json.loads(body)["error"]
        assert api.server.refused_busy == 1
    finally:
        for s in idle:
            s.close()
        wait_for(lambda: api.server.in_progress == 0, what="slots released")
        assert call(api.url, "GET", "/status")[0] == 200
        api.close()
        d.close()
    assert api_server.MAX_THREADS >= 2


NUMBERS = st.one_of(st.none(), st.booleans(), st.integers(-10**4, 10**4),
                    st.floats(allow_nan=False, allow_infinity=False, width=32),
                    st.text(max_size=4), st.just([]))


@given(load=NUMBERS, limit=NUMBERS)
def test_entered_load_and_velocity_limit_are_checked_by_name(daemon, load, limit):
    raw = json.dumps({"lift_type": "squat", "athlete": "ann@example.org",
                      "bar_load_kg": load, "velocity_loss_limit_pct": limit}).encode()
    status, body = call(daemon.api.url, "POST", "/sessions", raw=raw)

    def ok(v, lo, hi, low_open):
        return v is None or (not isinstance(v, bool) and isinstance(v, (int, float))
                             and (lo < v if low_open else lo <= v) and v <= hi)
    valid = ok(load, 0, 500, True) and ok(limit, 1, 90, False)
    if valid:
        assert status == 201, body
        assert call(daemon.api.url, "POST", f"/sessions/{body['id']}/end")[0] == 200
        daemon.sessions.wait_idle(30)
    else:
        assert status == 400, body
        first_bad = "'bar_load_kg'" if not ok(load, 0, 500, True) else "'velocity_loss_limit_pct'"
        assert first_bad in body["error"], body
        assert daemon.sessions.active_id is None
    start_and_end_one_session(daemon)
    assert_healthy(daemon)
