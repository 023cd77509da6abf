"""Which live batches are due, which a run targets, and how runs are keyed and tagged.

Pure date arithmetic over the default schedule (eight batches every three hours, landing
100 s after their start), so every answer is exact.
"""

from __future__ import annotations

import datetime as dt

import dagster as dg
import pytest

from dtg_assets.arrival import (
    ArrivalConfig,
    batches_tag,
    due_indices,
    live_day_of,
    parse_batches_tag,
    run_key,
    target_plans,
)
from dtg_assets.simulation.config import ScenarioConfig

START = dt.date(2026, 11, 1)
CONFIG = ScenarioConfig(start_date=START, seed=42)
DAY = dt.date(2026, 11, 16)
MIDNIGHT = dt.datetime(2026, 11, 16, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("after", "due"),
    [
        (dt.timedelta(seconds=99), []),
        # Batch 0 starts at 00:00 and lands at 00:01:40.
        (dt.timedelta(seconds=100), [0]),
        (dt.timedelta(hours=3, seconds=99), [0]),
        (dt.timedelta(hours=3, seconds=100), [0, 1]),
        (dt.timedelta(hours=21, minutes=2), list(range(8))),
        (dt.timedelta(days=2), list(range(8))),
    ],
)
def test_a_batch_is_due_from_its_start_plus_100_seconds(after, due):
    assert due_indices(CONFIG, DAY, MIDNIGHT + after) == due


def test_a_run_targets_the_named_batches_or_every_due_one():
    now = MIDNIGHT + dt.timedelta(hours=7)
    assert [p.index for p in target_plans(CONFIG, DAY, None, now)] == [0, 1, 2]
    # Named batches are taken whether due or not, once each, in arrival order.
    assert [p.index for p in target_plans(CONFIG, DAY, [5, 3, 5], now)] == [3, 5]
    with pytest.raises(dg.Failure, match=r"batches=\[8\]: 2026-11-16 has 8 live batches, "):
        target_plans(CONFIG, DAY, [1, 8], now)


def test_the_live_day_is_today_from_the_live_start_only():
    assert live_day_of(CONFIG, dt.datetime(2026, 11, 14, 23, 59, tzinfo=dt.UTC)) is None
    assert live_day_of(CONFIG, dt.datetime(2026, 11, 15, 0, 0, tzinfo=dt.UTC)) == CONFIG.live_start
    # Judged in UTC whatever the clock's zone.
    east = dt.timezone(dt.timedelta(hours=5))
    assert live_day_of(CONFIG, dt.datetime(2026, 11, 17, 2, 0, tzinfo=east)) == DAY


def test_run_keys_and_tags_name_the_day_and_batch_set():
    assert run_key(DAY, [4, 3]) == "live-2026-11-16-b3-4"
    assert run_key(DAY, [3, 4], attempt=2) == "live-2026-11-16-b3-4-retry2"
    assert parse_batches_tag(batches_tag([7, 0, 2])) == [0, 2, 7]
    assert parse_batches_tag("") == []


def test_as_of_sets_the_runs_clock_and_a_bad_one_is_one_line():
    assert ArrivalConfig(as_of="2026-11-16T03:05:00").now() == MIDNIGHT + dt.timedelta(
        hours=3, minutes=5
    )
    assert ArrivalConfig().now().tzinfo is not None
    with pytest.raises(dg.Failure, match=r"^as_of='yesterday' is not an ISO-8601 time"):
        ArrivalConfig(as_of="yesterday").now()
