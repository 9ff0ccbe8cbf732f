"""Raw chunks of a session (``sensor_data.raw_data``) as frames, numpy columns and a recording.

Chunks are decoded with ``sync.chunks`` (the wire format, either version) and the CSV written
with ``sensors.recording`` (what ``liftguard replay`` reads). Pages never read raw chunks: the
recording CSV export does, and the one-off computation of a display series for a session
synced before boxes built them (``coach.review.series_jobs``, via ``chunk_columns``).

Chunks are read in pages of ``PAGE_CHUNKS`` ordered by monotonic time, so a long session
(3,600 chunks per source an hour) never sits in one result set.
"""
from __future__ import annotations

import heapq
from dataclasses import dataclass
from typing import IO, Any, Iterator

import numpy as np

from models.display_series import concat_samples
from models.signals import SourceSamples
from sensors.frame import Frame
from sensors.recording import recording_columns, recording_lines, recording_order
from sync.chunks import ChunkFormatError, decode_chunk, decode_columns

PAGE_CHUNKS = 300


@dataclass
class ChunkStats:
    count: int
    last_end_ns: int | None
    sources: dict[str, tuple[str, ...]]   # source -> channels


def chunk_stats(conn: Any, session_id: str) -> ChunkStats:
    """How many chunks a session has, up to when, and which sources/channels (one query)."""
    with conn.cursor() as cur:
        cur.execute("SELECT raw_data->>'source', raw_data->'channels', count(*), "
                    "max(mono_end_ns) FROM sensor_data WHERE session = %s "
                    "GROUP BY 1, 2 ORDER BY 1", (session_id,))
        rows = cur.fetchall()
    sources: dict[str, tuple[str, ...]] = {}
    for source, channels, _, _ in rows:
        if isinstance(source, str) and isinstance(channels, list):
            sources[source] = tuple(str(c) for c in channels)
    ends = [r[3] for r in rows if r[3] is not None]
    return ChunkStats(sum(r[2] for r in rows), max(ends) if ends else None, sources)


def iter_chunks(conn: Any, session_id: str, source: str | None = None,
                mono_range: tuple[int, int] | None = None) -> Iterator[dict]:
    """The session's chunks (decoded JSON), oldest first, ``PAGE_CHUNKS`` per query; with
    ``mono_range`` (lo, hi) only those overlapping it on the box's monotonic clock."""
    after: tuple[int, str] = (-(2 ** 63), "")
    where = "session = %s" + (" AND raw_data->>'source' = %s" if source else "")
    params: tuple[Any, ...] = (session_id, source) if source else (session_id,)
    if mono_range is not None:
        where += " AND mono_start_ns <= %s AND mono_end_ns >= %s"
        params += (mono_range[1], mono_range[0])
    while True:
        with conn.cursor() as cur:
            cur.execute(f"SELECT COALESCE(mono_start_ns, -9223372036854775808), id::text, raw_data "
                        f"FROM sensor_data WHERE {where} AND "
                        f"(COALESCE(mono_start_ns, -9223372036854775808), id::text) > (%s, %s) "
                        f"ORDER BY 1, 2 LIMIT {PAGE_CHUNKS}", params + after)
            rows = cur.fetchall()
        for _, _, raw in rows:
            if isinstance(raw, dict):
                yield raw
        if len(rows) < PAGE_CHUNKS:
            return
        after = (rows[-1][0], rows[-1][1])


def _frames(chunks: Iterator[dict], skipped: list[str]) -> Iterator[Frame]:
    for chunk in chunks:
        try:
            yield from decode_chunk(chunk)
        except ChunkFormatError as exc:
            skipped.append(str(exc))


def write_session_recording(conn: Any, session_id: str, out: IO[str]) -> int:
    """Write the session as a recording CSV (``liftguard replay`` format) to ``out``, merging
    the sources in time order source by source page by page; returns the frames written."""
    stats = chunk_stats(conn, session_id)
    if not stats.sources:
        return 0
    columns = recording_columns(c for chans in stats.sources.values() for c in chans)
    skipped: list[str] = []
    streams = [_frames(iter_chunks(conn, session_id, source), skipped) for source in stats.sources]
    count = 0

    def counted() -> Iterator[Frame]:
        nonlocal count
        for frame in heapq.merge(*streams, key=recording_order):
            count += 1
            yield frame

    out.writelines(recording_lines(counted(), columns))
    return count


# ---- samples for the display series (coach.review.series_jobs) ---------------------------

def _is_int(x: Any) -> bool:
    return type(x) is int


def _number_or_null(x: Any) -> bool:
    return x is None or type(x) is float or type(x) is int


def _plain(chunk: Any) -> bool:
    """Whether the fast path of :func:`chunk_columns` may take this chunk: every field the box
    writes has the type ``decode_chunk`` demands (anything else goes to ``decode_chunk``)."""
    if not isinstance(chunk, dict) or not _is_int(chunk.get("v")) or chunk["v"] != 1 \
            or "wall_steps" in chunk:
        return False
    n, channels, values = chunk.get("n"), chunk.get("channels"), chunk.get("values")
    if not (_is_int(n) and n >= 1 and _is_int(chunk.get("t0_ns")) and _is_int(chunk.get("seq0"))
            and isinstance(chunk.get("source"), str) and type(chunk.get("wall_t0")) in (int, float)
            and isinstance(channels, list) and channels
            and all(isinstance(c, str) for c in channels)
            and isinstance(values, list) and len(values) == len(channels)):
        return False
    dt = chunk.get("dt_ns")
    if n > 1 and not (_is_int(dt) or (isinstance(dt, list) and len(dt) == n - 1
                                       and all(map(_is_int, dt)))):
        return False
    jumps = chunk.get("seq_jumps", [])
    if not isinstance(jumps, list) or not all(
            isinstance(j, list) and len(j) == 2 and _is_int(j[0]) and _is_int(j[1])
            and 1 <= j[0] < n for j in jumps) or len({j[0] for j in jumps}) != len(jumps):
        return False
    return all(isinstance(col, list) and len(col) == n and all(map(_number_or_null, col))
               for col in values)


def chunk_columns(chunk: Any) -> tuple[str, tuple[str, ...], np.ndarray, np.ndarray, np.ndarray]:
    """(source, channels, mono_ns, seq, values (n, channels)) of one chunk as numpy arrays.

    Exactly what ``sync.chunks.decode_chunk`` gives (its ``decode_columns`` takes any chunk that
    is not a plain version 1 and raises ``ChunkFormatError`` naming what is wrong), without a
    ``Frame`` per sample: an hour of raw data is a million frames, whose objects cost seconds
    and hundreds of MB. Wall times are not needed for display and are not rebuilt."""
    if not _plain(chunk):  # version 2 (counts) and anything unusual: the full decoder
        c = decode_columns(chunk)
        return (c.source, c.channels, np.array(c.monos, dtype=np.int64),
                np.array(c.seqs, dtype=np.int64), np.array(c.values, dtype=float).T)
    n, dt = chunk["n"], chunk.get("dt_ns")
    values = np.array(chunk["values"], dtype=float).reshape(len(chunk["channels"]), n).T
    # One sample has no steps, whatever dt_ns says (as decode_chunk reads it).
    steps = (np.asarray(dt, dtype=np.int64) if isinstance(dt, list) and n > 1
             else np.full(n - 1, dt if n > 1 else 0, np.int64))
    mono = chunk["t0_ns"] + np.concatenate(([0], np.cumsum(steps))).astype(np.int64)
    seq = chunk["seq0"] + np.arange(n, dtype=np.int64)
    for i, value in sorted(chunk.get("seq_jumps", [])):
        seq[i:] += value - seq[i]
    return chunk["source"], tuple(chunk["channels"]), mono, seq, values


def chunk_samples(chunks: Iterator[dict], skipped: list[str]
                  ) -> Iterator[tuple[str, SourceSamples]]:
    """Each chunk as (source, ``SourceSamples``), in the order given; a chunk that does not
    decode is left out and its error appended to ``skipped``."""
    for chunk in chunks:
        try:
            source, channels, mono, seq, values = chunk_columns(chunk)
        except ChunkFormatError as exc:
            skipped.append(str(exc))
            continue
        order = np.argsort(mono, kind="stable")
        yield source, SourceSamples(mono[order], seq[order],
                                    {c: values[order, i] for i, c in enumerate(channels)})


def session_sources(chunks: Iterator[dict], skipped: list[str]) -> dict[str, SourceSamples]:
    """The chunks gathered per source as ``models.signals.SourceSamples`` (time-ordered)."""
    parts: dict[str, list[SourceSamples]] = {}
    for source, samples in chunk_samples(chunks, skipped):
        parts.setdefault(source, []).append(samples)
    return {source: concat_samples(items) for source, items in parts.items()}
