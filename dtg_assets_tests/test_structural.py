"""Tests of the structural anomalies: orphans, duplicates (same and next batch), schema drift,
a missing batch, and batches carrying several anomalies.

Each anomalous batch of ``NEW_SCHEDULE`` (40,000 visitors) is compared with its normal twin (the
same plan without anomalies, hence the same streams): counts are exact where the model is exact
(shares are rounded counts per chunk), the records not touched are the twin's byte for byte, and
the labels are exactly the records that differ.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from dtg_assets.simulation.config import AnomalyType, ScenarioConfig, SchemaDriftParams
from dtg_assets.simulation.generate import generate_batch, iter_batch_chunks
from dtg_assets.simulation.plan import plan_day
from dtg_assets.simulation.schemas import PRIMARY_KEY, TABLE_SCHEMAS, TABLES
from dtg_assets.simulation.structural import ADDED_VALUE, drift_table, drifted_schema
from dtg_assets_tests.conftest import (
    START,
    assert_same_labels,
    diff_against_twin,
    label_key,
)

DRIFT, DUP, NORMAL_AFTER_DUP, ORPHAN, MISSING = 1, 2, 3, 4, 7
FRAUD_TZ, NULL_DRIFT = 8, 9


def _ids(table: pa.Table, name: str) -> set[str]:
    return set(table.column(PRIMARY_KEY[name]).to_pylist())


def _labels(labels: pa.Table, **equal: str) -> pa.Table:
    mask = None
    for column, value in equal.items():
        m = pc.equal(labels.column(column), value)
        mask = m if mask is None else pc.and_(mask, m)
    return labels.filter(mask)


def _sorted(table: pa.Table, name: str) -> pa.Table:
    return table.sort_by(PRIMARY_KEY[name])


# -- orphan_records --------------------------------------------------------------------------
def test_orphans_are_an_exact_share_of_applications_whose_visitors_never_land(new_batch):
    _, out, twin = new_batch(ORPHAN)
    apps, visitors = out.tables["applications"], out.tables["visitor_events"]
    assert apps.equals(twin.tables["applications"])  # the applications themselves are the twin's
    landed = pc.is_in(apps["visitor_id"], value_set=visitors["visitor_id"].combine_chunks())
    orphans = apps.filter(pc.invert(landed))
    assert orphans.num_rows == round(0.10 * apps.num_rows) > 700
    # Exactly their visitors are missing; every other visitor is the twin's.
    lost = _ids(twin.tables["visitor_events"], "visitor_events") - _ids(visitors, "visitor_events")
    assert lost == set(orphans["visitor_id"].to_pylist())
    assert visitors.num_rows == twin.tables["visitor_events"].num_rows - orphans.num_rows
    for table in ("accounts", "transactions"):
        assert out.tables[table].equals(twin.tables[table])
    # Labels: the removed visitors (as the twin diff says) and the orphaned applications.
    removed = _labels(out.labels, table="visitor_events")
    assert_same_labels(label_key(removed), diff_against_twin(out, twin))
    assert set(pc.unique(out.labels["anomaly"]).to_pylist()) == {"orphan_records"}
    orphaned = _labels(out.labels, table="applications")
    assert set(orphaned["record_id"].to_pylist()) == _ids(orphans, "applications")
    assert set(orphaned["effect"].to_pylist()) == {"modified"}
    assert orphaned["affected_columns"].to_pylist() == [["visitor_id"]] * orphans.num_rows


# -- duplicate_records -----------------------------------------------------------------------
def test_duplicates_repeat_a_share_of_visitors_and_their_descendants_in_the_batch(new_batch):
    _, out, twin = new_batch(DUP)
    n = twin.tables["visitor_events"].num_rows
    copied = round(0.05 * n)
    same = copied - round(0.5 * copied)
    assert out.tables["visitor_events"].num_rows == n + same
    labels = out.labels
    assert set(labels["effect"].to_pylist()) == {"added"}
    assert set(labels["anomaly"].to_pylist()) == {"duplicate_records"}
    dup_visitors = set()
    for table in TABLES:
        rows, original = out.tables[table], twin.tables[table]
        # The batch is its twin, then the copies: identical rows, primary keys kept.
        assert rows.slice(0, original.num_rows).equals(original)
        copies = rows.slice(original.num_rows)
        ids = copies[PRIMARY_KEY[table]].to_pylist()
        assert set(ids) <= _ids(original, table)
        key = pc.index_in(copies[PRIMARY_KEY[table]], value_set=original[PRIMARY_KEY[table]])
        assert copies.equals(original.take(key))
        mine = _labels(labels, table=table)
        assert sorted(mine["record_id"].to_pylist()) == sorted(ids)
        assert mine["affected_columns"].to_pylist() == [[]] * len(ids)
        if table == "visitor_events":
            dup_visitors = set(ids)
    # Every application of a copied visitor is copied, and nothing else.
    apps = twin.tables["applications"]
    of_copied = apps.filter(pc.is_in(apps["visitor_id"], value_set=pa.array(sorted(dup_visitors))))
    assert out.tables["applications"].num_rows - apps.num_rows == of_copied.num_rows > 50


def test_duplicates_replayed_in_the_next_batch_carry_its_batch_id(new_config, new_batch):
    _, dup, dup_twin = new_batch(DUP)
    plan, out, _ = new_batch(NORMAL_AFTER_DUP)
    *own, replayed_part = iter_batch_chunks(new_config, plan)
    assert all(p.labels.num_rows == 0 for p in own)  # a normal batch of its own
    copied = round(0.05 * dup_twin.tables["visitor_events"].num_rows)
    labels = out.labels
    assert labels.equals(replayed_part.labels)
    assert set(labels["anomaly"].to_pylist()) == {"duplicate_records"}
    assert set(labels["batch_id"].to_pylist()) == {plan.batch_id}
    same = ["batch_id", "ingested_at"]
    for table in TABLES:
        original = pa.concat_tables([p.tables[table] for p in own])
        rows = out.tables[table]
        assert rows.slice(0, original.num_rows).equals(original)
        copies = rows.slice(original.num_rows)
        if table == "visitor_events":
            assert copies.num_rows == round(0.5 * copied) > 400
        source = dup_twin.tables[table]
        key = pc.index_in(copies[PRIMARY_KEY[table]], value_set=source[PRIMARY_KEY[table]])
        assert key.null_count == 0  # every copy repeats a record of the previous batch
        assert pc.all(pc.equal(copies["batch_id"], plan.batch_id)).as_py()
        assert pc.all(pc.equal(copies["ingested_at"], pa.scalar(plan.ingested_at))).as_py()
        assert copies.drop_columns(same).equals(source.take(key).drop_columns(same))
        mine = _labels(labels, table=table)
        ids = copies[PRIMARY_KEY[table]].to_pylist()
        assert sorted(mine["record_id"].to_pylist()) == sorted(ids)
        assert mine["affected_columns"].to_pylist() == [same] * copies.num_rows
    # The copies replayed and those kept in the duplicating batch are different visitors.
    n_dup = dup_twin.tables["visitor_events"].num_rows
    kept = _ids(dup.tables["visitor_events"].slice(n_dup), "visitor_events")
    replayed = set(replayed_part.tables["visitor_events"]["visitor_id"].to_pylist())
    assert kept and replayed and not kept & replayed


@pytest.mark.parametrize("share", [0.0, 1.0])
def test_next_batch_share_puts_every_copy_in_one_batch(new_config, share):
    data = new_config.model_dump()
    data["anomalies"]["duplicate_records"] = {"share": 0.05, "next_batch_share": share}
    config = ScenarioConfig.model_validate(data)
    plans = plan_day(config, START + dt_day())
    dup, after = generate_batch(config, plans[DUP]), generate_batch(config, plans[DUP + 1])
    same = _labels(dup.labels, table="visitor_events").num_rows
    replayed = _labels(after.labels, table="visitor_events").num_rows
    total = round(0.05 * plans[DUP].visitors)
    assert (same, replayed) == ((0, total) if share == 1.0 else (total, 0))


def dt_day() -> dt.timedelta:
    return dt.timedelta(days=1)


# -- schema_drift ----------------------------------------------------------------------------
def test_schema_drift_retypes_income_as_formatted_strings_and_labels_every_record(new_batch):
    _, out, twin = new_batch(DRIFT)
    apps, twin_apps = out.tables["applications"], twin.tables["applications"]
    assert apps.schema.field("annual_income").type == pa.string()
    assert apps.schema == drifted_schema(SchemaDriftParams(), TABLE_SCHEMAS["applications"])
    parsed = [float(v.replace(",", "")) for v in apps["annual_income"].to_pylist()]
    assert parsed == twin_apps["annual_income"].to_pylist()
    assert apps["annual_income"][0].as_py().count(".") == 1
    assert apps.drop_columns(["annual_income"]).equals(twin_apps.drop_columns(["annual_income"]))
    for table in ("visitor_events", "accounts", "transactions"):
        assert out.tables[table].equals(twin.tables[table])
    assert out.labels.num_rows == apps.num_rows
    assert set(out.labels["record_id"].to_pylist()) == _ids(apps, "applications")
    assert set(out.labels["effect"].to_pylist()) == {"modified"}
    assert out.labels["affected_columns"].to_pylist() == [["annual_income"]] * apps.num_rows


@pytest.mark.parametrize(
    ("kind", "table", "column", "check"),
    [
        ("drop_column", "visitor_events", "campaign_id", lambda s: "campaign_id" not in s.names),
        ("rename_column", "transactions", "amount",
         lambda s: "amount" not in s.names and s.field("amount_v2").type == pa.float64()),
        ("add_column", "accounts", "promo_code",
         lambda s: s.field("promo_code").type == pa.string()),
        ("type_change", "transactions", "timestamp",
         lambda s: s.field("timestamp").type == pa.int64()),
        ("type_change", "applications", "applicant_age",
         lambda s: s.field("applicant_age").type == pa.string()),
    ],
)  # fmt: skip
def test_every_drift_kind_writes_the_drifted_schema(kind, table, column, check):
    params = SchemaDriftParams(kind=kind, table=table, column=column)
    config = ScenarioConfig(
        start_date=START, historical_days=0, live_days=1, seed=5,
        anomalies={"schema_drift": params.model_dump()},
        live_schedule=[{"anomaly": "schema_drift", "visitors": 3000}],
    )  # fmt: skip
    plan = plan_day(config, START)[0]
    out = generate_batch(config, plan)
    twin = generate_batch(config, dataclasses.replace(plan, anomaly=None, anomalies=()))
    drifted, original = out.tables[table], twin.tables[table]
    assert check(drifted.schema)
    assert drifted.schema == drifted_schema(params, TABLE_SCHEMAS[table])
    assert drifted.num_rows == original.num_rows > 0
    if kind == "type_change" and column == "timestamp":
        # Epoch microseconds: the same instants.
        assert drifted[column].to_pylist() == original[column].cast(pa.int64()).to_pylist()
    if kind == "add_column":
        assert set(drifted[column].to_pylist()) == {ADDED_VALUE}
    assert set(out.labels["table"].to_pylist()) == {table}
    assert out.labels.num_rows == original.num_rows
    assert set(pc.list_flatten(out.labels["affected_columns"]).to_pylist()) == {column}


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"column": "visitor_id", "table": "visitor_events"}, "cannot type change"),
        ({"kind": "drop_column", "column": "bogus"}, "allowed: applicant_age"),
        ({"kind": "add_column", "column": "annual_income"}, "already exists"),
        ({"kind": "type_change", "column": "employment_status"}, "is a string"),
        ({"kind": "rename_column", "column": "applicant_age", "new_name": "annual_income"},
         "already exists"),
    ],
)  # fmt: skip
def test_schema_drift_refuses_keys_and_impossible_columns_in_one_line(fields, message):
    with pytest.raises(ValueError, match=message) as exc:
        SchemaDriftParams(**fields)
    assert str(exc.value).count("\n") <= 2  # pydantic's header, the message, its link


def test_drift_table_keeps_the_rows():
    table = TABLE_SCHEMAS["accounts"].empty_table()
    for kind in ("drop_column", "rename_column", "type_change"):
        params = SchemaDriftParams(kind=kind, table="accounts", column="approved_limit")
        assert drift_table(params, table).num_rows == 0


# -- missing_batch ---------------------------------------------------------------------------
def test_missing_batch_lands_nothing_and_one_batch_label(new_batch):
    plan, out, twin = new_batch(MISSING)
    assert twin.tables["visitor_events"].num_rows == plan.visitors
    assert all(out.tables[t].num_rows == 0 for t in TABLES)
    assert out.labels.to_pylist() == [
        {"table": "batch", "record_id": plan.batch_id, "batch_id": plan.batch_id,
         "anomaly": "missing_batch", "effect": "removed", "affected_columns": []}
    ]  # fmt: skip


# -- several anomalies in one batch ----------------------------------------------------------
def _without(plan, kind):
    rest = tuple(k for k in plan.anomalies if k is not kind)
    return dataclasses.replace(plan, anomaly=rest[0] if rest else None, anomalies=rest)


def test_each_anomaly_of_a_batch_labels_exactly_what_it_changed(new_config, new_batch):
    plan, out, _ = new_batch(FRAUD_TZ)
    assert plan.anomalies == (AnomalyType.FRAUD_SPIKE, AnomalyType.TIMEZONE_SHIFT)
    for kind in plan.anomalies:
        without = generate_batch(new_config, _without(plan, kind))
        mine = _labels(out.labels, anomaly=kind.value)
        assert mine.num_rows > 0
        assert_same_labels(label_key(mine), diff_against_twin(out, without))
    # A fraudulent transaction is labelled twice: its amount by one, its time by the other.
    fraud = set(_labels(out.labels, anomaly="fraud_spike")["record_id"].to_pylist())
    shifted = set(_labels(out.labels, anomaly="timezone_shift", table="transactions")
                  ["record_id"].to_pylist())  # fmt: skip
    assert fraud and fraud <= shifted


def test_a_value_and_a_structural_anomaly_share_a_batch(new_config, new_batch):
    plan, out, _ = new_batch(NULL_DRIFT)
    nulls = _labels(out.labels, anomaly="null_burst")
    without = generate_batch(new_config, _without(plan, AnomalyType.NULL_BURST))
    assert_same_labels(label_key(nulls), diff_against_twin(out, without))
    drift = _labels(out.labels, anomaly="schema_drift")
    assert set(drift["record_id"].to_pylist()) == _ids(out.tables["applications"], "applications")
    assert out.tables["applications"].schema.field("annual_income").type == pa.string()


def test_labels_only_name_the_batch_anomalies(new_config, new_batch):
    for index, plan in enumerate(plan_day(new_config, START + dt_day())):
        names = set(new_batch(index)[1].labels["anomaly"].to_pylist())
        allowed = {k.value for k in plan.anomalies}
        if index == NORMAL_AFTER_DUP:
            allowed = {"duplicate_records"}
        assert names <= allowed and (names or not plan.anomalies), (plan.batch_id, names)


def test_each_table_stream_is_shared_with_the_twin(new_batch):
    # The structural anomalies draw from streams of their own: everything they do not touch is
    # the twin's, so numpy arrays of the untouched columns compare equal.
    _, out, twin = new_batch(ORPHAN)
    a = np.asarray(out.tables["transactions"]["amount"])
    assert np.array_equal(a, np.asarray(twin.tables["transactions"]["amount"]))
