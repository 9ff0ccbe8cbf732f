"""Review data functions on hostile input, without a server: stored rep metrics of any shape,
feedback texts, CSV cells, display downsampling, chart rendering. Hypothesis mutates valid
inputs; only the documented outcome comes out and valid input after bad is still handled."""
from __future__ import annotations

import csv
import io
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coach.review import charts
from coach.review.csv_safe import FORMULA_STARTS, csv_lines, neutralise
from coach.review.series_record import chart_series, envelope_line
from coach.review.session_detail import add_set_model_flags, rep_rows
from coach.review.trends import SessionPoint, load_velocity_profile
from models.analysis import analyze_frames
from models.display_series import RepSpan, series_from_frames
from sensors.simulator import simulate_set
from sync.series import check_series
from tests.support.frames import OVERCLAIMING_CHUNKS

_SIM = simulate_set(reps=4, faults={2: "lateral_sway"}, seed=7)
_ANALYSIS = analyze_frames(_SIM.frames, "squat")
VALID = [r.as_dict() for r in _ANALYSIS.reps]

junk = st.one_of(st.none(), st.booleans(), st.text(max_size=8), st.integers(-10**12, 10**12),
                 st.floats(allow_nan=True, allow_infinity=True), st.lists(st.integers(), max_size=3),
                 st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))


@st.composite
def mutated_metrics(draw):
    metrics = dict(draw(st.sampled_from(VALID)))
    for key in draw(st.lists(st.sampled_from(sorted(metrics)), max_size=6)):
        if draw(st.booleans()):
            metrics[key] = draw(junk)
        else:
            metrics.pop(key, None)
    return metrics if draw(st.integers(0, 9)) else draw(junk)


@settings(max_examples=200, deadline=None)
@given(st.lists(mutated_metrics(), max_size=6), st.text(max_size=60))
def test_rep_rows_take_any_stored_metrics(metrics_list, text):
    rows = [(k + 1, m, None, None, None, text) for k, m in enumerate(metrics_list)]
    rows.append((99, VALID[1], 90.0, 80.0, 0.2, None))       # a good rep after bad ones
    reps = rep_rows(rows)
    assert [r.number for r in reps] == [r[0] for r in rows]
    for rep in reps:
        for key in ("rom_m", "mean_concentric_velocity_mps", "asymmetry_pct"):
            value = rep.get(key)
            assert value is None or (isinstance(value, float) and math.isfinite(value))
        assert all(isinstance(f.detail, str) and f.detail for f in rep.faults)
    assert reps[-1].get("rom_m") == VALID[1]["rom_m"]


def test_faults_are_the_box_rules_with_their_numbers():
    reps = rep_rows([(r["number"], r, None, None, None, None) for r in VALID])
    assert [f.name for f in reps[1].faults] == ["lateral"]
    assert "drifted" in reps[1].faults[0].detail and "cm" in reps[1].faults[0].detail
    assert reps[0].velocity_loss_pct == 0.0
    add_set_model_flags(reps, "Set of 4 squats. The anomaly model flagged reps 1 (the bar "
                              "tipping to one side), 3 as unlike clean reps.")
    assert [f.detail for f in reps[0].faults if f.name == "model"] == [
        "the anomaly model flagged this rep, pointing to the bar tipping to one side"]
    assert any(f.name == "model" for f in reps[2].faults)
    assert not any(f.name == "model" for f in reps[3].faults)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=30), st.integers(), st.floats(), st.none(), st.booleans()))
def test_neutralised_cells_never_start_a_formula(value):
    cell = neutralise(value)
    if isinstance(value, str):
        assert not cell.startswith(FORMULA_STARTS)
        assert cell in (value, "'" + value)
    text = "".join(csv_lines(["a"], [[value], ["=1+1"]]))
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert rows[-1] == ["'=1+1"]
    if isinstance(value, str) and "\r" not in value:
        assert rows[1][0] in (value, "'" + value)


def _spans(analysis, frames):
    t0 = min(f.mono_ns for f in frames)
    return [RepSpan(r.number, t0 + int(r.start_s * 1e9), t0 + int(r.end_s * 1e9))
            for r in analysis.reps]


def test_series_record_traces_each_rep_from_its_own_start():
    doc = series_from_frames(_SIM.frames, _spans(_ANALYSIS, _SIM.frames))
    check_series(doc)
    series = chart_series(doc)
    assert series.notes == []
    assert [r.number for r in series.reps] == [r.number for r in _ANALYSIS.reps]
    for trace, rep in zip(series.reps, _ANALYSIS.reps):
        assert trace.z_m[0] == 0.0                               # from the rep's own start
        assert abs(-np.nanmin(trace.z_m) - rep.rom_m) < 0.05     # its depth is visible
        assert abs(trace.z_m[-1]) < 0.05                          # and it comes back up
    assert set(series.raw) == {"ax", "ay", "az", "gx", "gy", "gz", "f_fl", "f_fr", "f_rl", "f_rr"}
    t, low, high = series.tilt
    assert t.size == low.size == high.size and np.all(low[np.isfinite(low)]
                                                       <= high[np.isfinite(low)])
    assert np.nanmax(np.abs(high)) < 20


def test_bar_height_does_not_drift_over_a_long_session():
    """The same set ten times, 6 minutes apart: every rep's trace starts at 0 and reaches its
    depth, however far into the session (one integration over the session drifted by metres)."""
    from models.display_series import series_from_sources
    from models.signals import split_by_source

    one = split_by_source(_SIM.frames)
    span = max(int(s.mono_ns[-1]) for s in one.values()) - min(int(s.mono_ns[0]) for s in one.values())
    gap = 360 * 10**9
    assert span < gap
    by_source, spans = {}, []
    for k in range(10):
        for source, s in one.items():
            prev = by_source.get(source)
            shifted = type(s)(s.mono_ns + k * gap, s.seq + k * s.seq.size, s.values)
            by_source[source] = shifted if prev is None else type(s)(
                np.concatenate([prev.mono_ns, shifted.mono_ns]),
                np.concatenate([prev.seq, shifted.seq]),
                {c: np.concatenate([prev.values[c], shifted.values[c]]) for c in s.values})
        spans += [RepSpan(r.number + 4 * k, r.start_ns + k * gap, r.end_ns + k * gap)
                  for r in _spans(_ANALYSIS, _SIM.frames)]
    doc = series_from_sources(by_source, spans)
    check_series(doc)
    series = chart_series(doc)
    assert len(series.reps) == 40
    depths = [-np.nanmin(r.z_m) for r in series.reps]
    assert max(depths) - min(depths) < 0.05
    assert all(r.z_m[0] == 0.0 and abs(r.z_m[-1]) < 0.05 for r in series.reps)
    assert doc["bucket_s"] >= 3240 / 512                       # bounded: at most 512 buckets
    assert all(len(e["min"]) <= 512 for e in doc["envelopes"].values())


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(allow_nan=True, allow_infinity=False, width=32), min_size=1,
                max_size=5000), st.floats(0.01, 100))
def test_envelopes_keep_extremes_within_the_bucket_bound(values, rate_hz):
    from models.display_series import Envelopes

    y = np.asarray(values, dtype=float)
    t = np.arange(y.size, dtype=float) / rate_hz
    env = Envelopes()
    for part in np.array_split(np.arange(y.size), 3):          # in pieces, as windows come
        if part.size:
            env.add("x", t[part], y[part])
    if not np.isfinite(y).any():
        assert "x" not in env.lo
        return
    lo, hi = env.lo["x"][:env.used], env.hi["x"][:env.used]
    assert env.used <= 512
    assert np.nanmin(lo) == np.nanmin(y) and np.nanmax(hi) == np.nanmax(y)
    line_t, line_v = envelope_line(lo, hi, env.width_s)
    assert line_t.size == line_v.size == 2 * env.used and np.all(np.diff(line_t) > 0)


def test_load_velocity_fit_and_1rm():
    def point(load, v):
        return SessionPoint("s", None, "squat", "ended", None, None, None, v, v, None, load, 3)
    profile = load_velocity_profile([point(40, 1.0), point(60, 0.8), point(80, 0.6)], "squat")
    assert abs(profile.r2 - 1.0) < 1e-9 and abs(profile.one_rm_kg - 110.0) < 1e-6
    flat = load_velocity_profile([point(40, 0.5), point(60, 0.6), point(80, 0.7)], "squat")
    assert flat.one_rm_kg is None and "does not fall" in flat.reason
    assert load_velocity_profile([point(40, 1.0)] * 5, "squat").reason.startswith("needs")


def test_charts_are_svg_with_text_and_cached():
    charts.SVG_CACHE.clear()
    args = ([1, 2, 3], [0.8, 0.7, None], [1.2, 1.1, 1.0], [0.0, 12.5, None], [False, True, False])
    svg = charts.render("velocity", charts.velocity_per_rep, *args)
    assert svg.startswith("<svg") and "Velocity per rep" in svg      # text stays text
    assert 'href="http' not in svg and "url(http" not in svg          # nothing fetched
    assert charts.render("velocity", charts.velocity_per_rep, *args) is svg
    assert "no reps" in charts.render("velocity", charts.velocity_per_rep, [], [], [], [], [])


def _font_sizes_pt(svg: str) -> list[float]:
    import re
    return [float(x) for x in re.findall(r"font-size: ([\d.]+)px", svg)]


def test_phone_charts_keep_text_readable_and_name_every_mark():
    charts.SVG_CACHE.clear()
    args = ([1, 2, 3], [0.8, 0.7, None], [1.2, 1.1, 1.0], [0.0, 12.5, None], [False, True, False])
    wide = charts.render("velocity", charts.velocity_per_rep, *args)
    phone = charts.render("velocity", charts.velocity_per_rep, *args, phone=True)
    assert 'width="259.2pt"' in phone and "for-phone" in phone and "for-wide" in wide
    sizes = _font_sizes_pt(phone)
    assert sizes and min(sizes) >= 9          # 9 pt scaled to a 360-390 px screen >= 11 CSS px
    for svg in (wide, phone):
        assert "rep with a fault" in svg and "peak velocity" in svg
        assert charts.RED.lower() in svg.lower() and "#dc2626" not in svg   # Okabe-Ito
    both = charts.render_both("velocity", charts.velocity_per_rep, *args)
    assert both == wide + phone
    t = np.linspace(0, 4, 400)
    cop = charts.render("cop", charts.cop_from_above, t, np.sin(t) / 100, np.cos(t) / 100,
                        [(1, 0.5, 1.5), (2, 2.0, 3.0)], phone=True)
    assert all(word in cop for word in ("toes", "heels", "left", "right"))
    assert "AP (mm)" not in cop and "ML (mm)" not in cop


def test_single_session_trend_labels_each_value():
    svg = charts.render("trend", charts.trends, ["07 Dec"], [0.77], [1.5], [92.0], [89.0],
                        [0.03])
    assert "0.77 m/s" in svg and "balance 92" in svg and "stability 89" in svg
    assert "risk 0.03" in svg


def test_small_asymmetry_still_shows_a_bar():
    svg = charts.render("asymmetry", charts.asymmetry_per_rep, [1, 2], [0.2, -0.1])
    assert "0.2" in svg and "±2" not in svg     # scale follows the data (at least ±2 %)


def test_duration_and_end_reason_in_words():
    from coach.review.template_helpers import duration, end_reason
    assert duration(25.4) == "25 s" and duration(185) == "3 min 05 s" and duration(None) == ""
    assert end_reason("api") == "ended on the box" and end_reason("command") == "ended from this app"
    assert end_reason("new_reason") == "ended: new reason" and end_reason(None) == ""


def _valid_chunks():
    from sensors.frame import Frame
    from sync.chunks import DEFAULT_DECIMALS, DEFAULT_RESOLUTION, encode_chunk, encode_counts_chunk
    frames = [f for f in _SIM.frames[:600]]
    imu = [f for f in frames if f.source == "imu"][:50]
    # lost samples, an irregular period and a missing value
    imu = imu[:10] + [f._replace(seq=f.seq + 5) for f in imu[10:20]] + [
        f._replace(mono_ns=f.mono_ns + 1234) for f in imu[20:]]
    imu[3] = imu[3]._replace(values=(math.nan,) + imu[3].values[1:])
    plat = [f for f in frames if f.source == "platform"][:20]
    one = [Frame("imu", 7, 10, 1.0, imu[0].channels, imu[0].values)]
    return [encode_chunk(imu, DEFAULT_DECIMALS), encode_chunk(plat), encode_chunk(one),
            encode_counts_chunk(imu, DEFAULT_RESOLUTION),
            encode_counts_chunk(plat, DEFAULT_RESOLUTION)]


VALID_CHUNKS = _valid_chunks()


@st.composite
def mutated_chunk(draw):
    chunk = json_copy(draw(st.sampled_from(VALID_CHUNKS)))
    for _ in range(draw(st.integers(0, 3))):
        key = draw(st.sampled_from(sorted(chunk) + ["seq_jumps", "wall_steps", "dt_ns"]))
        how = draw(st.integers(0, 3))
        if how == 0:
            chunk.pop(key, None)
        elif how == 1:
            chunk[key] = draw(junk)
        elif how == 2 and isinstance(chunk.get(key), list) and chunk[key]:
            i = draw(st.integers(0, len(chunk[key]) - 1))
            chunk[key][i] = draw(junk)
        elif (key == "values" and isinstance(chunk.get("values"), list) and chunk["values"]
              and isinstance(chunk["values"][0], list) and chunk["values"][0]):
            chunk["values"][0][draw(st.integers(0, len(chunk["values"][0]) - 1))] = draw(junk)
    return chunk


def json_copy(value):
    import json
    return json.loads(json.dumps(value))


@settings(max_examples=400, deadline=None)
@given(mutated_chunk())
def test_chunk_columns_equal_the_box_decoder_or_name_the_problem(chunk):
    from coach.review.raw_series import chunk_columns
    from sync.chunks import ChunkFormatError, decode_chunk
    try:
        frames = decode_chunk(chunk)
    except (ChunkFormatError, TypeError, ValueError, KeyError, AttributeError) as exc:
        try:
            chunk_columns(chunk)
        except ChunkFormatError:
            return
        except Exception as other:     # the same refusal as the box decoder, whatever it is
            assert type(other) is type(exc)
            return
        raise AssertionError("chunk_columns took a chunk the box decoder refuses")
    source, channels, mono, seq, values = chunk_columns(chunk)
    assert source == frames[0].source and channels == frames[0].channels
    assert mono.tolist() == [f.mono_ns for f in frames]
    assert seq.tolist() == [f.seq for f in frames]
    expected = np.array([f.values for f in frames], dtype=float).reshape(len(frames), -1)
    assert np.array_equal(values, expected, equal_nan=True)


@pytest.mark.parametrize("chunk", OVERCLAIMING_CHUNKS)
def test_chunk_columns_refuse_a_chunk_claiming_more_samples_than_it_carries(chunk):
    from coach.review.raw_series import chunk_columns
    from sync.chunks import ChunkFormatError

    with pytest.raises(ChunkFormatError):
        chunk_columns(chunk)


def test_reps_are_grouped_into_sets_by_rests_longer_than_30_s():
    from coach.review.rep_sets import SET_REST_S, group_sets

    def rep(number, start, mcv):
        return {"number": number, "metrics": {"start_s": start, "end_s": start + 2.5,
                                              "mean_concentric_velocity_mps": mcv}}
    rows = rep_rows([(r["number"], r["metrics"], None, None, None, None) for r in (
        rep(1, 0, 0.80), rep(2, 3, 0.70), rep(3, 5.5 + SET_REST_S - 0.1, 0.60),  # rest 29.9 s
        rep(4, 40 + SET_REST_S, 0.75), rep(5, 44 + SET_REST_S, 0.60),            # rest 32.1 s
        {"number": 6, "metrics": {}})])                                          # no times
    sets = group_sets(rows)
    assert [(s.number, s.first, s.last) for s in sets] == [(1, 1, 3), (2, 4, 6)]
    assert [r.set_number for r in rows] == [1, 1, 1, 2, 2, 2]
    assert sets[1].rest_before_s == pytest.approx(32.1)
    assert rows[2].velocity_loss_pct == pytest.approx(25.0)     # against set 1's best (0.80)
    assert rows[4].velocity_loss_pct == pytest.approx(20.0)     # against set 2's best (0.75)
    assert rows[5].velocity_loss_pct is None and sets[1].velocity_loss_pct is None
