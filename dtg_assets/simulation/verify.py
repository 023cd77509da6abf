"""Verify one landed day against its manifest, its schedule and the funnel model.

Pure functions behind the Dagster asset checks: :func:`verify_day` reads a window's day back
from storage (every date directory its batches wrote to) and runs every check of
:data:`~dtg_assets.simulation.checks.CHECKS` on it: exact properties (row counts per batch
against the manifest, visitors against the schedule, scheduled batches present, unique primary
keys, referential integrity by batch, one account per approved application, labels consistent
with what landed), structural ones (each file's Arrow schema is the one committed for it, no
file in the date folders that no commit lists) and statistical ones (funnel ratios within
``Z_BOUND`` standard errors of the configured rates, accounting for each batch's anomaly). The
day is checked against the configuration of record (:mod:`~dtg_assets.simulation.checks.record`)
its manifest carries, not the one configured now. An unreadable file fails the checks that read
its table with a message naming it, instead of crashing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field

import pandas as pd

from dtg_assets.simulation.checks import (
    CHECK_SPECS,
    CHECKS,
    Check,
    CheckOutcome,
    LandedDay,
    LandedFile,
)
from dtg_assets.simulation.checks.record import config_of_record
from dtg_assets.simulation.config import ScenarioConfig
from dtg_assets.simulation.landing import LandingZone
from dtg_assets.simulation.plan import Window, plan_day
from dtg_assets.simulation.reading import manifest_schemas, read_as_recorded
from dtg_assets.simulation.schemas import TABLE_SCHEMAS, TABLES

# Only what the checks use is read back: the other columns cost decoding time for nothing.
_COLUMNS = {
    "visitor_events": ["batch_id", "visitor_id"],
    "applications": ["batch_id", "app_id", "visitor_id", "application_status"],
    "accounts": ["batch_id", "account_id", "app_id"],
    "transactions": ["batch_id", "txn_id", "account_id"],
}

__all__ = ["CHECKS", "CHECK_SPECS", "CheckOutcome", "ReadBack", "files_key", "read_day",
           "verify_day"]  # fmt: skip


def files_key(table: str) -> str:
    """The name under which a check reads a table's files (footers, folder listing)."""
    return f"{table}/files"


@dataclass
class ReadBack:
    """A day as read back: frames by name, committed files, foreign files by table, and why
    anything could not be read (by frame name or :func:`files_key`)."""

    frames: dict[str, pd.DataFrame] = field(default_factory=dict)
    files: list[LandedFile] = field(default_factory=list)
    foreign: dict[str, list[str]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


def read_day(zone: LandingZone, window: Window, day: dt.date) -> ReadBack:
    """Read a window's day back: its manifest, labels, tables and files, and what failed.

    Each committed file is read as the schema its manifest records (a file drifted on purpose
    is read as far as it can be), and its footer schema is kept for the schema check.

    Args:
        zone: The data root.
        window: Historical or live.
        day: The UTC day.

    Returns:
        What was read, and for everything that could not be a message naming the file.
    """
    back = ReadBack()
    manifest = None
    try:
        manifest = zone.read_manifest(window, day)
        back.frames["batch_manifest"] = manifest.to_pandas()
        back.frames["ground_truth_labels"] = zone.read_labels(window, day).to_pandas()
    except ValueError as exc:
        name = "batch_manifest" if manifest is None else "ground_truth_labels"
        back.errors[name] = str(exc)
    for table in TABLES:
        try:
            paths = zone.day_files(table, window, day)
        except ValueError as exc:
            back.errors[table] = back.errors[files_key(table)] = str(exc)
            paths = []
        recorded = {}
        if manifest is not None:
            recorded = {zone.path(p): s for p, s in manifest_schemas(manifest, table).items()}
        rows, found, error = read_as_recorded(
            zone, paths, TABLE_SCHEMAS[table], _COLUMNS[table], recorded
        )
        if error is not None:
            back.errors[table] = error
        elif table not in back.errors:
            back.frames[table] = rows.to_pandas()
        back.files += [
            LandedFile(table, zone.uri_of(f.path), recorded.get(f.path), f.schema, f.problem)
            for f in found
        ]
        try:
            back.foreign[table] = zone.foreign_files(table, window, day)
        except ValueError as exc:
            back.errors[files_key(table)] = str(exc)
    return back


def verify_day(
    zone: LandingZone,
    config: ScenarioConfig,
    day: dt.date,
    window: Window | str,
    checks: tuple[Check, ...] = CHECKS,
    due: Iterable[int] | None = None,
) -> list[CheckOutcome]:
    """Run checks (every one of ``CHECKS`` by default) on one landed day, or on what of it
    should have landed by now.

    Args:
        zone: The data root.
        config: The scenario configured now; the day is checked against the configuration
            its manifest records (this one fills in what the record leaves out, and stands in
            when there is no usable record).
        day: The UTC day.
        window: Historical or live.
        checks: The checks to run.
        due: Indexes of the batches that should have landed by now (a day still arriving,
            see :func:`~dtg_assets.simulation.plan.due_batches`): the day is checked as the
            batches up to the last one due or landed (they arrive in order), so a due batch
            not landed fails ``all_scheduled_batches_present`` naming it. None: every planned
            batch.

    Returns:
        One outcome per check, in the order of ``checks``.
    """
    window = Window(window)
    back = read_day(zone, window, day)
    manifest = back.frames.get("batch_manifest")
    scenario, record = config_of_record(manifest, config, window)
    plans = plan_day(scenario, day, window)
    if due is not None:
        # Batches arrive in order: one landed means every batch before it is due too.
        landed = manifest["batch_index"].tolist() if manifest is not None else []
        last = max([*due, *landed], default=-1)
        plans = [p for p in plans if p.index <= last]
    landed = LandedDay(
        day,
        back.frames,
        scenario,
        plans,
        files=tuple(back.files),
        foreign=back.foreign,
        record=record,
    )
    return [check.run(landed, back.errors) for check in checks]
