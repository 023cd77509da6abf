"""Tests of batch planning: the 21-day scenario's days, batches, ids, spacing and volumes."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest

from dtg_assets.simulation.config import AnomalyType, ScenarioConfig
from dtg_assets.simulation.generate import spiked_visitors
from dtg_assets.simulation.plan import (
    Window,
    batch_prefix,
    due_batches,
    plan_day,
    scaled,
    scenario_days,
    window_of,
)

START = dt.date(2026, 11, 1)
UTC = dt.UTC


@pytest.fixture
def config() -> ScenarioConfig:
    return ScenarioConfig(start_date=START)


def all_plans(config: ScenarioConfig):
    return [p for day, window in scenario_days(config) for p in plan_day(config, day, window)]


def test_scenario_has_14_historical_then_7_live_days(config: ScenarioConfig):
    days = scenario_days(config)
    assert [d for d, _ in days] == [START + dt.timedelta(days=i) for i in range(21)]
    assert [w for _, w in days] == [Window.HISTORICAL] * 14 + [Window.LIVE] * 7
    assert config.live_start == dt.date(2026, 11, 15)
    assert config.end_date == dt.date(2026, 11, 22)


def test_historical_day_is_one_normal_batch_at_midnight(config: ScenarioConfig):
    (plan,) = plan_day(config, START + dt.timedelta(days=3))
    assert plan.start == dt.datetime(2026, 11, 4, tzinfo=UTC)
    assert plan.anomaly is None
    assert plan.visitors == 5000
    assert plan.window is Window.HISTORICAL
    assert plan.batch_id == "historical-20261104-0000"
    assert plan.ingested_at == dt.datetime(2026, 11, 4, 0, 1, 40, tzinfo=UTC)


def test_live_day_is_the_spec_schedule_every_three_hours(config: ScenarioConfig):
    day = dt.date(2026, 11, 20)
    plans = plan_day(config, day)
    assert [p.start for p in plans] == [
        dt.datetime(2026, 11, 20, h, tzinfo=UTC) for h in range(0, 24, 3)
    ]
    assert [p.batch_id for p in plans] == [f"live-20261120-{h:02d}00" for h in range(0, 24, 3)]
    assert [(p.anomaly, p.visitors) for p in plans] == [
        (None, 4500),
        (AnomalyType.NULL_BURST, 5000),
        (AnomalyType.AGE_ERROR, 5500),
        (None, 4800),
        (AnomalyType.TRAFFIC_SPIKE, 2000),
        (AnomalyType.FRAUD_SPIKE, 5200),
        (AnomalyType.LIMIT_SPIKE, 5300),
        (AnomalyType.STALE_DATA, 4800),
    ]
    assert [p.index for p in plans] == list(range(8))
    assert all(p.day == day and p.window is Window.LIVE for p in plans)
    assert plans[5].ingested_at == dt.datetime(2026, 11, 20, 15, 1, 40, tzinfo=UTC)


def test_default_scenario_volume_is_350700_visitors(config: ScenarioConfig):
    plans = all_plans(config)
    assert len(plans) == 14 + 7 * 8
    assert sum(p.visitors for p in plans) == 70_000 + 7 * 37_100
    # SPEC counts the traffic spike at its spiked 5,000 visitors.
    assert sum(spiked_visitors(config, p) for p in plans) == 350_700


def test_batch_ids_are_unique_and_sort_chronologically(config: ScenarioConfig):
    plans = all_plans(config)
    ids = [p.batch_id for p in plans]
    assert len(set(ids)) == len(ids)
    assert sorted(ids) == ids
    assert [p.start for p in plans] == sorted(p.start for p in plans)


def test_nine_batches_are_spaced_24h_over_9_and_stay_in_the_day():
    config = ScenarioConfig(start_date=START, live_schedule=[{"visitors": 4900}] * 9)
    plans = plan_day(config, config.live_start)
    steps = {b.start - a.start for a, b in itertools.pairwise(plans)}
    assert steps == {dt.timedelta(hours=2, minutes=40)}
    assert plans[-1].start == dt.datetime(2026, 11, 15, 21, 20, tzinfo=UTC)
    assert all(p.start.date() == config.live_start for p in plans)


def test_uneven_spacing_is_exact_to_the_microsecond():
    config = ScenarioConfig(start_date=START, live_schedule=[{"visitors": 1}] * 7)
    plans = plan_day(config, config.live_start)
    step = dt.timedelta(microseconds=86_400_000_000 // 7)
    assert [p.start - plans[0].start for p in plans] == [i * step for i in range(7)]


def test_batch_ids_stay_unique_at_one_batch_a_minute():
    config = ScenarioConfig(start_date=START, live_schedule=[{"visitors": 1}] * 1440)
    ids = [p.batch_id for p in plan_day(config, config.live_start)]
    assert len(set(ids)) == 1440
    assert ids[-1] == "live-20261115-2359"


@pytest.mark.parametrize(
    ("visitors", "scale", "expected"),
    [(4500, 0.1, 450), (5000, 1.0, 5000), (3, 0.5, 2), (1, 0.01, 1), (5001, 0.5, 2501)],
)
def test_scale_rounds_half_up_and_never_below_one(visitors: int, scale: float, expected: int):
    assert scaled(visitors, scale) == expected


def test_scale_applies_to_every_batch():
    config = ScenarioConfig(start_date=START, scale=0.1)
    assert plan_day(config, START)[0].visitors == 500
    assert [p.visitors for p in plan_day(config, config.live_start)] == [
        450,
        500,
        550,
        480,
        200,
        520,
        530,
        480,
    ]


def test_traffic_spike_visitors_round_half_up():
    spike = [{"anomaly": "traffic_spike", "visitors": 2001}]
    config = ScenarioConfig(start_date=START, live_schedule=spike)
    (plan,) = plan_day(config, config.live_start)
    assert spiked_visitors(config, plan) == 5003  # int(2001 * 2.5 + 0.5)
    custom = ScenarioConfig(
        start_date=START,
        live_schedule=[{"anomaly": "traffic_spike", "visitors": 1000}],
        anomalies={"traffic_spike": {"visitor_multiplier": 4.0}},
    )
    assert spiked_visitors(custom, plan_day(custom, custom.live_start)[0]) == 4000


def test_days_outside_their_window_are_refused(config: ScenarioConfig):
    with pytest.raises(ValueError, match="outside the scenario"):
        window_of(config, START - dt.timedelta(days=1))
    with pytest.raises(ValueError, match="outside the scenario"):
        plan_day(config, config.end_date)
    with pytest.raises(ValueError, match="not historical"):
        plan_day(config, config.live_start, Window.HISTORICAL)
    with pytest.raises(ValueError, match="not live"):
        plan_day(config, START, "live")


def test_live_days_continue_past_the_configured_window(config: ScenarioConfig):
    plans = plan_day(config, config.end_date + dt.timedelta(days=3), Window.LIVE)
    assert len(plans) == 8
    assert plans[0].batch_id == "live-20261125-0000"


def test_batch_prefix_matches_the_day_batch_ids(config: ScenarioConfig):
    for day, window in scenario_days(config):
        prefix = batch_prefix(window, day)
        assert all(p.batch_id.startswith(prefix) for p in plan_day(config, day))
    assert batch_prefix("live", dt.date(2026, 11, 20)) == "live-20261120-"


def test_a_live_day_whose_events_would_pass_9999_is_refused():
    config = ScenarioConfig(start_date="9999-12-05")
    # The scenario's last day lands transactions on 9999-12-31; the open-ended live window
    # ends there too.
    assert plan_day(config, dt.date(9999, 12, 25), Window.LIVE)[-1].batch_id == (
        "live-99991225-2100"
    )
    with pytest.raises(ValueError, match=r"day 9999-12-26: .*9999-12-25 are allowed"):
        plan_day(config, dt.date(9999, 12, 26), Window.LIVE)
    with pytest.raises(ValueError, match=r"day 9999-12-31: "):
        plan_day(config, dt.date(9999, 12, 31), Window.LIVE)


def test_due_batches_are_those_whose_landing_time_has_passed(config: ScenarioConfig):
    day = config.live_start
    plans = plan_day(config, day)
    midnight = dt.datetime.combine(day, dt.time(), tzinfo=UTC)
    assert due_batches(config, day, midnight + dt.timedelta(seconds=99)) == []
    assert due_batches(config, day, midnight + dt.timedelta(seconds=100)) == plans[:1]
    # 15:01:40 is batch 5's landing time exactly; a microsecond before it is not.
    at = midnight + dt.timedelta(hours=15, seconds=100)
    assert due_batches(config, day, at) == plans[:6]
    assert due_batches(config, day, at - dt.timedelta(microseconds=1)) == plans[:5]
    # Any timezone: the same instant.
    assert due_batches(config, day, at.astimezone(dt.timezone(dt.timedelta(hours=-5)))) == plans[:6]
    assert due_batches(config, day, midnight + dt.timedelta(days=2)) == plans
    assert due_batches(config, START, midnight) == plan_day(config, START)  # history: landed
    with pytest.raises(ValueError, match="has no timezone"):
        due_batches(config, day, dt.datetime(2026, 11, 20, 12))
