"""Record a live day's findings batch by batch, each finding stamped with when it was recorded.

A live day's findings file grows as its micro-batches land: a run that checks some batches
replaces exactly those batches' rows and keeps every other batch's, so the findings of earlier
batches stay as they were recorded. Each row carries ``flagged_at``, the wall-clock time it was
recorded; a flag raised again by a later run (same batch and detector, flagged then and now: a
retried run, the daily schedule completing a day the sensor already checked) keeps the time it
was first raised, so the measured detection delay (a batch's landing to its first flag) is not
reset by re-runs.
Dagster-free; the findings asset and the Dagster replay call it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection

import pyarrow as pa

from dtg_assets.gatekeeper.baseline import Baseline
from dtg_assets.gatekeeper.findings import FINDINGS_SCHEMA, TS, detect_day
from dtg_assets.gatekeeper.rules import Rules
from dtg_assets.gatekeeper.store import GatekeeperStore
from dtg_assets.simulation import layout
from dtg_assets.simulation.landing import LandingZone
from dtg_assets.simulation.reading import read_parquet_files

FLAGGED_AT = "flagged_at"
# Findings as recorded: with the time each was first recorded.
RECORDED_SCHEMA = FINDINGS_SCHEMA
# What makes a flag "the same" when raised again: its batch and detector.
_KEY = ("batch_id", "detector")
FLAG = "flag"


def _stamped(table: pa.Table, times: list[dt.datetime | None]) -> pa.Table:
    if FLAGGED_AT in table.column_names:
        table = table.drop_columns([FLAGGED_AT])
    return table.append_column(pa.field(FLAGGED_AT, TS), pa.array(times, TS)).select(
        RECORDED_SCHEMA.names
    )


def read_recorded(zone: LandingZone, day: dt.date) -> pa.Table | None:
    """A live day's stored findings with their ``flagged_at``, or None if none were stored.

    Findings stored before ``flagged_at`` existed are read with a null time.

    Args:
        zone: The data root.
        day: The live day.

    Returns:
        The rows in ``RECORDED_SCHEMA``, or None.

    Raises:
        ValueError: If the file is not readable findings Parquet (naming it).
    """
    path = zone.path(layout.findings_file(day))
    if not zone.storage.exists(path):
        return None
    try:
        return read_parquet_files(zone, [path], RECORDED_SCHEMA)
    except ValueError:
        older = read_parquet_files(zone, [path], FINDINGS_SCHEMA)
        return _stamped(older, [None] * older.num_rows)


def record_findings(
    previous: pa.Table | None,
    detected: pa.Table,
    targets: Collection[str],
    planned: Collection[str],
    now: dt.datetime,
) -> pa.Table:
    """Merge a new detection of a day into its recorded findings.

    Args:
        previous: The day's recorded findings (``RECORDED_SCHEMA``), or None.
        detected: Findings of a detection over the day's landed data (``FINDINGS_SCHEMA``).
        targets: Ids of the batches this run checks: their rows are replaced by the detected
            ones.
        planned: Ids of every batch scheduled that day. Detected rows of planned batches outside
            ``targets`` are dropped (those batches keep their recorded rows, or are not due
            yet: a partial day's empty future slots are not missing batches). Detected rows of
            unplanned ids (another day's batch replayed into this one) are kept.
        now: When this run records its findings (wall clock, UTC).

    Returns:
        The day's findings in ``RECORDED_SCHEMA``: the kept rows in their recorded order, then
        the detected ones in detection order.
    """
    targets, planned = set(targets), set(planned)
    ids = detected["batch_id"].to_pylist()
    fresh = detected.filter(pa.array([b in targets or b not in planned for b in ids], pa.bool_()))
    first: dict[tuple, dt.datetime | None] = {}
    kept = RECORDED_SCHEMA.empty_table()
    if previous is not None and previous.num_rows:
        for row in previous.select([*_KEY, "verdict", FLAGGED_AT]).to_pylist():
            if row["verdict"] == FLAG:
                first.setdefault(tuple(row[k] for k in _KEY), row[FLAGGED_AT])
        old = previous["batch_id"].to_pylist()
        kept = previous.filter(pa.array([b in planned and b not in targets for b in old]))
    keys = zip(*(fresh[k].to_pylist() for k in _KEY), strict=True) if fresh.num_rows else []
    verdicts = fresh["verdict"].to_pylist()
    times = [
        (first.get(tuple(key)) if verdict == FLAG else None) or now
        for key, verdict in zip(keys, verdicts, strict=True)
    ]
    return pa.concat_tables([kept, _stamped(fresh, times)])


def record_batches(
    store: GatekeeperStore,
    day: dt.date,
    baseline: Baseline,
    rules: Rules,
    targets: Collection[str],
    planned: Collection[str],
    now: dt.datetime,
) -> tuple[pa.Table, str]:
    """Check some batches of a live day and store the day's findings with theirs merged in.

    Args:
        store: The gatekeeper's store.
        day: The live day.
        baseline: What normal looks like.
        rules: Detector configuration.
        targets: Ids of the batches to check (see :func:`record_findings`).
        planned: Ids of every batch scheduled that day.
        now: When the findings are recorded (wall clock, UTC).

    Returns:
        The day's findings and where they were stored.

    Raises:
        dtg_assets.simulation.roots.DataRootError: If the store cannot be read or written.
    """
    detected = detect_day(store.zone, day, baseline, rules)
    findings = record_findings(read_recorded(store.zone, day), detected, targets, planned, now)
    return findings, store.write_findings(day, findings)
