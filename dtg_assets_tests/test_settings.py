"""The environment settings: one parser per setting, the engine's limits, one-line messages."""

from __future__ import annotations

import datetime as dt

import pytest

from dtg_assets.settings import (
    DEFAULT_SEED,
    MAX_SEED,
    SettingError,
    check_seed,
    env_data_root,
    env_seed,
    env_start_date,
    parse_seed,
    parse_start_date,
)
from dtg_assets.simulation.config import default_start_date

SEED_RANGE = "expected a whole number from 0 to 9223372036854775807 in the digits 0-9"


@pytest.mark.parametrize(("raw", "seed"), [("0", 0), (" 7 ", 7), (str(MAX_SEED), MAX_SEED)])
def test_good_seeds_parse(raw, seed):
    assert parse_seed(raw) == seed


@pytest.mark.parametrize(
    "raw", ["", " ", "abc", "-3", "+3", "4.5", "1e3", "²", "٣", "\uff11", str(MAX_SEED + 1)]
)
def test_bad_seeds_are_one_line_naming_the_value_and_the_range(raw):
    with pytest.raises(SettingError) as info:
        parse_seed(raw, "--seed")
    assert str(info.value) == f"--seed={raw!r} is not a valid seed: {SEED_RANGE}"


def test_a_numeric_seed_is_checked_with_the_same_message():
    assert check_seed(MAX_SEED) == MAX_SEED
    for bad in (-1, MAX_SEED + 1):
        with pytest.raises(SettingError, match=rf"^seed={bad} is not a valid seed: {SEED_RANGE}$"):
            check_seed(bad)


def test_environment_defaults_when_unset_or_blank(monkeypatch):
    for value in (None, "  "):
        for name in ("DTG_SEED", "DTG_START_DATE", "DTG_DATA_ROOT"):
            if value is None:
                monkeypatch.delenv(name, raising=False)
            else:
                monkeypatch.setenv(name, value)
        assert env_seed() == DEFAULT_SEED == 42
        assert env_start_date() == default_start_date()
        assert env_data_root() == "./data"


def test_environment_values_are_parsed(monkeypatch):
    monkeypatch.setenv("DTG_SEED", "²")
    with pytest.raises(SettingError, match=r"^DTG_SEED='²' is not a valid seed"):
        env_seed()
    monkeypatch.setenv("DTG_START_DATE", "2026-02-30")
    with pytest.raises(SettingError, match=r"^DTG_START_DATE='2026-02-30' is not a date"):
        env_start_date()
    monkeypatch.setenv("DTG_DATA_ROOT", " s3://bucket/prefix ")
    assert env_data_root() == "s3://bucket/prefix"


def test_start_dates():
    assert parse_start_date("2026-11-01") == dt.date(2026, 11, 1)
    with pytest.raises(SettingError, match=r"^--start-date='01/11/2026' is not a date; expected"):
        parse_start_date("01/11/2026", "--start-date")
    # The 21 days of the scenario must fit before the end of year 9999.
    with pytest.raises(SettingError, match=r"^DTG_START_DATE=9999-12-25: .*9999-12-31"):
        parse_start_date("9999-12-25")
