"""GET /sessions/<id> (the session page), its raw-data charts, GET /sessions/<id>/sensor_data
(raw channels, and the recording CSV that ``liftguard replay`` reads) and the reps CSV.

Every route goes through ``coach.access.session_or_404``: a session the user may not see, an
unknown id and a malformed UUID all answer the same 404. Rep-based charts are inlined in the
page; the charts drawn from raw chunks are separate SVG requests, so the page itself never
decodes raw data (a 60-minute session has 7,200 chunks) and the browser fetches them in
parallel; as images, a phone fetches only its own drawing (``?size=phone``), where inlined
charts carry both (the raw channels, 10 lines of 1,500 points, would double the page).
"""
from __future__ import annotations

import io
import tempfile
from datetime import timezone
from typing import Any

from flask import Blueprint, Response, abort, g, render_template, request, send_file
from markupsafe import Markup

from coach.access import session_or_404
from coach.auth import login_required
from coach.db import get_db
from coach.review import charts
from coach.review.csv_safe import csv_lines
from coach.review.raw_series import chunk_stats, session_series, write_session_recording
from coach.review.raw_window import (MAX_WINDOW_S, SessionSpan, Window, WindowError,
                                     parse_window, session_span, window_channels,
                                     write_window_recording)
from coach.review.session_detail import SessionDetail, load_session
from sync.retention import PrunedRaw, describe_pruned, pruned_raw

bp = Blueprint("sessions_review", __name__)

RAW_CHARTS = ("displacement", "tilt", "cop", "raw")
REP_COLUMNS = (
    ("rep", None), ("start_s", "start_s"), ("end_s", "end_s"), ("rom_m", "rom_m"),
    ("mean_concentric_velocity_mps", "mean_concentric_velocity_mps"),
    ("peak_concentric_velocity_mps", "peak_concentric_velocity_mps"),
    ("velocity_loss_pct", None), ("max_tilt_deg", "max_tilt_deg"),
    ("lateral_displacement_m", "lateral_displacement_m"), ("asymmetry_pct", "asymmetry_pct"),
    ("cop_ap_shift_m", "cop_ap_shift_m"), ("balance_score", None), ("stability_score", None),
    ("injury_risk", None), ("faults", None), ("feedback_text", None))


def _detail(session_id: str) -> SessionDetail:
    conn = get_db()
    row = session_or_404(conn, g.user, session_id)
    detail = load_session(conn, row["id"])
    if detail is None:
        abort(404)
    return detail


def _rep_spans(detail: SessionDetail) -> list[tuple[int, float, float]]:
    spans = []
    for rep in detail.reps:
        t0, t1 = rep.get("start_s"), rep.get("end_s")
        if t0 is not None and t1 is not None and t1 > t0:
            spans.append((rep.number, t0, t1))
    return spans


def rep_charts(detail: SessionDetail) -> dict[str, Markup]:
    reps = detail.reps
    velocity = charts.render_both(
        "velocity", charts.velocity_per_rep, [r.number for r in reps],
        [r.get("mean_concentric_velocity_mps") for r in reps],
        [r.get("peak_concentric_velocity_mps") for r in reps],
        [r.velocity_loss_pct for r in reps], [r.problem for r in reps])
    with_platform = [r for r in reps if r.get("asymmetry_pct") is not None]
    asymmetry = charts.render_both("asymmetry", charts.asymmetry_per_rep,
                                   [r.number for r in with_platform],
                                   [r.get("asymmetry_pct") for r in with_platform])
    return {"velocity": Markup(velocity), "asymmetry": Markup(asymmetry)}


@bp.route("/sessions/<session_id>")
@login_required
def show(session_id: str) -> Any:
    detail = _detail(session_id)
    return render_template("review/session.html", s=detail, charts=rep_charts(detail),
                           raw_charts=RAW_CHARTS)


@bp.route("/sessions/<session_id>/charts/<name>.svg")  # ?size=phone: the phone's drawing
@login_required
def raw_chart(session_id: str, name: str) -> Any:
    if name not in RAW_CHARTS:
        abort(404)
    detail = _detail(session_id)
    series = session_series(get_db(), detail.id)
    phone = request.args.get("size") == "phone"
    spans = _rep_spans(detail)
    alerts = [(a.t_s, a.reason) for a in detail.alerts]
    if name == "displacement" and series.displacement is not None:
        svg = charts.render(name, charts.displacement_over_time, *series.displacement, spans,
                            alerts, phone=phone)
    elif name == "tilt" and series.tilt is not None:
        svg = charts.render(name, charts.tilt_over_time, *series.tilt, spans, alerts,
                            phone=phone)
    elif name == "cop" and series.cop is not None:
        svg = charts.render(name, charts.cop_from_above, *series.cop, spans, phone=phone)
    elif name == "raw":
        svg = charts.render(name, charts.raw_channels, series.raw, phone=phone)
    else:
        pruned = None if series.raw else pruned_raw(get_db(), detail.id)
        message = ("the raw data of this session was pruned (retention); its reps and "
                   "scores are kept" if pruned else "; ".join(series.notes) or "no data")
        svg = charts.render(name, charts.empty_chart, message, phone=phone)
    return Response(svg, mimetype="image/svg+xml",
                    headers={"Cache-Control": "private, max-age=60"})


@bp.route("/sessions/<session_id>/sensor_data")
@login_required
def sensor_data(session_id: str) -> Any:
    """The raw-data page for the window ``?start=&end=`` (``coach.review.raw_window``), or
    with ``format=csv`` the recording CSV of that window (of the whole session without one)."""
    detail = _detail(session_id)
    conn = get_db()
    pruned = pruned_raw(conn, detail.id)
    span = session_span(conn, detail.id, pruned.mono_start_ns if pruned else None)
    error, window = None, None
    if span is not None:
        try:
            window = parse_window(request.args, span.duration_s)
        except WindowError as exc:
            error = str(exc)
    if request.args.get("format") == "csv":
        if error is not None:
            abort(400, error)
        whole = "start" not in request.args and "end" not in request.args
        return _recording_download(conn, detail, span, None if whole else window, pruned)
    notes: list[str] = []
    if span is not None:
        window = window or parse_window({}, span.duration_s)
        skipped: list[str] = []
        window_channels(conn, detail.id, span, window, skipped)
        if skipped:
            notes.append(f"{len(skipped)} raw chunk(s) could not be decoded and are left out of "
                         f"this range (first: {skipped[0]})")
    return render_template(
        "review/sensor_data.html", s=detail, stats=chunk_stats(conn, detail.id), span=span,
        window=window, error=error, notes=notes,
        pruned=describe_pruned(pruned) if pruned else None, max_window_s=MAX_WINDOW_S,
        form=request.args if error else None), 400 if error else 200


@bp.route("/sessions/<session_id>/sensor_data/raw.svg")  # ?start=&end=[&size=phone]
@login_required
def raw_window_chart(session_id: str) -> Any:
    detail = _detail(session_id)
    conn = get_db()
    pruned = pruned_raw(conn, detail.id)
    span = session_span(conn, detail.id, pruned.mono_start_ns if pruned else None)
    phone = request.args.get("size") == "phone"
    if span is None:
        svg = charts.render("raw", charts.empty_chart,
                            "the raw data of this session was pruned" if pruned
                            else "no raw sensor data was synced for this session", phone=phone)
    else:
        try:
            window = parse_window(request.args, span.duration_s)
        except WindowError as exc:
            abort(400, str(exc))
        skipped: list[str] = []
        raw = window_channels(conn, detail.id, span, window, skipped)
        svg = charts.render("raw", charts.raw_channels, raw, phone=phone)
    return Response(svg, mimetype="image/svg+xml",
                    headers={"Cache-Control": "private, max-age=60"})


def _recording_download(conn: Any, detail: SessionDetail, span: SessionSpan | None,
                        window: Window | None, pruned: PrunedRaw | None) -> Any:
    """The recording CSV (of ``window``, else the whole session), spooled to a temporary file
    (memory stays bounded for a long session and the database connection is released before
    the body is sent). When retention pruned raw chunks, comment lines at the top say so (the
    recording reader skips them) and so does the ``X-Liftguard-Raw-Pruned`` header; when
    nothing is left the answer is 410 Gone with that sentence."""
    note = describe_pruned(pruned) if pruned else None
    spool = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024, mode="w+b")
    text = io.TextIOWrapper(spool, encoding="ascii", errors="replace", newline="")
    if note:
        when = pruned.pruned_at.astimezone(timezone.utc)
        text.write(f"# raw_data_pruned={when:%Y-%m-%dT%H:%M:%SZ}\n"
                   f"# raw_data_pruned_note={note}; the frames below are what remains\n")
    if window is None or span is None:
        frames = write_session_recording(conn, detail.id, text)
        name = f"session-{detail.id}.csv"
    else:
        frames = write_window_recording(conn, detail.id, span, window,
                                        chunk_stats(conn, detail.id).sources, text)
        name = f"session-{detail.id}-{window.start_text}-{window.end_text}s.csv"
    text.flush()
    text.detach()
    if frames == 0:
        spool.close()
        if note and window is None:
            abort(410, note)
        abort(404, "This session has no raw sensor data" + (" in that range." if window else "."))
    spool.seek(0)
    response = send_file(spool, mimetype="text/csv", as_attachment=True, download_name=name)
    if note:
        response.headers["X-Liftguard-Raw-Pruned"] = note
    return response


def rep_table_rows(detail: SessionDetail) -> list[list[Any]]:
    rows = []
    for rep in detail.reps:
        row: list[Any] = []
        for name, key in REP_COLUMNS:
            if key is not None:
                row.append(rep.get(key))
            elif name == "rep":
                row.append(rep.number)
            elif name == "faults":
                row.append("; ".join(f.detail for f in rep.faults))
            else:
                row.append(getattr(rep, name))
        rows.append(row)
    return rows


@bp.route("/sessions/<session_id>/reps.csv")
@login_required
def reps_csv(session_id: str) -> Any:
    detail = _detail(session_id)
    body = "".join(csv_lines([name for name, _ in REP_COLUMNS], rep_table_rows(detail)))
    return Response(body, mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="reps-{detail.id}.csv"'})
