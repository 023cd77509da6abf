"""Configuration of the gatekeeper's detectors: strict pydantic models, one per rule.

Rules hold *margins*, never absolute thresholds: every threshold is derived at detection time
from the baseline (a historical rate, domain or distribution) plus these margins, scaled to the
size of the batch. The margins are generic statistical choices (a z-score for the false-alarm
rate per test, a number of robust spreads beyond a high historical quantile), not values fitted
to a particular schedule.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Rule(BaseModel):
    """A detector that can be switched off."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True


class CountRule(Rule):
    """Counts bad records; flags when the count is improbable under the baseline rate.

    The batch's count is compared with an exact binomial tail at the upper edge of the
    baseline rate's ``z``-standard-error band; the tail probability allowed is ``P(Z > z)``.
    A rate that was 0 throughout history flags from ``min_count`` records on.
    """

    z: float = Field(4.5, gt=0, le=30)
    min_count: int = Field(1, ge=1)


class FenceRule(CountRule):
    """Record-level outliers above ``quantile(upper_quantile) + fence_k * spread``.

    ``spread`` is the robust standard deviation (1.4826 MAD), floored at ``spread_floor``
    times the median so a near-constant history still leaves a margin.
    """

    upper_quantile: float = Field(0.999, ge=0.5, le=1.0)
    fence_k: float = Field(3.0, ge=0)
    spread_floor: float = Field(0.1, ge=0)


class RangeRule(CountRule):
    """Values outside the range history makes normal for their column.

    The range is history's extremes, each pushed out by ``k`` times the width of its outer
    ``tail`` (at least ``tail_records`` values of history;
    :meth:`~dtg_assets.gatekeeper.summaries.Distribution.learned_range`): tight beyond a
    bounded column, wide beyond a long-tailed one or a short history, whatever the scale.
    """

    tail: float = Field(0.01, gt=0, lt=0.5)
    tail_records: int = Field(10, ge=0)
    k: float = Field(3.0, ge=0)


class MinAgeRule(RangeRule):
    """Applicants younger than ``minimum_age`` *and* younger than history's range of ages.

    The legal minimum alone would make every normal applicant under it a finding in a funnel
    whose applicants start younger; below both, a record is one history never showed.
    """

    minimum_age: int = Field(18, ge=0)


class StatusRule(CountRule):
    """Application statuses outside the valid domain (the baseline's, unless given)."""

    valid_statuses: tuple[str, ...] | None = None


class RateRule(Rule):
    """A funnel rate, tested two-sided with exact binomial tails at ``P(Z > z)`` each."""

    z: float = Field(4.5, gt=0, le=30)


class VolumeRule(Rule):
    """Visitors per batch within the baseline's median, +- the widest of three margins.

    The margins are ``z`` robust spreads of historical batch sizes, ``z`` Poisson standard
    deviations, and ``tolerance`` times the median: batch sizes are planned, so history
    rarely shows their legitimate variation (a live day may plan 2,000 or 8,000 visitors a
    batch where history had 5,000), and the rule is a guard against gross failures only.
    """

    z: float = Field(4.5, gt=0, le=30)
    tolerance: float = Field(0.75, ge=0)


class FreshnessRule(Rule):
    """Median ingestion lag of a batch's records above the upper fence of historical lags, or
    later than history's by the ``event_time`` clock test (which also catches a child table
    whose lag only moved with its parent's)."""

    tables: tuple[str, ...] = ("visitor_events", "applications", "accounts", "transactions")
    upper_quantile: float = Field(0.999, ge=0.5, le=1.0)
    fence_k: float = Field(3.0, ge=0)
    spread_floor: float = Field(0.1, ge=0)


class ClockRule(Rule):
    """A batch's event times moved against its ingestion time.

    A table moved when its mean ingestion lag differs from history's by more than ``z``
    standard errors of a mean (history's standard deviation of a record's lag over the root of
    the batch's size) and by at least ``min_shift_seconds`` (the smallest offset between two
    time zones is 15 minutes: a smaller move is jitter, not a clock); a child table also moved
    when its parent table did and its mean offset to its parent records stayed within the same
    margin of history's (the shift was inherited: the relation is intact).
    """

    z: float = Field(4.5, gt=0, le=30)
    min_shift_seconds: float = Field(900.0, ge=0)


class DriftRule(Rule):
    """Chi-square test of a column's binned distribution against history's.

    The statistic is scaled for the sampling error of the historical proportions (two-sample
    form) and compared with the critical value at ``P(Z > z)`` divided by the number of
    columns tested (Bonferroni).
    """

    z: float = Field(4.5, gt=0, le=30)
    min_records: int = Field(50, ge=1)


class CadenceRule(Rule):
    """Missing batches: slots of the day's arrival grid with no batch.

    The grid's phase comes from history (historical batches' start offsets in the day); its
    spacing is the coarsest even division of the day that puts every arrival of the day within
    ``tolerance_seconds`` of a slot.
    """

    tolerance_seconds: float = Field(90.0, ge=0)
    max_batches_per_day: int = Field(288, ge=1)


class Rules(BaseModel):
    """Every detector's rule, grouped by family (defaults are the shipped configuration)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # technical data quality
    schema_check: Rule = Rule()
    completeness: CountRule = CountRule()
    domain: CountRule = CountRule()
    format: CountRule = CountRule()
    uniqueness: CountRule = CountRule()
    replays: CountRule = CountRule()
    references: CountRule = CountRule()
    range: RangeRule = RangeRule()
    # business data quality
    min_age: MinAgeRule = MinAgeRule()
    status_domain: StatusRule = StatusRule()
    limit_share_of_income: FenceRule = FenceRule()
    accounts_approved: CountRule = CountRule()
    # freshness
    ingestion_lag: FreshnessRule = FreshnessRule()
    event_time: ClockRule = ClockRule()
    cadence: CadenceRule = CadenceRule()
    # statistical
    volume: VolumeRule = VolumeRule()
    short_sessions: CountRule = CountRule()
    conversion_rate: RateRule = RateRule()
    approval_rate: RateRule = RateRule()
    transaction_rate: RateRule = RateRule()
    amount_to_limit: FenceRule = FenceRule()
    distribution: DriftRule = DriftRule()
