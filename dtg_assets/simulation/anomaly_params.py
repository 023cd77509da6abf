"""Parameters of every anomaly type, with their defaults.

One strict model per type (:class:`AnomalyParams` holds them all, by type name): the seven value
anomalies of the original model and the six structural ones. Defaults are the shipped scenario's;
every model validates at construction, so a bad value fails before anything is generated.
"""

from __future__ import annotations

from typing import Literal, Self

from pydantic import Field, field_validator, model_validator

from dtg_assets.simulation.models import FloatRange, IntRange, Probability, StrictModel


class NullBurstParams(StrictModel):
    """``null_burst``: campaign ids go missing."""

    null_rate: Probability = 0.25


class AgeErrorParams(StrictModel):
    """``age_error``: applicants get an under-age age."""

    rate: Probability = 0.15
    age: IntRange = IntRange(low=10, high=16)


class TrafficSpikeParams(StrictModel):
    """``traffic_spike``: more visitors, most of them bots with sub-second sessions."""

    visitor_multiplier: float = Field(2.5, ge=1.0, le=100.0)
    bot_rate: Probability = 0.8
    bot_session_seconds: FloatRange = FloatRange(low=0.1, high=1.0)


class FraudSpikeParams(StrictModel):
    """``fraud_spike``: transactions close to the account's approved limit."""

    rate: Probability = 0.05
    limit_share: FloatRange = FloatRange(low=0.7, high=0.9)


class LimitSpikeParams(StrictModel):
    """``limit_spike``: requested limits far above the usual tenth of income."""

    rate: Probability = 0.10
    income_share: FloatRange = FloatRange(low=0.6, high=0.9)


class StaleDataParams(StrictModel):
    """``stale_data``: every event of the batch happened hours before it landed."""

    delay_hours: float = Field(12.0, ge=0.0, le=24.0 * 30)


class ConversionDropParams(StrictModel):
    """``conversion_drop``: far fewer visitors apply."""

    apply_rate: Probability = 0.05


# Columns a schema drift may not touch: keys and lineage join the funnel together and name the
# batch, and the application status decides which applications have accounts. A producer that
# breaks them breaks every join downstream; the drift anomaly is about payload columns.
DRIFT_PROTECTED = frozenset(
    {"visitor_id", "app_id", "account_id", "txn_id", "batch_id", "ingested_at",
     "application_status"}
)  # fmt: skip
DriftKind = Literal["drop_column", "rename_column", "add_column", "type_change"]


class SchemaDriftParams(StrictModel):
    """``schema_drift``: one table's files of the batch are written with another schema."""

    kind: DriftKind = "type_change"
    table: Literal["visitor_events", "applications", "accounts", "transactions"] = "applications"
    column: str = Field("annual_income", min_length=1)
    new_name: str | None = Field(
        None, description="The column's name after a `rename_column` (default `<column>_v2`)."
    )

    @model_validator(mode="after")
    def _column_fits_kind(self) -> Self:
        # Imported here: schemas import nothing from config, config nothing at module level.
        from dtg_assets.simulation.schemas import TABLE_SCHEMAS

        schema = TABLE_SCHEMAS[self.table]
        payload = [n for n in schema.names if n not in DRIFT_PROTECTED]
        if self.kind == "add_column":
            if self.column in schema.names:
                raise ValueError(
                    f"column={self.column!r} already exists in {self.table}; add_column needs "
                    "a new column name"
                )
            return self
        if self.column not in payload:
            raise ValueError(
                f"column={self.column!r} cannot {self.kind.replace('_', ' ')} in {self.table}; "
                f"allowed: {', '.join(payload)}"
            )
        if self.kind == "type_change" and schema.field(self.column).type == "string":
            raise ValueError(
                f"column={self.column!r} is a string: type_change applies to numeric and "
                f"timestamp columns of {self.table}"
            )
        if self.kind == "rename_column" and self.renamed in schema.names:
            raise ValueError(f"new_name={self.renamed!r} already exists in {self.table}")
        return self

    @property
    def renamed(self) -> str:
        """The column's name after a rename."""
        return self.new_name or f"{self.column}_v2"


class DuplicateRecordsParams(StrictModel):
    """``duplicate_records``: some visitors and everything downstream of them are sent twice."""

    share: Probability = 0.05
    next_batch_share: Probability = 0.5


class OrphanRecordsParams(StrictModel):
    """``orphan_records``: some applications' visitor events never land."""

    share: Probability = 0.10


class TimezoneShiftParams(StrictModel):
    """``timezone_shift``: every event time of the batch is stamped in another time zone."""

    hours: float = Field(5.0, ge=-24.0, le=24.0)

    @field_validator("hours")
    @classmethod
    def _nonzero(cls, value: float) -> float:
        if value == 0:
            raise ValueError("hours=0 shifts nothing; allowed: -24..24 except 0")
        return value


class DistributionShiftParams(StrictModel):
    """``distribution_shift``: the device mix and incomes drift, every rule still holding."""

    mobile_share: Probability = 0.75
    income_multiplier: float = Field(0.7, gt=0.0, le=10.0)


class MissingBatchParams(StrictModel):
    """``missing_batch``: the batch never lands (it has no parameters)."""


class AnomalyParams(StrictModel):
    """Parameters of every anomaly type, with the shipped defaults."""

    null_burst: NullBurstParams = NullBurstParams()
    age_error: AgeErrorParams = AgeErrorParams()
    traffic_spike: TrafficSpikeParams = TrafficSpikeParams()
    fraud_spike: FraudSpikeParams = FraudSpikeParams()
    limit_spike: LimitSpikeParams = LimitSpikeParams()
    stale_data: StaleDataParams = StaleDataParams()
    conversion_drop: ConversionDropParams = ConversionDropParams()
    schema_drift: SchemaDriftParams = SchemaDriftParams()
    duplicate_records: DuplicateRecordsParams = DuplicateRecordsParams()
    orphan_records: OrphanRecordsParams = OrphanRecordsParams()
    timezone_shift: TimezoneShiftParams = TimezoneShiftParams()
    distribution_shift: DistributionShiftParams = DistributionShiftParams()
    missing_batch: MissingBatchParams = MissingBatchParams()
