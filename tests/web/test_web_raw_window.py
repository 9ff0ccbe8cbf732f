"""The raw-data page's time range (``coach.review.raw_window``): the rules of ``?start=&end=``
as properties, then the page, its chart and the range CSV through the Flask test client on a
real PostgreSQL as the web role: default window, paging, the CSV of a range, and hostile
values that get only the documented message (400), never a 500."""
from __future__ import annotations

import math
import re
import urllib.parse

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coach.review.raw_window import (
    DEFAULT_WINDOW_S,
    MAX_WINDOW_S,
    Window,
    WindowError,
    parse_window,
)
from sensors.frame import IMU_CHANNELS, PLATFORM_CHANNELS, Frame
from sensors.recording import read_recording
from tests.support.review_support import chunks_of, insert_session
from tests.support.web_support import assign

SESSION_S = 150.0
LAST_SAMPLE_S = SESSION_S - 1 / 200   # the span the page sees: first to last IMU sample
MESSAGE = re.compile(r"^(Start|End): .+")

seconds = st.one_of(st.floats(0, 10**6).map(lambda x: f"{x:.3f}"), st.integers(0, 10**7).map(str))
hostile = st.one_of(
    seconds, st.none(), st.just(""),
    st.integers(-10**12, -1).map(str),
    st.sampled_from(["nan", "inf", "-0", "1e3", "12,5", "0x10", "½", "٣", " 5 ", "5s", ".5", "5.",
                     "1" * 40, "0." + "1" * 12, "\x00", "<script>", "'; DROP TABLE x"]),
    st.text(max_size=25))


def _args(start: str | None, end: str | None) -> dict[str, str]:
    return {k: v for k, v in (("start", start), ("end", end)) if v is not None}


@given(start=hostile, end=hostile, duration=st.floats(0, 30000))
def test_a_window_is_inside_the_session_or_the_error_names_the_field(start, end, duration):
    try:
        w = parse_window(_args(start, end), duration)
    except WindowError as exc:
        assert MESSAGE.match(str(exc)), exc
        return
    assert 0 <= w.start_s <= w.end_s <= max(duration, w.start_s)
    assert w.end_s <= duration or w.start_s == w.end_s == 0
    assert w.length_s <= max(MAX_WINDOW_S, DEFAULT_WINDOW_S)
    assert math.isfinite(w.start_s) and math.isfinite(w.end_s)
    # what the page links to parses back to (nearly) the same window
    again = parse_window({"start": w.start_text, "end": w.end_text}, duration) \
        if w.end_s > w.start_s else w
    assert abs(again.start_s - w.start_s) <= 0.001 and abs(again.end_s - w.end_s) <= 0.001


def test_the_documented_rules():
    assert parse_window({}, 150) == Window(0, 60)
    assert parse_window({}, 12.5) == Window(0, 12.5)
    assert parse_window({"start": "100"}, 150) == Window(100, 150)
    assert parse_window({"end": "90"}, 150) == Window(30, 90)
    assert parse_window({"start": "10", "end": "9999"}, 150) == Window(10, 150)
    for args, words in (({"start": "-1"}, "Start: '-1' is not a number of seconds"),
                        ({"start": "abc"}, "Start: 'abc' is not a number"),
                        ({"start": "150"}, "Start: 150 s is not within the recording"),
                        ({"start": "20", "end": "10"}, "End: 10 s is not after the start"),
                        ({"end": "0"}, "End: 0 s leaves nothing to show")):
        with pytest.raises(WindowError, match=re.escape(words)):
            parse_window(args, 150)
    with pytest.raises(WindowError, match="the range is 601 s long; show at most 600 s"):
        parse_window({"start": "0", "end": "601"}, 1000)
    w = Window(60, 120)
    assert w.earlier() == Window(0, 60) and w.later(150) == Window(120, 150)
    assert Window(0, 60).earlier() is None and Window(120, 150).later(150) is None


def _frames(seconds_long: float) -> list[Frame]:
    out = []
    for source, channels, hz in (("imu", IMU_CHANNELS, 200), ("platform", PLATFORM_CHANNELS, 80)):
        for i in range(int(seconds_long * hz)):
            t = i / hz
            out.append(Frame(source, i, 5 * 10**9 + i * (10**9 // hz), 1.7e9 + t, channels,
                             tuple(math.sin(t * (k + 1)) * (9.81 if source == "imu" else 300)
                                   for k in range(len(channels)))))
    return out


@pytest.fixture
def long_session(db_conn, make_user, login_as):
    trainer, athlete = make_user("trainer"), make_user("athlete")
    assign(db_conn, trainer, athlete)
    sid = insert_session(db_conn, athlete["id"], chunks=chunks_of(_frames(SESSION_S)))
    return {"sid": sid, "trainer": login_as(user=trainer)[0], "athlete": login_as(user=athlete)[0]}


def _links(html: str) -> dict[str, str]:
    found = {}
    for rel in ("prev", "next"):
        m = re.search(rf'rel="{rel}" href="([^"]+)"', html)
        if m:
            found[rel] = m.group(1).replace("&amp;", "&")
        else:
            found[rel] = None
    return found


@pytest.mark.integration
def test_default_window_and_paging_through_a_long_session(long_session):
    c, sid = long_session["trainer"], long_session["sid"]
    page = c.get(f"/sessions/{sid}/sensor_data")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert '<label for="range-start">Start (s)</label>' in html
    assert '<label for="range-end">End (s)</label>' in html
    assert 'value="0"' in html and 'value="60"' in html and "0–60 s of 150.0 s" in html
    assert f"/sessions/{sid}/sensor_data/raw.svg?start=0&amp;end=60" in html
    links = _links(html)
    assert links["prev"] is None and links["next"].endswith("start=60&end=120")
    html = c.get(links["next"]).get_data(as_text=True)
    assert "60–120 s" in html and _links(html)["prev"].endswith("start=0&end=60")
    html = c.get(_links(html)["next"]).get_data(as_text=True)
    assert "120–149.995 s of 150.0 s" in html and _links(html)["next"] is None  # last sample
    chart = c.get(f"/sessions/{sid}/sensor_data/raw.svg?start=120&end=150&size=phone")
    assert chart.status_code == 200 and b"corner force" in chart.data


@pytest.mark.integration
def test_the_csv_of_a_range_holds_exactly_the_frames_inside_it(long_session, tmp_path):
    c, sid = long_session["athlete"], long_session["sid"]
    answer = c.get(f"/sessions/{sid}/sensor_data?format=csv&start=30.5&end=42")
    assert answer.status_code == 200 and answer.mimetype == "text/csv"
    assert f"session-{sid}-30.5-42s.csv" in answer.headers["Content-Disposition"]
    path = tmp_path / "range.csv"
    path.write_bytes(answer.data)
    rec = read_recording(path)
    ns = sorted(f.mono_ns for f in rec.frames)
    origin = 5 * 10**9
    assert ns[0] >= origin + 30.5e9 and ns[-1] <= origin + 42e9
    expected = (sum(1 for i in range(int(SESSION_S * 200)) if 30.5e9 <= i * 5_000_000 <= 42e9)
                + sum(1 for i in range(int(SESSION_S * 80)) if 30.5e9 <= i * 12_500_000 <= 42e9))
    assert len(rec.frames) == expected
    whole = c.get(f"/sessions/{sid}/sensor_data?format=csv")
    assert whole.status_code == 200 and f"session-{sid}.csv" in whole.headers["Content-Disposition"]
    assert whole.data.count(b"\n") == 4 + int(SESSION_S * 280)


@pytest.mark.integration
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=40)
@given(start=hostile, end=hostile)
def test_hostile_ranges_get_the_documented_message_never_a_500(long_session, start, end):
    """Read-only requests, so one session serves every example."""
    c, sid = long_session["trainer"], long_session["sid"]
    query = urllib.parse.urlencode(_args(start, end))
    try:
        parse_window(_args(start, end), LAST_SAMPLE_S)
        expected_error = None
    except WindowError as exc:
        expected_error = str(exc)
    page = c.get(f"/sessions/{sid}/sensor_data?{query}")
    chart = c.get(f"/sessions/{sid}/sensor_data/raw.svg?{query}")
    export = c.get(f"/sessions/{sid}/sensor_data?format=csv&{query}")
    if expected_error is None:
        assert (page.status_code, chart.status_code) == (200, 200)
        assert export.status_code in (200, 404)        # 404: no samples in that window
    else:
        assert (page.status_code, chart.status_code, export.status_code) == (400, 400, 400)
        html = page.get_data(as_text=True)
        assert 'role="alert"' in html and 'aria-invalid="true"' in html
        from markupsafe import escape
        assert str(escape(expected_error)) in html
        assert str(escape(expected_error)) in chart.get_data(as_text=True)
    assert c.get(f"/sessions/{sid}/sensor_data?start=1&end=2").status_code == 200


@pytest.mark.integration
def test_only_the_chunks_of_the_chosen_range_are_decoded(db_conn, make_user, login_as):
    """An undecodable chunk at 120 s is named on the page of a range that holds it and not
    on the others: the page reads the chunks of its range only."""
    athlete = make_user("athlete")
    chunks = chunks_of(_frames(SESSION_S))
    broken = {"v": 9, "source": "imu", "t0_ns": 5 * 10**9 + 120 * 10**9, "n": 1}
    sid = insert_session(db_conn, athlete["id"], chunks=[*chunks, broken])
    c, _ = login_as(user=athlete)
    first = c.get(f"/sessions/{sid}/sensor_data").get_data(as_text=True)
    later = c.get(f"/sessions/{sid}/sensor_data?start=100&end=140").get_data(as_text=True)
    assert "could not be decoded" not in first
    assert "1 raw chunk(s) could not be decoded and are left out of this range" in later
    assert "chunk field &#39;v&#39; is 9" in later
