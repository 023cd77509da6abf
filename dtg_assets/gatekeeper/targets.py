"""What the evaluation scores: the anomaly types, and the detectors and labels of each.

:data:`ALL_TYPES` lists the thirteen anomaly types in report order; :data:`DEFAULT_TARGETS`
names, per type, the detectors built to catch it (for attribution and their false positives,
never for recall, which counts any detector); :data:`RECORD_TARGETS` says, per record-level
type, which labels are the truth (anomaly, table, affected column) and which detectors' flagged
ids are the prediction. :class:`Targets` bundles the two: :data:`GATEKEEPER_TARGETS` (the
gatekeeper's detectors by name) or :data:`ANY_DETECTOR` (any detector counts for every type).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from dtg_assets.simulation.config import ANOMALY_TYPES

# Every anomaly type the engine can inject, in report order: SPEC's seven, then the structural.
STRUCTURAL_TYPES = (
    "schema_drift",
    "duplicate_records",
    "orphan_records",
    "timezone_shift",
    "distribution_shift",
    "missing_batch",
)
ALL_TYPES: tuple[str, ...] = (*dict.fromkeys((*ANOMALY_TYPES, *STRUCTURAL_TYPES)),)

# Anomaly type -> detector-name patterns built to catch it (for attribution, not for recall).
DEFAULT_TARGETS: dict[str, tuple[str, ...]] = {
    "null_burst": ("completeness:*",),
    "age_error": ("min_age", "status_domain", "domain:applications.application_status"),
    "traffic_spike": ("short_sessions", "volume"),
    "fraud_spike": ("amount_to_limit",),
    "limit_spike": ("limit_share_of_income",),
    "stale_data": ("ingestion_lag:*",),
    "conversion_drop": ("conversion_rate",),
    "schema_drift": ("schema:*",),
    "duplicate_records": ("uniqueness:*", "replays:*"),
    "orphan_records": ("references:*",),
    # A shift towards the past looks exactly like stale data.
    "timezone_shift": ("event_time:*", "ingestion_lag:*"),
    "distribution_shift": ("distribution:*",),
    "missing_batch": ("cadence",),
}


@dataclass(frozen=True)
class RecordTarget:
    """A record-level anomaly: which labels are the truth and which detectors predict it.

    Attributes:
        anomaly: The anomaly type.
        table: Only its labels of this table, or of these tables (None: every table).
        column: Only labels whose affected columns include this one (None: any label).
        detectors: Patterns of the detectors whose flagged ids are the prediction.
    """

    anomaly: str
    table: str | tuple[str, ...] | None
    column: str | None
    detectors: tuple[str, ...]

    @property
    def tables(self) -> tuple[str, ...] | None:
        """The tables whose labels count (None: every table)."""
        return (self.table,) if isinstance(self.table, str) else self.table


RECORD_TARGETS: dict[str, RecordTarget] = {
    "under_age_applications": RecordTarget(
        "age_error", "applications", "applicant_age", ("min_age",)
    ),
    "limit_spikes": RecordTarget(
        "limit_spike", "applications", "req_credit_limit", ("limit_share_of_income",)
    ),
    "fraud_transactions": RecordTarget(
        "fraud_spike", "transactions", "amount", ("amount_to_limit",)
    ),
    "null_campaigns": RecordTarget(
        "null_burst", "visitor_events", "campaign_id", ("completeness:visitor_events.campaign_id",)
    ),
    "bot_sessions": RecordTarget(
        "traffic_spike", "visitor_events", "session_duration", ("short_sessions",)
    ),
    # A clock, a schema or a distribution is the batch's: every record it changed counts.
    "stale_records": RecordTarget("stale_data", None, None, DEFAULT_TARGETS["stale_data"]),
    "conversion_drop": RecordTarget(
        "conversion_drop", None, None, DEFAULT_TARGETS["conversion_drop"]
    ),
    **{
        t: RecordTarget(t, None, None, DEFAULT_TARGETS[t])
        for t in STRUCTURAL_TYPES
        if t != "distribution_shift"
    },
    # Every shifted income (and the approved limit drawn from it) differs from history's
    # distribution; a visitor moved to mobile looks like any other mobile visitor, so the
    # device part is scored apart: flagging the over-represented value is the best possible.
    "shifted_incomes": RecordTarget(
        "distribution_shift", ("applications", "accounts"), None, ("distribution:*",)
    ),
    "shifted_devices": RecordTarget(
        "distribution_shift", "visitor_events", None, ("distribution:*",)
    ),
}


@dataclass(frozen=True)
class Targets:
    """Which detectors count for which anomaly type, at batch and at record level.

    Attributes:
        batch: Anomaly type -> detector-name patterns meant for it (attribution and false
            positives; recall counts any detector whatever this says).
        records: Record-level types: the labels that are the truth, the detectors predicting.
    """

    batch: Mapping[str, tuple[str, ...]]
    records: Mapping[str, RecordTarget]


# The gatekeeper's own detectors, by name: what its evaluation reports.
GATEKEEPER_TARGETS = Targets(DEFAULT_TARGETS, RECORD_TARGETS)
# Any detector, whatever its name, counts for every type (a detector that is not the
# gatekeeper's: its names say nothing about what it looks for).
ANY_DETECTOR = Targets(
    dict.fromkeys(ALL_TYPES, ("*",)),
    {name: replace(t, detectors=("*",)) for name, t in RECORD_TARGETS.items()},
)
