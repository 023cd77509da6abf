"""The structure checks: each file has the schema it was committed with; no other file is there.

A live day is landed once and copied for every test, which then rewrites a landing file with a
dropped, renamed or retyped column, drops a hidden or a foreign copy into a date folder, or
leaves a writer's temporary behind; each tampering fails exactly the right check, naming the
file, while the untouched day, a live writer's in-flight temporary and a drift the manifest
records pass. The main cases also run through Dagster (a blocking ERROR check fails the run).
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import dagster as dg
import duckdb
import fsspec
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from dtg_assets.resources import AnomalyScheduleResource, SimulationResource, build_scenario
from dtg_assets.simulation import layout
from dtg_assets.simulation.commit import WriterLock
from dtg_assets.simulation.landing import LandingZone
from dtg_assets.simulation.plan import Window
from dtg_assets.simulation.schemas import (
    MANIFEST_SCHEMA,
    TABLE_SCHEMAS,
    TABLES,
    schema_differences,
    schema_text,
)
from dtg_assets.simulation.verify import verify_day
from dtg_assets_tests.conftest import LIVE_DAY, run_checks_only

SCALE = 0.05
L = Window.LIVE
SCHEMA_CHECK, FILES_CHECK = "files_match_committed_schema", "only_committed_files"


@pytest.fixture(scope="module")
def config():
    """The scenario the Dagster resources build at this scale."""
    return build_scenario(SimulationResource(scale=SCALE), AnomalyScheduleResource())


@pytest.fixture(scope="module")
def pristine(config, tmp_path_factory):
    """A data root holding one landed live day, untouched."""
    root = tmp_path_factory.mktemp("pristine")
    LandingZone(str(root)).write_day(config, LIVE_DAY, L)
    return root


@pytest.fixture
def zone(pristine, tmp_path):
    """A private copy of the pristine data root, to tamper with."""
    shutil.copytree(pristine, tmp_path / "data")
    return LandingZone(str(tmp_path / "data"))


def _failed(zone: LandingZone, config) -> dict[tuple[str, str], str]:
    return {
        (o.spec.asset, o.spec.name): o.description
        for o in verify_day(zone, config, LIVE_DAY, L)
        if not o.passed
    }


def _first(zone: LandingZone, table: str) -> Path:
    return Path(zone.day_files(table, L, LIVE_DAY)[0])


def _replace(table: pa.Table, name: str, field: pa.Field, values: pa.Array) -> pa.Table:
    return table.set_column(table.schema.get_field_index(name), field, values)


def _glob_count(zone: LandingZone, table: str) -> int:
    """Rows DuckDB's ``*/*.parquet`` glob reads from a table's folders (as the README does)."""
    pattern = f"{zone.table_dir(table)}/*/*.parquet"
    [(count,)] = duckdb.sql(f"SELECT count(*) FROM read_parquet('{pattern}')").fetchall()
    return count


# --- the canonical schema text ----------------------------------------------------------------


def test_schema_text_is_canonical_and_differences_are_named():
    schema = TABLE_SCHEMAS["applications"]
    text = schema_text(schema)
    assert json.loads(text)[0] == ["app_id", "string", False]
    assert json.loads(text)[6] == ["timestamp", "timestamp[us, tz=UTC]", False]
    assert schema_text(pa.schema(list(schema))) == text  # metadata plays no part
    assert schema_differences(text, text) == []
    drifted = schema.remove(3).append(pa.field("extra", pa.int8()))
    assert schema_differences(text, schema_text(drifted)) == [
        "missing column(s) ['annual_income']",
        "unexpected column(s) ['extra']",
    ]
    nullable = schema.set(0, pa.field("app_id", pa.large_string(), nullable=True))
    assert schema_differences(text, schema_text(nullable)) == [
        "app_id is large_string, not string",
        "app_id is nullable",
    ]
    swapped = pa.schema([schema.field(1), schema.field(0), *list(schema)[2:]])
    assert schema_differences(text, schema_text(swapped)) == [
        "columns in another order: " + str([f.name for f in swapped])
    ]
    with pytest.raises(ValueError, match="not a schema text: 'nope'"):
        schema_differences("nope", text)


def test_the_manifest_and_commit_record_record_each_files_schema(pristine):
    zone = LandingZone(str(pristine))
    manifest = zone.read_manifest(L, LIVE_DAY)
    entries = [f for files in manifest["files"].to_pylist() for f in files]
    assert entries
    for entry in entries:
        assert entry["schema"] == schema_text(TABLE_SCHEMAS[entry["table"]])
        # The writer's schema is exactly what the footer says.
        footer = pq.ParquetFile(zone.path(entry["path"])).schema_arrow
        assert schema_text(footer) == entry["schema"]
    record = json.loads(zone.read_commit_record(L, LIVE_DAY))
    assert sorted(record["files"], key=lambda f: f["path"]) == sorted(
        entries, key=lambda f: f["path"]
    )


def test_an_untouched_day_passes_every_structure_check(pristine, config):
    outcomes = verify_day(LandingZone(str(pristine)), config, LIVE_DAY, L)
    structure = [o for o in outcomes if o.spec.name in (SCHEMA_CHECK, FILES_CHECK)]
    assert {o.spec.asset for o in structure} == set(TABLES) and len(structure) == 8
    assert all(o.passed for o in outcomes)
    for o in structure:
        if o.spec.name == SCHEMA_CHECK:
            assert o.metadata["files"] > 0 and o.metadata["missing_files"] == 0
        else:
            assert o.metadata["uncommitted_files"] == 0


# --- a file rewritten with another schema ----------------------------------------------------


def _drop(t: pa.Table) -> pa.Table:
    return t.drop_columns(["annual_income"])


def _rename(t: pa.Table) -> pa.Table:
    return t.rename_columns(["income" if n == "annual_income" else n for n in t.column_names])


def _as_string(t: pa.Table) -> pa.Table:
    values = pc.cast(t.column("timestamp"), pa.string())
    return _replace(t, "timestamp", pa.field("timestamp", pa.string(), False), values)


def _as_int64(t: pa.Table) -> pa.Table:
    values = pc.cast(t.column("timestamp"), pa.int64())
    return _replace(t, "timestamp", pa.field("timestamp", pa.int64(), False), values)


@pytest.mark.parametrize(
    ("rewrite", "why"),
    [
        (_drop, "missing column(s) ['annual_income']"),
        (_rename, "missing column(s) ['annual_income']; unexpected column(s) ['income']"),
        (_as_string, "timestamp is string, not timestamp[us, tz=UTC]"),
        (_as_int64, "timestamp is int64, not timestamp[us, tz=UTC]"),
    ],
    ids=["dropped", "renamed", "timestamp-as-string", "timestamp-as-int64"],
)
def test_a_file_rewritten_with_another_schema_fails_the_schema_check_naming_it(
    zone, config, rewrite, why
):
    path = _first(zone, "applications")
    pq.write_table(rewrite(pq.read_table(path)), path)
    # The checks that read rows read only ids and batch ids: they pass, as they used to.
    failed = _failed(zone, config)
    assert list(failed) == [("applications", SCHEMA_CHECK)]
    assert failed["applications", SCHEMA_CHECK] == (
        f"1 file(s) differ from their committed schema: {path}: {why}"
    )


def test_every_bad_file_is_named_and_a_deleted_one_is_left_to_the_row_counts(zone, config):
    paths = [Path(p) for p in zone.day_files("visitor_events", L, LIVE_DAY)]
    for path in paths[:2]:
        pq.write_table(_drop_geo(pq.read_table(path)), path)
    paths[2].unlink()
    failed = _failed(zone, config)
    assert ("visitor_events", SCHEMA_CHECK) in failed
    description = failed["visitor_events", SCHEMA_CHECK]
    assert description.startswith("2 file(s) differ from their committed schema")
    assert all(f"{p}: missing column(s) ['geo']" in description for p in paths[:2])
    assert str(paths[2]) not in description
    assert ("visitor_events", "rows_match_manifest") in failed


def _drop_geo(t: pa.Table) -> pa.Table:
    return t.drop_columns(["geo"])


def _record_schema(zone, path, schema: pa.Schema) -> None:
    """Make the day's manifest record ``schema`` for the file, as the writer of a drift would."""
    relative = str(path.relative_to(zone.root))
    manifest_path = zone.manifest_path(L, LIVE_DAY)
    rows = pq.read_table(manifest_path).to_pylist()
    for row in rows:
        for entry in row["files"]:
            if entry["path"] == relative:
                entry["schema"] = schema_text(schema)
    pq.write_table(pa.Table.from_pylist(rows, schema=MANIFEST_SCHEMA), manifest_path)


def test_a_drift_the_manifest_records_passes_and_is_read_as_far_as_it_can_be(zone, config):
    # A schema_drift batch records the drifted schema it wrote: the file matches it, and the
    # row checks still read its ids. Here the drift (a dropped column) is made by hand, and the
    # manifest made to record it as the writer would.
    path = _first(zone, "applications")
    drifted = _drop(pq.read_table(path))
    pq.write_table(drifted, path)
    _record_schema(zone, path, drifted.schema)
    assert _failed(zone, config) == {}
    # A file that then loses another column no longer matches its record.
    pq.write_table(drifted.drop_columns(["employment_status"]), path)
    failed = _failed(zone, config)
    assert list(failed) == [("applications", SCHEMA_CHECK)]
    assert (
        f"{path}: missing column(s) ['employment_status']" in failed["applications", SCHEMA_CHECK]
    )


def test_a_drift_of_a_column_the_checks_read_reads_as_nulls_when_recorded(zone, config):
    # Recorded on purpose, a dropped id column cannot crash the read: its ids read as nulls,
    # which the key and reference checks then report.
    path = _first(zone, "transactions")
    drifted = pq.read_table(path).drop_columns(["account_id"])
    pq.write_table(drifted, path)
    _record_schema(zone, path, drifted.schema)
    failed = _failed(zone, config)
    assert set(failed) == {("transactions", "transactions_reference_accounts")}
    assert (
        f"{drifted.num_rows} transactions rows reference no accounts"
        in (failed["transactions", "transactions_reference_accounts"])
    )


# --- files no commit lists ---------------------------------------------------------------------


@pytest.mark.parametrize("name", [".dup.parquet", "_dup.parquet"])
def test_a_hidden_copy_of_a_batch_file_fails_only_committed_files_naming_it(zone, config, name):
    source = _first(zone, "visitor_events")
    before = _glob_count(zone, "visitor_events")
    copy = source.parent / name
    shutil.copyfile(source, copy)
    # What the check exists for: a *.parquet glob reads the copy as more visitors.
    assert _glob_count(zone, "visitor_events") == before + pq.read_metadata(copy).num_rows
    failed = _failed(zone, config)
    assert list(failed) == [("visitor_events", FILES_CHECK)]
    assert failed["visitor_events", FILES_CHECK] == (
        "1 file(s) no commit lists in visitor_events's date folders, which directory readers "
        f"would read: {copy}"
    )


def test_foreign_and_duplicated_files_fail_naming_each(zone, config):
    folder = _first(zone, "accounts").parent
    foreign = folder / "export.parquet"
    pq.write_table(pa.table({"x": [1, 2]}), foreign)
    # A batch file's copy under another configuration's token: a duplicate, not a commit.
    source = _first(zone, "accounts")
    batch = layout.parse_landing_name(source.name).batch_id
    duplicate = folder / layout.landing_name(batch, "deadbeef")
    shutil.copyfile(source, duplicate)
    # The same file in another date folder of the day.
    later = Path(zone.path(layout.landing_dir("accounts", "2030-01-01")))
    later.mkdir()
    moved = later / source.name
    shutil.copyfile(source, moved)
    failed = _failed(zone, config)
    assert list(failed) == [("accounts", FILES_CHECK)]
    description = failed["accounts", FILES_CHECK]
    assert description.startswith("3 file(s) no commit lists in accounts's date folders")
    assert all(str(p) in description for p in (foreign, duplicate, moved))


def test_another_days_files_in_a_shared_folder_must_be_committed_by_that_day(config, tmp_path):
    # The next day's batch files share the folders this day's late transactions land in:
    # committed by that day, they pass; a copy under another token fails both days' checks.
    zone = LandingZone(str(tmp_path))
    nxt = LIVE_DAY + dt.timedelta(days=1)
    for day in (LIVE_DAY, nxt):
        zone.write_day(config, day, L)
    ours = {Path(p).parent for p in zone.day_files("transactions", L, LIVE_DAY)}
    theirs = [Path(p) for p in zone.day_files("transactions", L, nxt)]
    shared = [p for p in theirs if p.parent in ours]
    assert shared  # the premise: the two days share folders
    assert _failed(zone, config) == {}
    batch = layout.parse_landing_name(shared[0].name).batch_id
    copy = shared[0].parent / layout.landing_name(batch, "deadbeef")
    shutil.copyfile(shared[0], copy)
    for day in (LIVE_DAY, nxt):
        failed = {
            (o.spec.asset, o.spec.name): o.description
            for o in verify_day(zone, config, day, L)
            if not o.passed
        }
        assert list(failed) == [("transactions", FILES_CHECK)], day
        assert str(copy) in failed["transactions", FILES_CHECK]


def test_a_live_writers_temporary_is_excepted_a_dead_writers_is_not(zone, config):
    final = _first(zone, "transactions")
    lock = WriterLock(True, zone.path(layout.LOCK_DIR), "0123abcd")
    temporary = Path(layout.temporary_name(str(final), "0123abcd"))
    temporary.write_bytes(final.read_bytes()[:100])
    # In flight: its writer holds the lock.
    assert _failed(zone, config) == {}
    lock.release()  # the writer is gone (killed: the kernel drops its lock the same way)
    failed = _failed(zone, config)
    assert list(failed) == [("transactions", FILES_CHECK)]
    assert str(temporary) in failed["transactions", FILES_CHECK]


def test_a_temporary_not_named_by_a_writer_is_foreign(zone, config):
    folder = _first(zone, "applications").parent
    stray = folder / ".export.parquet.1234.tmp"  # a temporary, but of no landing file
    stray.write_bytes(b"x")
    failed = _failed(zone, config)
    assert list(failed) == [("applications", FILES_CHECK)]
    assert str(stray) in failed["applications", FILES_CHECK]


def test_hidden_copies_are_seen_on_an_fsspec_filesystem(config):
    root = "memory://structure-hidden"
    zone = LandingZone(root)
    try:
        zone.write_day(config, LIVE_DAY, L)
        fs = fsspec.filesystem("memory")
        source = zone.day_files("visitor_events", L, LIVE_DAY)[0]
        folder = source.rpartition("/")[0]
        for name in (".dup.parquet", "_dup.parquet"):
            fs.copy(source, f"{folder}/{name}")
        failed = _failed(zone, config)
        assert list(failed) == [("visitor_events", FILES_CHECK)]
        description = failed["visitor_events", FILES_CHECK]
        assert description.startswith("2 file(s)")
        assert all(
            zone.uri_of(f"{folder}/{n}") in description for n in (".dup.parquet", "_dup.parquet")
        )
    finally:
        fsspec.filesystem("memory").rm(zone.root, recursive=True)


# --- through Dagster ----------------------------------------------------------------------------


def _checks_run(zone: LandingZone):
    run_config = {"resources": {"simulation": {"config": {"data_root": zone.uri, "scale": SCALE}}}}
    result = run_checks_only("live_job", LIVE_DAY, run_config=run_config)
    evaluations = result.get_asset_check_evaluations()
    failed = {(e.asset_key.path[-1], e.check_name): e for e in evaluations if not e.passed}
    return result, failed


def test_dagster_checks_fail_naming_the_rewritten_and_the_hidden_file(zone):
    path = _first(zone, "applications")
    pq.write_table(_as_int64(pq.read_table(path)), path)
    copy = _first(zone, "visitor_events").parent / "_dup.parquet"
    shutil.copyfile(_first(zone, "visitor_events"), copy)
    result, failed = _checks_run(zone)
    assert set(failed) == {("applications", SCHEMA_CHECK), ("visitor_events", FILES_CHECK)}
    schema = failed["applications", SCHEMA_CHECK]
    assert schema.severity == dg.AssetCheckSeverity.ERROR
    assert str(path) in schema.description and "timestamp is int64" in schema.description
    assert schema.metadata["bad_files"].value == {
        str(path): "timestamp is int64, not timestamp[us, tz=UTC]"
    }
    assert failed["visitor_events", FILES_CHECK].metadata["files"].value == [str(copy)]
    assert not result.success  # both are blocking ERROR checks


def test_dagster_structure_checks_pass_on_the_untouched_day(zone):
    result, failed = _checks_run(zone)
    assert result.success and failed == {}
    assert len(result.get_asset_check_evaluations()) == 25
