"""Counts with intervals, as the evaluation and training reports print them."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.stats import binomtest

from evaluation.metrics import (
    clopper_pearson,
    count_with_interval,
    format_count,
    reps_needed_to_show,
    smallest_provable_rate,
    support_note,
)


@given(st.integers(0, 400).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))))
def test_clopper_pearson_matches_scipy_and_contains_the_rate(kn):
    k, n = kn
    if n == 0:
        assert all(np.isnan(clopper_pearson(k, n)))
        return
    low, high = clopper_pearson(k, n)
    expected = binomtest(k, n).proportion_ci(confidence_level=0.95, method="exact")
    assert low == pytest.approx(expected.low, abs=1e-9) and high == pytest.approx(expected.high, abs=1e-9)
    assert low <= k / n <= high


def test_sixty_clean_reps_cannot_show_five_percent():
    assert smallest_provable_rate(60) == pytest.approx(0.0596, abs=1e-4)
    assert "60 held-out clean reps are too few to show a rate of 5 %" in support_note(60, 0.05)
    assert support_note(2000, 0.05) is None


@given(st.floats(0.001, 0.5))
def test_reps_needed_is_the_smallest_count_that_can_show_the_rate(target):
    n = reps_needed_to_show(target)
    assert smallest_provable_rate(n) <= target < smallest_provable_rate(n - 1)


def test_counts_format_without_none():
    entry = count_with_interval([True, False, False, False])
    assert (entry["k"], entry["n"], entry["rate"]) == (1, 4, 0.25)
    assert format_count(entry).startswith("1/4 = 0.25 (95 % CI 0.01-0.81)")
    assert format_count(count_with_interval([])) == "none (0 reps)"
