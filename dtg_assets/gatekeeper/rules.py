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


class MinAgeRule(CountRule):
    """Applicants younger than ``minimum_age``."""

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
    rarely shows their legitimate variation.
    """

    z: float = Field(4.5, gt=0, le=30)
    tolerance: float = Field(0.5, ge=0)


class FreshnessRule(Rule):
    """Median ingestion lag of a batch's records above the upper fence of historical lags."""

    tables: tuple[str, ...] = ("visitor_events", "applications")
    upper_quantile: float = Field(0.999, ge=0.5, le=1.0)
    fence_k: float = Field(3.0, ge=0)
    spread_floor: float = Field(0.1, ge=0)


class Rules(BaseModel):
    """Every detector's rule, grouped by family (defaults are the shipped configuration)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # technical data quality
    schema_check: Rule = Rule()
    completeness: CountRule = CountRule()
    domain: CountRule = CountRule()
    format: CountRule = CountRule()
    uniqueness: CountRule = CountRule()
    # business data quality
    min_age: MinAgeRule = MinAgeRule()
    status_domain: StatusRule = StatusRule()
    limit_share_of_income: FenceRule = FenceRule()
    accounts_approved: CountRule = CountRule()
    # freshness
    ingestion_lag: FreshnessRule = FreshnessRule()
    # statistical
    volume: VolumeRule = VolumeRule()
    short_sessions: CountRule = CountRule()
    conversion_rate: RateRule = RateRule()
    approval_rate: RateRule = RateRule()
    transaction_rate: RateRule = RateRule()
    amount_to_limit: FenceRule = FenceRule()
