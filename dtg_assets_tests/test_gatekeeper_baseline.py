"""The gatekeeper's baseline: exact statistics on hand-made history, JSON, history-only reads."""

from __future__ import annotations

import datetime as dt

import pytest
from pydantic import ValidationError

from dtg_assets.gatekeeper.baseline import Baseline, Distribution, learn_baseline
from dtg_assets.simulation.config import ScenarioConfig
from dtg_assets.simulation.landing import LandingZone
from dtg_assets.simulation.plan import Window, scenario_days
from dtg_assets_tests.gatekeeper_frames import DAY0, history, learn


@pytest.fixture(scope="module")
def frames():
    return history(batches=4, visitors=1000)


@pytest.fixture(scope="module")
def baseline(frames) -> Baseline:
    return learn(frames)


def test_rates_and_volumes_are_the_constructed_ones(baseline):
    assert baseline.days == [DAY0 + dt.timedelta(days=d) for d in range(4)]
    assert len(baseline.batches) == 4
    v = baseline.visitors_per_batch
    assert (v.count, v.median, v.mad, v.min, v.max) == (4, 1000, 0, 1000, 1000)
    assert (baseline.conversion.successes, baseline.conversion.trials) == (800, 4000)
    assert (baseline.approval.successes, baseline.approval.trials) == (480, 800)
    assert (baseline.transaction.successes, baseline.transaction.trials) == (48, 480)
    assert (baseline.unapproved_accounts.successes, baseline.unapproved_accounts.trials) == (0, 480)
    assert baseline.conversion.per_batch.values == [0.2] * len(baseline.conversion.per_batch.probs)


def test_distributions_and_short_sessions(baseline, frames):
    sessions = frames["visitor_events"]["session_duration"]
    assert baseline.short_sessions.successes == int((sessions < 1.0).sum())
    assert baseline.session_seconds.median == pytest.approx(sessions.median())
    age = baseline.applicant_age
    assert (age.min, age.max) == (22, 64)
    share = baseline.limit_share_of_income
    assert 0.0999 < share.min <= share.max <= 0.1
    vis = frames["visitor_events"]
    lags = (vis["ingested_at"] - vis["timestamp"]).dt.total_seconds()
    lag = baseline.tables["visitor_events"].ingestion_lag_seconds
    assert (lag.min, lag.median, lag.max) == (1.0, lags.median(), 99.0)


def test_column_profiles_domains_and_shapes(baseline):
    vis = baseline.tables["visitor_events"]
    assert vis.rows == 4000 and vis.duplicate_keys == 0
    assert set(vis.columns["device_type"].domain) == {"mobile", "desktop", "tablet"}
    assert vis.columns["campaign_id"].domain is None
    assert vis.columns["campaign_id"].shapes == {"A9": 4000}
    assert vis.columns["visitor_id"].domain is vis.columns["visitor_id"].shapes is None
    assert vis.columns["session_duration"].kind == "float"
    assert vis.columns["timestamp"].kind == "timestamp"
    apps = baseline.tables["applications"].columns
    assert apps["application_status"].domain == {"approved": 480, "rejected": 288, "submitted": 32}
    assert all(c.nulls == 0 for t in baseline.tables.values() for c in t.columns.values())


def test_distribution_tails_and_fence():
    d = Distribution(
        count=5, min=1.0, max=5.0, median=3.0, mad=1.0, probs=[0, 0.5, 1], values=[1, 3, 5]
    )
    assert (d.fraction_above(5.0), d.fraction_above(0.0), d.fraction_above(4.0)) == (0, 1, 0.25)
    assert (d.fraction_below(1.0), d.fraction_below(6.0), d.fraction_below(2.0)) == (0, 1, 0.25)
    assert d.quantile(0.75) == 4.0
    assert d.upper_fence(1.0, 2.0, 0.0) == pytest.approx(5.0 + 2 * 1.4826)
    # A constant history gets a margin from the floor, relative to the median.
    flat = Distribution(count=3, min=2, max=2, median=2, mad=0, probs=[0, 1], values=[2, 2])
    assert flat.upper_fence(1.0, 3.0, 0.1) == pytest.approx(2.6)
    assert Distribution().fraction_above(1.0) == 0.0


def test_summary_headlines(baseline):
    summary = baseline.summary()
    assert summary["batches"] == 4 and summary["visitors_per_batch_median"] == 1000
    assert (summary["conversion_rate"], summary["approval_rate"]) == (0.2, 0.6)
    assert summary["transaction_rate"] == 0.1
    # campaign_id is the only shape domain; the rest of the strings outside ids have values.
    assert (summary["shape_domains"], summary["columns_with_nulls"]) == (1, 0)
    assert summary["value_domains"] == 10


def test_json_round_trip_and_strictness(baseline):
    text = baseline.to_json()
    assert Baseline.from_json(text) == baseline
    bad = text.replace('"duplicate_keys"', '"unexpected": 1, "duplicate_keys"', 1)
    with pytest.raises(ValidationError, match="unexpected"):
        Baseline.from_json(bad)


def test_learn_baseline_reads_only_the_historical_landing_zone(tmp_path):
    config = ScenarioConfig(
        start_date=dt.date(2026, 2, 1), historical_days=2, live_days=1, scale=0.05, seed=3
    )
    days = scenario_days(config)
    historical = [d for d, w in days if w is Window.HISTORICAL]
    zone = LandingZone(str(tmp_path))
    zone.write_days(config, [(d, w) for d, w in days if w is Window.HISTORICAL])
    before = learn_baseline(zone, historical)
    # Live data (with anomalies) landing next to it, and deleting the ground truth, change nothing.
    zone.write_days(config, [(d, w) for d, w in days if w is Window.LIVE])
    zone.fs.rm(zone.path("ground_truth"), recursive=True)
    after = learn_baseline(zone, historical)
    assert after == before
    assert after.batches == [f"historical-{d:%Y%m%d}-0000" for d in historical]
    assert after.visitors_per_batch.median == 250
    with pytest.raises(ValueError, match=r"no historical visitor events.*2026-03-01"):
        learn_baseline(zone, [dt.date(2026, 3, 1)])
