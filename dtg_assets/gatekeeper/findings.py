"""Run the detectors over batches and collect their verdicts as an Arrow table.

:func:`detect_batches` works on in-memory landing tables (any number of batches, grouped by
their ``batch_id`` column); :func:`detect_day` reads one day of a window from the landing zone
first (every event date, by batch-id prefix, so a batch's late transactions are included).
The result has one row per (batch, detector), in ``FINDINGS_SCHEMA``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import operator
from collections.abc import Iterable, Mapping

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from dtg_assets.gatekeeper.baseline import Baseline
from dtg_assets.gatekeeper.cadence import cadence_findings
from dtg_assets.gatekeeper.detectors import build_detectors
from dtg_assets.gatekeeper.frames import conform, prepare, read_days, read_keys
from dtg_assets.gatekeeper.rules import Rules
from dtg_assets.gatekeeper.verdicts import Finding
from dtg_assets.simulation.landing import LandingZone
from dtg_assets.simulation.layout import Window, batch_prefix
from dtg_assets.simulation.schemas import TABLE_SCHEMAS, TABLES

TS = pa.timestamp("us", tz="UTC")

FINDINGS_SCHEMA = pa.schema(
    [
        pa.field("day", pa.date32()),
        pa.field("window", pa.string()),
        pa.field("batch_id", pa.string(), nullable=False),
        pa.field("family", pa.string(), nullable=False),
        pa.field("detector", pa.string(), nullable=False),
        pa.field("table", pa.string(), nullable=False),
        pa.field("metric_name", pa.string(), nullable=False),
        pa.field("metric", pa.float64()),
        pa.field("expected", pa.float64()),
        # Flag when ``metric <comparison> threshold``; lower/upper are the whole passing band.
        pa.field("threshold", pa.float64()),
        pa.field("comparison", pa.string(), nullable=False),
        pa.field("lower", pa.float64()),
        pa.field("upper", pa.float64()),
        pa.field("record_threshold", pa.float64()),
        pa.field("n", pa.int64(), nullable=False),
        pa.field("count", pa.int64()),
        pa.field("verdict", pa.string(), nullable=False),
        pa.field("flagged_ids", pa.list_(pa.string()), nullable=False),
        pa.field("evidence_at", TS),
        pa.field("detail", pa.string(), nullable=False),
        # Wall-clock time the findings were recorded (set by the caller; null when not given):
        # the measured detection delay runs from a batch's landing to it.
        pa.field("flagged_at", TS),
    ]
)
_FIELDS = [f.name for f in dataclasses.fields(Finding)]
_VALUES = operator.attrgetter(*_FIELDS)


def detect_batches(
    tables: Mapping[str, pa.Table | pd.DataFrame | None],
    baseline: Baseline,
    rules: Rules | None = None,
    day: dt.date | None = None,
    window: str | None = None,
    prior: Mapping[str, pa.Array] | None = None,
    flagged_at: dt.datetime | None = None,
) -> pa.Table:
    """Run every enabled detector on every batch present in some landing tables.

    Args:
        tables: Landing table name -> rows; a missing table counts as empty. DataFrames are
            converted with their inferred Arrow schema. The schema check sees each table as
            given; the other detectors see it conformed to the landing schema (``conform``).
        baseline: What normal looks like.
        rules: Detector configuration; defaults to :class:`Rules`.
        day: Partition day recorded in the findings.
        window: Window recorded in the findings. With ``day``, the day's batches are also
            placed on their arrival grid: each empty slot is a missing batch, flagged by
            ``cadence`` under the id it would have had.
        prior: Per table, primary keys landed before these batches (replays across days).
        flagged_at: When these findings are recorded (UTC wall clock), on every row.

    Returns:
        One row per (batch, detector), ``FINDINGS_SCHEMA``.
    """
    arrow = {}
    for t in TABLES:
        value = tables.get(t)
        if value is None:
            value = TABLE_SCHEMAS[t].empty_table()
        elif isinstance(value, pd.DataFrame):
            value = pa.Table.from_pandas(value, preserve_index=False)
        arrow[t] = value
    schemas = {t: arrow[t].schema for t in TABLES}
    arrow = {t: conform(arrow[t], TABLE_SCHEMAS[t]) for t in TABLES}
    rules = rules or Rules()
    detectors = build_detectors(baseline, rules)
    frames = prepare(arrow, prior)
    per_detector = [detector.check(frames, schemas) for detector in detectors]
    if day is not None and window is not None and rules.cadence.enabled:
        # Only the day's own batches place its grid (a replay may carry another day's id).
        own = [b for b in frames.batches if b.startswith(batch_prefix(window, day))]
        slots = {f.batch_id: f for f in cadence_findings(own, day, window, baseline, rules.cadence)}
        per_detector.append([slots.pop(b, None) for b in frames.batches])
        missing = list(slots.values())
    else:
        missing = []
    # Batch-major, detectors in build order: the row order of one detector loop per batch;
    # then the batches that never landed (cadence findings only).
    found = [per[b] for b in range(len(frames.batches)) for per in per_detector]
    found = [f for f in found if f is not None] + missing
    columns = zip(*map(_VALUES, found), strict=True) if found else [[] for _ in _FIELDS]
    n = len(found)
    return pa.Table.from_pydict(
        {
            "day": [day] * n,
            "window": [window] * n,
            **dict(zip(_FIELDS, columns, strict=True)),
            "flagged_at": [flagged_at] * n,
        },
        schema=FINDINGS_SCHEMA,
    )


def detect_day(
    zone: LandingZone,
    day: dt.date,
    baseline: Baseline,
    rules: Rules | None = None,
    window: str = "live",
    flagged_at: dt.datetime | None = None,
) -> pa.Table:
    """Read one day of a window from the landing zone and run the detectors on its batches.

    Args:
        zone: The data root (only ``landing/`` is read).
        day: The batches' day (the partition).
        baseline: What normal looks like.
        rules: Detector configuration.
        window: ``live`` (default) or ``historical``.
        flagged_at: When these findings are recorded (UTC wall clock; the caller's clock).

    Returns:
        One row per (batch, detector) of that day; empty if nothing landed.
    """
    tables, _ = read_days(zone, window, [day])
    prior = prior_keys(zone, day)
    return detect_batches(
        tables, baseline, rules, day=day, window=window, prior=prior, flagged_at=flagged_at
    )


def prior_keys(zone: LandingZone, day: dt.date) -> dict[str, pa.Array]:
    """Primary keys the previous day landed (either window), to recognise replays across days.

    Args:
        zone: The data root (only committed landing files are read, key columns only).
        day: The day being checked.

    Returns:
        Table -> keys (empty arrays when the previous day was never committed).
    """
    before = day - dt.timedelta(days=1)
    return {
        t: pa.concat_arrays([read_keys(zone, t, w.value, before) for w in Window]) for t in TABLES
    }


def detect_days(
    zone: LandingZone,
    days: Iterable[tuple[dt.date, str]],
    baseline: Baseline,
    rules: Rules | None = None,
) -> pa.Table:
    """:func:`detect_day` over several ``(day, window)`` pairs, concatenated.

    Args:
        zone: The data root.
        days: ``(day, window)`` pairs.
        baseline: What normal looks like.
        rules: Detector configuration.

    Returns:
        All findings.
    """
    parts = [detect_day(zone, d, baseline, rules, str(w)) for d, w in days]
    return pa.concat_tables(parts) if parts else FINDINGS_SCHEMA.empty_table()


def stamp(
    findings: pa.Table, flagged_at: dt.datetime, previous: pa.Table | None = None
) -> pa.Table:
    """Record when findings were recorded, keeping the first time of a flag seen before.

    A day's findings are recomputed as its batches arrive (and once more when the day is
    completed); a flag already recorded by an earlier run (same batch and detector, flagged
    then and now) keeps that run's ``flagged_at``, so the measured delay is from landing to
    the first time the flag was raised, not to the latest re-run.

    Args:
        findings: ``FINDINGS_SCHEMA`` rows just computed.
        flagged_at: Now (UTC wall clock).
        previous: The same day's findings stored by an earlier run, if any.

    Returns:
        ``findings`` with its ``flagged_at`` column set.
    """
    times = pa.array([flagged_at] * findings.num_rows, TS)
    if previous is not None and "flagged_at" in previous.column_names:
        keep = pc.and_(pc.equal(previous["verdict"], "flag"), pc.is_valid(previous["flagged_at"]))
        before = previous.filter(keep)

        def keys(table: pa.Table) -> pa.ChunkedArray:
            return pc.binary_join_element_wise(table["batch_id"], table["detector"], "\x1f")

        earlier = pc.take(before["flagged_at"], pc.index_in(keys(findings), value_set=keys(before)))
        again = pc.and_(pc.equal(findings["verdict"], "flag"), pc.is_valid(earlier))
        times = pc.if_else(again, earlier, times)
    index = findings.schema.get_field_index("flagged_at")
    return findings.set_column(index, FINDINGS_SCHEMA.field("flagged_at"), times)


def flagged(findings: pa.Table) -> pd.DataFrame:
    """The flagging rows of a findings table, as a frame (for reports and checks).

    Args:
        findings: ``FINDINGS_SCHEMA`` rows.

    Returns:
        Rows with ``verdict == 'flag'``.
    """
    frame = findings.to_pandas()
    return frame[frame["verdict"] == "flag"].reset_index(drop=True)
