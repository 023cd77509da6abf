"""The visibility assessment and its place in the evaluation, on hand-made frames.

Three labelled "fraud" transactions of a clean batch: two far above any amount or amount-to-
limit share history showed (visible), one an ordinary amount (invisible: no learned range can
tell it from the normal ones). The assessment finds exactly that one; the evaluation then
scores the two visible records and reports the third as invisible, and a batch whose every
labelled record is invisible gets the status ``invisible`` instead of ``missed``.
"""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from dtg_assets.gatekeeper.evaluation import evaluate
from dtg_assets.gatekeeper.findings import detect_batches
from dtg_assets.gatekeeper.frames import prepare
from dtg_assets.gatekeeper.visibility import assess, split
from dtg_assets.simulation.schemas import LABEL_SCHEMA, MANIFEST_SCHEMA
from dtg_assets_tests.gatekeeper_frames import history, learn, live_batch, to_arrow


@pytest.fixture(scope="module")
def baseline():
    return learn(history())


def _labels(batch: str, ids: list[str]) -> pa.Table:
    n = len(ids)
    return pa.table(
        {
            "table": ["transactions"] * n,
            "record_id": ids,
            "batch_id": [batch] * n,
            "anomaly": ["fraud_spike"] * n,
            "effect": ["modified"] * n,
            "affected_columns": [["amount"]] * n,
        },
        schema=LABEL_SCHEMA,
    )


def _manifest(batch: str, start: dt.datetime) -> pa.Table:
    row = {f.name: [None] for f in MANIFEST_SCHEMA}
    row.update(
        batch_id=[batch], window=["live"], day=[start.date()], batch_start=[start],
        anomaly=["fraud_spike"], anomalies=[["fraud_spike"]],
    )  # fmt: skip
    return pa.Table.from_pydict(row, schema=MANIFEST_SCHEMA)


@pytest.fixture
def fraud():
    """A live batch with two visible frauds and one invisible, and their labels."""
    live = live_batch()
    txn, acc = live["transactions"], live["accounts"]
    limit = txn["account_id"].map(acc.set_index("account_id")["approved_limit"])
    txn.loc[[2, 9], "amount"] = (limit[[2, 9]] * 0.8).round(2)
    batch = txn["batch_id"][0]
    labelled = [str(txn["txn_id"][i]) for i in (2, 9, 17)]
    return live, _labels(batch, labelled), labelled


def test_a_record_inside_the_learned_ranges_is_invisible(baseline, fraud):
    live, labels, labelled = fraud
    seen = assess(prepare(to_arrow(live)), baseline, labels)
    assert seen.invisible["record_id"].to_pylist() == [labelled[2]]
    assert seen.invisible["anomaly"].to_pylist() == ["fraud_spike"]
    row = seen.batches.set_index("record_type").loc["fraud_transactions"]
    assert (row["labelled"], row["invisible"], row["visibility"]) == (3, 1, "partly visible")
    assert len(split(labels, seen.invisible)) == 2
    assert split(labels, None) is labels


def test_the_evaluation_scores_visible_records_and_reports_the_invisible(baseline, fraud):
    live, labels, _ = fraud
    arrow = to_arrow(live)
    findings = detect_batches(arrow, baseline)
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    manifest = _manifest(labels["batch_id"][0].as_py(), start)
    seen = assess(prepare(arrow), baseline, labels)
    scored = evaluate(findings, labels, manifest, invisible=seen.invisible)
    rec = scored.records.set_index("record_type").loc["fraud_transactions"]
    assert (rec["labelled"], rec["invisible"], rec["true_positives"]) == (2, 1, 2)
    assert rec["precision"] == 1.0 and rec["recall"] == 1.0
    assert scored.batches["status"].tolist() == ["caught"]
    # Without the assessment the ordinary amount counts as a miss.
    plain = evaluate(findings, labels, manifest).records.set_index("record_type")
    assert plain.loc["fraud_transactions", "recall"] == pytest.approx(2 / 3)
    assert "invisible" not in plain.columns


def test_a_batch_whose_every_labelled_record_is_invisible_is_not_missed(baseline, fraud):
    _, labels, _ = fraud
    only = labels.slice(2, 1)  # the ordinary amount alone
    arrow = to_arrow(live_batch())  # nothing changed: the gate sees nothing
    findings = detect_batches(arrow, baseline)
    seen = assess(prepare(arrow), baseline, only)
    assert seen.invisible.num_rows == 1
    assert seen.batches["visibility"].tolist() == ["invisible"]
    manifest = _manifest(only["batch_id"][0].as_py(), dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    scored = evaluate(findings, only, manifest, invisible=seen.invisible)
    assert scored.batches["status"].tolist() == ["invisible"]
    assert scored.batches["invisible"].tolist() == [["fraud_spike"]]
    by_anomaly = scored.by_anomaly.set_index("anomaly")
    row = by_anomaly.loc["fraud_spike"]
    assert (row["batches"], row["invisible"], row["no_effect"]) == (1, 1, 0)
    assert by_anomaly["invisible"].sum() == 1
    s = scored.summary()
    assert (s["anomalous_batches"], s["no_effect_batches"], s["false_alarms"]) == (0, 0, 0)
    assert evaluate(findings, only, manifest).batches["status"].tolist() == ["missed"]
