"""The evaluation's arithmetic on a hand-made fixture whose scores are known in advance.

Seven batches: a normal historical one; two normal live ones, one of them (wrongly) flagged by
``volume``; two ``null_burst`` batches, one caught by its own detector (and by another, earlier),
one caught only by an unrelated detector; one ``fraud_spike`` batch nobody flags; one
``fraud_spike`` batch in which no transaction was modified (no label: ``no_effect``), flagged by
nobody, and that is not a miss.
"""

from __future__ import annotations

import datetime as dt
import math

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dtg_assets.gatekeeper.evaluation import ALL_TYPES, evaluate
from dtg_assets.gatekeeper.findings import FINDINGS_SCHEMA
from dtg_assets.simulation.schemas import LABEL_SCHEMA, MANIFEST_SCHEMA, TABLES

DAY = dt.date(2026, 3, 10)
MINUTE = dt.timedelta(minutes=1)


def start(hour: int) -> dt.datetime:
    return dt.datetime.combine(DAY, dt.time(hour), tzinfo=dt.UTC)


BATCHES = [  # batch id, window, hour, anomaly
    ("historical-20260301-0000", "historical", 0, None),
    ("live-20260310-0000", "live", 0, None),
    ("live-20260310-0300", "live", 3, None),
    ("live-20260310-0600", "live", 6, "null_burst"),
    ("live-20260310-0900", "live", 9, "fraud_spike"),
    ("live-20260310-1200", "live", 12, "null_burst"),
    ("live-20260310-1500", "live", 15, "fraud_spike"),
]


def manifest() -> pa.Table:
    rows = []
    for i, (batch, window, hour, anomaly) in enumerate(BATCHES):
        row = {"batch_id": batch, "window": window, "day": DAY, "batch_index": i}
        row |= {"batch_start": start(hour), "anomaly": anomaly, "planned_visitors": 100, "seed": 1}
        row |= {f"{p}_{t}": 0 for t in TABLES for p in ("rows", "labelled")}
        rows.append(row)
    return pa.Table.from_pylist(rows, schema=MANIFEST_SCHEMA)


def finding(batch: str, detector: str, verdict: str = "flag", at=None, ids=()) -> dict:
    return {
        "batch_id": batch,
        "family": "technical",
        "detector": detector,
        "table": "visitor_events",
        "metric_name": "m",
        "comparison": ">",
        "n": 100,
        "verdict": verdict,
        "flagged_ids": list(ids),
        "evidence_at": at,
        "detail": "",
    }


def findings() -> pa.Table:
    rows = [
        finding("historical-20260301-0000", "volume", "pass"),
        finding("live-20260310-0000", "volume", at=start(0)),
        finding("live-20260310-0300", "volume", "pass"),
        finding(
            "live-20260310-0600",
            "completeness:visitor_events.campaign_id",
            at=start(6) + dt.timedelta(minutes=10),
            ids=["v1", "v2", "v3", "x1"],
        ),
        finding("live-20260310-0600", "approval_rate", at=start(6) + dt.timedelta(minutes=5)),
        finding("live-20260310-0900", "amount_to_limit", "pass"),
        finding("live-20260310-1200", "domain:visitor_events.geo", at=start(12) + MINUTE),
    ]  # fmt: skip
    return pa.Table.from_pylist(rows, schema=FINDINGS_SCHEMA)


def labels() -> pa.Table:
    def row(table, record, batch, anomaly, effect, cols):
        return dict(
            table=table, record_id=record, batch_id=batch, anomaly=anomaly, effect=effect,
            affected_columns=cols,
        )  # fmt: skip

    rows = [row("visitor_events", f"v{i}", "live-20260310-0600", "null_burst", "modified",
                ["campaign_id"]) for i in (1, 2, 3, 4)]  # fmt: skip
    rows += [
        # Removed records never landed: they cannot be flagged and are not scored.
        row("visitor_events", "v9", "live-20260310-0600", "null_burst", "removed", []),
        row("transactions", "t1", "live-20260310-0900", "fraud_spike", "modified", ["amount"]),
        row("transactions", "t2", "live-20260310-0900", "fraud_spike", "modified", ["amount"]),
        row("visitor_events", "v5", "live-20260310-1200", "null_burst", "modified",
            ["campaign_id"]),
    ]  # fmt: skip
    return pa.Table.from_pylist(rows, schema=LABEL_SCHEMA)


@pytest.fixture(scope="module")
def scores():
    return evaluate(findings(), labels(), manifest())


def test_batch_level_flags_misses_and_false_alarms(scores):
    b = scores.batches.set_index("batch_id")
    assert b["flagged"].to_dict() == {
        "historical-20260301-0000": False,
        "live-20260310-0000": True,
        "live-20260310-0300": False,
        "live-20260310-0600": True,
        "live-20260310-0900": False,
        "live-20260310-1200": True,
        "live-20260310-1500": False,
    }
    assert b["status"].to_dict() == {
        "historical-20260301-0000": "normal",
        "live-20260310-0000": "false_alarm",
        "live-20260310-0300": "normal",
        "live-20260310-0600": "caught",
        "live-20260310-0900": "missed",
        "live-20260310-1200": "caught",
        "live-20260310-1500": "no_effect",
    }
    assert b.loc["live-20260310-0600", "detectors"] == [
        "approval_rate",
        "completeness:visitor_events.campaign_id",
    ]
    assert scores.false_alarms == 1
    assert scores.summary() == {
        "anomalous_batches": 3,
        "caught_batches": 2,
        "no_effect_batches": 1,
        "normal_batches": 3,
        "false_alarms": 1,
        "min_record_precision": 0.75,  # fraud has labels but no flag: precision undefined
        "min_record_recall": 0.0,
    }
    assert scores.missed == ["live-20260310-0900"]
    # Delay: the earliest flag's evidence (5 min after start, not the 10 of its own detector).
    assert b.loc["live-20260310-0600", "delay_minutes"] == 5.0
    assert b.loc["live-20260310-1200", "delay_minutes"] == pytest.approx(1.0)
    assert math.isnan(b.loc["live-20260310-0900", "delay_minutes"])


def test_per_anomaly_recall_attribution_false_positives_and_delay(scores):
    rows = scores.by_anomaly.set_index("anomaly")
    # All thirteen types, present or not, then the normal batches per window.
    assert list(rows.index) == [*ALL_TYPES, "none (historical)", "none (live)"]
    assert len(ALL_TYPES) == 13
    absent = rows.loc["timezone_shift"]
    assert (absent["batches"], absent["flagged"], absent["no_effect"]) == (0, 0, 0)
    assert pd.isna(absent["recall"])
    null = rows.loc["null_burst"]
    assert (null["batches"], null["flagged"], null["recall"], null["by_its_detectors"]) == (
        2, 2, 1.0, 1
    )  # fmt: skip
    assert null["false_positives"] == 0
    assert (null["delay_median_min"], null["delay_max_min"]) == pytest.approx((3.0, 5.0))
    fraud = rows.loc["fraud_spike"]
    # The batch without effect is counted apart, not as a miss: recall stays over the other.
    assert (fraud["batches"], fraud["no_effect"], fraud["flagged"], fraud["recall"]) == (
        2, 1, 0, 0.0
    )  # fmt: skip
    assert pd.isna(fraud["delay_median_min"])
    assert (rows.loc["none (live)", "batches"], rows.loc["none (live)", "flagged"]) == (2, 1)
    assert rows.loc["none (historical)", "flagged"] == 0


def test_false_positives_are_charged_to_the_detectors_of_an_anomaly():
    # volume is a traffic_spike detector: its flag on a normal batch is that type's false alarm.
    extra = manifest().to_pylist()
    extra[2]["anomaly"] = "traffic_spike"
    scores = evaluate(findings(), labels(), pa.Table.from_pylist(extra, schema=MANIFEST_SCHEMA))
    spike = scores.by_anomaly.set_index("anomaly").loc["traffic_spike"]
    assert (spike["flagged"], spike["false_positives"]) == (0, 1)


def test_record_level_precision_and_recall(scores):
    r = scores.records.set_index("record_type")
    null = r.loc["null_campaigns"]
    # v5's batch was caught only by an unrelated detector: labelled, never flagged.
    assert (null["labelled"], null["flagged"], null["true_positives"]) == (5, 4, 3)
    assert (null["precision"], null["recall"]) == (0.75, 0.6)
    fraud = r.loc["fraud_transactions"]
    assert (fraud["labelled"], fraud["flagged"], fraud["recall"]) == (2, 0, 0.0)
    assert math.isnan(fraud["precision"])
    assert math.isnan(r.loc["bot_sessions", "recall"])


def test_markdown_and_parquet_outputs(scores, tmp_path):
    text = scores.to_markdown()
    lines = text.splitlines()
    # Three headed sections, in order, each table after its heading.
    headings = [line for line in lines if line.startswith("#")]
    assert headings == ["#### Batches", "#### By anomaly type", "#### Record level"]
    assert lines[2] == (
        "2/3 anomalous batches caught, 1 false alarms on 3 normal batches, "
        "1 anomalous batches without effect."
    )
    by_anomaly, records = _tables(text)
    assert by_anomaly[0] == [
        "anomaly", "batches", "no_effect", "flagged", "recall", "by_its_detectors",
        "false_positives", "event-time median (min)", "event-time max (min)",
    ]  # fmt: skip
    assert ["null_burst", "2", "0", "2", "1.000", "1", "0", "3.0", "5.0"] in by_anomaly
    assert ["fraud_spike", "2", "1", "0", "0.000", "0", "0", "—", "—"] in by_anomaly
    assert ["null_campaigns", "null_burst", "visitor_events", "5", "4", "3", "0.750", "0.600"] in (
        records
    )
    for name, table in scores.to_tables().items():
        pq.write_table(table, tmp_path / f"{name}.parquet")
        assert pq.read_table(tmp_path / f"{name}.parquet").num_rows == table.num_rows


def _tables(text: str) -> list[list[list[str]]]:
    """The markdown tables of a text, as rows of cells (the separator row dropped)."""
    tables, current = [], None
    for line in text.splitlines():
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            if current is None:
                current = []
                tables.append(current)
            if set(line) != {"|", "-"}:
                current.append(cells)
        else:
            current = None
    return tables


def test_markdown_delays_share_one_unit_and_format_whatever_their_size():
    # A stale batch is caught after about two days, a null burst within two minutes: both are
    # minutes with one decimal (not "2,737" next to "1.667").
    rows = findings().to_pylist()
    [fraud] = [r for r in rows if r["batch_id"] == "live-20260310-0900"]
    fraud.update(verdict="flag", evidence_at=start(9) + dt.timedelta(minutes=2736.8333))
    scores = evaluate(pa.Table.from_pylist(rows, schema=FINDINGS_SCHEMA), labels(), manifest())
    by_anomaly, _ = _tables(scores.to_markdown())
    columns = [by_anomaly[0].index(c) for c in ("event-time median (min)", "event-time max (min)")]
    delays = {row[0]: [row[c] for c in columns] for row in by_anomaly[1:]}
    assert delays["fraud_spike"] == ["2,736.8", "2,736.8"]
    assert delays["null_burst"] == ["3.0", "5.0"]


def test_findings_without_any_flag_score_every_batch_as_missed_or_clean():
    quiet = findings().filter(pa.array([False] * 7))
    scores = evaluate(quiet, labels(), manifest())
    assert scores.batches["flagged"].sum() == 0
    assert scores.batches["delay_minutes"].isna().all()
    assert scores.summary()["caught_batches"] == 0 and scores.false_alarms == 0
    assert sorted(scores.missed) == [b for b, _, _, a in BATCHES if a and b != "live-20260310-1500"]


def test_several_anomalies_replays_and_a_missing_batch_are_scored_by_their_labels():
    rows = manifest().to_pylist()
    # 0300 carries two anomalies; 0900's duplicates are all replayed in 1200 (labelled there);
    # 1500 never landed.
    rows[2]["anomalies"], rows[2]["anomaly"] = (
        ["null_burst", "orphan_records"],
        "null_burst+orphan_records",
    )
    rows[4]["anomalies"], rows[4]["anomaly"] = ["duplicate_records"], "duplicate_records"
    rows[5]["anomalies"], rows[5]["anomaly"] = [], None
    rows[6]["anomalies"], rows[6]["anomaly"] = ["missing_batch"], "missing_batch"
    orphan = finding("live-20260310-0300", "references:applications", at=start(3), ids=["a1"])
    orphan["table"] = "applications"
    found = [
        *findings().to_pylist(),
        orphan,
        finding("live-20260310-1200", "replays:visitor_events", at=start(12), ids=["v7"]),
        finding("live-20260310-1500", "cadence", at=start(15)),
    ]
    labels_ = labels().to_pylist()
    labels_ = [lab for lab in labels_ if lab["batch_id"] not in ("live-20260310-0900",)]
    labels_ = [lab for lab in labels_ if lab["record_id"] != "v5"]
    extra = [
        ("visitor_events", "v8", "live-20260310-0300", "null_burst", "modified", ["campaign_id"]),
        ("applications", "a1", "live-20260310-0300", "orphan_records", "modified", ["visitor_id"]),
        ("visitor_events", "v7", "live-20260310-1200", "duplicate_records", "added",
         ["batch_id", "ingested_at"]),
        ("batch", "live-20260310-1500", "live-20260310-1500", "missing_batch", "removed", []),
    ]  # fmt: skip
    names = ("table", "record_id", "batch_id", "anomaly", "effect", "affected_columns")
    labels_ += [dict(zip(names, e, strict=True)) for e in extra]
    scores = evaluate(
        pa.Table.from_pylist(found, schema=FINDINGS_SCHEMA),
        pa.Table.from_pylist(labels_, schema=LABEL_SCHEMA),
        pa.Table.from_pylist(rows, schema=MANIFEST_SCHEMA),
    )
    b = scores.batches.set_index("batch_id")
    assert b.loc["live-20260310-0300", "effective"] == ["null_burst", "orphan_records"]
    # 0900 planned duplicates but its copies all landed in 1200: no effect there, an effect in
    # 1200, whose flag is then no false alarm.
    assert b.loc["live-20260310-0900", "status"] == "no_effect"
    assert b.loc["live-20260310-1200", "effective"] == ["duplicate_records"]
    assert b.loc["live-20260310-1200", "status"] == "caught"
    assert b.loc["live-20260310-1500", "status"] == "caught"
    rows_ = scores.by_anomaly.set_index("anomaly")
    # The two-anomaly batch counts once for each of its anomalies.
    assert rows_.loc["orphan_records", ["batches", "flagged"]].tolist() == [1, 1]
    assert rows_.loc["null_burst", "batches"] == 2
    assert rows_.loc["missing_batch", ["batches", "flagged", "recall"]].tolist() == [1, 1, 1.0]
    records = scores.records.set_index("record_type")
    assert records.loc["orphan_records", ["labelled", "true_positives"]].tolist() == [1, 1]
    assert records.loc["duplicate_records", ["labelled", "true_positives"]].tolist() == [1, 1]
    # A batch-level label is no record: missing_batch has none to score.
    assert records.loc["missing_batch", "labelled"] == 0
