"""Small, dependency-free statistics for the gatekeeper's thresholds.

Counts of bad records (nulls, unknown categories, short sessions, outliers) are tested with
exact binomial tails rather than a normal approximation: rare events in a batch of a few
thousand records have a Poisson-like, skewed distribution for which ``mean + z * sd`` is far too
permissive. The tails are summed in log space over a window around the mean, with numpy only
(scipy is not a dependency). Robust summaries (median, MAD, quantiles) live here too.
"""

from __future__ import annotations

import functools
import math

import numpy as np

# Window around the mean over which the pmf is summed: far enough that the mass left out is
# below any alpha a z-score of up to ~30 could ask for.
_WINDOW_SD = 40.0
_WINDOW_MIN = 60
MAD_TO_SD = 1.4826


def z_to_alpha(z: float) -> float:
    """One-sided tail probability of a standard normal beyond ``z``.

    Args:
        z: Number of standard deviations.

    Returns:
        ``P(Z > z)``.
    """
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def _log_pmf(n: int, p: float) -> tuple[np.ndarray, np.ndarray]:
    """Binomial log-pmf over the window of counts that can matter, with the counts."""
    mu, sd = n * p, math.sqrt(n * p * (1.0 - p))
    lo = max(0, math.floor(mu - _WINDOW_SD * sd - _WINDOW_MIN))
    hi = min(n, math.ceil(mu + _WINDOW_SD * sd + _WINDOW_MIN))
    k = np.arange(lo, hi + 1, dtype=np.float64)
    first = (
        math.lgamma(n + 1)
        - math.lgamma(lo + 1)
        - math.lgamma(n - lo + 1)
        + lo * math.log(p)
        + (n - lo) * math.log1p(-p)
    )
    # log pmf(k+1) - log pmf(k) = log((n-k)/(k+1)) + log(p/(1-p)): a cumulative sum, no loop.
    steps = np.log(n - k[:-1]) - np.log(k[:-1] + 1.0) + math.log(p) - math.log1p(-p)
    return k.astype(np.int64), first + np.concatenate([[0.0], np.cumsum(steps)])


# Pure functions of their arguments, and batches of planned sizes repeat them day after day.
@functools.lru_cache(maxsize=1 << 16)
def upper_critical(n: int, p: float, alpha: float) -> int:
    """Smallest count ``c`` with ``P(X >= c) <= alpha`` for ``X ~ Binomial(n, p)``.

    Args:
        n: Trials.
        p: Success probability.
        alpha: Tail probability allowed under ``p``.

    Returns:
        The critical count, between 1 and ``n + 1`` (``n + 1``: no count is significant).
    """
    if n <= 0:
        return 1
    if p <= 0.0:
        return 1
    if p >= 1.0:
        return n + 1
    k, log_pmf = _log_pmf(n, p)
    sf = np.cumsum(np.exp(log_pmf)[::-1])[::-1]  # sf[i] = P(X >= k[i]) within the window
    ok = np.flatnonzero(sf <= alpha)
    if ok.size == 0:
        return n + 1
    return max(1, int(k[ok[0]]))


@functools.lru_cache(maxsize=1 << 16)
def lower_critical(n: int, p: float, alpha: float) -> int:
    """Largest count ``c`` with ``P(X <= c) <= alpha`` for ``X ~ Binomial(n, p)``.

    Args:
        n: Trials.
        p: Success probability.
        alpha: Tail probability allowed under ``p``.

    Returns:
        The critical count, between -1 (no count is significant) and ``n``.
    """
    if n <= 0 or p <= 0.0:
        return -1
    if p >= 1.0:
        return n - 1
    k, log_pmf = _log_pmf(n, p)
    cdf = np.cumsum(np.exp(log_pmf))
    ok = np.flatnonzero(cdf <= alpha)
    if ok.size == 0:
        return -1
    return int(k[ok[-1]])


def rate_bounds(successes: int, trials: int, z: float) -> tuple[float, float, float]:
    """Baseline rate with a ``z``-standard-error band for its own sampling uncertainty.

    A rate learned from history is itself an estimate; testing live counts against the edge of
    its confidence band, not its centre, keeps a short history from producing false alarms.

    Args:
        successes: Historical events.
        trials: Historical records.
        z: Width of the band in standard errors.

    Returns:
        ``(rate, low, high)``, clipped to [0, 1]; all zero when there is no history.
    """
    if trials <= 0:
        return 0.0, 0.0, 0.0
    p = successes / trials
    se = math.sqrt(p * (1.0 - p) / trials)
    return p, max(0.0, p - z * se), min(1.0, p + z * se)


def robust_summary(values: np.ndarray, probs: tuple[float, ...]) -> dict:
    """Median, MAD, mean, standard deviation, extremes and quantiles of the finite values.

    Args:
        values: Observations (NaNs are ignored).
        probs: Quantile probabilities to keep.

    Returns:
        Keyword arguments of :class:`dtg_assets.gatekeeper.baseline.Distribution`.
    """
    x = np.asarray(values, dtype=np.float64)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return {"count": 0, "probs": [], "values": []}
    median = float(np.median(x))
    return {
        "count": int(x.size),
        "mean": float(x.mean()),
        "sd": float(x.std()),
        "min": float(x.min()),
        "max": float(x.max()),
        "median": median,
        "mad": float(np.median(np.abs(x - median))),
        "probs": [float(p) for p in probs],
        "values": [float(v) for v in np.quantile(x, probs)],
    }
