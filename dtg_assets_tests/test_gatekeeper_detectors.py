"""Each gatekeeper detector on hand-made frames: it flags what it should and passes clean data.

The baseline is learned from six clean hand-made batches; each test breaks one thing in a
clean live batch and asserts the exact set of detectors that flag and, for record-level
detectors, the exact records they list.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from pydantic import ValidationError

from dtg_assets.gatekeeper.baseline import Baseline
from dtg_assets.gatekeeper.detectors import build_detectors
from dtg_assets.gatekeeper.findings import FINDINGS_SCHEMA, detect_batches
from dtg_assets.gatekeeper.rules import CountRule, Rules, StatusRule, VolumeRule
from dtg_assets_tests.gatekeeper_frames import (
    Tables,
    detect,
    flags,
    history,
    ids,
    learn,
    live_batch,
    to_arrow,
)


@pytest.fixture(scope="module")
def baseline() -> Baseline:
    return learn(history())


@pytest.fixture
def live() -> Tables:
    return live_batch()


def test_clean_batch_passes_every_detector(baseline, live):
    found = detect(live, baseline)
    assert len(found) == len(build_detectors(baseline)) > 50
    assert flags(found) == set()
    assert set(found["family"]) == {"technical", "business", "freshness", "statistical"}
    assert found["flagged_ids"].map(len).sum() == 0


def test_findings_follow_the_schema_one_row_per_batch_and_detector(baseline, live):
    other = live_batch(seed=5, hour=6)
    tables = {t: pd.concat([live[t], other[t]], ignore_index=True) for t in live}
    found = detect_batches(to_arrow(tables), baseline, day=dt.date(2026, 3, 31), window="live")
    assert found.schema == FINDINGS_SCHEMA
    per_batch = found.to_pandas().groupby("batch_id")["detector"].agg(["count", "nunique"])
    # Every detector once per batch, plus the day's cadence: arrivals at 03:00 and 06:00 on a
    # grid phased at midnight (history's) are 8 slots of 3 h, six of them empty.
    n = len(build_detectors(baseline)) + 1
    present = ["live-20260331-0300", "live-20260331-0600"]
    assert per_batch.loc[present].to_dict("list") == {"count": [n, n], "nunique": [n, n]}
    missing = found.to_pandas().query("detector == 'cadence' and verdict == 'flag'")
    assert sorted(missing["batch_id"]) == [
        f"live-20260331-{h:02d}00" for h in (0, 9, 12, 15, 18, 21)
    ]
    assert len(per_batch) == 8


def test_null_burst_flags_exactly_the_null_records(baseline, live):
    vis = live["visitor_events"]
    vis.loc[:49, "campaign_id"] = None
    found = detect(live, baseline)
    assert flags(found) == {"completeness:visitor_events.campaign_id"}
    assert ids(found, "completeness:visitor_events.campaign_id") == set(vis["visitor_id"][:50])
    row = found.loc["completeness:visitor_events.campaign_id"]
    assert (row["metric"], row["count"], row["threshold"]) == (50 / 2000, 50, 0.0)
    # Visitors were available when their batch landed: that is when the flag was decidable.
    assert row["evidence_at"] == vis["ingested_at"][0]


def test_a_single_null_in_a_never_null_column_flags_unless_min_count_says_otherwise(baseline, live):
    live["visitor_events"].loc[7, "geo"] = None
    assert flags(detect(live, baseline)) == {"completeness:visitor_events.geo"}
    lenient = Rules(completeness=CountRule(min_count=2))
    assert flags(detect(live, baseline, lenient)) == set()


def test_unknown_category_flags_domain(baseline, live):
    vis = live["visitor_events"]
    vis.loc[[3, 30, 300], "device_type"] = "smartwatch"
    found = detect(live, baseline)
    assert flags(found) == {"domain:visitor_events.device_type"}
    assert ids(found, "domain:visitor_events.device_type") == set(vis["visitor_id"][[3, 30, 300]])


def test_unknown_string_shape_flags_format(baseline, live):
    vis = live["visitor_events"]
    vis.loc[:4, "campaign_id"] = "spring-sale"
    found = detect(live, baseline)
    assert flags(found) == {"format:visitor_events.campaign_id"}
    assert ids(found, "format:visitor_events.campaign_id") == set(vis["visitor_id"][:5])


def test_schema_drift_flags_schema_and_the_detectors_still_run(baseline, live):
    vis = live["visitor_events"].drop(columns=["geo"])
    vis["session_duration"] = vis["session_duration"].map(str)
    tables = to_arrow(live)
    tables["visitor_events"] = pa.Table.from_pandas(vis, preserve_index=False)
    found = detect_batches(tables, baseline).to_pandas().set_index("detector", drop=False)
    # The dropped and the retyped column are the schema detector's finding alone: the other
    # detectors leave those values out instead of calling them missing.
    assert flags(found) == {"schema:visitor_events"}
    schema = found.loc["schema:visitor_events"]
    assert schema["metric"] == 2
    assert schema["detail"] == "dropped geo; retyped session_duration float -> string"
    assert set(schema["flagged_ids"]) == set(vis["visitor_id"])


def test_duplicate_keys_flag_uniqueness(baseline, live):
    vis = live["visitor_events"]
    vis.loc[1, "visitor_id"] = vis.loc[0, "visitor_id"]
    found = detect(live, baseline)
    assert flags(found) == {"uniqueness:visitor_events.visitor_id"}
    assert ids(found, "uniqueness:visitor_events.visitor_id") == {vis.loc[0, "visitor_id"]}


def test_under_age_applicants_flag_min_age(baseline, live):
    apps = live["applications"]
    rows = [0, 10, 20, 30, 40]
    apps.loc[rows, "applicant_age"] = 15
    found = detect(live, baseline)
    # 15 is also below every age history showed (22 and up).
    assert flags(found) == {"min_age", "range:applications.applicant_age"}
    assert ids(found, "min_age") == set(apps["app_id"][rows])
    assert ids(found, "range:applications.applicant_age") == set(apps["app_id"][rows])
    assert found.loc["min_age", "record_threshold"] == 18


def test_invalid_status_flags_status_domain_unless_declared_valid(baseline, live):
    apps = live["applications"]
    rejected = apps.index[apps["application_status"] == "rejected"][:4]
    apps.loc[rejected, "application_status"] = "rejected - under age"
    found = detect(live, baseline)
    assert flags(found) == {"status_domain", "domain:applications.application_status"}
    assert ids(found, "status_domain") == set(apps["app_id"][rejected])
    valid = ("approved", "rejected", "submitted", "rejected - under age")
    relaxed = Rules(status_domain=StatusRule(valid_statuses=valid))
    assert flags(detect(live, baseline, relaxed)) == {"domain:applications.application_status"}


def test_requested_limit_far_above_income_share_flags(baseline, live):
    apps = live["applications"]
    apps.loc[:9, "req_credit_limit"] = (apps["annual_income"][:10] * 0.7).astype(int)
    # 11% of income is above history's 10% but inside the fence: not an outlier.
    apps.loc[10:19, "req_credit_limit"] = (apps["annual_income"][10:20] * 0.11).astype(int)
    found = detect(live, baseline)
    # 70 % of an income is also a requested limit above any history showed (and 11 % of one
    # of the highest incomes may be).
    assert flags(found) == {"limit_share_of_income", "range:applications.req_credit_limit"}
    assert ids(found, "limit_share_of_income") == set(apps["app_id"][:10])
    above = ids(found, "range:applications.req_credit_limit")
    assert set(apps["app_id"][:10]) <= above <= set(apps["app_id"][:20])
    assert 0.11 < found.loc["limit_share_of_income", "record_threshold"] < 0.7


def test_account_for_a_rejected_application_flags_accounts_approved(baseline, live):
    apps, acc = live["applications"], live["accounts"]
    app = acc.loc[5, "app_id"]
    apps.loc[apps["app_id"] == app, "application_status"] = "rejected"
    found = detect(live, baseline)
    assert flags(found) == {"accounts_approved"}
    assert ids(found, "accounts_approved") == {acc.loc[5, "account_id"]}


def test_stale_events_flag_ingestion_lag_and_a_minute_does_not(baseline, live):
    vis = live["visitor_events"]
    late = live_batch()
    late["visitor_events"]["timestamp"] = vis["timestamp"] - pd.Timedelta(seconds=60)
    assert flags(detect(late, baseline)) == set()
    vis["timestamp"] = vis["timestamp"] - pd.Timedelta(hours=6)
    found = detect(live, baseline)
    assert flags(found) == {"ingestion_lag:visitor_events"}
    assert found.loc["ingestion_lag:visitor_events", "metric"] == 50.5 + 6 * 3600


def test_volume_far_from_history_flags_and_a_moderate_change_passes(baseline):
    assert flags(detect(live_batch(visitors=600), baseline)) == set()
    found = detect(live_batch(visitors=7000), baseline)
    # The hand-made history repeats the same 48 amounts in every batch; a batch this large
    # draws amounts beyond all of them, which the range of amounts reports.
    assert flags(found) == {"volume", "range:transactions.amount"}
    row = found.loc["volume"]
    assert (row["metric"], row["lower"], row["upper"], row["comparison"]) == (7000, 500, 3500, ">")


def test_bot_sessions_flag_short_sessions_with_their_records(baseline, live):
    vis = live["visitor_events"]
    natural = set(vis.loc[vis["session_duration"] < 1.0, "visitor_id"])
    bots = np.arange(0, 2000, 3)
    vis.loc[bots, "session_duration"] = 0.5
    found = detect(live, baseline)
    # A third of the sessions at half a second is also a drift of their distribution.
    assert flags(found) == {"short_sessions", "distribution:visitor_events.session_duration"}
    assert ids(found, "short_sessions") == set(vis["visitor_id"][bots]) | natural


def _drop_applications(tables: Tables, keep: np.ndarray) -> None:
    """Keep some applications, and the accounts of those still approved, and their txns."""
    apps = tables["applications"] = tables["applications"][keep].reset_index(drop=True)
    approved = apps.loc[apps["application_status"] == "approved", "app_id"]
    acc = tables["accounts"] = tables["accounts"][tables["accounts"]["app_id"].isin(approved)]
    txn = tables["transactions"]
    tables["transactions"] = txn[txn["account_id"].isin(acc["account_id"])]


def test_conversion_drop_flags_conversion_rate(baseline, live):
    _drop_applications(live, np.arange(len(live["applications"])) % 4 == 0)
    found = detect(live, baseline)
    assert "conversion_rate" in flags(found)
    row = found.loc["conversion_rate"]
    assert (row["metric"], row["comparison"]) == (0.05, "<")
    assert row["threshold"] == row["lower"] > 0.05


def test_approval_drop_flags_approval_rate(baseline, live):
    apps = live["applications"]
    approved = apps.index[apps["application_status"] == "approved"]
    apps.loc[approved[::2], "application_status"] = "rejected"
    _drop_applications(live, np.ones(len(apps), bool))
    assert flags(detect(live, baseline)) == {"approval_rate"}


def test_missing_transactions_flag_transaction_rate(baseline, live):
    live["transactions"] = live["transactions"].iloc[0:0]
    assert flags(detect(live, baseline)) == {"transaction_rate"}


def test_amounts_near_the_limit_flag_amount_to_limit(baseline, live):
    txn, acc = live["transactions"], live["accounts"]
    limit = txn["account_id"].map(acc.set_index("account_id")["approved_limit"])
    rows = [2, 9, 17]
    txn.loc[rows, "amount"] = (limit[rows] * 0.8).round(2)
    found = detect(live, baseline)
    # 80 % of a limit is also an amount above any history showed.
    assert flags(found) == {"amount_to_limit", "range:transactions.amount"}
    assert ids(found, "amount_to_limit") == set(txn["txn_id"][rows])
    assert ids(found, "range:transactions.amount") == set(txn["txn_id"][rows])
    # With two needed, the flag was decidable when the second of them had happened.
    strict = detect(live, baseline, Rules(amount_to_limit={"min_count": 2}))
    second = sorted(txn["timestamp"][rows])[1]
    assert strict.loc["amount_to_limit", "evidence_at"] == second


def test_disabled_rules_build_no_detector_and_unknown_keys_are_rejected(baseline):
    names = {d.name for d in build_detectors(baseline, Rules(volume=VolumeRule(enabled=False)))}
    assert "volume" not in names and "short_sessions" in names
    with pytest.raises(ValidationError, match="volum"):
        Rules(volum={"enabled": False})
    with pytest.raises(ValidationError, match="min_count"):
        CountRule(min_count=0)


def test_a_batch_without_ingested_at_flags_with_no_evidence_time(baseline, live):
    tables = to_arrow(live)
    tables["visitor_events"] = tables["visitor_events"].drop_columns(["ingested_at"])
    found = detect_batches(tables, baseline).to_pandas().set_index("detector", drop=False)
    # Without ingested_at no record of the table is known to be available: no evidence time.
    assert flags(found) == {"schema:visitor_events"}
    row = found.loc["schema:visitor_events"]
    assert (row["metric"], pd.isna(row["evidence_at"])) == (1, True)
    assert len(row["flagged_ids"]) == 2000
