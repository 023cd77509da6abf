"""Tests of the pure labelling module: effects and affected columns, record by record."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from dtg_assets.simulation.labels import (
    ADDED,
    MODIFIED,
    NOT_LABELLED,
    REMOVED,
    TableDiff,
    effects,
    label_rows,
    label_table,
)
from dtg_assets.simulation.schemas import LABEL_SCHEMA


def diff(table: str = "applications") -> TableDiff:
    # Records: 0 unchanged, 1 modified (age), 2 modified (age, status), 3 added, 4 removed
    # (its status mask is set, but a removed record changed nothing), 5 added and modified.
    return TableDiff(
        table,
        pa.array([f"id{i}" for i in range(6)]),
        twin_exists=np.array([1, 1, 1, 0, 1, 0], bool),
        exists=np.array([1, 1, 1, 1, 0, 1], bool),
        modified={
            "applicant_age": np.array([0, 1, 1, 0, 0, 1], bool),
            "application_status": np.array([0, 0, 1, 0, 1, 0], bool),
        },
    )


def test_effect_of_each_record():
    codes = effects(diff()).tolist()
    assert codes == [NOT_LABELLED, MODIFIED, MODIFIED, ADDED, REMOVED, ADDED]


def test_label_rows_name_the_changed_columns_of_present_records_only():
    rows = label_rows(diff(), "live-20261120-0300", "age_error")
    assert rows is not None and rows.schema.equals(LABEL_SCHEMA)
    assert rows.to_pylist() == [
        {
            "table": "applications",
            "record_id": rid,
            "batch_id": "live-20261120-0300",
            "anomaly": "age_error",
            "effect": effect,
            "affected_columns": columns,
        }
        for rid, effect, columns in [
            ("id1", "modified", ["applicant_age"]),
            ("id2", "modified", ["applicant_age", "application_status"]),
            ("id3", "added", []),
            ("id4", "removed", []),
            ("id5", "added", ["applicant_age"]),
        ]
    ]


def test_a_scalar_mask_applies_to_every_record():
    d = TableDiff(
        "accounts",
        pa.array(["a", "b"]),
        twin_exists=np.array([True, True]),
        exists=np.array([True, False]),
        modified={"account_open_timestamp": np.bool_(True)},
    )
    rows = label_rows(d, "b", "stale_data")
    assert rows is not None
    assert rows.column("effect").to_pylist() == ["modified", "removed"]
    assert rows.column("affected_columns").to_pylist() == [["account_open_timestamp"], []]


def test_nothing_differs_no_rows():
    same = TableDiff(
        "visitor_events",
        pa.array(["a", "b"]),
        twin_exists=np.ones(2, bool),
        exists=np.ones(2, bool),
        modified={"campaign_id": np.zeros(2, bool)},
    )
    assert label_rows(same, "b", "null_burst") is None
    empty = label_table([same], "b", "null_burst")
    assert empty.num_rows == 0 and empty.schema.equals(LABEL_SCHEMA)


def test_label_table_keeps_the_order_of_its_tables():
    rows = label_table([diff("visitor_events"), diff("applications")], "b", "age_error")
    assert rows.column("table").to_pylist() == ["visitor_events"] * 5 + ["applications"] * 5
