"""The gatekeeper on drifted landing files: every kind read without exception, drift reported.

A small scenario is landed once; each test copies it, rewrites one committed live file in a
drifted schema (as a producer that changed would), and runs the gatekeeper's day detection
on it: the read never fails, ``schema:<table>`` flags exactly that file's batch and lists its
records, and the column that did not arrive is not called missing by the other detectors.
"""

from __future__ import annotations

import shutil

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from dtg_assets.gatekeeper import detect_day, learn_baseline
from dtg_assets.gatekeeper.drift import Drift, compare, conform_file
from dtg_assets.simulation.landing import LandingZone
from dtg_assets.simulation.plan import Window, scenario_days
from dtg_assets.simulation.schemas import TABLE_SCHEMAS


@pytest.fixture(scope="module")
def landed(small_config, tmp_path_factory):
    root = tmp_path_factory.mktemp("drift") / "root"
    zone = LandingZone(str(root))
    days = scenario_days(small_config)
    zone.write_days(small_config, days)
    baseline = learn_baseline(zone, [d for d, w in days if w is Window.HISTORICAL])
    live = next(d for d, w in days if w is Window.LIVE)
    return root, baseline, live


def _tampered(landed, tmp_path, table: str, change) -> tuple[LandingZone, str, pa.Table]:
    root, _, day = landed
    copy = tmp_path / "root"
    shutil.copytree(root, copy)
    zone = LandingZone(str(copy))
    # The day's first batch is a normal one (the default schedule's).
    path = next(p for p in zone.day_files(table, "live", day) if "-0000." in p)
    rows = pq.read_table(path)
    pq.write_table(change(rows), path)
    return zone, rows.column("batch_id")[0].as_py(), rows


def _flags(found: pa.Table, batch: str) -> dict[str, list[str]]:
    mine = found.filter(
        pc.and_(pc.equal(found["batch_id"], batch), pc.equal(found["verdict"], "flag"))
    )
    return dict(zip(mine["detector"].to_pylist(), mine["flagged_ids"].to_pylist(), strict=True))


def _formatted(rows: pa.Table, column: str) -> pa.Table:
    text = pa.array([f"{v:,.2f}" for v in rows.column(column).to_pylist()])
    i = rows.schema.get_field_index(column)
    return rows.set_column(i, pa.field(column, pa.string()), text)


def _epoch(rows: pa.Table, column: str) -> pa.Table:
    i = rows.schema.get_field_index(column)
    return rows.set_column(i, pa.field(column, pa.int64()), rows.column(column).cast(pa.int64()))


CASES = {
    "drop_column": (
        lambda r: r.drop_columns(["annual_income"]),
        "dropped annual_income",
    ),
    "rename_column": (
        lambda r: r.rename_columns(
            ["annual_income_v2" if n == "annual_income" else n for n in r.column_names]
        ),
        "renamed annual_income -> annual_income_v2",
    ),
    "add_column": (
        lambda r: r.append_column("channel", pa.array(["web"] * r.num_rows)),
        "added channel",
    ),
    "type_change_float_to_string": (
        lambda r: _formatted(r, "annual_income"),
        "retyped annual_income float -> string",
    ),
    "type_change_timestamp_to_int64": (
        lambda r: _epoch(r, "timestamp"),
        "retyped timestamp timestamp -> integer",
    ),
}


@pytest.mark.parametrize("kind", list(CASES))
def test_every_drift_kind_is_read_reported_and_the_rest_still_checked(landed, tmp_path, kind):
    change, detail = CASES[kind]
    zone, batch, rows = _tampered(landed, tmp_path, "applications", change)
    _, baseline, day = landed
    found = detect_day(zone, day, baseline)  # no exception, whatever the drift
    flagged = _flags(found, batch)
    assert set(flagged) == {"schema:applications"}, flagged
    assert set(flagged["schema:applications"]) == set(rows.column("app_id").to_pylist())
    schema = found.filter(
        pc.and_(
            pc.equal(found["batch_id"], batch), pc.equal(found["detector"], "schema:applications")
        )
    )
    assert schema["detail"].to_pylist() == [detail]
    # Every other batch of the day passes the schema check.
    others = found.filter(
        pc.and_(
            pc.not_equal(found["batch_id"], batch),
            pc.equal(found["detector"], "schema:applications"),
        )
    )
    assert set(others["verdict"].to_pylist()) == {"pass"}


def test_a_dropped_visitor_column_is_read_and_reported(landed, tmp_path):
    zone, batch, rows = _tampered(
        landed, tmp_path, "visitor_events", lambda r: r.drop_columns(["campaign_id"])
    )
    _, baseline, day = landed
    flagged = _flags(detect_day(zone, day, baseline), batch)
    assert set(flagged) == {"schema:visitor_events"}
    assert set(flagged["schema:visitor_events"]) == set(rows.column("visitor_id").to_pylist())


def test_a_renamed_column_keeps_its_values():
    table = TABLE_SCHEMAS["applications"]
    rows = pa.table({f.name: pa.array([], f.type) for f in table}).rename_columns(
        [n if n != "annual_income" else "income" for n in table.names]
    )
    conformed, drift = conform_file(rows, table)
    assert drift == Drift(renamed=(("annual_income", "income"),))
    assert conformed.schema.field("annual_income").type == pa.float64()


def test_an_ambiguous_pair_stays_a_drop_and_an_addition():
    expected = {"a": "float", "b": "float", "c": "string"}
    drift = compare({"x": "float", "y": "float", "c": "string"}, expected)
    assert drift == Drift(dropped=("a", "b"), added=("x", "y"))
    assert drift.unavailable == {"a", "b"} and drift.changes == 4
