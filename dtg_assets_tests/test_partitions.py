"""The landing windows' backfill policy: one run by default, N days per run when configured."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from dtg_assets.assets.landing import build_landing_asset
from dtg_assets.partitions import historical_partitions, landing_backfill_policy
from dtg_assets.settings import (
    BACKFILL_ENV,
    SettingError,
    env_backfill_partitions_per_run,
    parse_partitions_per_run,
)
from dtg_assets.simulation.plan import Window
from dtg_assets_tests.conftest import DAGSTER_START

ALLOWED = (
    "is not a valid number of partitions per run: expected a whole number of days, 1 or more, "
    "in the digits 0-9 (unset: one run per backfill)"
)
BIN = Path(sys.executable).parent


@pytest.mark.parametrize(("raw", "n"), [("1", 1), (" 7 ", 7), ("365", 365)])
def test_good_sizes_parse(raw, n):
    assert parse_partitions_per_run(raw) == n


@pytest.mark.parametrize("raw", ["", " ", "0", "-2", "+2", "2.5", "1e3", "1_000", "²", "two"])
def test_bad_sizes_are_one_line_naming_the_value_and_what_is_allowed(raw):
    with pytest.raises(SettingError) as info:
        parse_partitions_per_run(raw)
    assert str(info.value) == f"{BACKFILL_ENV}={raw!r} {ALLOWED}"


def test_unset_or_blank_keeps_one_run_per_backfill(monkeypatch):
    for value in (None, "  "):
        if value is None:
            monkeypatch.delenv(BACKFILL_ENV, raising=False)
        else:
            monkeypatch.setenv(BACKFILL_ENV, value)
        assert env_backfill_partitions_per_run() is None
        assert landing_backfill_policy() == dg.BackfillPolicy.single_run()


def test_a_size_makes_backfills_multi_run_for_both_windows(monkeypatch):
    monkeypatch.setenv(BACKFILL_ENV, "3")
    assert landing_backfill_policy() == dg.BackfillPolicy.multi_run(max_partitions_per_run=3)
    for window in Window:
        asset = build_landing_asset(window, historical_partitions)
        assert asset.backfill_policy == dg.BackfillPolicy.multi_run(max_partitions_per_run=3)
        assert asset.backfill_policy.max_partitions_per_run == 3


def test_a_bad_size_fails_the_code_location_load_in_one_line(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DTG_", "DAGSTER_"))}
    env.update(
        DAGSTER_HOME=str(tmp_path),
        DTG_START_DATE=DAGSTER_START.isoformat(),
        **{BACKFILL_ENV: "0"},
    )
    proc = subprocess.run(
        [str(BIN / "dagster"), "definitions", "validate", "-m", "dtg_assets.definitions"],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    assert f"{BACKFILL_ENV}='0' {ALLOWED}\n" in out
