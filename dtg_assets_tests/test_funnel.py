"""Tests of the per-table funnel stages' shared context: exact epoch microseconds and the
stale-data shift, for any year the scenario allows."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from dtg_assets.simulation.config import ScenarioConfig
from dtg_assets.simulation.funnel.context import US_PER_H, ChunkContext, epoch_us
from dtg_assets.simulation.plan import plan_day
from dtg_assets.simulation.pools import value_pools


@pytest.mark.parametrize(
    "moment",
    [
        dt.datetime(1000, 1, 2, 3, 25, 42, 857_142, tzinfo=dt.UTC),
        dt.datetime(1969, 12, 31, 23, 59, 59, 999_999, tzinfo=dt.UTC),
        dt.datetime(2026, 11, 20, 10, 17, 8, 571_428, tzinfo=dt.UTC),
        dt.datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=dt.UTC),
    ],
)
def test_epoch_us_is_exact_before_and_after_1970(moment):
    us = epoch_us(moment)
    assert dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=us) == moment


def test_stale_shift_applies_to_stale_batches_only():
    config = ScenarioConfig(start_date="2026-11-01", historical_days=0, live_days=1)
    pools = value_pools(config.seed)
    ts = np.array([0, 5 * US_PER_H], np.int64)
    for plan in plan_day(config, config.start_date):
        ctx = ChunkContext(config, plan, pools, 0, 0, 10)
        shift = 12 * US_PER_H if plan.anomaly == "stale_data" else 0
        assert (ctx.shifted(ts) == ts - shift).all() and (ctx.unstale(ctx.shifted(ts)) == ts).all()
        assert (ctx.twin_shifted(ts) == ts).all()
        assert ctx.start_us == epoch_us(plan.start)
