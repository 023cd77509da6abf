"""The environment settings of the Dagster project, each parsed in one place.

``DTG_SEED``, ``DTG_START_DATE`` and ``DTG_DATA_ROOT`` are read by the code location when it
loads (partitions, resource validation), by a run when it starts, and by ``dtg-run`` for its
``--seed`` / ``--start-date`` / ``--data-root`` defaults. They are all parsed by the functions
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

SEED_ENV = "DTG_SEED"
START_DATE_ENV = "DTG_START_DATE"
DATA_ROOT_ENV = "DTG_DATA_ROOT"
DEFAULT_SEED = 42
DEFAULT_DATA_ROOT = "./data"
# The engine's range (ScenarioConfig.seed): a numpy seed of 63 bits.
MAX_SEED = 2**63 - 1


class SettingError(ValueError):
    """A setting with an invalid value; the message is one line naming it and what is allowed."""


def parse_seed(raw: str, source: str = SEED_ENV) -> int:
    """Parse a seed written in ASCII digits, within the engine's range.

    ``str.isdigit`` and ``int`` accept other scripts' digits (``²``, ``٣``), so only the ASCII
    digits 0-9 are allowed: the value must read the same to a person and to the program.

    Args:
        raw: The text, e.g. the value of ``DTG_SEED`` (surrounding blanks are ignored).
        source: How the setting is named in the message (``DTG_SEED``, ``--seed``).

    Returns:
        The seed.

    Raises:
        SettingError: If it is not a whole number from 0 to 2**63-1.
    """
    text = raw.strip()
    if text and text.isascii() and text.isdigit() and int(text) <= MAX_SEED:
        return int(text)
    raise SettingError(_seed_message(source, raw))


def check_seed(value: int, source: str = "seed") -> int:
    """Check a seed given as a number (e.g. in run config) against the engine's range.

    Args:
        value: The seed.
        source: How the setting is named in the message.

    Returns:
        The seed.

    Raises:
        SettingError: If it is outside 0..2**63-1.
    """
    if 0 <= value <= MAX_SEED:
        return value
    raise SettingError(_seed_message(source, value))


def _seed_message(source: str, value: object) -> str:
    return (
        f"{source}={value!r} is not a valid seed: expected a whole number from 0 to {MAX_SEED} "
        "in the digits 0-9"
    )


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
