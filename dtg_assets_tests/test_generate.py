"""Tests of batch generation against SPEC.md: every distribution, rate, lag and anomaly.

Statistics use fixed seeds and batches of about 200,000 visitors, with tolerances of
``SIGMAS`` standard errors computed per assertion. Range ends are checked exactly where the
sample makes every value near-certain to appear, and otherwise to within a distance the sample
reaches with probability above ``1 - e^-20``. Anomaly labels are checked against a diff of the
batch with its normal twin, recomputed here from the data alone.
"""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from dtg_assets.simulation.config import AnomalyType, ScenarioConfig
from dtg_assets.simulation.generate import BatchOutput, generate_batch, iter_batch_chunks
from dtg_assets.simulation.plan import plan_day
from dtg_assets.simulation.pools import value_pools
from dtg_assets.simulation.schemas import LABEL_SCHEMA, TABLE_SCHEMAS, TABLES
from dtg_assets_tests.conftest import (
    BIG,
    ORIGINAL_ANOMALIES,
    SIGMAS,
    SPIKE_PLANNED,
    START,
    assert_mean,
    assert_same_labels,
    assert_share,
    assert_uniform_categories,
    assert_uniform_ints,
    column,
    diff_against_twin,
    label_key,
    twin_plan,
)

UUID4 = r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"
US = 1_000_000


def frame(table: pa.Table) -> pd.DataFrame:
    """A table as pandas, timestamps as int64 microseconds."""
    columns = [c.cast(pa.int64()) if pa.types.is_timestamp(c.type) else c for c in table.columns]
    return pa.Table.from_arrays(columns, names=table.column_names).to_pandas()


def isin(values: object, members: object) -> np.ndarray:
    """Vectorised membership test (pandas' ``isin`` on strings is slow)."""
    return pc.is_in(pa.array(values), value_set=pa.array(members)).to_numpy(zero_copy_only=False)


def near_ends(
    values: np.ndarray, low: float, high: float, width: float, slack: float = 0.0
) -> None:
    """Assert values lie in [low, high] and reach within ``20 * width / n + slack`` of both ends.

    For ``n`` uniform draws over a range of ``width``, the minimum exceeds the low end by more
    than ``20 * width / n`` with probability ``(1 - 20 / n) ** n``, about ``e^-20``.
    """
    d = 20 * width / values.size + slack
    assert values.min() >= low and values.max() <= high, (values.min(), values.max())
    assert values.min() - low <= d and high - values.max() <= d, (values.min(), values.max(), d)


def uniform_sd(low: float, high: float) -> float:
    return (high - low) / math.sqrt(12)


@pytest.fixture(scope="module")
def spec(normal_batch: BatchOutput) -> dict[str, pd.DataFrame]:
    return {t: frame(normal_batch.tables[t]) for t in TABLES}


# -- schema and lineage ---------------------------------------------------------------------------
def test_tables_have_the_landing_schemas_with_utc_microsecond_timestamps(normal_batch):
    for table in TABLES:
        assert normal_batch.tables[table].schema == TABLE_SCHEMAS[table]
        for field in TABLE_SCHEMAS[table]:
            if pa.types.is_timestamp(field.type):
                assert field.type == pa.timestamp("us", tz="UTC")
    assert normal_batch.labels.schema == LABEL_SCHEMA
    assert normal_batch.labels.num_rows == 0


def test_every_row_carries_batch_id_and_ingested_at(normal_batch, anomaly_batch):
    stale_plan, stale, _ = anomaly_batch(AnomalyType.STALE_DATA)
    for out in (normal_batch, stale):
        ingested = int(out.plan.start.timestamp() + 100) * US
        for table in TABLES:
            t = out.tables[table]
            assert t.num_rows > 0
            assert pc.all(pc.equal(t.column("batch_id"), out.plan.batch_id)).as_py()
            assert (column(t, "ingested_at") == ingested).all()
    assert stale_plan.ingested_at.timestamp() == stale_plan.start.timestamp() + 100


def test_ingested_at_is_exactly_100_s_after_a_sub_second_batch_start():
    # 7 batches a day are 12 h / 3.5 apart: 3 h 25 min 42.857142 s, not whole seconds.
    config = ScenarioConfig(
        start_date=START,
        historical_days=0,
        live_days=1,
        live_schedule=[{"visitors": 500}] * 6 + [{"anomaly": "stale_data", "visitors": 500}],
    )
    plans = plan_day(config, config.start_date)
    assert plans[1].start.microsecond == 857_142
    for plan in plans:
        out = generate_batch(config, plan)
        start_us = (plan.start - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)) // dt.timedelta(
            microseconds=1
        )
        assert plan.ingested_at - plan.start == dt.timedelta(seconds=100)
        for table in TABLES:
            ingested = column(out.tables[table], "ingested_at")
            assert ingested.size == out.tables[table].num_rows
            assert (ingested == start_us + 100 * US).all(), (plan.batch_id, table)
        assert out.tables["visitor_events"].column("ingested_at")[0].as_py() == plan.ingested_at


def test_ids_are_unique_uuid4(normal_batch):
    for table, pk in [
        ("visitor_events", "visitor_id"),
        ("applications", "app_id"),
        ("accounts", "account_id"),
        ("transactions", "txn_id"),
    ]:
        ids = normal_batch.tables[table].column(pk)
        assert pc.all(pc.match_substring_regex(ids, UUID4)).as_py(), table
        assert pc.count_distinct(ids).as_py() == len(ids), table


# -- visitor_events -------------------------------------------------------------------------------
def test_visitor_categories_are_uniform(spec):
    v = spec["visitor_events"]
    assert len(v) == BIG
    assert_uniform_categories(
        v.event_type.tolist(), ["landing", "scroll", "apply_click", "view_pricing"], "event"
    )
    assert_uniform_categories(v.device_type.tolist(), ["mobile", "desktop", "tablet"], "device")
    assert_uniform_categories(v.geo.tolist(), ["USA", "UK", "IND", "CA"], "geo")


def test_campaign_id_is_an_upper_word_and_a_uniform_three_digit_number(normal_batch):
    campaign = normal_batch.tables["visitor_events"].column("campaign_id")
    assert campaign.null_count == 0
    parts = pc.extract_regex(campaign, r"^(?P<word>[A-Z]+)(?P<number>\d{3})$")
    assert parts.null_count == 0, "a campaign id is not WORD + 3 digits"
    words = pc.struct_field(parts, "word")
    assert pc.all(pc.is_in(words, value_pools(20260105).words)).as_py()
    assert pc.count_distinct(words).as_py() > 500
    numbers = pc.struct_field(parts, "number").cast(pa.int64()).to_numpy()
    assert_uniform_ints(numbers, 100, 998, "campaign number")


def test_visitor_timestamp_is_batch_start_plus_1_to_99_seconds(normal_batch, spec):
    offset_us = spec["visitor_events"].timestamp.to_numpy() - int(
        normal_batch.plan.start.timestamp() * US
    )
    assert (offset_us % US == 0).all()
    assert_uniform_ints(offset_us // US, 1, 99, "visitor offset s")


def test_session_duration_is_floored_normal_30_10(spec):
    d = spec["visitor_events"].session_duration.to_numpy()
    assert d.min() == 0.1
    p_floor = 0.5 * (1 + math.erf((0.1 - 30) / 10 / math.sqrt(2)))
    assert_share(int((d == 0.1).sum()), d.size, p_floor, "floored sessions")
    assert_mean(d, 30, 10, "session mean")
    assert abs(d.std() - 10) <= SIGMAS * 10 / math.sqrt(2 * d.size)


# -- applications ---------------------------------------------------------------------------------
def test_visitors_apply_at_most_once_with_rate_0_2(spec):
    v, a = spec["visitor_events"], spec["applications"]
    assert_share(len(a), len(v), 0.20, "apply rate")
    assert a.visitor_id.is_unique
    assert isin(a.visitor_id, v.visitor_id).all()


def test_applicant_fields(spec):
    a = spec["applications"]
    assert_uniform_ints(a.applicant_age.to_numpy(), 22, 64, "age")
    income = a.annual_income.to_numpy()
    assert income.dtype == np.float64 and (income == np.round(income)).all()
    near_ends(income, 40_000, 149_999, 110_000)
    assert_mean(income, (40_000 + 149_999) / 2, uniform_sd(40_000, 150_000), "income")
    assert_uniform_categories(
        a.employment_status.tolist(), ["salaried", "self-employed", "unemployed"], "employment"
    )
    assert (a.req_credit_limit.to_numpy() == np.floor(income / 10)).all()


def test_income_range_ends_are_inclusive():
    # Narrow ranges at both ends of SPEC's income range make every value appear.
    for low, high in [(40_000, 40_009), (149_990, 149_999)]:
        config = ScenarioConfig(
            start_date=START,
            historical_days=1,
            live_days=0,
            historical_visitors=20_000,
            funnel={"annual_income": {"low": low, "high": high}, "apply_rate": 1.0},
        )
        out = generate_batch(config, plan_day(config, START)[0])
        assert_uniform_ints(column(out.tables["applications"], "annual_income"), low, high)


def test_application_lag_is_1_to_14_minutes(spec):
    j = spec["applications"].merge(spec["visitor_events"], on="visitor_id", suffixes=("", "_v"))
    lag = j.timestamp.to_numpy() - j.timestamp_v.to_numpy()
    assert (lag % (60 * US) == 0).all()
    assert_uniform_ints(lag // (60 * US), 1, 14, "application lag min")


def test_application_status_shares(spec):
    status = spec["applications"].application_status.tolist()
    assert set(status) == {"approved", "rejected", "submitted"}
    n = len(status)
    assert_share(status.count("approved"), n, 0.60, "approved")
    assert_share(status.count("rejected"), n, 0.36, "rejected")
    assert_share(status.count("submitted"), n, 0.04, "submitted")
    not_approved = n - status.count("approved")
    assert_share(status.count("rejected"), not_approved, 0.90, "rejected | not approved")


def test_approval_does_not_depend_on_adult_age(spec):
    a = spec["applications"]
    for low, high in [(22, 31), (32, 42), (43, 53), (54, 64)]:
        group = a[(a.applicant_age >= low) & (a.applicant_age <= high)]
        approved = int((group.application_status == "approved").sum())
        assert_share(approved, len(group), 0.60, f"approved | age {low}-{high}")


# -- accounts -------------------------------------------------------------------------------------
def test_one_account_per_approved_application_exactly(spec):
    a, acc = spec["applications"], spec["accounts"]
    approved = set(a.app_id[a.application_status == "approved"])
    assert acc.app_id.is_unique
    assert set(acc.app_id) == approved
    assert (acc.account_status == "active").all()


def test_account_limit_rate_and_open_lag(spec):
    j = spec["accounts"].merge(spec["applications"], on="app_id", suffixes=("", "_app"))
    req = j.req_credit_limit.to_numpy()
    limit = j.approved_limit.to_numpy()
    # int(req * U(0.8, 1.2)), so floor(0.8 req) <= limit <= floor(1.2 req).
    assert (limit >= np.floor(0.8 * req) - 1).all() and (limit <= 1.2 * req).all()
    ratio = limit / req
    near_ends(ratio, 0.8 - 1 / req.min(), 1.2, 0.4, slack=1 / req.min())
    assert_mean((limit + 0.5) / req, 1.0, uniform_sd(0.8, 1.2), "limit factor")
    rate = j.interest_rate.to_numpy()
    near_ends(rate, 14.99, 29.99, 15)
    assert_mean(rate, (14.99 + 29.99) / 2, uniform_sd(14.99, 29.99), "interest")
    lag = j.account_open_timestamp.to_numpy() - j.timestamp.to_numpy()
    assert (lag % (3600 * US) == 0).all()
    assert_uniform_ints(lag // (3600 * US), 2, 23, "account lag h")


# -- transactions ---------------------------------------------------------------------------------
def check_transaction_counts(acc: pd.DataFrame, txn: pd.DataFrame, rate: float) -> None:
    counts = txn.groupby("account_id").size()
    assert set(counts.index) <= set(acc.account_id)
    assert_share(len(counts), len(acc), rate, "transacting accounts")
    assert_uniform_ints(counts.to_numpy(), 1, 4, "transactions per account")


def test_accounts_transact_with_rate_0_1_one_to_four_times(spec):
    check_transaction_counts(spec["accounts"], spec["transactions"], 0.10)


def test_transaction_fields(dense_batch):
    acc, txn = frame(dense_batch.tables["accounts"]), frame(dense_batch.tables["transactions"])
    check_transaction_counts(acc, txn, 1.0)
    amount = txn.amount.to_numpy()
    assert np.allclose(amount * 100, np.round(amount * 100), rtol=0, atol=1e-6)
    near_ends(amount, 5, 500, 495)
    assert_mean(amount, 252.5, uniform_sd(5, 500), "amount")
    assert_uniform_categories(
        txn.merchant_cat_code.tolist(), ["5411", "5812", "5999", "7999", "5541"], "mcc"
    )
    pools = value_pools(7)
    for name, pool in [("location", pools.countries), ("state", pools.states)]:
        assert set(txn[name]) == set(pool.to_pylist()), name
    assert set(txn.merchant_city) <= set(pools.cities.to_pylist())
    assert txn.merchant_city.nunique() >= 0.9 * len(pools.cities)
    j = txn.merge(acc, on="account_id")
    lag = j.timestamp.to_numpy() - j.account_open_timestamp.to_numpy()
    assert (lag % (60 * US) == 0).all()
    minutes = lag // (60 * US)
    assert_uniform_ints(minutes // 1440, 1, 4, "txn lag days")
    assert_uniform_ints(minutes % 1440, 0, 1439, "txn lag minutes")


# -- anomalies: labels are exactly the diff with the twin -----------------------------------------
@pytest.mark.parametrize("anomaly", ORIGINAL_ANOMALIES)
def test_labels_are_exactly_the_records_that_differ_from_the_twin(anomaly, anomaly_batch):
    plan, out, twin = anomaly_batch(anomaly)
    assert twin.labels.num_rows == 0
    assert out.labels.num_rows > 0
    assert set(out.labels.column("batch_id").to_pylist()) == {plan.batch_id}
    assert set(out.labels.column("anomaly").to_pylist()) == {anomaly.value}
    assert_same_labels(label_key(out.labels), diff_against_twin(out, twin))


def test_the_twin_diff_catches_a_missing_or_wrong_label(anomaly_batch):
    _, out, twin = anomaly_batch(AnomalyType.LIMIT_SPIKE)
    expected = diff_against_twin(out, twin)
    with pytest.raises(AssertionError):
        assert_same_labels(label_key(out.labels.slice(1)), expected)
    wrong = out.labels.set_column(
        5, "affected_columns", pa.array([["annual_income"]] * out.labels.num_rows)
    )
    with pytest.raises(AssertionError):
        assert_same_labels(label_key(wrong), expected)


def labels_of(out: BatchOutput, table: str) -> pd.DataFrame:
    rows = out.labels.filter(pc.equal(out.labels.column("table"), table)).to_pylist()
    return pd.DataFrame(rows, columns=LABEL_SCHEMA.names)


def label_tables(out: BatchOutput) -> dict[tuple[str, str, str], int]:
    """Label counts per (table, effect, affected columns)."""
    labels = out.labels
    keyed = pa.table(
        {
            "table": labels.column("table"),
            "effect": labels.column("effect"),
            "columns": pc.binary_join(labels.column("affected_columns"), ","),
        }
    )
    counts = keyed.group_by(["table", "effect", "columns"]).aggregate([([], "count_all")])
    return {(r["table"], r["effect"], r["columns"]): r["count_all"] for r in counts.to_pylist()}


def test_null_burst(anomaly_batch):
    _, out, _ = anomaly_batch(AnomalyType.NULL_BURST)
    campaign = out.tables["visitor_events"].column("campaign_id")
    assert_share(campaign.null_count, BIG, 0.25, "null campaign ids")
    assert label_tables(out) == {("visitor_events", "modified", "campaign_id"): campaign.null_count}
    nulls = out.tables["visitor_events"].filter(pc.is_null(campaign)).column("visitor_id")
    assert set(nulls.to_pylist()) == set(labels_of(out, "visitor_events").record_id)


def test_age_error(anomaly_batch):
    _, out, twin = anomaly_batch(AnomalyType.AGE_ERROR)
    a = frame(out.tables["applications"])
    under = a[a.applicant_age < 18]
    assert_share(len(under), len(a), 0.15, "under-age applicants")
    assert_uniform_ints(under.applicant_age.to_numpy(), 10, 16, "under age")
    assert ((a.applicant_age < 18) == (a.application_status == "rejected - under age")).all()
    adults = a[a.applicant_age >= 18]
    assert_share(int((adults.application_status == "approved").sum()), len(adults), 0.6, "adult")
    acc = frame(out.tables["accounts"])
    assert not isin(acc.app_id, under.app_id).any()
    twin_acc = frame(twin.tables["accounts"])
    lost = twin_acc[isin(twin_acc.app_id, under.app_id)]
    assert_share(len(lost), len(under), 0.6, "approved in the twin")
    twin_txn = frame(twin.tables["transactions"])
    counts = label_tables(out)
    assert counts == {
        ("applications", "modified", "applicant_age,application_status"): len(under),
        ("accounts", "removed", ""): len(lost),
        ("transactions", "removed", ""): int(isin(twin_txn.account_id, lost.account_id).sum()),
    }


def test_traffic_spike(big_config, anomaly_batch):
    plan, out, twin = anomaly_batch(AnomalyType.TRAFFIC_SPIKE)
    assert plan.visitors == SPIKE_PLANNED
    v = frame(out.tables["visitor_events"])
    assert len(v) == int(SPIKE_PLANNED * 2.5 + 0.5) == BIG
    assert twin.tables["visitor_events"].num_rows == SPIKE_PLANNED
    labels = out.labels
    bot_rows = pc.equal(pc.binary_join(labels.column("affected_columns"), ","), "session_duration")
    is_bot = isin(v.visitor_id, labels.column("record_id").filter(bot_rows))
    assert_share(int(is_bot.sum()), BIG, 0.8, "bots")
    d = v.session_duration[is_bot].to_numpy()
    near_ends(d, 0.1, 1.0, 0.9)
    assert_mean(d, 0.55, uniform_sd(0.1, 1.0), "bot session")
    assert_mean(v.session_duration[~is_bot].to_numpy(), 30, 10, "human session")
    counts = label_tables(out)
    assert counts[("visitor_events", "added", "session_duration")] + counts[
        ("visitor_events", "added", "")
    ] == (BIG - SPIKE_PLANNED)
    assert_share(counts[("applications", "added", "")], BIG - SPIKE_PLANNED, 0.2, "extras apply")
    assert {effect for _, effect, _ in counts} == {"modified", "added"}


def test_traffic_spike_added_records_name_exactly_their_bot_column(big_config, anomaly_batch):
    # The same spike without bots is the twin of the added visitors too.
    plan, out, _ = anomaly_batch(AnomalyType.TRAFFIC_SPIKE)
    humans = big_config.model_copy(
        update={
            "anomalies": big_config.anomalies.model_copy(
                update={
                    "traffic_spike": big_config.anomalies.traffic_spike.model_copy(
                        update={"bot_rate": 0.0}
                    )
                }
            )
        }
    )
    no_bots = generate_batch(humans, plan)
    expected = diff_against_twin(out, no_bots)
    expected = expected.set_column(2, "effect", pa.array(["?"] * len(expected)))
    got = label_key(out.labels, columns_of_added=True)
    got = got.filter(pc.not_equal(got.column("columns"), ""))
    assert_same_labels(got.set_column(2, "effect", pa.array(["?"] * len(got))), expected)


def test_fraud_spike(anomaly_batch):
    _, out, _ = anomaly_batch(AnomalyType.FRAUD_SPIKE)
    txn = frame(out.tables["transactions"]).merge(frame(out.tables["accounts"]), on="account_id")
    fraud_ids = labels_of(out, "transactions").record_id
    is_fraud = isin(txn.txn_id, fraud_ids)
    assert_share(int(is_fraud.sum()), len(txn), 0.05, "fraud share")
    f = txn[is_fraud]
    share = f.amount / f.approved_limit
    slack = 0.005 / f.approved_limit
    assert ((share >= 0.7 - slack) & (share <= 0.9 + slack)).all()
    near_ends(share.to_numpy(), 0.7 - slack.max(), 0.9 + slack.max(), 0.2)
    assert_mean(share.to_numpy(), 0.8, uniform_sd(0.7, 0.9), "fraud limit share")
    assert np.allclose(f.amount * 100, np.round(f.amount * 100), rtol=0, atol=1e-6)
    assert (txn.amount[~is_fraud] <= 500).all()
    assert label_tables(out) == {("transactions", "modified", "amount"): len(f)}


def test_limit_spike(anomaly_batch):
    _, out, _ = anomaly_batch(AnomalyType.LIMIT_SPIKE)
    a = frame(out.tables["applications"])
    spiked = a.req_credit_limit != np.floor(a.annual_income / 10)
    assert_share(int(spiked.sum()), len(a), 0.10, "spiked requests")
    s = a[spiked]
    share = s.req_credit_limit / s.annual_income
    # int(income * U(0.6, 0.9)): within one unit below 0.6 * income and at most 0.9 * income.
    assert ((s.req_credit_limit > 0.6 * s.annual_income - 1) & (share <= 0.9)).all()
    near_ends(share.to_numpy(), 0.6 - 1 / s.annual_income.min(), 0.9, 0.3)
    assert_mean(share.to_numpy(), 0.75, uniform_sd(0.6, 0.9), "income share")
    # Approved limits still follow a tenth of income, not the inflated request.
    j = frame(out.tables["accounts"]).merge(a, on="app_id")
    assert (j.approved_limit <= 1.2 * np.floor(j.annual_income / 10)).all()
    assert label_tables(out) == {("applications", "modified", "req_credit_limit"): len(s)}
    assert set(labels_of(out, "applications").record_id) == set(s.app_id)


def test_stale_data_shifts_every_event_12_hours(anomaly_batch):
    plan, out, twin = anomaly_batch(AnomalyType.STALE_DATA)
    shift = 12 * 3600 * US
    counts = label_tables(out)
    for table, pk, ts in [
        ("visitor_events", "visitor_id", "timestamp"),
        ("applications", "app_id", "timestamp"),
        ("accounts", "account_id", "account_open_timestamp"),
        ("transactions", "txn_id", "timestamp"),
    ]:
        a, t = (o.tables[table].select([pk, ts, "ingested_at"]) for o in (out, twin))
        j = a.join(t, pk, join_type="full outer", right_suffix="_twin")
        assert j.num_rows == a.num_rows == t.num_rows, table
        assert (column(j, ts) == column(j, f"{ts}_twin") - shift).all(), table
        assert (column(j, "ingested_at") == int(plan.start.timestamp() + 100) * US).all()
        assert (column(j, "ingested_at") == column(j, "ingested_at_twin")).all()
        assert counts[(table, "modified", ts)] == a.num_rows
    assert out.labels.num_rows == sum(out.tables[t].num_rows for t in TABLES)


def test_conversion_drop(anomaly_batch):
    _, out, twin = anomaly_batch(AnomalyType.CONVERSION_DROP)
    a = frame(out.tables["applications"])
    assert_share(len(a), BIG, 0.05, "dropped apply rate")
    twin_a = frame(twin.tables["applications"])
    assert set(a.app_id) < set(twin_a.app_id)
    lost = twin_a[~isin(twin_a.app_id, a.app_id)]
    twin_acc = frame(twin.tables["accounts"])
    lost_acc = twin_acc[isin(twin_acc.app_id, lost.app_id)]
    lost_txn = isin(frame(twin.tables["transactions"]).account_id, lost_acc.account_id)
    assert label_tables(out) == {
        ("applications", "removed", ""): len(lost),
        ("accounts", "removed", ""): len(lost_acc),
        ("transactions", "removed", ""): int(lost_txn.sum()),
    }
    assert out.tables["visitor_events"].equals(twin.tables["visitor_events"])


def test_anomaly_parameters_are_configurable():
    config = ScenarioConfig(
        start_date=START,
        historical_days=0,
        live_days=1,
        live_schedule=[
            {"anomaly": "null_burst", "visitors": 40_000},
            {"anomaly": "stale_data", "visitors": 1000},
        ],
        anomalies={"null_burst": {"null_rate": 0.5}, "stale_data": {"delay_hours": 3}},
    )
    null_plan, stale_plan = plan_day(config, START)
    nulls = generate_batch(config, null_plan).tables["visitor_events"].column("campaign_id")
    assert_share(nulls.null_count, 40_000, 0.5, "configured null rate")
    stale = generate_batch(config, stale_plan).tables["visitor_events"]
    twin = generate_batch(config, twin_plan(stale_plan)).tables["visitor_events"]
    assert (column(twin, "timestamp") - column(stale, "timestamp") == 3 * 3600 * US).all()


# -- where anomalies appear -----------------------------------------------------------------------
def test_anomalies_appear_only_in_their_scheduled_batches():
    config = ScenarioConfig(start_date=START, historical_days=1, live_days=1)
    historical = generate_batch(config, plan_day(config, START)[0])
    assert historical.labels.num_rows == 0
    for plan in plan_day(config, config.live_start):
        out = generate_batch(config, plan)
        anomalies = set(out.labels.column("anomaly").to_pylist())
        assert anomalies == ({plan.anomaly.value} if plan.anomaly else set()), plan.batch_id
        v, a = out.tables["visitor_events"], frame(out.tables["applications"])
        signals = {
            AnomalyType.NULL_BURST: v.column("campaign_id").null_count > 0,
            AnomalyType.AGE_ERROR: (a.applicant_age < 18).any(),
            AnomalyType.TRAFFIC_SPIKE: v.num_rows != plan.visitors,
            AnomalyType.FRAUD_SPIKE: (column(out.tables["transactions"], "amount") > 500).any(),
            AnomalyType.LIMIT_SPIKE: (a.req_credit_limit != a.annual_income // 10).any(),
            AnomalyType.STALE_DATA: column(v, "timestamp").min() < plan.start.timestamp() * US,
        }
        assert {k for k, on in signals.items() if on} == ({plan.anomaly} - {None}), plan.batch_id


# -- determinism and chunking ---------------------------------------------------------------------
def assert_same_output(x: BatchOutput, y: BatchOutput) -> None:
    for table in TABLES:
        assert x.tables[table].equals(y.tables[table]), table
    assert x.labels.equals(y.labels)


def test_same_seed_same_rows_and_different_seed_different_rows():
    config = ScenarioConfig(start_date=START, historical_days=0, live_days=1, scale=0.2)
    plan = plan_day(config, START)[2]
    first = generate_batch(config, plan)
    assert_same_output(first, generate_batch(ScenarioConfig(**config.model_dump()), plan))
    other = generate_batch(config.model_copy(update={"seed": 43}), plan)
    for table in TABLES:
        ids, other_ids = (o.tables[table].column(0).to_pylist() for o in (first, other))
        assert not set(ids) & set(other_ids), table
    events = [o.tables["visitor_events"].column("event_type") for o in (first, other)]
    assert not events[0].equals(events[1])


def test_one_anomaly_parameter_never_shifts_another_batch():
    config = ScenarioConfig(start_date=START, historical_days=0, live_days=1, scale=0.2)
    changed = ScenarioConfig(
        **config.model_dump(exclude={"anomalies"}),
        anomalies={"null_burst": {"null_rate": 0.9}, "fraud_spike": {"rate": 0.5}},
    )
    for plan in plan_day(config, START):
        if plan.anomaly not in (AnomalyType.NULL_BURST, AnomalyType.FRAUD_SPIKE):
            assert_same_output(generate_batch(config, plan), generate_batch(changed, plan))


@pytest.mark.parametrize("anomaly", [AnomalyType.TRAFFIC_SPIKE, AnomalyType.AGE_ERROR])
def test_chunked_batches_keep_counts_unique_ids_and_exact_labels(anomaly):
    config = ScenarioConfig(
        start_date=START,
        historical_days=0,
        live_days=1,
        live_schedule=[{"anomaly": anomaly.value, "visitors": 20_000}],
    )
    (plan,) = plan_day(config, START)
    parts = list(iter_batch_chunks(config, plan, chunk_visitors=7_000))
    spiked = 50_000 if anomaly is AnomalyType.TRAFFIC_SPIKE else 20_000
    assert [p.tables["visitor_events"].num_rows for p in parts] == (
        [7000, 7000, 6000] + ([7000] * 4 + [2000] if spiked > 20_000 else [])
    )
    out = generate_batch(config, plan, chunk_visitors=7_000)
    twin = generate_batch(config, twin_plan(plan), chunk_visitors=7_000)
    for table in TABLES:
        ids = out.tables[table].column(0)
        assert pc.count_distinct(ids).as_py() == len(ids)
    assert_same_labels(label_key(out.labels), diff_against_twin(out, twin))
    whole = generate_batch(config, plan)
    assert not out.tables["visitor_events"].equals(whole.tables["visitor_events"])


# -- timezone_shift and distribution_shift (batches of NEW_SCHEDULE) ---------------------------
TZ, DIST = 5, 6


def test_timezone_shift_moves_every_event_five_hours_after_ingestion(new_batch):
    plan, out, twin = new_batch(TZ)
    assert plan.anomalies == (AnomalyType.TIMEZONE_SHIFT,)
    ingested = int(frame(out.tables["visitor_events"])["ingested_at"].iloc[0])
    for table in TABLES:
        got, base = frame(out.tables[table]), frame(twin.tables[table])
        ts = "account_open_timestamp" if table == "accounts" else "timestamp"
        assert len(got) == len(base) > 0
        assert ((got[ts] - base[ts]) == 5 * 3600 * US).all()
        assert (got[ts] > ingested).all()  # every event appears to happen after it landed
        assert got.drop(columns=[ts]).equals(base.drop(columns=[ts]))
    assert_same_labels(label_key(out.labels), diff_against_twin(out, twin))
    assert set(out.labels["anomaly"].to_pylist()) == {"timezone_shift"}


def test_distribution_shift_moves_devices_to_mobile_and_shrinks_incomes(new_batch):
    _, out, twin = new_batch(DIST)
    vis, base_vis = frame(out.tables["visitor_events"]), frame(twin.tables["visitor_events"])
    assert_share(int((vis["device_type"] == "mobile").sum()), len(vis), 0.75, "mobile")
    # Only non-mobile visitors move, and only to mobile.
    moved = vis["device_type"] != base_vis["device_type"]
    assert (vis.loc[moved, "device_type"] == "mobile").all()
    assert_share(int(moved.sum()), int((base_vis["device_type"] != "mobile").sum()), 0.625, "moved")
    apps, base_apps = frame(out.tables["applications"]), frame(twin.tables["applications"])
    assert (apps["annual_income"] == np.floor(base_apps["annual_income"] * 0.7)).all()
    # The rules still hold: requested limit a tenth of income, approved limit 0.8-1.2 of it.
    assert (apps["req_credit_limit"] == apps["annual_income"] // 10).all()
    acc = frame(out.tables["accounts"]).merge(apps, on="app_id")
    ratio = acc["approved_limit"] / (acc["annual_income"] // 10)
    assert ratio.between(0.8 - 1e-3, 1.2).all() and len(acc) > 1000
    for table in ("visitor_events", "applications", "accounts", "transactions"):
        assert out.tables[table].num_rows == twin.tables[table].num_rows
    assert_same_labels(label_key(out.labels), diff_against_twin(out, twin))
    per_table = set(
        zip(
            out.labels["table"].to_pylist(),
            map(tuple, out.labels["affected_columns"].to_pylist()),
            strict=True,
        )
    )
    assert per_table == {
        ("visitor_events", ("device_type",)),
        ("applications", ("annual_income", "req_credit_limit")),
        ("accounts", ("approved_limit",)),
    }
