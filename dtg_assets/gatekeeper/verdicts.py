"""Turning a batch's measurement into a finding: the three tests every detector reduces to.

- :func:`count_tests`: a share of bad records against a baseline rate (one-sided, exact
  binomial), record-level: the finding lists the bad records' ids when it flags; it tests
  every batch of a table at once (counts per batch in one pass; ids only for flagged ones);
- :func:`rate_test`: a funnel rate against its baseline, two-sided;
- :func:`bound_test`: a batch-level value against fixed bounds (volume, median lag, schema).

Each returns :class:`Finding` rows of the findings table. ``evidence_at`` is when the
verdict became decidable: for a count test the time the critical number of bad records had
been seen, otherwise when the last record the metric needs was available (passed as a callable
so it is looked up only for a batch that flags).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from dtg_assets.gatekeeper.rows import TableRows
from dtg_assets.gatekeeper.stats import lower_critical, rate_bounds, upper_critical, z_to_alpha

# Every finding's family; the gatekeeper's findings asset declares one check per family.
FAMILIES = ("technical", "business", "freshness", "statistical")
Evidence = pd.Timestamp | Callable[[], pd.Timestamp | None] | None


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


def count_tests(
    target: Target,
    batches: list[str],
    rows: TableRows,
    bad: np.ndarray,
    key: str,
    base: tuple[int, int],
    z: float,
    min_count: int,
    record_threshold: float | None = None,
    detail: str = "",
    scope: np.ndarray | None = None,
) -> list[Finding]:
    """Flag each batch whose share of bad records exceeds what its baseline rate allows.

    Args:
        target: The detector.
        batches: Batch ids (the findings' order).
        rows: The table.
        bad: Boolean mask over the table's rows: the records breaking the rule.
        key: Id column listed for flagged records.
        base: Historical ``(bad records, records)``.
        z: Margin in standard errors, also the one-sided tail probability ``P(Z > z)``.
        min_count: Fewest bad records that can flag.
        record_threshold: The per-record cutoff the rule used, for the report.
        detail: Human-readable description.
        scope: The rows the rule applies to (all when None); ``bad`` is read inside it.

    Returns:
        One finding per batch; ``metric`` is the bad share, ``threshold`` the largest share
        that passes, ``evidence_at`` when the critical number of bad records had been seen.
    """
    if scope is not None:
        bad = bad & scope
    sizes = rows.sizes if scope is None else rows.count(scope)
    counts = rows.count(bad)
    p, _, p_hi = rate_bounds(base[0], base[1], z)
    alpha = z_to_alpha(z)
    out = []
    for b, batch_id in enumerate(batches):
        n, k = int(sizes[b]), int(counts[b])
        crit = max(upper_critical(n, p_hi, alpha), min_count)
        flag = n > 0 and k >= crit
        evidence, ids = None, []
        if flag:
            chosen = rows.rows(b, bad)
            evidence, ids = rows.nth_available(chosen, crit - 1), rows.ids(key, chosen)
        threshold = (crit - 1) / n if n else None
        out.append(
            Finding(
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
                flagged_ids=ids,
                evidence_at=evidence,
                detail=detail,
            )
        )
    return out


def rate_test(
    target: Target,
    batch_id: str,
    successes: int,
    trials: int,
    base: tuple[int, int],
    z: float,
    evidence_at: Evidence,
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
        evidence_at: When the batch's rate was complete (or a callable giving it).
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
    evidence_at: Evidence,
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
        evidence_at: When those records were all available (or a callable giving it).
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
    evidence_at: Evidence,
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
        evidence_at=(evidence_at() if callable(evidence_at) else evidence_at) if flag else None,
        detail=detail,
    )
