"""The gatekeeper's baseline: robust statistics learned from historical landing data only.

:func:`learn_baseline` reads the historical window of the landing zone (never live data, never
the ground truth) and summarises what normal looks like: per-column null counts, value domains
and string shapes, duplicate keys, ingestion lags, visitors per batch, session durations and the
share of sub-second sessions, application/approval/transaction rates (pooled counts and the
spread of per-batch rates), and the distributions of applicant age, ``req_credit_limit /
annual_income``, ``amount`` and ``amount / approved_limit``. Distributions are kept as median,
MAD, extremes and a quantile grid. The result is a strict pydantic model that round-trips
through JSON.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping

import numpy as np
import pyarrow as pa
from pydantic import Field

from dtg_assets.gatekeeper.frames import Frames, prepare, read_days
from dtg_assets.gatekeeper.profile import ID_COLUMNS, NUMERIC, column_profile, kind, table_profile
from dtg_assets.gatekeeper.structure import DRIFT_COLUMNS, histogram
from dtg_assets.gatekeeper.summaries import (
    DEFAULT_PROBS,
    HISTOGRAM,
    BaselineConfig,
    Cadence,
    ColumnProfile,
    Distribution,
    Histogram,
    Model,
    Rate,
    TableProfile,
)
from dtg_assets.simulation.landing import LandingZone
from dtg_assets.simulation.layout import parse_batch_id
from dtg_assets.simulation.schemas import TABLES

# Re-exported: the baseline's models were always importable from here.
__all__ = [
    "DEFAULT_PROBS",
    "Baseline",
    "BaselineConfig",
    "Cadence",
    "ColumnProfile",
    "Distribution",
    "Histogram",
    "Rate",
    "TableProfile",
    "column_profile",
    "learn_baseline",
    "learn_from_frames",
    "table_profile",
]


class Baseline(Model):
    """Everything the detectors compare live batches against."""

    format_version: int = 1
    config: BaselineConfig = BaselineConfig()
    days: list[dt.date]
    batches: list[str]
    tables: dict[str, TableProfile]
    visitors_per_batch: Distribution
    session_seconds: Distribution
    short_sessions: Rate
    conversion: Rate
    approval: Rate
    transaction: Rate
    unapproved_accounts: Rate
    applicant_age: Distribution
    limit_share_of_income: Distribution
    amount: Distribution
    amount_to_limit: Distribution
    histograms: dict[str, Histogram] = {}
    ranges: dict[str, Distribution] = Field(
        {}, description="Every numeric landing column's distribution, by ``table.column``."
    )
    cadence: Cadence = Cadence()

    def summary(self) -> dict[str, float | int]:
        """Headline numbers, flat and JSON-friendly (e.g. for asset metadata).

        Returns:
            Name -> value.
        """
        columns = [c for t in self.tables.values() for c in t.columns.values()]
        return {
            "days": len(self.days),
            "batches": len(self.batches),
            "visitors_per_batch_median": self.visitors_per_batch.median or 0.0,
            "session_seconds_median": self.session_seconds.median or 0.0,
            "short_session_share": self.short_sessions.rate,
            "conversion_rate": self.conversion.rate,
            "approval_rate": self.approval.rate,
            "transaction_rate": self.transaction.rate,
            "limit_share_of_income_median": self.limit_share_of_income.median or 0.0,
            "amount_median": self.amount.median or 0.0,
            "amount_to_limit_q999": self.amount_to_limit.quantile(0.999),
            "visitor_lag_seconds_median": (
                self.tables["visitor_events"].ingestion_lag_seconds.median or 0.0
            ),
            "columns_with_nulls": sum(c.nulls > 0 for c in columns),
            "value_domains": sum(c.domain is not None for c in columns),
            "shape_domains": sum(c.shapes is not None for c in columns),
        }

    def to_json(self) -> str:
        """Serialise to indented JSON."""
        return self.model_dump_json(indent=1)

    @classmethod
    def from_json(cls, text: str | bytes) -> Baseline:
        """Parse JSON written by :meth:`to_json` (unknown keys are errors)."""
        return cls.model_validate_json(text)


def _cadence(frames: Frames) -> Cadence:
    """Start offsets in the day of the historical batches, and their ingestion delay."""
    starts = [parse_batch_id(b) for b in frames.batches]
    starts = [s for _, s in (p for p in starts if p is not None)]
    if not starts:
        return Cadence()
    offsets = sorted({(s - s.replace(hour=0, minute=0)).total_seconds() for s in starts})
    vis = frames["visitor_events"]
    times, valid = vis.micros("ingested_at")
    delays = []
    for i, batch in enumerate(frames.batches):
        parsed = parse_batch_id(batch)
        own = (vis.codes == i) & valid
        if parsed is not None and own.any():
            delays.append(times[own].min() / 1e6 - parsed[1].timestamp())
    days = len({s.date() for s in starts})
    return Cadence(
        offsets_seconds=offsets,
        batches_per_day=len(starts) / days,
        ingestion_delay_seconds=float(np.median(delays)) if delays else None,
    )


def _rate(per_batch: list[tuple[int, int]], probs: tuple[float, ...]) -> Rate:
    s = sum(k for k, _ in per_batch)
    n = sum(n for _, n in per_batch)
    rates = [k / n for k, n in per_batch if n]
    return Rate(successes=s, trials=n, per_batch=Distribution.of(np.array(rates), probs))


def _per_batch(events: np.ndarray, trials: np.ndarray) -> list[tuple[int, int]]:
    return [(int(k), int(n)) for k, n in zip(events, trials, strict=True)]


def numeric_ranges(
    frames: Frames, schemas: Mapping[str, pa.Schema], probs: tuple[float, ...]
) -> dict[str, Distribution]:
    """The distribution of every numeric column of every table (identifiers excluded).

    Args:
        frames: Prepared historical rows.
        schemas: Arrow schema of each table.
        probs: Quantile probabilities to keep.

    Returns:
        ``table.column`` -> its distribution.
    """
    return {
        f"{t}.{field.name}": Distribution.of(frames[t].floats(field.name), probs)
        for t in TABLES
        for field in schemas[t]
        if kind(field.type) in NUMERIC and field.name not in ID_COLUMNS
    }


def learn_from_frames(
    frames: Frames, schemas: Mapping[str, pa.Schema], config: BaselineConfig, days: list[dt.date]
) -> Baseline:
    """Learn a baseline from prepared historical rows.

    Args:
        frames: Output of :func:`dtg_assets.gatekeeper.frames.prepare`.
        schemas: Arrow schema of each table as read.
        config: What to measure.
        days: The historical days the rows cover (recorded in the baseline).

    Returns:
        The baseline.
    """
    q = config.quantile_probs
    vis, apps, acc = frames["visitor_events"], frames["applications"], frames["accounts"]
    txn = frames["transactions"]
    with np.errstate(invalid="ignore"):
        short = vis.count(vis.floats("session_duration") < config.short_session_seconds)
    approved = apps.count(apps.equals("application_status", "approved"))
    transacting = acc.count(acc.derived["_transacts"])
    unapproved = acc.count(~acc.derived["_approved"])
    return Baseline(
        config=config,
        days=sorted(days),
        batches=list(frames.batches),
        tables={t: table_profile(frames[t], t, schemas[t], config) for t in TABLES},
        visitors_per_batch=Distribution.of(vis.sizes, q),
        session_seconds=Distribution.of(vis.floats("session_duration"), q),
        short_sessions=_rate(_per_batch(short, vis.sizes), q),
        conversion=_rate(_per_batch(apps.sizes, vis.sizes), q),
        approval=_rate(_per_batch(approved, apps.sizes), q),
        transaction=_rate(_per_batch(transacting, acc.sizes), q),
        unapproved_accounts=_rate(_per_batch(unapproved, acc.sizes), q),
        applicant_age=Distribution.of(apps.floats("applicant_age"), q),
        limit_share_of_income=Distribution.of(apps.floats("_limit_share"), q),
        amount=Distribution.of(txn.floats("amount"), q),
        amount_to_limit=Distribution.of(txn.floats("_amount_to_limit"), q),
        histograms={
            name: Histogram(**dict(zip(HISTOGRAM, histogram(frames[t], c), strict=True)))
            for name, (t, c) in DRIFT_COLUMNS.items()
        },
        ranges=numeric_ranges(frames, schemas, q),
        cadence=_cadence(frames),
    )


def learn_baseline(
    zone: LandingZone, days: Iterable[dt.date], config: BaselineConfig | None = None
) -> Baseline:
    """Learn the baseline from the historical landing data of some days.

    Only ``landing/`` files of the *historical* window are read (by batch-id prefix), so live
    data and the ground truth cannot leak in.

    Args:
        zone: The data root.
        days: Historical days to learn from.
        config: What to measure; defaults to :class:`BaselineConfig`.

    Returns:
        The baseline.

    Raises:
        ValueError: If the days hold no historical visitor events.
    """
    days = sorted(set(days))
    tables, schemas = read_days(zone, "historical", days)
    if tables["visitor_events"].num_rows == 0:
        listed = ", ".join(d.isoformat() for d in days) or "none"
        raise ValueError(f"no historical visitor events landed for days: {listed}")
    return learn_from_frames(prepare(tables), schemas, config or BaselineConfig(), days)
