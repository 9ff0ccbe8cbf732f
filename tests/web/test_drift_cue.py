"""The technique-drift cue: the set's evidence and its calibration (models.set_drift), the box
through `liftguard demo` (the daemon on a simulated box: a drifting set cues once, a clean set
not), and the synced rows and web page (the marker on the rep where it fired)."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import uuid

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge_agent.store import LocalStore
from models.set_drift import (
    DEFAULT_SET_ALPHA,
    SetDriftEvidence,
    calibrate_set_alpha,
    first_cue,
    running_set_p,
)
from sensors.simulator import simulate_set
from sync.payloads import data_topic, decode_message, encode_item, encode_message
from sync.rows import DRIFT_CUE_MAX_CHARS
from tests.support.box_sessions import record_simulated_session, sync_box
from tests.support.daemon_helpers import (
    call,
    free_port,
    ready_status,
    simulated_box_config,
    start_daemon,
    wait_for,
)
from tests.support.web_support import assign

DRIFT = ",".join(f"cop_forward@{rep}" for rep in range(3, 9))


def test_evidence_cues_once_at_the_first_rep_over_the_threshold_and_names_what_drifted():
    evidence = SetDriftEvidence(alpha=1e-4)
    tip = {"features": [("s_gy_std", 4.0), ("f_fl_mean", 0.5)]}
    cues = [evidence.add(rep, score, tip) for rep, score in enumerate([0.3, 0.2, 2.5, 2.5, 3.0, 3.0], 1)]
    fired = [c for c in cues if c is not None]
    assert len(fired) == 1
    expected = first_cue([0.3, 0.2, 2.5, 2.5, 3.0, 3.0], 1e-4)
    assert fired[0].rep == expected == cues.index(fired[0]) + 1
    assert fired[0].p <= 1e-4 < running_set_p([0.3, 0.2, 2.5, 2.5, 3.0, 3.0])[expected - 2]
    assert fired[0].features[0][0] == "s_gy_std"       # the largest summed z first
    assert fired[0].features[0][1] == pytest.approx(4.0 * expected)


def test_an_unscored_rep_adds_no_evidence():
    assert np.array_equal(running_set_p([1.0, 2.0, np.nan]), running_set_p([1.0, 2.0, 2.0])[[0, 1, 1]])
    assert first_cue([np.nan] * 10, 0.5) is None


def test_calibrated_alpha_holds_its_rate_on_fresh_clean_sets():
    """Conformal over sets: with exchangeable clean sets (uniform p-values, a drifting shared
    offset per set as in a real set), the share of new clean sets that cue stays within the
    rate, while the chi-square law alone (alpha = rate) cues more often."""
    rng = np.random.default_rng(4)

    def sets(n):
        offset = rng.normal(0.0, 0.6, (n, 1))      # sets differ: correlated reps within a set
        p = np.clip(rng.uniform(size=(n, 8)) * np.exp(-np.abs(offset)), 1e-12, 1.0)
        return list(-np.log10(p))

    alpha = calibrate_set_alpha(sets(400), rate=0.05)
    fresh = sets(4000)
    cued = np.mean([first_cue(s, alpha) is not None for s in fresh])
    assert cued <= 0.05 + 3 * np.sqrt(0.05 * 0.95 / 4000)
    naive = np.mean([first_cue(s, 0.05) is not None for s in fresh])
    assert naive > 0.05 + 3 * np.sqrt(0.05 * 0.95 / 4000)


def test_too_few_clean_sets_for_the_rate_is_refused_with_the_count_needed():
    with pytest.raises(ValueError, match="10 clean sets are too few .* need at least 19"):
        calibrate_set_alpha([[0.1] * 6] * 10, rate=0.05)
    with pytest.raises(ValueError, match="alpha must be in"):
        SetDriftEvidence(alpha=0.0)


def _demo(tmp_path, faults: str, seed: int = 5):
    data = tmp_path / "demo"
    env = dict(os.environ, LIFTGUARD_DEMO_DIR=str(data), PYTHONUNBUFFERED="1",
               GPIOZERO_PIN_FACTORY="mock")
    out = subprocess.run([sys.executable, "-m", "liftguard", "demo", "--fast", "--reps", "8",
                          "--faults", faults, "--seed", str(seed)],
                         capture_output=True, text=True, env=env, timeout=180)
    assert out.returncode == 0, out.stderr[-3000:]
    sid = re.search(r"session ([0-9a-f-]{36}):", out.stdout).group(1)
    with LocalStore(data, "demo-box") as store:
        reps = store.session_reps(sid)
        live = [(r["rep_number"], r["drift_cue"]) for r in store.session_live_reps(sid)]
    return out.stdout + out.stderr, reps, live


def test_box_cues_a_drifting_set_once_and_a_clean_set_not(tmp_path):
    text, reps, live = _demo(tmp_path / "drift", DRIFT)
    cued = re.findall(r"^rep (\d+): .*; technique drift over the set: (.+)$", text, re.M)
    assert len(cued) == 1, text[-3000:]
    at, what = int(cued[0][0]), cued[0][1]
    assert 3 <= at <= 8                                     # after the drift began
    assert "technique-drift cue given" in text              # the operator's log line
    assert f"Technique drifted over the set from rep {at}" in text and "the box cued it" in text
    assert {n: bool(c) for n, c in live} == {n: n == at for n, _ in live}
    assert dict(live)[at] == what                           # the live row says what drifted
    flags = {r["rep_number"]: r["metrics"]["drift_cue"] for r in reps}
    assert flags == {n: n == at for n in flags}             # what the sync sends

    text, reps, live = _demo(tmp_path / "clean", "")
    assert "technique drift" not in text and "Technique drifted" not in text
    assert not any(c for _, c in live)
    assert not any(r["metrics"]["drift_cue"] for r in reps)


def test_one_faulty_rep_gets_its_within_rep_alert_and_no_drift_cue(tmp_path):
    """`scripts/demo`'s set (`liftguard demo` defaults: 5 squats, sway injected on rep 3 only):
    the swaying rep is flagged within the rep, and one rep alone makes no technique drift."""
    env = dict(os.environ, LIFTGUARD_DEMO_DIR=str(tmp_path / "demo"), PYTHONUNBUFFERED="1",
               GPIOZERO_PIN_FACTORY="mock")
    out = subprocess.run([sys.executable, "-m", "liftguard", "demo", "--fast"],
                         capture_output=True, text=True, env=env, timeout=180)
    assert out.returncode == 0, out.stderr[-3000:]
    text = out.stdout + out.stderr
    assert "lateral_sway on rep 3" in text
    assert re.search(r"alert at [\d.]+ s \(rep 3\): bar swaying sideways", text), text[-3000:]
    assert re.search(r"^rep 3: the bar drifted", text, re.M)
    assert "technique drift" not in text and "Technique drifted" not in text


def test_liftguard_run_cues_a_drifting_set_once_and_stores_where(tmp_path):
    """The daemon as deployed (`liftguard run`, simulator source from the config file, session
    through the local API): the log says the cue was given, the live rep row and the analysed
    rep rows say at which rep."""
    port, data = free_port(), tmp_path / "data"
    cfg = simulated_box_config(tmp_path, "drift-run-box", port,
                               {"reps": 8, "seed": 5, "faults": DRIFT, "bar_load_kg": 60.0})
    log = tmp_path / "daemon.log"
    proc = start_daemon(cfg, log)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: ready_status(base), 60, "daemon ready")
        status, row = call(base, "POST", "/sessions", {"lift_type": "squat",
                                                      "athlete": "ann@example.org"})
        assert status == 201, row
        time.sleep(simulate_set("squat", 8, seed=5).duration_s + 1.0)
        assert call(base, "POST", f"/sessions/{row['id']}/end")[0] == 200
        summary = wait_for(lambda: ((ready_status(base) or {}).get("last_summary") or {})
                           if ((ready_status(base) or {}).get("last_summary") or {}).get(
                               "session_id") == row["id"] else None, 60, "the session's analysis")
    finally:
        proc.terminate()
        proc.wait(30)
    text = log.read_text()
    assert text.count("technique-drift cue given") == 1, text[-3000:]
    cue = summary["drift_cue"]
    assert cue["given"] is True and 3 <= cue["rep"] <= 8 and cue["drifted"]
    # the threshold is the shipped bundle's own, read from its manifest
    from edge_agent.bundles.choice import SHIPPED_BUNDLE
    from models.anomaly import load_bundle

    shipped = load_bundle(SHIPPED_BUNDLE)
    assert cue["alpha"] == shipped.set_drift_alpha == shipped.manifest["calibration"]["set_drift"]["alpha"]
    assert (f"technique-drift cue threshold {cue['alpha']:.3g} on the set's combined p (the bundle's own "
            "calibration)") in text
    with LocalStore(data, "drift-run-box") as store:
        live = [(r["rep_number"], r["drift_cue"]) for r in store.session_live_reps(row["id"])]
        reps = store.session_reps(row["id"])
    assert [n for n, c in live if c] == [cue["rep"]]
    assert [r["rep_number"] for r in reps if r["metrics"]["drift_cue"]] == [cue["rep"]]


def test_the_shipped_thresholds_are_the_ones_docs_models_md_reports_figures_for():
    from pathlib import Path

    from edge_agent.bundles.choice import SHIPPED_BUNDLE
    from models.anomaly import load_bundle

    docs = (Path(__file__).resolve().parents[2] / "docs" / "models.md").read_text()
    own = re.search(r"the shipped bundle's own threshold\s+`([0-9.e+-]+)`", docs)
    assert own and float(own.group(1)) == float(f"{load_bundle(SHIPPED_BUNDLE).set_drift_alpha:.3g}")
    fallback = re.search(r"`DEFAULT_SET_ALPHA` = `([0-9.e+-]+)`", docs)
    assert fallback and float(fallback.group(1)) == DEFAULT_SET_ALPHA


@pytest.mark.integration
def test_synced_drift_cue_shows_on_the_rep_where_it_fired(tmp_path, db_conn, web_db, login_as,
                                                          make_user):
    athlete, trainer = make_user("athlete"), make_user("trainer")
    assign(db_conn, trainer, athlete)
    box = tmp_path / "box"
    drifting = record_simulated_session(box, "drift-box", athlete["email"], reps=8, seed=5,
                                        faults=DRIFT)
    clean = record_simulated_session(box, "drift-box", athlete["email"], reps=8, seed=5)
    sync_box(box, "drift-box", web_db.dsn)
    with db_conn.cursor() as cur:
        cur.execute("SELECT rep_number FROM rep_metrics WHERE session_id = %s AND "
                    "(metrics->>'drift_cue')::boolean", (drifting,))
        at = [r[0] for r in cur.fetchall()]
        cur.execute("SELECT rep_number, drift_cue FROM live_reps WHERE session_id = %s AND "
                    "drift_cue IS NOT NULL", (drifting,))
        live = cur.fetchall()
        cur.execute("SELECT count(*) FROM live_reps WHERE session_id = %s AND drift_cue IS NOT "
                    "NULL", (clean,))
        assert cur.fetchone()[0] == 0
    assert len(at) == 1 and [n for n, _ in live] == at
    coach, _ = login_as(user=trainer)
    page = coach.get(f"/sessions/{drifting}").get_data(as_text=True)
    marked = re.findall(r"<strong>(\d+)</strong>[^\n]*?drift-cue", page)
    assert [int(n) for n in marked] == at
    live_page = coach.get(f"/sessions/{drifting}/live").get_data(as_text=True)
    assert re.search(rf'id="live-rep-{at[0]}"><td>{at[0]} <span class="pill fair drift-cue"',
                     live_page), live_page[-3000:]
    assert "drift-cue" not in coach.get(f"/sessions/{clean}").get_data(as_text=True).split(
        "<tbody>", 1)[1]


# ---- the ingester's validation of the new fields --------------------------------------------

_FINITE = st.floats(allow_nan=False, allow_infinity=False)
_DRIFT_VALUES = st.one_of(st.text(max_size=260), st.integers(), _FINITE, st.booleans(),
                          st.none(), st.lists(st.text(max_size=3), max_size=2),
                          st.just("a\x00b"), st.just("\ud800"), st.just(""))


def _live_row(drift: object) -> dict:
    return {"id": str(uuid.uuid4()), "session_id": str(uuid.uuid4()), "rep_number": 4,
            "ended_at": 1.7e9, "mean_velocity_mps": 0.5, "velocity_loss_pct": 3.0,
            "alert": None, "drift_cue": drift}


def _rep_row(flag: object) -> dict:
    return {"id": str(uuid.uuid4()), "session_id": str(uuid.uuid4()), "rep_number": 4,
            "metrics": {"rom_m": 0.5, "drift_cue": flag}}


# Non-finite numbers and other mutations of these rows: tests/sync/test_payload_properties.py, whose
# valid rows carry drift_cue too. Here: every kind of value in the two new fields.
@settings(deadline=None)
@given(drift=_DRIFT_VALUES, flag=st.one_of(st.booleans(), st.none(), st.integers(0, 2),
                                           st.text(max_size=5), _FINITE))
def test_ingester_takes_a_valid_drift_cue_and_names_a_bad_one(drift, flag):
    def decode(kind, row, outbox_id):
        return decode_message(data_topic("drift-box", kind), encode_message(
            "drift-box", kind, [encode_item(outbox_id, row)], 1.0))

    live = decode("live_reps", _live_row(drift), 1)
    ok = drift is None or (isinstance(drift, str) and 1 <= len(drift) <= DRIFT_CUE_MAX_CHARS
                           and "\x00" not in drift and "\ud800" not in drift)
    if ok:
        assert [r.row.get("drift_cue") for r in live.records] == [drift] and not live.rejected
    else:
        assert not live.records and "drift_cue" in live.rejected[0][1]
    rep = decode("rep_metrics", _rep_row(flag), 2)
    if flag is None or isinstance(flag, bool):
        assert rep.records and rep.records[0].row["metrics"].get("drift_cue") is flag
    else:
        assert not rep.records and "drift_cue" in rep.rejected[0][1]
    # a valid row after a bad one is still taken
    after = decode("live_reps", _live_row("the bar swaying sideways"), 3)
    assert after.records[0].row["drift_cue"] == "the bar swaying sideways"
