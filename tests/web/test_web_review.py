"""The review pages (dashboard, session page and charts, sensor data and its recording CSV,
athlete trends, CSV exports) through the Flask test client on a real PostgreSQL, reached as
the web app's least-privilege role: every route for every role and a stranger, what each sees,
and the bounded number of queries per page."""
from __future__ import annotations

import csv
import dataclasses
import io
import uuid
from datetime import datetime, timedelta

import pytest

from coach import create_app
from coach.review.series_jobs import SERIES_JOBS
from sensors.recording import read_recording
from tests.support import query_counter
from tests.support.review_support import insert_session, ready, simulated_session
from tests.support.web_support import assign, login, settings_for


@pytest.fixture
def world(db_conn, make_user, login_as):
    """admin; trainer (assigned to Ann); other_trainer (no athletes); Ann with a simulated
    faulty squat set and a live session; Bob with one session; a stranger (not signed in)."""
    admin, trainer, other = make_user("admin"), make_user("trainer"), make_user("trainer")
    ann = make_user("athlete", first_name="Ann", last_name="=HYPERLINK(\"x\")")
    bob = make_user("athlete", first_name="Bob")
    assign(db_conn, trainer, ann)
    ann_session = simulated_session(db_conn, ann["id"], faults={3: "lateral_sway"},
                                    device_id="box-7",
                                    notes=["instability at 12.5 s: bar swaying sideways"])
    live = insert_session(db_conn, ann["id"], status="active", device_id="box-9",
                          started_at=datetime(2026, 12, 1, 9, 0), scores=None, set_text=None)
    bob_session = simulated_session(db_conn, bob["id"], seed=3, device_id="box-8")
    with db_conn.cursor() as cur:
        cur.execute("INSERT INTO dead_letters (device_id, reason, payload) VALUES "
                    "('box-7', 'rep_metrics row field ''rep_number'' is missing', 'x')")
    db_conn.commit()
    clients = {role: login_as(user=u)[0] for role, u in
               (("admin", admin), ("trainer", trainer), ("other_trainer", other),
                ("ann", ann), ("bob", bob))}
    return {"clients": clients, "users": {"admin": admin, "trainer": trainer, "ann": ann,
                                          "bob": bob, "other_trainer": other},
            "ann_session": ann_session, "live": live, "bob_session": bob_session}


SEES_ANN = {"admin": 200, "trainer": 200, "other_trainer": 404, "ann": 200, "bob": 404}
SESSION_ROUTES = ("/sessions/{}", "/sessions/{}/charts/displacement.svg",
                  "/sessions/{}/charts/cop.svg", "/sessions/{}/charts/tilt.svg",
                  "/sessions/{}/charts/raw.svg",
                  "/sessions/{}/sensor_data", "/sessions/{}/sensor_data?format=csv",
                  "/sessions/{}/reps.csv")


@pytest.mark.integration
def test_others_cannot_make_the_app_compute_a_session_series(world, db_conn):
    """Asking for a session's page or charts is what queues its display-series computation:
    a user who may not see the session (or nobody signed in) gets 404/302 and queues none."""
    for route in SESSION_ROUTES[:5]:
        url = route.format(world["ann_session"])
        assert world["clients"]["other_trainer"].get(url).status_code == 404
        assert world["clients"]["bob"].get(url).status_code == 404
    # queued, it would be busy until stored (and then its row exists): neither is the case
    assert not SERIES_JOBS.busy(world["ann_session"])
    with db_conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM session_series WHERE session = %s",
                    (world["ann_session"],))
        assert cur.fetchone()[0] == 0
    db_conn.commit()
    ready(world["clients"]["ann"], f"/sessions/{world['ann_session']}/charts/tilt.svg")
    with db_conn.cursor() as cur:
        cur.execute("SELECT source FROM session_series WHERE session = %s",
                    (world["ann_session"],))
        assert cur.fetchall() == [("web",)]
    db_conn.commit()


@pytest.mark.integration
def test_session_routes_answer_each_role_and_hide_other_athletes(world, web_app):
    for route in SESSION_ROUTES:
        url = route.format(world["ann_session"])
        for who, expected in SEES_ANN.items():
            assert world["clients"][who].get(url).status_code == expected, (who, url)
        stranger = web_app.test_client().get(url)
        assert stranger.status_code == 302 and "/login" in stranger.headers["Location"]
        for bad in ("not-a-uuid", str(uuid.uuid4()), "1' OR '1'='1", "x" * 300):
            assert world["clients"]["admin"].get(route.format(bad)).status_code == 404, bad
        bob_url = route.format(world["bob_session"])
        assert world["clients"]["bob"].get(bob_url).status_code == 200
        assert world["clients"]["ann"].get(bob_url).status_code == 404


@pytest.mark.integration
def test_session_page_has_summary_rep_table_faults_alerts_and_charts(world):
    page = world["clients"]["trainer"].get(f"/sessions/{world['ann_session']}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert html.count('<tr class="') == 5                  # five reps in the table
    assert "drifted" in html and "lateral" in html          # rep 3's fault, attributed
    assert "Set of 5 squats" in html                        # the set feedback text
    assert "12.5 s</span> live alert: bar swaying sideways" in html
    assert html.count("<svg") == 4 and "Velocity per rep" in html   # desktop + phone each
    assert html.count('class="chart for-phone"') == 2
    for name in ("displacement", "cop", "tilt"):
        assert f"/charts/{name}.svg" in html
        chart = ready(world["clients"]["trainer"],
                      f"/sessions/{world['ann_session']}/charts/{name}.svg")
        assert chart.mimetype == "image/svg+xml" and b"<svg" in chart.data and b"<path" in chart.data
        phone = world["clients"]["trainer"].get(
            f"/sessions/{world['ann_session']}/charts/{name}.svg?size=phone")
        assert b"for-phone" in phone.data and b'width="259.2pt"' in phone.data
    unknown = world["clients"]["trainer"].get(f"/sessions/{world['ann_session']}/charts/x.svg")
    assert unknown.status_code == 404


@pytest.mark.integration
def test_recording_csv_reads_back_as_the_synced_frames(world, db_conn, tmp_path):
    response = world["clients"]["ann"].get(f"/sessions/{world['ann_session']}/sensor_data?format=csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    path = tmp_path / "rec.csv"
    path.write_bytes(response.data)
    recording = read_recording(path)
    with db_conn.cursor() as cur:
        cur.execute("SELECT sum((raw_data->>'n')::int) FROM sensor_data WHERE session = %s",
                    (world["ann_session"],))
        assert len(recording.frames) == cur.fetchone()[0]
    assert set(recording.sources) == {"imu", "platform"}
    page = world["clients"]["ann"].get(f"/sessions/{world['ann_session']}/sensor_data")
    assert b"62 raw chunks" in page.data and b"/sensor_data/raw.svg?start=0&amp;end=" in page.data
    chart = ready(world["clients"]["ann"], f"/sessions/{world['ann_session']}/charts/raw.svg")
    assert b"corner force" in chart.data
    empty = world["clients"]["ann"].get(f"/sessions/{world['live']}/sensor_data?format=csv")
    assert empty.status_code == 404


@pytest.mark.integration
def test_dashboards_per_role(world):
    trainer = world["clients"]["trainer"].get("/dashboard").get_data(as_text=True)
    assert "Ann" in trainer and "Bob" not in trainer
    assert "box-9" in trainer and "Live now" in trainer          # the active session and its box
    assert f"/sessions/{world['ann_session']}" in trainer          # flagged: rep 3 has a fault
    other = world["clients"]["other_trainer"].get("/dashboard").get_data(as_text=True)
    assert "Ann" not in other and world["ann_session"] not in other
    admin = world["clients"]["admin"].get("/dashboard").get_data(as_text=True)
    for text in ("box-7", "box-8", "box-9", "Dead letters (1)", "rep_number", "athletes"):
        assert text in admin, text
    ann = world["clients"]["ann"].get("/dashboard").get_data(as_text=True)
    assert world["ann_session"] in ann and world["bob_session"] not in ann and "<svg" in ann


@pytest.mark.integration
def test_athlete_pages(world, web_app):
    ann_id, bob_id = world["users"]["ann"]["id"], world["users"]["bob"]["id"]
    for who, expected in SEES_ANN.items():
        assert world["clients"][who].get(f"/athletes/{ann_id}").status_code == expected, who
    assert world["clients"]["admin"].get("/athletes/nope").status_code == 404
    assert world["clients"]["admin"].get(f"/athletes/{ann_id}?lift=curl").status_code == 404
    assert web_app.test_client().get(f"/athletes/{ann_id}").status_code == 302
    listing = {who: world["clients"][who].get("/athletes") for who in SEES_ANN}
    assert listing["ann"].status_code == 403 and listing["bob"].status_code == 403
    assert b"Ann" in listing["trainer"].data and b"Bob" not in listing["trainer"].data
    assert b"Ann" in listing["admin"].data and b"Bob" in listing["admin"].data
    page = world["clients"]["trainer"].get(f"/athletes/{ann_id}").get_data(as_text=True)
    assert "Velocity across sessions" in page and "Load-velocity profile" in page
    assert "needs sessions at 3 or more different bar loads" in page
    assert world["clients"]["bob"].get(f"/athletes/{bob_id}").status_code == 200


@pytest.mark.integration
def test_load_velocity_profile_estimates_1rm_with_r2(db_conn, login_as, make_user):
    athlete = make_user("athlete")
    for k, load in enumerate((40.0, 60.0, 80.0, 100.0)):
        simulated_session(db_conn, athlete["id"], load_kg=load, seed=11 + k, reps=3,
                          started_at=datetime(2026, 11, 1) + timedelta(days=k))
    client_, _ = login_as(user=athlete)
    html = client_.get(f"/athletes/{athlete['id']}").get_data(as_text=True)
    r2 = html.split('id="lv-r2">', 1)[1].split("<", 1)[0]
    assert 0.5 <= float(r2) <= 1.0
    assert "estimated 1RM" in html and "needs sessions" not in html


def _csv_rows(response):
    return list(csv.reader(io.StringIO(response.get_data(as_text=True))))


@pytest.mark.integration
def test_csv_exports_are_scoped_and_neutralise_formulas(world, web_app):
    ann_id = world["users"]["ann"]["id"]
    for who in SEES_ANN:
        for kind in ("sessions", "reps"):
            assert world["clients"][who].get(f"/export/{kind}.csv").status_code == 200
    assert web_app.test_client().get("/export/sessions.csv").status_code == 302
    trainer = _csv_rows(world["clients"]["trainer"].get("/export/sessions.csv"))
    assert {r[0] for r in trainer[1:]} == {world["ann_session"], world["live"]}
    assert trainer[1][7].startswith("'=HYPERLINK")               # Ann's last name, neutralised
    other = _csv_rows(world["clients"]["other_trainer"].get("/export/reps.csv"))
    assert len(other) == 1                                        # the header only
    bob = _csv_rows(world["clients"]["bob"].get("/export/reps.csv"))
    assert {r[0] for r in bob[1:]} == {world["bob_session"]} and len(bob) > 2
    assert world["clients"]["bob"].get(f"/export/reps.csv?athlete={ann_id}").status_code == 404
    reps = _csv_rows(world["clients"]["ann"].get(f"/sessions/{world['ann_session']}/reps.csv"))
    assert len(reps) == 6 and reps[3][14].startswith("the bar drifted")


@pytest.mark.integration
def test_every_export_is_private_and_not_stored(world):
    """The recording CSV came with send_file's "no-cache"; no export may rest in a cache."""
    sid = world["ann_session"]
    for url in (f"/sessions/{sid}/sensor_data?format=csv", f"/sessions/{sid}/reps.csv",
                "/export/sessions.csv", "/export/reps.csv"):
        response = world["clients"]["ann"].get(url)
        assert response.status_code == 200 and response.mimetype == "text/csv", url
        assert response.headers["Cache-Control"] == "private, no-store", url
        assert response.get_data()  # streamed: read it out, so its request context ends here
        response.close()


def _queries(client_, url):
    query_counter.reset()
    assert client_.get(url).status_code == 200
    return query_counter.count()


@pytest.mark.integration
def test_queries_per_page_do_not_grow_with_rows(web_db, db_conn, make_user):
    settings = query_counter.CountingSettings(**dataclasses.asdict(settings_for(web_db)))
    app = create_app(settings, TESTING=True)
    trainer, athlete = make_user("trainer"), make_user("athlete")
    assign(db_conn, trainer, athlete)
    c = app.test_client()
    assert login(c, trainer["email"]).status_code == 302
    few = simulated_session(db_conn, athlete["id"], reps=2)
    pages = ("/dashboard", "/sessions/{}", f"/athletes/{athlete['id']}", "/athletes",
             "/sessions/{}/reps.csv")
    small = [_queries(c, page.format(few)) for page in pages]
    for k in range(6):
        more = make_user("athlete")
        assign(db_conn, trainer, more)
        insert_session(db_conn, more["id"], reps=[{"number": n, "metrics": {"rom_m": 0.5}}
                                                  for n in range(1, 9)])
        simulated_session(db_conn, athlete["id"], reps=6, seed=20 + k)
    many = simulated_session(db_conn, athlete["id"], reps=8, seed=40)
    large = [_queries(c, page.format(many)) for page in pages]
    assert large == small and max(large) <= 10, (small, large)
    app.extensions["coach_db"].close()


@pytest.mark.integration
def test_a_chunk_that_does_not_decode_is_named_and_the_rest_still_shows(db_conn, login_as,
                                                                      make_user):
    from sensors.simulator import simulate_set
    from tests.support.review_support import chunks_of

    athlete = make_user("athlete")
    good = chunks_of(simulate_set(reps=1, seed=2).frames)
    bad = {"v": 9, "source": "imu", "t0_ns": good[-1]["t0_ns"] + 10**9, "n": 1}
    sid = insert_session(db_conn, athlete["id"], chunks=[*good, bad],
                         reps=[{"number": 1, "metrics": {"rom_m": "deep", "start_s": "x"}}])
    c, _ = login_as(user=athlete)
    chart = ready(c, f"/sessions/{sid}/charts/displacement.svg")
    assert chart.status_code == 200 and b"could not be decoded" not in chart.data
    page = c.get(f"/sessions/{sid}/sensor_data")
    assert page.status_code == 200 and b"1 raw chunk(s) could not be decoded" in page.data
    assert b"chunk field &#39;v&#39; is 9" in page.data
    recording = c.get(f"/sessions/{sid}/sensor_data?format=csv")
    assert recording.status_code == 200
    assert recording.data.count(b"\n") == 4 + sum(ch["n"] for ch in good)
    session_page = c.get(f"/sessions/{sid}")
    assert session_page.status_code == 200 and b"deep" not in session_page.data


@pytest.mark.integration
def test_concurrent_chart_requests_compute_a_session_series_once(world, db_conn, web_db):
    """Three charts of a session without a record, asked for at once (as a browser does),
    by three users: one background computation, one row; a second process holding the
    session's advisory lock makes a computation stand back instead of repeating it."""
    from concurrent.futures import ThreadPoolExecutor

    from coach.review.series_jobs import LOCK_SQL, compute_and_store

    sid = world["ann_session"]
    before = SERIES_JOBS.computed
    urls = [(who, f"/sessions/{sid}/charts/{name}.svg")
            for who, name in (("admin", "displacement"), ("trainer", "tilt"), ("ann", "cop"))]
    with ThreadPoolExecutor(3) as pool:
        first = list(pool.map(lambda u: world["clients"][u[0]].get(u[1]), urls))
    assert all(r.status_code == 200 for r in first)
    for who, url in urls:
        assert b"<path" in ready(world["clients"][who], url).data
    assert SERIES_JOBS.computed == before + 1
    with db_conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM session_series WHERE session = %s", (sid,))
        assert cur.fetchone()[0] == 1
        cur.execute("DELETE FROM session_series WHERE session = %s", (sid,))
    db_conn.commit()
    holder, other = web_db.connect(), web_db.connect()
    try:
        with holder.cursor() as cur:
            cur.execute(LOCK_SQL, (sid,))
            assert cur.fetchone()[0]
        assert compute_and_store(other, sid) is False      # another process is on it
        holder.rollback()                                   # it let go without storing
        assert compute_and_store(other, sid) is True
        assert compute_and_store(other, sid) is False       # stored: never computed again
    finally:
        holder.close()
        other.close()


@pytest.mark.integration
def test_a_failed_series_computation_is_tried_again_after_its_delay(world, db_conn, monkeypatch):
    """A database error while computing a session's display series shows why on its charts,
    is not tried again before ``RETRY_AFTER_S`` (on the jobs' clock, not slept), and once the
    delay has passed the next look computes it and the chart is drawn."""
    from coach.review.series_jobs import RETRY_AFTER_S

    now = [1000.0]
    monkeypatch.setattr(SERIES_JOBS, "clock", lambda: now[0])
    client, sid = world["clients"]["trainer"], world["ann_session"]
    url = f"/sessions/{sid}/charts/tilt.svg"
    with db_conn.cursor() as cur:   # the web role may no longer store the record
        cur.execute("REVOKE INSERT ON session_series FROM liftguard_webapp")
    db_conn.commit()
    failed = ready(client, url).get_data(as_text=True)
    assert "could not be prepared" in failed and "InsufficientPrivilege" in failed
    assert f"trying again in {RETRY_AFTER_S:.0f} s" in failed
    with db_conn.cursor() as cur:   # the database is right again
        cur.execute("GRANT INSERT ON session_series TO liftguard_webapp")
    db_conn.commit()
    now[0] += RETRY_AFTER_S - 1
    assert "could not be prepared" in client.get(url).get_data(as_text=True)
    assert not SERIES_JOBS.busy(sid)
    now[0] += 2
    drawn = ready(client, url).get_data(as_text=True)
    assert "<path" in drawn and "could not be prepared" not in drawn
    with db_conn.cursor() as cur:
        cur.execute("SELECT source FROM session_series WHERE session = %s", (sid,))
        assert cur.fetchall() == [("web",)]
    db_conn.commit()


def test_failures_in_a_row_wait_longer_up_to_the_cap():
    """The retry delay doubles with each failure in a row, up to ``RETRY_MAX_S``, and a
    success forgets the failures."""
    from coach.review.series_jobs import RETRY_AFTER_S, RETRY_MAX_S, SeriesJobs

    now = [0.0]
    jobs = SeriesJobs(clock=lambda: now[0])
    waits = []
    for _ in range(9):
        jobs._failed_now("s1", RuntimeError("database went away"))
        waits.append(jobs._failed["s1"].retry_at - now[0])
    assert waits[:3] == [RETRY_AFTER_S, 2 * RETRY_AFTER_S, 4 * RETRY_AFTER_S]
    assert waits[-1] == RETRY_MAX_S and max(waits) == RETRY_MAX_S
    assert "trying again in 3600 s" in jobs.request(object(), "s1")
