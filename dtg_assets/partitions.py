"""Daily UTC partitions of the historical and live windows.

``historical`` covers the 14 days from ``DTG_START_DATE``; ``live`` starts the day after and is
open-ended up to today (UTC), so partitions keep being added: today's is the day whose
micro-batches are arriving (landed batch by batch by the live arrival sensor), the ones before
it are complete (:func:`complete_partition_keys`).
``DTG_START_DATE`` (ISO date) defaults to 21 days before today, which gives exactly the seven
live days of the default scenario; pin it for reproducible runs. Partitions are fixed when the
code location loads, so the simulation resource takes its start date from here too. So is the
landing windows' backfill policy (``DTG_BACKFILL_MAX_PARTITIONS_PER_RUN``).
"""

from __future__ import annotations

import datetime as dt

import dagster as dg

from dtg_assets.settings import env_backfill_partitions_per_run, env_start_date

HISTORICAL_DAYS = 14


def scenario_start_date() -> dt.date:
    """The scenario's first (historical) day, from ``DTG_START_DATE`` or 21 days ago.

    Returns:
        The start date.

    Raises:
        dtg_assets.settings.SettingError: If ``DTG_START_DATE`` is set but not a valid start
            date (a ``ValueError``).
    """
    return env_start_date()


def live_start_date(start: dt.date | None = None) -> dt.date:
    """First live day: the day after the historical window."""
    return (start or scenario_start_date()) + dt.timedelta(days=HISTORICAL_DAYS)


def landing_backfill_policy() -> dg.BackfillPolicy:
    """How a backfill of a landing window is split into runs.

    Unset ``DTG_BACKFILL_MAX_PARTITIONS_PER_RUN`` keeps one run per backfill (and
    ``dagster asset materialize --partition-range``, which needs a single-run policy); a number N
    makes a backfill ``ceil(days / N)`` runs of at most N days each, which a queued run
    coordinator spreads over run workers (for example Celery workers, see ``deploy/``).

    Returns:
        ``BackfillPolicy.single_run()`` or ``BackfillPolicy.multi_run(N)``.

    Raises:
        dtg_assets.settings.SettingError: If the variable is set but not a whole number >= 1.
    """
    per_run = env_backfill_partitions_per_run()
    if per_run is None:
        return dg.BackfillPolicy.single_run()
    return dg.BackfillPolicy.multi_run(max_partitions_per_run=per_run)


def build_partitions(
    start: dt.date | None = None,
) -> tuple[dg.DailyPartitionsDefinition, dg.DailyPartitionsDefinition]:
    """Build the historical and live partitions for a start date.

    Args:
        start: Scenario start; ``DTG_START_DATE`` or 21 days ago when None.

    Returns:
        ``(historical, live)`` daily partitions definitions in UTC.
    """
    start = start or scenario_start_date()
    live = live_start_date(start)
    historical = dg.DailyPartitionsDefinition(
        start_date=start.isoformat(), end_date=live.isoformat(), timezone="UTC"
    )
    # end_offset=1: today is a partition as soon as it starts, so its batches can land live.
    live_parts = dg.DailyPartitionsDefinition(
        start_date=live.isoformat(), end_offset=1, timezone="UTC"
    )
    return historical, live_parts


def complete_partition_keys(
    partitions_def: dg.PartitionsDefinition, now: dt.datetime | None = None
) -> list[str]:
    """The partition keys of UTC days that have ended by ``now`` (today's partition left out).

    Args:
        partitions_def: A daily partitions definition (or any whose keys are ISO dates).
        now: The time to judge by; the wall clock when None.

    Returns:
        The keys before today, in order.
    """
    now = now or dt.datetime.now(dt.UTC)
    keys = partitions_def.get_partition_keys(current_time=now)
    return [k for k in keys if dt.date.fromisoformat(k) < now.astimezone(dt.UTC).date()]


historical_partitions, live_partitions = build_partitions()
