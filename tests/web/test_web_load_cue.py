"""Sessions recorded by the daemon (simulated box) and synced to PostgreSQL as a box syncs
them: the session page says at which rep the velocity-loss cue fired and where the bar load
comes from (both loads when entered and weighed disagree); the athlete page fits the
load-velocity profile on the platform-weighed loads and lists each session's cue."""
from __future__ import annotations

import re

import pytest

from tests.support.box_sessions import record_simulated_session, sync_box
from tests.support.web_support import assign

DEVICE = "gym-box-27"


@pytest.mark.integration
def test_session_and_athlete_pages_show_cue_and_weighed_load(tmp_path, db_conn, web_db,
                                                             login_as, make_user):
    athlete, trainer = make_user("athlete"), make_user("trainer")
    assign(db_conn, trainer, athlete)
    other = make_user("trainer")
    box = tmp_path / "box"
    sessions = {}
    for k, load in enumerate((40.0, 60.0, 80.0)):
        sessions[load] = record_simulated_session(box, DEVICE, athlete["email"], reps=6,
                                                  seed=21 + k, bar_load_kg=load,
                                                  velocity_loss_limit_pct=8 if k == 2 else 0)
    entered = record_simulated_session(box, DEVICE, athlete["email"], reps=4, seed=31,
                                       bar_load_kg=100.0, entered_bar_load_kg=90.0)
    sync_box(box, DEVICE, web_db.dsn)
    coach, _ = login_as(user=trainer)

    page = coach.get(f"/sessions/{sessions[80.0]}").get_data(as_text=True)
    cue = re.search(r'id="velocity-loss-cue">.*?rep (\d+)</span>', page, re.S)
    assert cue, page[:3000]
    with db_conn.cursor() as cur:
        cur.execute("SELECT rep_number FROM rep_metrics WHERE session_id = %s "
                    "AND (metrics->>'velocity_loss_cue')::boolean", (sessions[80.0],))
        assert [r[0] for r in cur.fetchall()] == [int(cue.group(1))]
        cur.execute("SELECT DISTINCT metrics->>'bar_load_source', "
                    "round((metrics->>'bar_load_kg')::numeric) FROM rep_metrics "
                    "WHERE session_id = %s", (sessions[80.0],))
        assert cur.fetchall() == [("measured", 80)]
    assert "stop the set" in page
    load = page.split('id="bar-load">', 1)[1].split("</div>", 1)[0]
    assert "80.0" in load and "weighed by the platform" in load

    no_cue = coach.get(f"/sessions/{sessions[40.0]}").get_data(as_text=True)
    assert ">off</span>" in no_cue.split('id="velocity-loss-cue">', 1)[1].split("</div>", 1)[0]

    both = coach.get(f"/sessions/{entered}").get_data(as_text=True)
    load = both.split('id="bar-load">', 1)[1].split("</div>", 1)[0]
    assert "90.0" in load and "entered" in load and "the platform weighed 100.0" in load

    athlete_page = coach.get(f"/athletes/{athlete['id']}?lift=squat").get_data(as_text=True)
    r2 = float(athlete_page.split('id="lv-r2">', 1)[1].split("<", 1)[0])
    assert 0.5 <= r2 <= 1.0
    sets = athlete_page.split('id="lv-sets">', 1)[1].split("<", 1)[0]
    assert sets == "4 sets with a load: 3 weighed by the platform, 1 entered"
    assert f"rep {cue.group(1)} <span" in athlete_page
    assert "estimated 1RM" in athlete_page.lower() or "Estimated 1RM" in athlete_page

    stranger, _ = login_as(user=other)      # a trainer without this athlete sees neither page
    assert stranger.get(f"/sessions/{sessions[80.0]}").status_code == 404
    assert stranger.get(f"/athletes/{athlete['id']}").status_code == 404
