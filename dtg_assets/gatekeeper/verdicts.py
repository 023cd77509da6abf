"""Turning a batch's measurement into a finding: the three tests every detector reduces to.

- :func:`count_test`: a share of bad records against a baseline rate (one-sided, exact
  binomial), record-level: the finding lists the bad records' ids when it flags;
- :func:`rate_test`: a funnel rate against its baseline, two-sided;
- :func:`bound_test`: a batch-level value against fixed bounds (volume, median lag, schema).

Each returns a :class:`Finding`, one row of the findings table. ``evidence_at`` is when the
verdict became decidable: for a count test the time the critical number of bad records had
been seen, otherwise when the last record the metric needs was available.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from dtg_assets.gatekeeper.frames import pk_ids
from dtg_assets.gatekeeper.stats import lower_critical, rate_bounds, upper_critical, z_to_alpha

FAMILIES = ("technical", "business", "freshness", "statistical")


@dataclass
class Finding:
    """The verdict of one detector on one batch (see ``FINDINGS_SCHEMA``)."""

    batch_id: str
    family: str
    detector: str
    table: str
    metric_name: str
    metric: float
    expected: float | None
    threshold: float | None
    comparison: str
    lower: float | None
    upper: float | None
    record_threshold: float | None
    n: int
    count: int | None
    verdict: str
    flagged_ids: list[str] = field(default_factory=list)
    evidence_at: pd.Timestamp | None = None
    detail: str = ""


@dataclass(frozen=True)
class Target:
    """What a detector checks: its name, family and table (the batch id comes later)."""

    detector: str
    family: str
    table: str
    metric_name: str


def last_available(*frames: pd.DataFrame) -> pd.Timestamp | None:
    """When the last record of some frames became available (None if all are empty)."""
    times = [f["_available"].max() for f in frames if len(f)]
    return max(times) if times else None


def count_test(
    target: Target,
    batch_id: str,
    frame: pd.DataFrame,
    bad: np.ndarray | pd.Series,
    key: str,
    base: tuple[int, int],
    z: float,
    min_count: int,
    record_threshold: float | None = None,
    detail: str = "",
) -> Finding:
    """Flag a batch whose share of bad records exceeds what its baseline rate allows.

    Args:
        target: The detector.
        batch_id: The batch.
        frame: The batch's rows the rule applies to.
        bad: Boolean mask over ``frame``: the records breaking the rule.
        key: Id column of ``frame`` listed for flagged records.
        base: Historical ``(bad records, records)``.
        z: Margin in standard errors, also the one-sided tail probability ``P(Z > z)``.
        min_count: Fewest bad records that can flag.
        record_threshold: The per-record cutoff the rule used, for the report.
        detail: Human-readable description.

    Returns:
        The finding; ``metric`` is the bad share, ``threshold`` the largest share that passes.
    """
    bad = np.asarray(bad, dtype=bool)
    n, k = len(frame), int(bad.sum())
    p, _, p_hi = rate_bounds(base[0], base[1], z)
    crit = max(upper_critical(n, p_hi, z_to_alpha(z)), min_count)
    flag = n > 0 and k >= crit
    evidence = None
    if flag:
        evidence = frame.loc[bad, "_available"].sort_values().iloc[crit - 1]
    threshold = (crit - 1) / n if n else None
    return Finding(
        batch_id=batch_id,
        family=target.family,
        detector=target.detector,
        table=target.table,
        metric_name=target.metric_name,
        metric=k / n if n else 0.0,
        expected=p,
        threshold=threshold,
        comparison=">",
        lower=None,
        upper=threshold,
        record_threshold=record_threshold,
        n=n,
        count=k,
        verdict="flag" if flag else "pass",
        flagged_ids=pk_ids(frame, key, bad) if flag else [],
        evidence_at=evidence,
        detail=detail,
    )


def rate_test(
    target: Target,
    batch_id: str,
    successes: int,
    trials: int,
    base: tuple[int, int],
    z: float,
    evidence_at: pd.Timestamp | None,
    detail: str = "",
) -> Finding:
    """Flag a batch whose rate lies outside the two-sided binomial band of its baseline.

    Args:
        target: The detector.
        batch_id: The batch.
        successes: The batch's events (e.g. applications).
        trials: Its opportunities (e.g. visitors).
        base: Historical ``(events, opportunities)``.
        z: Margin in standard errors, and ``P(Z > z)`` allowed in each tail.
        evidence_at: When the batch's rate was complete.
        detail: Human-readable description.

    Returns:
        The finding; ``metric`` is the rate, ``threshold`` the bound on its side.
    """
    p, p_lo, p_hi = rate_bounds(base[0], base[1], z)
    alpha = z_to_alpha(z)
    n, k = trials, successes
    lo_crit, hi_crit = lower_critical(n, p_lo, alpha), upper_critical(n, p_hi, alpha)
    lower = (lo_crit + 1) / n if n else None
    upper = (hi_crit - 1) / n if n else None
    flag = n > 0 and (k <= lo_crit or k >= hi_crit)
    metric = k / n if n else math.nan
    return bound_finding(
        target, batch_id, metric, p, lower, upper, n, flag, evidence_at, detail, count=k
    )


def bound_test(
    target: Target,
    batch_id: str,
    metric: float,
    expected: float | None,
    lower: float | None,
    upper: float | None,
    n: int,
    evidence_at: pd.Timestamp | None,
    detail: str = "",
) -> Finding:
    """Flag a batch-level value outside ``[lower, upper]`` (either bound may be None).

    Args:
        target: The detector.
        batch_id: The batch.
        metric: The batch's value.
        expected: Its baseline value.
        lower: Smallest passing value.
        upper: Largest passing value.
        n: Records the value was computed from.
        evidence_at: When those records were all available.
        detail: Human-readable description.

    Returns:
        The finding.
    """
    flag = not math.isnan(metric) and (
        (lower is not None and metric < lower) or (upper is not None and metric > upper)
    )
    return bound_finding(
        target, batch_id, metric, expected, lower, upper, n, flag, evidence_at, detail
    )


def bound_finding(
    target: Target,
    batch_id: str,
    metric: float,
    expected: float | None,
    lower: float | None,
    upper: float | None,
    n: int,
    flag: bool,
    evidence_at: pd.Timestamp | None,
    detail: str,
    count: int | None = None,
) -> Finding:
    """Assemble a batch-level finding; ``threshold`` is the bound on the metric's side."""
    below = expected is not None and not math.isnan(metric) and metric < expected
    threshold, comparison = (lower, "<") if (below and lower is not None) else (upper, ">")
    if upper is None and lower is not None:
        threshold, comparison = lower, "<"
    return Finding(
        batch_id=batch_id,
        family=target.family,
        detector=target.detector,
        table=target.table,
        metric_name=target.metric_name,
        metric=float(metric),
        expected=expected,
        threshold=threshold,
        comparison=comparison,
        lower=lower,
        upper=upper,
        record_threshold=None,
        n=n,
        count=count,
        verdict="flag" if flag else "pass",
        evidence_at=evidence_at if flag else None,
        detail=detail,
    )
