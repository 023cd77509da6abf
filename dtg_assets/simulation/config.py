"""Strict pydantic configuration of the funnel simulator.

Every number of the funnel model is a default here: funnel rates and distribution bounds
(:class:`FunnelParams`), the parameters of each anomaly (:class:`AnomalyParams`, in
:mod:`.anomaly_params`), the live intra-day batch schedule (:class:`BatchSpec`), the named
presets and the scenario around them (:class:`ScenarioConfig`). All models forbid unknown keys
and validate at construction, so a bad value fails before anything is generated or written, with
a message naming the field, the value and what is allowed.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Literal, Self

from pydantic import Field, field_validator, model_validator

from dtg_assets.simulation.anomaly_params import (
    DRIFT_PROTECTED,
    AgeErrorParams,
    AnomalyParams,
    ConversionDropParams,
    DistributionShiftParams,
    DriftKind,
    DuplicateRecordsParams,
    FraudSpikeParams,
    LimitSpikeParams,
    MissingBatchParams,
    NullBurstParams,
    OrphanRecordsParams,
    SchemaDriftParams,
    StaleDataParams,
    TimezoneShiftParams,
    TrafficSpikeParams,
)
from dtg_assets.simulation.dates import ALLOWED, allowed_range, days_after, days_before, describe
from dtg_assets.simulation.models import FloatRange, IntRange, Probability, StrictModel

# Re-exported: the configuration's models are importable from here, as they always were.
__all__ = [
    "ANOMALY_TYPES",
    "DEFAULT_LIVE_SCHEDULE",
    "DRIFT_PROTECTED",
    "MAX_BATCHES_PER_DAY",
    "MAX_BATCH_VISITORS",
    "PRESETS",
    "STRUCTURAL_TYPES",
    "AgeErrorParams",
    "AnomalyParams",
    "AnomalyType",
    "BatchSpec",
    "ConversionDropParams",
    "DistributionShiftParams",
    "DriftKind",
    "DuplicateRecordsParams",
    "FloatRange",
    "FraudSpikeParams",
    "FunnelParams",
    "IntRange",
    "LimitSpikeParams",
    "MissingBatchParams",
    "NullBurstParams",
    "OrphanRecordsParams",
    "Preset",
    "Probability",
    "ScenarioConfig",
    "SchemaDriftParams",
    "StaleDataParams",
    "StrictModel",
    "TimezoneShiftParams",
    "TrafficSpikeParams",
    "default_start_date",
]

MAX_BATCH_VISITORS = 50_000_000
# Batch ids carry the batch's start as HHMM; one batch a minute at most keeps them unique.
MAX_BATCHES_PER_DAY = 1440


class AnomalyType(StrEnum):
    """The injectable anomalies: seven value anomalies and six structural ones."""

    NULL_BURST = "null_burst"
    AGE_ERROR = "age_error"
    TRAFFIC_SPIKE = "traffic_spike"
    FRAUD_SPIKE = "fraud_spike"
    LIMIT_SPIKE = "limit_spike"
    STALE_DATA = "stale_data"
    CONVERSION_DROP = "conversion_drop"
    SCHEMA_DRIFT = "schema_drift"
    DUPLICATE_RECORDS = "duplicate_records"
    ORPHAN_RECORDS = "orphan_records"
    TIMEZONE_SHIFT = "timezone_shift"
    DISTRIBUTION_SHIFT = "distribution_shift"
    MISSING_BATCH = "missing_batch"


ANOMALY_TYPES: tuple[str, ...] = tuple(a.value for a in AnomalyType)


class FunnelParams(StrictModel):
    """Rates and distributions of the normal funnel (the shipped model's defaults)."""

    visitor_offset_seconds: IntRange = IntRange(low=1, high=99)
    session_mean_seconds: float = Field(30.0, gt=0)
    session_sd_seconds: float = Field(10.0, ge=0)
    session_min_seconds: float = Field(0.1, ge=0)
    campaign_number: IntRange = IntRange(low=100, high=998)
    apply_rate: Probability = 0.20
    applicant_age: IntRange = IntRange(low=22, high=64)
    annual_income: IntRange = IntRange(low=40_000, high=149_999)
    application_lag_minutes: IntRange = IntRange(low=1, high=14)
    minimum_age: int = Field(18, ge=0)
    approve_rate: Probability = 0.60
    reject_share: Probability = Field(
        0.90, description="Share of non-approved applications that are rejected, not submitted."
    )
    limit_factor: FloatRange = FloatRange(low=0.8, high=1.2)
    interest_rate: FloatRange = FloatRange(low=14.99, high=29.99)
    account_lag_hours: IntRange = IntRange(low=2, high=23)
    transact_rate: Probability = 0.10
    transactions_per_account: IntRange = IntRange(low=1, high=4)
    amount: FloatRange = FloatRange(low=5.0, high=500.0)
    transaction_lag_days: IntRange = IntRange(low=1, high=4)
    transaction_lag_minutes: IntRange = IntRange(low=0, high=1439)

    @field_validator("transactions_per_account")
    @classmethod
    def _positive_count(cls, value: IntRange) -> IntRange:
        if value.low < 1:
            raise ValueError(f"low={value.low} must be >= 1 (a transacting account transacts)")
        return value


# The anomalies added with the structural ones: their parameters count in a live day's
# configuration hash only where scheduled, so that adding them left older tokens unchanged.
STRUCTURAL_TYPES: tuple[str, ...] = ANOMALY_TYPES[7:]


def _anomaly_name(value: object) -> object:
    if value is None or isinstance(value, AnomalyType):
        return value
    if isinstance(value, str) and value.lower() in ("", "none", "normal", "null"):
        return None
    if value not in ANOMALY_TYPES:
        raise ValueError(
            f"unknown anomaly {value!r}; allowed: null (a normal batch) or one of "
            f"{', '.join(ANOMALY_TYPES)}"
        )
    return value


class BatchSpec(StrictModel):
    """One micro-batch of the live intra-day schedule: normal, one anomaly or several.

    ``anomaly`` (one) and ``anomalies`` (several, applied in the order given) may both be given
    only when they agree (``anomaly`` is then the first of ``anomalies``); :attr:`kinds` is the
    effective tuple either way.
    """

    anomaly: AnomalyType | None = None
    anomalies: tuple[AnomalyType, ...] = ()
    visitors: int = Field(ge=1, le=MAX_BATCH_VISITORS)

    @field_validator("anomaly", mode="before")
    @classmethod
    def _known_anomaly(cls, value: object) -> object:
        return _anomaly_name(value)

    @field_validator("anomalies", mode="before")
    @classmethod
    def _known_anomalies(cls, value: object) -> object:
        if isinstance(value, list | tuple):
            return tuple(v for v in map(_anomaly_name, value) if v is not None)
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if len(set(self.anomalies)) != len(self.anomalies):
            raise ValueError(f"anomalies={self.names}: each anomaly at most once per batch")
        if self.anomaly is not None and self.anomalies and self.anomalies[0] != self.anomaly:
            raise ValueError(
                f"anomaly={self.anomaly.value!r} and anomalies={self.names} disagree; give one "
                "of them, or anomaly equal to the first of anomalies"
            )
        if self.anomaly is None and self.anomalies:
            object.__setattr__(self, "anomaly", self.anomalies[0])
        return self

    @property
    def kinds(self) -> tuple[AnomalyType, ...]:
        """The batch's anomalies, in schedule order (empty for a normal batch)."""
        if self.anomalies:
            return self.anomalies
        return (self.anomaly,) if self.anomaly is not None else ()

    @property
    def names(self) -> list[str]:
        """The anomaly names, in schedule order."""
        return [k.value for k in self.kinds]


def _check_schedule(value: tuple[BatchSpec, ...]) -> tuple[BatchSpec, ...]:
    if not value:
        raise ValueError("empty schedule; at least 1 batch is required")
    if len(value) > MAX_BATCHES_PER_DAY:
        raise ValueError(
            f"{len(value)} batches a day; at most {MAX_BATCHES_PER_DAY} are allowed "
            "(batch ids carry the start minute)"
        )
    return value


Preset = Literal["default", "extended", "quiet"]
PRESETS: tuple[str, ...] = ("default", "extended", "quiet")

DEFAULT_LIVE_SCHEDULE: tuple[BatchSpec, ...] = (
    BatchSpec(anomaly=None, visitors=4500),
    BatchSpec(anomaly=AnomalyType.NULL_BURST, visitors=5000),
    BatchSpec(anomaly=AnomalyType.AGE_ERROR, visitors=5500),
    BatchSpec(anomaly=None, visitors=4800),
    BatchSpec(anomaly=AnomalyType.TRAFFIC_SPIKE, visitors=2000),
    BatchSpec(anomaly=AnomalyType.FRAUD_SPIKE, visitors=5200),
    BatchSpec(anomaly=AnomalyType.LIMIT_SPIKE, visitors=5300),
    BatchSpec(anomaly=AnomalyType.STALE_DATA, visitors=4800),
)


def default_start_date(today: dt.date | None = None) -> dt.date:
    """The original's start date: 21 days before today (UTC).

    Args:
        today: Override of today's UTC date, for tests.

    Returns:
        The date 21 days before ``today``.
    """
    today = today or dt.datetime.now(dt.UTC).date()
    return today - dt.timedelta(days=21)


class ScenarioConfig(StrictModel):
    """The whole simulated scenario: history, live days, schedule, funnel and anomalies."""

    start_date: dt.date = Field(default_factory=default_start_date)
    historical_days: int = Field(14, ge=0, le=3660)
    live_days: int = Field(7, ge=0, le=3660)
    historical_visitors: int = Field(5000, ge=1, le=MAX_BATCH_VISITORS)
    seed: int = Field(42, ge=0, le=2**63 - 1)
    scale: float = Field(1.0, gt=0.0, le=1000.0)
    funnel: FunnelParams = FunnelParams()
    anomalies: AnomalyParams = AnomalyParams()
    scenario: Preset = "default"
    live_schedule: tuple[BatchSpec, ...] = DEFAULT_LIVE_SCHEDULE
    live_week: tuple[tuple[BatchSpec, ...], ...] = Field(
        (),
        description="Per-day live schedules, cycled over the live days (live day i follows "
        "entry i modulo their number); empty: every live day follows live_schedule.",
    )

    @model_validator(mode="before")
    @classmethod
    def _apply_preset(cls, data: object) -> object:
        # A preset other than default writes the schedules itself: a schedule given beside it
        # would silently lose to one or the other, so the combination is an error.
        if not isinstance(data, dict) or data.get("scenario", "default") not in PRESETS[1:]:
            return data  # the default, or an unknown name the field itself reports
        preset = data["scenario"]
        given = [k for k in ("live_schedule", "live_week") if data.get(k) is not None]
        if given:
            raise ValueError(
                f"scenario={preset!r} sets the live schedule itself; give either scenario or "
                f"{' and '.join(given)} (scenario 'default' keeps a schedule you give)"
            )
        from dtg_assets.simulation.presets import preset_schedules

        schedule, week = preset_schedules(preset)
        return {**data, "live_schedule": schedule, "live_week": week}

    @field_validator("start_date", mode="before")
    @classmethod
    def _parse_date(cls, value: object) -> object:
        if isinstance(value, str):
            try:
                return dt.date.fromisoformat(value)
            except ValueError:
                raise ValueError(
                    f"unparseable date {value!r}; expected an ISO date YYYY-MM-DD"
                ) from None
        return value

    @field_validator("live_schedule")
    @classmethod
    def _schedule_length(cls, value: tuple[BatchSpec, ...]) -> tuple[BatchSpec, ...]:
        # Checked after the items (not with min_length) so that one bad batch is reported as
        # itself, not also as an "empty" schedule once pydantic has dropped it.
        return _check_schedule(value)

    @field_validator("live_week")
    @classmethod
    def _week_lengths(
        cls, value: tuple[tuple[BatchSpec, ...], ...]
    ) -> tuple[tuple[BatchSpec, ...], ...]:
        return tuple(_check_schedule(day) for day in value)

    @model_validator(mode="after")
    def _scaled_volumes_in_range(self) -> Self:
        live = [b.visitors for day in self.live_days_schedules for b in day]
        volumes = [self.historical_visitors, *live]
        biggest = max(volumes) * self.scale
        if biggest > MAX_BATCH_VISITORS:
            raise ValueError(
                f"scale={self.scale} makes a batch of {biggest:,.0f} visitors; "
                f"at most {MAX_BATCH_VISITORS:,} are allowed per batch"
            )
        return self

    @model_validator(mode="after")
    def _dates_in_calendar(self) -> Self:
        before, after = self.event_margins
        days = self.historical_days + self.live_days
        lowest, highest = allowed_range(before, days, after)
        if not lowest <= self.start_date.toordinal() <= highest:
            raise ValueError(
                f"start_date={self.start_date.isoformat()}: the scenario's {days} days, and the "
                f"events landing up to {before} day(s) before and {after} after them, must use "
                f"dates with four-digit years ({ALLOWED}), so the start date must be between "
                f"{describe(lowest)} and {describe(highest)}"
            )
        return self

    @property
    def event_margins(self) -> tuple[int, int]:
        """Days before and after a batch's day its events can land on (see :mod:`.dates`)."""
        scheduled = {k.value for day in self.live_days_schedules for b in day for k in b.kinds}
        return (
            days_before(self.anomalies, scheduled),
            days_after(self.funnel, self.anomalies, scheduled),
        )

    @property
    def live_days_schedules(self) -> tuple[tuple[BatchSpec, ...], ...]:
        """The distinct live-day schedules: ``live_week``, or ``live_schedule`` alone."""
        return self.live_week or (self.live_schedule,)

    def schedule_for(self, day: dt.date) -> tuple[BatchSpec, ...]:
        """The batches of a live day (``live_week`` cycled from the live start).

        Args:
            day: A live day.

        Returns:
            Its schedule.
        """
        if not self.live_week:
            return self.live_schedule
        return self.live_week[(day - self.live_start).days % len(self.live_week)]

    @property
    def live_start(self) -> dt.date:
        """First live day: the day after the historical window."""
        return self.start_date + dt.timedelta(days=self.historical_days)

    @property
    def end_date(self) -> dt.date:
        """Day after the last scenario day (exclusive end)."""
        return self.live_start + dt.timedelta(days=self.live_days)
