"""Verify one landed day against its manifest, its schedule and the funnel model.

Pure functions behind the Dagster asset checks: :func:`verify_day` reads a window's day back
from storage (every date directory its batches wrote to) and runs every check of
:data:`~dtg_assets.simulation.checks.CHECKS` on it: exact properties (row counts per batch
against the manifest, visitors against the schedule, scheduled batches present, unique primary
keys, referential integrity by batch, one account per approved application, labels consistent
with what landed) and statistical ones (funnel ratios within ``Z_BOUND`` standard errors of the
configured rates, accounting for each batch's anomaly). An unreadable file fails the checks
that read its table with a message naming it, instead of crashing; so does a foreign file (a
stray CSV, another tool's Parquet) in a date directory the day landed in, which these checks
never read but a directory reader downstream would.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd

from dtg_assets.simulation.checks import CHECK_SPECS, CHECKS, Check, CheckOutcome, LandedDay
from dtg_assets.simulation.config import ScenarioConfig
from dtg_assets.simulation.landing import LandingZone
from dtg_assets.simulation.plan import Window, plan_day
from dtg_assets.simulation.schemas import TABLES

# Only what the checks use is read back: the other columns cost decoding time for nothing.
_COLUMNS = {
    "visitor_events": ["batch_id", "visitor_id"],
    "applications": ["batch_id", "app_id", "visitor_id", "application_status"],
    "accounts": ["batch_id", "account_id", "app_id"],
    "transactions": ["batch_id", "txn_id", "account_id"],
}

__all__ = ["CHECKS", "CHECK_SPECS", "CheckOutcome", "read_day", "verify_day"]


def read_day(
    zone: LandingZone, window: Window, day: dt.date
) -> tuple[dict[str, pd.DataFrame], dict[str, str]]:
    """Read a window's day back: its tables, manifest and labels, and why any could not be.

    Args:
        zone: The data root.
        window: Historical or live.
        day: The UTC day.

    Returns:
        ``(frames, errors)``: the frames that could be read by name, and for every table that
        could not (or whose date directories hold foreign files) a message naming the file.
    """
    frames: dict[str, pd.DataFrame] = {}
    errors: dict[str, str] = {}
    readers = {t: (lambda t=t: zone.read_day(t, window, day, _COLUMNS[t])) for t in TABLES}
    readers["batch_manifest"] = lambda: zone.read_manifest(window, day)
    readers["ground_truth_labels"] = lambda: zone.read_labels(window, day)
    for name, read in readers.items():
        try:
            frames[name] = read().to_pandas()
        except ValueError as exc:
            errors[name] = str(exc)
    for table in TABLES:
        # Never read by these checks, but directory readers downstream would read them.
        foreign = zone.foreign_files(table, window, day)
        if foreign:
            shown = ", ".join(foreign[:5]) + (
                f" and {len(foreign) - 5} more" if len(foreign) > 5 else ""
            )
            problem = f"foreign file(s) among {table}'s landing files: {shown}"
            errors[table] = "; ".join(filter(None, (errors.get(table), problem)))
    return frames, errors


def verify_day(
    zone: LandingZone,
    config: ScenarioConfig,
    day: dt.date,
    window: Window | str,
    checks: tuple[Check, ...] = CHECKS,
) -> list[CheckOutcome]:
    """Run checks (every one of ``CHECKS`` by default) on one landed day.

    Args:
        zone: The data root.
        config: The scenario the day was (supposedly) written with.
        day: The UTC day.
        window: Historical or live.
        checks: The checks to run.

    Returns:
        One outcome per check, in the order of ``checks``.
    """
    window = Window(window)
    frames, errors = read_day(zone, window, day)
    landed = LandedDay(day, frames, config, plan_day(config, day, window))
    return [check.run(landed, errors) for check in checks]
