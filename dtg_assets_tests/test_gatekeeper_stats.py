"""The gatekeeper's statistics: exact binomial critical counts and robust summaries."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dtg_assets.gatekeeper.stats import (
    lower_critical,
    rate_bounds,
    robust_summary,
    upper_critical,
    z_to_alpha,
)


def _pmf(n: int, p: float, k: int) -> float:
    return math.comb(n, k) * p**k * (1 - p) ** (n - k)


def _sf(n: int, p: float, c: int) -> float:
    return sum(_pmf(n, p, k) for k in range(c, n + 1))


def _cdf(n: int, p: float, c: int) -> float:
    return sum(_pmf(n, p, k) for k in range(0, c + 1))


@pytest.mark.parametrize(
    ("n", "p", "alpha"),
    [(200, 0.03, 1e-3), (50, 0.5, 1e-2), (1000, 0.002, 1e-5), (300, 0.2, z_to_alpha(4.5))],
)
def test_critical_counts_match_brute_force_tails(n, p, alpha):
    c = upper_critical(n, p, alpha)
    assert _sf(n, p, c) <= alpha < _sf(n, p, c - 1)
    c = lower_critical(n, p, alpha)
    assert _cdf(n, p, c) <= alpha < _cdf(n, p, c + 1)


def test_critical_counts_at_the_edges():
    # A rate never seen makes one occurrence significant; a certain one makes nothing.
    assert upper_critical(5000, 0.0, 1e-6) == 1
    assert upper_critical(10, 1.0, 1e-6) == 11
    assert upper_critical(0, 0.3, 1e-6) == 1
    assert lower_critical(10, 0.5, 1e-6) == -1  # P(X = 0) = 1/1024 is not below 1e-6
    assert lower_critical(10, 0.5, 1 / 1024) == 0
    # Huge batches stay exact enough: the normal approximation is right there.
    n, p, z = 10_000_000, 0.2, 4.5
    c = upper_critical(n, p, z_to_alpha(z))
    assert abs((c - n * p) / math.sqrt(n * p * (1 - p)) - z) < 0.01


def test_z_to_alpha_and_rate_bounds():
    assert z_to_alpha(0) == 0.5
    assert z_to_alpha(1.959964) == pytest.approx(0.025, rel=1e-5)
    p, lo, hi = rate_bounds(200, 1000, 2.0)
    se = math.sqrt(0.2 * 0.8 / 1000)
    assert (p, lo, hi) == pytest.approx((0.2, 0.2 - 2 * se, 0.2 + 2 * se))
    assert rate_bounds(0, 1000, 3.0) == (0.0, 0.0, 0.0)
    assert rate_bounds(0, 0, 3.0) == (0.0, 0.0, 0.0)


def test_robust_summary_ignores_nans_and_keeps_median_mad_mean_sd_quantiles():
    values = np.array([1.0, 2.0, 3.0, 4.0, 100.0, np.nan])
    s = robust_summary(values, (0.0, 0.5, 1.0))
    sd = float(np.std([1.0, 2.0, 3.0, 4.0, 100.0]))
    assert s == {
        "count": 5,
        "mean": 22.0,
        "sd": sd,
        "min": 1.0,
        "max": 100.0,
        "median": 3.0,
        "mad": 1.0,
        "probs": [0.0, 0.5, 1.0],
        "values": [1.0, 3.0, 100.0],
    }
    assert robust_summary(np.array([np.nan]), (0.5,)) == {"count": 0, "probs": [], "values": []}
