"""Tests of the scenario presets: default is the shipped day, quiet has no anomaly, extended
spreads all thirteen types over the live week; a preset beside an explicit schedule is refused."""

from __future__ import annotations

import collections
import datetime as dt

import pytest
from pydantic import ValidationError

from dtg_assets.simulation import layout
from dtg_assets.simulation.config import (
    ANOMALY_TYPES,
    DEFAULT_LIVE_SCHEDULE,
    AnomalyType,
    ScenarioConfig,
)
from dtg_assets.simulation.errors import format_validation_error
from dtg_assets.simulation.plan import Window, plan_day, scenario_days

START = dt.date(2026, 11, 1)


def _live_plans(config: ScenarioConfig):
    return [p for d, w in scenario_days(config) if w is Window.LIVE for p in plan_day(config, d)]


def test_default_preset_is_the_shipped_schedule_and_keeps_its_token():
    config = ScenarioConfig(start_date=START, scenario="default")
    assert config == ScenarioConfig(start_date=START)
    assert config.live_schedule == DEFAULT_LIVE_SCHEDULE and config.live_week == ()
    plans = _live_plans(config)
    assert [p.anomaly_label for p in plans[:8]] == [
        None, "null_burst", "age_error", None, "traffic_spike", "fraud_spike", "limit_spike",
        "stale_data",
    ]  # fmt: skip
    # The live token of seed 7, scale 0.2 before the structural anomalies existed.
    seven = ScenarioConfig(start_date=START, seed=7, scale=0.2)
    assert layout.token_of(layout.config_hash(seven, Window.LIVE)) == "03921920"


def test_quiet_preset_has_the_default_volumes_and_no_anomaly():
    config = ScenarioConfig(start_date=START, scenario="quiet")
    plans = _live_plans(config)
    assert len(plans) == 56 and all(p.anomalies == () for p in plans)
    assert [b.visitors for b in config.live_schedule] == [b.visitors for b in DEFAULT_LIVE_SCHEDULE]


def test_extended_preset_spreads_all_thirteen_types_over_the_week():
    config = ScenarioConfig(start_date=START, scenario="extended")
    plans = _live_plans(config)
    assert len(plans) == 7 * 8
    seen = collections.Counter(k.value for p in plans for k in p.anomalies)
    assert set(seen) == set(ANOMALY_TYPES)
    assert all(n >= 3 for n in seen.values()), seen
    doubles = [p for p in plans if len(p.anomalies) == 2]
    assert [p.anomaly_label for p in doubles] == [
        "null_burst+schema_drift",
        "fraud_spike+timezone_shift",
    ]
    assert all(p.anomalies == () for p in plans if p.index in (0, 3))
    # Every live day differs; the week repeats after the seventh day (an open live window).
    days = [tuple(p.anomalies for p in plans[i * 8 : i * 8 + 8]) for i in range(7)]
    assert len(set(days)) == 7
    eighth = plan_day(config, config.end_date, Window.LIVE)
    assert [p.anomalies for p in eighth] == list(days[0])
    spikes = [p for p in plans if p.has(AnomalyType.TRAFFIC_SPIKE)]
    assert {p.visitors for p in spikes} == {2000}


@pytest.mark.parametrize("given", ["live_schedule", "live_week"])
def test_a_preset_beside_an_explicit_schedule_is_one_clear_error(given):
    schedule = [{"anomaly": None, "visitors": 10}]
    value = schedule if given == "live_schedule" else [schedule]
    with pytest.raises(ValidationError) as exc:
        ScenarioConfig(scenario="extended", **{given: value})
    message = format_validation_error(exc.value)
    assert "\n" not in message
    assert "scenario='extended' sets the live schedule itself" in message and given in message


def test_default_preset_keeps_an_explicit_schedule():
    config = ScenarioConfig(scenario="default", live_schedule=[{"anomaly": None, "visitors": 10}])
    assert [b.visitors for b in config.live_schedule] == [10]


def test_unknown_preset_names_the_allowed_ones():
    with pytest.raises(ValidationError) as exc:
        ScenarioConfig(scenario="busy")
    message = format_validation_error(exc.value)
    assert "scenario" in message and "'extended'" in message and "'quiet'" in message


def test_presets_change_the_live_token_only():
    tokens = {
        name: layout.config_hash(ScenarioConfig(start_date=START, scenario=name), Window.LIVE)
        for name in ("default", "extended", "quiet")
    }
    assert len(set(tokens.values())) == 3
    history = {
        layout.config_hash(ScenarioConfig(start_date=START, scenario=name), Window.HISTORICAL)
        for name in ("default", "extended", "quiet")
    }
    assert len(history) == 1
