"""UUIDv7 made on the box: RFC 9562 layout, creation order = sort order."""
from __future__ import annotations

import threading
import time
import uuid

from edge_agent.store.ids import new_id, uuid7, uuid7_unix_ms


def test_version_and_variant_bits():
    for _ in range(100):
        u = uuid7()
        assert u.version == 7
        assert u.variant == uuid.RFC_4122
        assert (u.int >> 76) & 0xF == 7
        assert (u.int >> 62) & 0b11 == 0b10


def test_embedded_time_is_the_creation_time():
    before = time.time_ns() // 1_000_000
    u = uuid7()
    after = time.time_ns() // 1_000_000
    assert before <= uuid7_unix_ms(u) <= after


def test_ids_sort_in_creation_order_even_within_one_millisecond():
    made = [new_id() for _ in range(20_000)]  # many share a millisecond
    assert len(set(made)) == len(made)
    assert sorted(made) == made
    assert len({uuid7_unix_ms(m) for m in made}) < len(made)


def test_order_survives_a_wall_clock_step_back_and_counter_overflow():
    t = 2_000_000_000_000
    made = [uuid7(now_ms=t) for _ in range(5000)]       # > 4096: counter overflows
    made += [uuid7(now_ms=t - 60_000) for _ in range(10)]  # NTP stepped the clock back
    assert [m.int for m in made] == sorted(m.int for m in made)


def test_ids_from_several_threads_are_unique():
    out: list[list[str]] = [[] for _ in range(4)]

    def make(i: int) -> None:
        out[i].extend(new_id() for _ in range(2000))

    threads = [threading.Thread(target=make, args=(i,)) for i in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    every = [x for part in out for x in part]
    assert len(set(every)) == len(every)
    for part in out:
        assert sorted(part) == part
