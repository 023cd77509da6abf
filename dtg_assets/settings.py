"""The environment settings of the Dagster project, each parsed in one place.

``DTG_SEED``, ``DTG_START_DATE`` and ``DTG_DATA_ROOT`` are read by the code location when it
loads (partitions, resource validation), by a run when it starts, and by ``dtg-run`` for its
``--seed`` / ``--start-date`` / ``--data-root`` defaults; ``DTG_BACKFILL_MAX_PARTITIONS_PER_RUN``
by the code location, for the landing assets' backfill policy. They are all parsed by the functions
here, against the engine's own limits, so a bad value is refused with the same one-line message
wherever it is met, and before anything is written. Dagster-free, so ``dtg-run`` can check its
arguments before importing Dagster.
"""

from __future__ import annotations

import datetime as dt
import os

from pydantic import ValidationError

from dtg_assets.simulation.config import ScenarioConfig, default_start_date
from dtg_assets.simulation.errors import format_validation_error
from dtg_assets.simulation.seeds import (
    MAX_SEED,
    SEED_ENV,
    SettingError,
    check_seed,
    parse_seed,
)

__all__ = [
    "MAX_SEED",
    "SEED_ENV",
    "SettingError",
    "check_seed",
    "env_backfill_partitions_per_run",
    "env_data_root",
    "env_seed",
    "env_start_date",
    "parse_partitions_per_run",
    "parse_seed",
    "parse_start_date",
]

START_DATE_ENV = "DTG_START_DATE"
DATA_ROOT_ENV = "DTG_DATA_ROOT"
BACKFILL_ENV = "DTG_BACKFILL_MAX_PARTITIONS_PER_RUN"
DEFAULT_SEED = 42
DEFAULT_DATA_ROOT = "./data"


def parse_start_date(raw: str, source: str = START_DATE_ENV) -> dt.date:
    """Parse a scenario start date, checked with the engine's scenario rules.

    Args:
        raw: An ISO date ``YYYY-MM-DD`` (surrounding blanks are ignored).
        source: How the setting is named in the message.

    Returns:
        The date.

    Raises:
        SettingError: If it is not an ISO date or the engine refuses a scenario starting then.
    """
    try:
        day = dt.date.fromisoformat(raw.strip())
    except ValueError:
        raise SettingError(
            f"{source}={raw!r} is not a date; expected an ISO date YYYY-MM-DD"
        ) from None
    try:
        ScenarioConfig(start_date=day)  # the engine's date-range rule is the authority
    except ValidationError as exc:
        # The engine names the field and its value ("start_date=9999-12-25: ..."): name the
        # setting instead.
        raise SettingError(format_validation_error(exc, names={"start_date": source})) from None
    return day


def env_seed() -> int:
    """The seed from ``DTG_SEED``, 42 when unset or blank.

    Raises:
        SettingError: If ``DTG_SEED`` is set to something else than a valid seed.
    """
    raw = os.environ.get(SEED_ENV, "")
    return parse_seed(raw) if raw.strip() else DEFAULT_SEED


def env_start_date() -> dt.date:
    """The start date from ``DTG_START_DATE``, 21 days before today (UTC) when unset or blank.

    Raises:
        SettingError: If ``DTG_START_DATE`` is set to something else than a valid start date.
    """
    raw = os.environ.get(START_DATE_ENV, "")
    return parse_start_date(raw) if raw.strip() else default_start_date()


def env_data_root() -> str:
    """The data root from ``DTG_DATA_ROOT``, ``./data`` when unset or blank."""
    return os.environ.get(DATA_ROOT_ENV, "").strip() or DEFAULT_DATA_ROOT


def parse_partitions_per_run(raw: str, source: str = BACKFILL_ENV) -> int:
    """Parse the most partitions (days) one backfill run of a landing window may cover.

    Args:
        raw: A whole number of days, 1 or more, in the ASCII digits 0-9 (surrounding blanks are
            ignored).
        source: How the setting is named in the message.

    Returns:
        The number of partitions per run.

    Raises:
        SettingError: If it is not a whole number of at least 1 written in the digits 0-9.
    """
    text = raw.strip()
    # int() would accept "+3", "1_000" and other scripts' digits: only plain ASCII digits read
    # the same to a person and to the program.
    if not (text and text.isascii() and text.isdigit() and int(text) >= 1):
        raise SettingError(
            f"{source}={raw!r} is not a valid number of partitions per run: expected a whole "
            "number of days, 1 or more, in the digits 0-9 (unset: one run per backfill)"
        )
    return int(text)


def env_backfill_partitions_per_run() -> int | None:
    """The landing windows' backfill run size from ``DTG_BACKFILL_MAX_PARTITIONS_PER_RUN``.

    Returns:
        None when unset or blank (a backfill is one run, whatever its range), else the most
        partitions one run covers.

    Raises:
        SettingError: If it is set to something else than a whole number of at least 1.
    """
    raw = os.environ.get(BACKFILL_ENV, "")
    return parse_partitions_per_run(raw) if raw.strip() else None
