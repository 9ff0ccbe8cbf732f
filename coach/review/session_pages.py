"""GET /sessions/<id> (the session page), its time charts, GET /sessions/<id>/sensor_data
(raw channels, and the recording CSV that ``liftguard replay`` reads) and the reps CSV.

Every route goes through ``coach.access.session_or_404``: a session the user may not see, an
unknown id and a malformed UUID all answer the same 404. Rep-based charts are inlined in the
page; the time charts (bar height, tilt, centre of pressure, raw channels) are separate SVG
requests drawn from the session's display-series record (``coach.review.series_record``), so
no page decodes raw chunks: those are read only by the recording CSV export. A session synced
before boxes built records shows "preparing" (and reloads itself) while its record is computed
once in the background (``coach.review.series_jobs``). As images, a phone fetches only its own
drawing (``?size=phone``), where inlined charts carry both.
"""
from __future__ import annotations

import io
import tempfile
from datetime import timezone
from typing import Any

from flask import Blueprint, Response, abort, current_app, g, render_template, request, send_file
from markupsafe import Markup

from coach.access import session_or_404
from coach.auth import login_required
from coach.db import EXTENSION, get_db
from coach.review import charts
from coach.review.csv_safe import csv_lines
from coach.review.raw_series import chunk_stats, write_session_recording
from coach.review.raw_window import (
    MAX_WINDOW_S,
    SessionSpan,
    Window,
    WindowError,
    parse_window,
    session_span,
    window_channels,
    write_window_recording,
)
from coach.review.series_jobs import SERIES_JOBS
from coach.review.series_record import ChartSeries, load_series
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
    ("injury_risk", None), ("faults", None), ("feedback_text", None), ("set", None))


def _detail(session_id: str) -> SessionDetail:
    conn = get_db()
    row = session_or_404(conn, g.user, session_id)
    detail = load_session(conn, row["id"])
    if detail is None:
        abort(404)
    return detail


PREPARING_RELOAD_S = 3


def _series(detail: SessionDetail) -> tuple[ChartSeries | None, str | None]:
    """(the session's display series, None) or (None, why not: "preparing", "no data" or
    the error of its computation). An ended session without a record gets one computed once
    in the background; a recording session's comes from its box with the next rep."""
    conn = get_db()
    series = load_series(conn, detail.id)
    if series is not None:
        return series, None
    if detail.data_span_s is None:
        return None, "no raw sensor data was synced for this session"
    if detail.status == "active":
        return None, "the charts appear with the box's next rep"
    failed = SERIES_JOBS.request(current_app.extensions[EXTENSION], detail.id)
    if failed:
        return None, f"the charts of this session could not be prepared: {failed}"
    return None, "preparing"


def rep_charts(detail: SessionDetail) -> dict[str, Markup]:
    """The velocity and asymmetry charts: per rep, with the sets marked off; beyond
    ``charts.MANY_BARS`` reps in more than one set, per set (a long session's hundreds of
    reps are read set by set, and the table below has every rep)."""
    if len(detail.reps) > charts.MANY_BARS and len(detail.sets) > 1:
        return _set_charts(detail)
    reps = detail.reps
    velocity = charts.render_both(
        "velocity", charts.velocity_per_rep, [r.number for r in reps],
        [r.get("mean_concentric_velocity_mps") for r in reps],
        [r.get("peak_concentric_velocity_mps") for r in reps],
        [r.velocity_loss_pct for r in reps], [r.problem for r in reps],
        [(s.number, s.first, s.last) for s in detail.sets])
    with_platform = [r for r in reps if r.get("asymmetry_pct") is not None]
    asymmetry = charts.render_both("asymmetry", charts.asymmetry_per_rep,
                                   [r.number for r in with_platform],
                                   [r.get("asymmetry_pct") for r in with_platform])
    return {"velocity": Markup(velocity), "asymmetry": Markup(asymmetry)}


def _set_charts(detail: SessionDetail) -> dict[str, Markup]:
    sets = detail.sets
    peaks = [[v for v in (r.get("peak_concentric_velocity_mps") for r in s.reps) if v is not None]
             for s in sets]
    velocity = charts.render_both(
        "velocity_sets", charts.velocity_per_rep, [s.number for s in sets],
        [s.mean("mean_concentric_velocity_mps") for s in sets],
        [max(p) if p else None for p in peaks], [s.velocity_loss_pct for s in sets],
        [s.problems > 0 for s in sets], (), "set")
    with_platform = [s for s in sets if s.mean("asymmetry_pct") is not None]
    asymmetry = charts.render_both("asymmetry_sets", charts.asymmetry_per_rep,
                                   [s.number for s in with_platform],
                                   [s.mean("asymmetry_pct") for s in with_platform], "set")
    return {"velocity": Markup(velocity), "asymmetry": Markup(asymmetry)}


@bp.route("/sessions/<session_id>")
@login_required
def show(session_id: str) -> Any:
    detail = _detail(session_id)
    _, waiting = _series(detail)
    return render_template("review/session.html", s=detail, charts=rep_charts(detail),
                           raw_charts=RAW_CHARTS, preparing=waiting == "preparing",
                           reload_s=PREPARING_RELOAD_S)


@bp.route("/sessions/<session_id>/charts/<name>.svg")  # ?size=phone: the phone's drawing
@login_required
def raw_chart(session_id: str, name: str) -> Any:
    if name not in RAW_CHARTS:
        abort(404)
    detail = _detail(session_id)
    series, waiting = _series(detail)
    phone = request.args.get("size") == "phone"
    if series is None:
        message = ("preparing this chart: reload the page in a few seconds"
                   if waiting == "preparing" else waiting or "no data")
        return Response(charts.render(name, charts.empty_chart, message, phone=phone),
                        mimetype="image/svg+xml", headers={"Cache-Control": "no-store"})
    spans = series.spans
    alerts = [(a.t_s, a.reason) for a in detail.alerts]
    height, tilt, cop = series.height_line(), series.tilt, series.cop_paths()
    if name == "displacement" and height is not None:
        svg = charts.render(name, charts.displacement_over_time, *height, spans, alerts,
                            phone=phone)
    elif name == "tilt" and tilt is not None:
        svg = charts.render(name, charts.tilt_over_time, *tilt, spans, alerts, phone=phone)
    elif name == "cop" and cop is not None:
        svg = charts.render(name, charts.cop_from_above, *cop, spans, phone=phone)
    elif name == "raw":
        svg = charts.render(name, charts.raw_channels, series.raw, phone=phone)
    else:
        what = {"displacement": "no reps with bar IMU data", "tilt": "no bar IMU data",
                "cop": "no reps with platform data"}.get(name, "no data")
        svg = charts.render(name, charts.empty_chart, what, phone=phone)
    cache = "private, max-age=60" if series.final else "no-store"
    return Response(svg, mimetype="image/svg+xml", headers={"Cache-Control": cache})


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
            elif name == "set":
                row.append(rep.set_number)
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
