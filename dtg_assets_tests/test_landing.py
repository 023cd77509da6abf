"""Tests of the landing-zone writer: layout, partitioning, determinism, idempotence, atomicity.

Days of a small scenario are written to temporary roots (and to ``memory://``) and read back
with the engine's own reader, pyarrow datasets and DuckDB, as a detector would.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import duckdb
import fsspec
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from dtg_assets.simulation import layout
from dtg_assets.simulation.config import ScenarioConfig
from dtg_assets.simulation.generate import generate_batch
from dtg_assets.simulation.landing import LandingZone
from dtg_assets.simulation.plan import Window, batch_prefix, plan_day, scenario_days
from dtg_assets.simulation.scenario import run_scenario
from dtg_assets.simulation.schemas import (
    EVENT_TIME,
    LABEL_SCHEMA,
    MANIFEST_SCHEMA,
    PRIMARY_KEY,
    TABLE_SCHEMAS,
    TABLES,
)
from dtg_assets.simulation.storage import Storage

LIVE_DAY = dt.date(2026, 1, 7)  # the third scenario day, the first live one (small_config)
START_EARLIER = dt.date(2026, 1, 1)  # with 3 historical days: LIVE_DAY is live, as in small_config


def tree(root: Path) -> dict[str, tuple[int, int, str]]:
    """Every file under a root (hidden ones too): relative path -> (inode, mtime_ns, sha256)."""
    out = {}
    for path in sorted(root.rglob("*")):
        if path.is_file():
            st = path.stat()
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            out[str(path.relative_to(root))] = (st.st_ino, st.st_mtime_ns, digest)
    return out


def contents(snapshot: dict[str, tuple[int, int, str]]) -> dict[str, str]:
    return {path: digest for path, (_, _, digest) in snapshot.items()}


def of_day(snapshot: dict, window: str, day: dt.date) -> dict:
    """The entries of a snapshot written by one window's day (landing and ground truth)."""
    prefix, stem = batch_prefix(window, day), f"{window}-{day:%Y%m%d}."
    return {
        p: v for p, v in snapshot.items() if Path(p).name.startswith((prefix, stem, f".{stem}"))
    }


def temporaries(root: Path) -> list[str]:
    return [str(p) for p in root.rglob("*") if p.is_file() and p.name.endswith(".tmp")]


def sort_pk(table: pa.Table, name: str) -> pa.Table:
    return table.sort_by(PRIMARY_KEY[name])


def generated(config: ScenarioConfig, day: dt.date) -> tuple[dict[str, pa.Table], pa.Table]:
    outs = [generate_batch(config, plan) for plan in plan_day(config, day)]
    tables = {t: pa.concat_tables([o.tables[t] for o in outs]) for t in TABLES}
    return tables, pa.concat_tables([o.labels for o in outs])


def duckdb_scalar(query: str) -> object:
    """One value from a private DuckDB connection whose session time zone is UTC."""
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        return con.execute(query).fetchall()[0][0]
    finally:
        con.close()


def landed_rows_duckdb(root: Path, table: str, pattern: str = "*/*.parquet") -> int:
    glob = f"{root}/landing/{table}/{pattern}"
    return duckdb_scalar(f"SELECT count(*) FROM read_parquet('{glob}', hive_partitioning = true)")


def landed_rows_dataset(root: Path, table: str) -> int:
    dataset = ds.dataset(root / "landing" / table, format="parquet", partitioning="hive")
    assert not [f for f in dataset.files if Path(f).name.startswith((".", "_"))]
    return dataset.count_rows()


@pytest.fixture(scope="module")
def written(small_config: ScenarioConfig, tmp_path_factory) -> tuple[Path, list]:
    """The whole small scenario, written once, in order."""
    root = tmp_path_factory.mktemp("landing")
    results = LandingZone(str(root)).write_days(small_config, scenario_days(small_config))
    return root, results


# -- layout and content ---------------------------------------------------------------------------
def test_layout_partition_dates_and_lineage(small_config, written):
    root, results = written
    for result in results:
        plans = {p.batch_id: p for p in plan_day(small_config, result.day)}
        for table in TABLES:
            files = LandingZone(str(root)).day_files(table, result.window, result.day)
            assert sorted(result.paths[table]) == files
            assert len(files) == len(set(files))
            for path in files:
                rel = Path(path).relative_to(root)
                assert rel.parts[:2] == ("landing", table)
                date = rel.parts[2].removeprefix("date=")
                parsed = layout.parse_landing_name(rel.name)
                token = layout.token_of(layout.config_hash(small_config, result.window))
                assert parsed is not None and parsed.token == token
                batch_id = parsed.batch_id
                plan = plans[batch_id]
                assert pq.read_schema(path).equals(TABLE_SCHEMAS[table], check_metadata=False)
                data = pq.read_table(path)
                assert data.num_rows > 0
                dates = pc.strftime(data.column(EVENT_TIME[table]), "%Y-%m-%d")
                assert set(dates.to_pylist()) == {date}, path
                lag = (dt.date.fromisoformat(date) - plan.day).days
                # Stale data may go back a day; accounts land up to a day and
                # transactions up to five days after their batch.
                assert -1 <= lag <= {"accounts": 1, "transactions": 5}.get(table, 0)
                assert set(data.column("batch_id").to_pylist()) == {batch_id}
                ingested = data.column("ingested_at").cast(pa.int64()).unique().to_pylist()
                assert ingested == [int(plan.ingested_at.timestamp()) * 1_000_000]
    names = {str(p.relative_to(root)) for p in (root / "ground_truth").rglob("*.parquet")}
    expected = set()
    for day, window in scenario_days(small_config):
        token = layout.token_of(layout.config_hash(small_config, window))
        expected |= {layout.manifest_file(window, day), layout.labels_file(window, day, token)}
    assert names == expected
    assert not (root / "landing" / "labels").exists()


def test_read_back_equals_generated_and_reported(small_config, written):
    root, results = written
    zone = LandingZone(str(root))
    for result in results[1:3]:
        tables, labels = generated(small_config, result.day)
        for table in TABLES:
            back = zone.read_day(table, result.window, result.day)
            assert back.schema.equals(TABLE_SCHEMAS[table], check_metadata=False)
            assert back.num_rows == result.rows(table) == tables[table].num_rows
            assert sort_pk(back, table).equals(sort_pk(tables[table], table))
        back_labels = zone.read_labels(result.window, result.day)
        assert back_labels.schema.equals(LABEL_SCHEMA, check_metadata=False)
        assert back_labels.sort_by("record_id").equals(labels.sort_by("record_id"))
        manifest = zone.read_manifest(result.window, result.day)
        assert manifest.schema.equals(MANIFEST_SCHEMA, check_metadata=False)
        assert manifest.equals(result.manifest)
        counts = pc.value_counts(labels.column("anomaly")).to_pylist()
        assert result.labels_by_anomaly == {c["values"]: c["counts"] for c in counts}
    live = results[2].manifest.to_pylist()
    assert [r["anomaly"] for r in live] == [b.anomaly for b in small_config.live_schedule]
    assert all(r["labelled_visitor_events"] == 0 for r in live if r["anomaly"] is None)
    assert live[1]["labelled_visitor_events"] > 0  # null_burst


def test_nothing_read_back_for_a_day_never_written(tmp_path, small_config):
    zone = LandingZone(str(tmp_path))
    assert zone.read_day("accounts", "live", LIVE_DAY).num_rows == 0
    assert zone.read_labels("live", LIVE_DAY).num_rows == 0
    assert zone.read_manifest("live", LIVE_DAY).num_rows == 0


def test_readers_see_every_row_with_the_right_partition(written):
    root, results = written
    for table in TABLES:
        total = sum(r.rows(table) for r in results)
        assert landed_rows_dataset(root, table) == total
        assert landed_rows_duckdb(root, table) == total
        glob = f"{root}/landing/{table}/**/*.parquet"
        wrong = duckdb_scalar(
            f"SELECT count(*) FROM read_parquet('{glob}', hive_partitioning = true) "
            f"WHERE CAST(date AS VARCHAR) <> strftime({EVENT_TIME[table]}, '%Y-%m-%d')"
        )
        assert wrong == 0, table
        dataset = ds.dataset(root / "landing" / table, format="parquet", partitioning="hive")
        ids = dataset.to_table(columns=[PRIMARY_KEY[table]]).column(0)
        assert pc.count_distinct(ids).as_py() == len(ids) == total


def test_unreadable_file_is_named(tmp_path, small_config):
    zone = LandingZone(str(tmp_path))
    zone.write_day(small_config, small_config.start_date)
    (path,) = zone.day_files("visitor_events", "historical", small_config.start_date)
    Path(path).write_bytes(b"not parquet")
    with pytest.raises(ValueError, match=path):
        zone.read_day("visitor_events", "historical", small_config.start_date)


# -- determinism and order-freedom ----------------------------------------------------------------
def test_same_seed_same_bytes_different_seed_different_data(tmp_path, small_config, written):
    root, _ = written
    again = tmp_path / "again"
    LandingZone(str(again)).write_day(small_config, LIVE_DAY)
    expected = contents(of_day(tree(root), "live", LIVE_DAY))
    assert expected and contents(tree(again)) == expected
    other = tmp_path / "other"
    LandingZone(str(other)).write_day(small_config.model_copy(update={"seed": 100}), LIVE_DAY)
    theirs = LandingZone(str(other)).read_day("visitor_events", "live", LIVE_DAY)
    ours = LandingZone(str(root)).read_day("visitor_events", "live", LIVE_DAY)
    assert not set(theirs.column("visitor_id").to_pylist()) & set(
        ours.column("visitor_id").to_pylist()
    )


def test_a_day_alone_or_in_any_order_equals_the_full_run(tmp_path, small_config, written):
    root, _ = written
    full = contents(tree(root))
    alone = tmp_path / "alone"
    LandingZone(str(alone)).write_day(small_config, LIVE_DAY)
    assert contents(tree(alone)) == contents(of_day(tree(root), "live", LIVE_DAY))
    backwards = tmp_path / "backwards"
    LandingZone(str(backwards)).write_days(small_config, reversed(scenario_days(small_config)))
    assert contents(tree(backwards)) == full


def test_a_day_landed_in_another_process_is_identical(tmp_path, small_config, written):
    root, _ = written
    child = tmp_path / "child"
    code = textwrap.dedent(
        f"""
        import datetime as dt
        from dtg_assets.simulation.config import ScenarioConfig
        from dtg_assets.simulation.landing import LandingZone
        config = ScenarioConfig.model_validate_json({small_config.model_dump_json()!r})
        LandingZone({str(child)!r}).write_day(config, dt.date.fromisoformat("{LIVE_DAY}"))
        """
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=120)
    assert contents(tree(child)) == contents(of_day(tree(root), "live", LIVE_DAY))


# -- idempotent rewrites --------------------------------------------------------------------------
@pytest.fixture
def scenario_root(tmp_path, small_config) -> Path:
    root = tmp_path / "root"
    LandingZone(str(root)).write_days(small_config, scenario_days(small_config))
    return root


def test_rewriting_a_day_replaces_only_that_day(scenario_root, small_config):
    before = tree(scenario_root)
    day = small_config.start_date + dt.timedelta(days=1)
    result = LandingZone(str(scenario_root)).write_day(small_config, day)
    after = tree(scenario_root)
    assert result.removed == []
    assert set(after) == set(before)
    assert contents(after) == contents(before), "a rewrite must not duplicate or change rows"
    mine = of_day(before, "historical", day)
    assert mine and all(after[p][:2] != before[p][:2] for p in mine), "the day was not rewritten"
    others = {p: v for p, v in before.items() if p not in mine}
    assert {p: after[p] for p in others} == others, "another day's file was touched"
    for table in TABLES:
        assert landed_rows_dataset(scenario_root, table) == landed_rows_duckdb(scenario_root, table)
        dataset = ds.dataset(scenario_root / "landing" / table, partitioning="hive")
        ids = dataset.to_table(columns=[PRIMARY_KEY[table]]).column(0)
        assert pc.count_distinct(ids).as_py() == len(ids)


def test_rewriting_with_another_schedule_removes_only_that_days_stale_files(
    scenario_root, small_config
):
    zone = LandingZone(str(scenario_root))
    before = tree(scenario_root)
    old = {t: zone.day_files(t, "live", LIVE_DAY) for t in TABLES}
    old_labels = zone.labels_path("live", LIVE_DAY)
    schedule = [{"anomaly": None, "visitors": 5000}, {"anomaly": "null_burst", "visitors": 5000}]
    changed = small_config.model_copy(
        update={"live_schedule": ScenarioConfig(live_schedule=schedule).live_schedule}
    )
    token = layout.token_of(layout.config_hash(changed, "live"))
    assert token != layout.token_of(layout.config_hash(small_config, "live"))
    result = zone.write_day(changed, LIVE_DAY)
    new = {t: zone.day_files(t, "live", LIVE_DAY) for t in TABLES}
    for table in TABLES:
        assert new[table] == sorted(result.paths[table])
        assert {Path(p).name for p in new[table]} <= {
            f"live-20260107-0000.{token}.parquet",
            f"live-20260107-1200.{token}.parquet",
        }
        assert zone.foreign_files(table, "live", LIVE_DAY) == []
    # Another configuration, other names: every old file of the day goes, labels included.
    old_files = {p for paths in old.values() for p in paths}
    assert not old_files & {p for paths in new.values() for p in paths}
    assert result.removed == sorted(old_files | {old_labels})
    assert zone.labels_path("live", LIVE_DAY) == zone.path(
        layout.labels_file("live", LIVE_DAY, token)
    )
    assert zone.read_manifest("live", LIVE_DAY).num_rows == 2
    after = tree(scenario_root)
    mine = of_day(before, "live", LIVE_DAY)
    others = {p: v for p, v in before.items() if p not in mine}
    assert {p: after.get(p) for p in others} == others
    assert temporaries(scenario_root) == []


# -- atomicity ------------------------------------------------------------------------------------
def test_failed_rename_leaves_the_previous_day_intact(scenario_root, small_config, monkeypatch):
    before = tree(scenario_root)
    calls = []

    def crash(self, source, target):
        calls.append(target)
        raise OSError("disk gone")

    monkeypatch.setattr(Storage, "rename", crash)
    other_seed = small_config.model_copy(update={"seed": 7})
    with pytest.raises(OSError, match="disk gone"):
        LandingZone(str(scenario_root)).write_day(other_seed, LIVE_DAY)
    assert len(calls) == 1
    assert tree(scenario_root) == before, "a failed write must leave no file behind"
    assert temporaries(scenario_root) == []


def test_killed_between_write_and_rename_leaves_no_visible_file(scenario_root, small_config):
    zone = LandingZone(str(scenario_root))
    before = tree(scenario_root)
    prior = {t: sort_pk(zone.read_day(t, "live", LIVE_DAY), t) for t in TABLES}
    prior_labels = zone.read_labels("live", LIVE_DAY)
    totals = {t: landed_rows_dataset(scenario_root, t) for t in TABLES}
    code = textwrap.dedent(
        f"""
        import datetime as dt, os
        from dtg_assets.simulation.config import ScenarioConfig
        from dtg_assets.simulation.landing import LandingZone
        from dtg_assets.simulation.storage import Storage
        Storage.rename = lambda self, source, target: os._exit(9)  # killed mid-commit
        config = ScenarioConfig.model_validate_json({small_config.model_dump_json()!r})
        config = config.model_copy(update={{"seed": 7}})
        LandingZone({str(scenario_root)!r}).write_day(config, dt.date.fromisoformat("{LIVE_DAY}"))
        """
    )
    proc = subprocess.run([sys.executable, "-c", code], timeout=120)
    assert proc.returncode == 9
    leftovers = temporaries(scenario_root)
    assert leftovers, "the killed write should have left its temporary files"
    assert any("/landing/" in p for p in leftovers)
    after = tree(scenario_root)
    assert {p: after[p] for p in before} == before
    for table in TABLES:
        assert sort_pk(zone.read_day(table, "live", LIVE_DAY), table).equals(prior[table])
        assert landed_rows_dataset(scenario_root, table) == totals[table]
        for pattern in ("*/*.parquet", "**/*.parquet"):
            assert landed_rows_duckdb(scenario_root, table, pattern) == totals[table]
    assert zone.read_labels("live", LIVE_DAY).equals(prior_labels)
    # The next write of the day cleans up what the killed one left.
    zone.write_day(small_config, LIVE_DAY)
    assert temporaries(scenario_root) == []
    assert contents(tree(scenario_root)) == contents(before)


# -- other filesystems ----------------------------------------------------------------------------
def test_memory_filesystem_root(small_config):
    root = f"memory://dtg-test-{uuid.uuid4().hex}"
    zone = LandingZone(root)
    try:
        first = zone.write_day(small_config, LIVE_DAY)
        second = zone.write_day(small_config, LIVE_DAY)
        tables, labels = generated(small_config, LIVE_DAY)
        for table in TABLES:
            assert first.paths[table] == second.paths[table]
            assert all(p.startswith("memory://") for p in first.paths[table])
            back = zone.read_day(table, "live", LIVE_DAY)
            assert back.num_rows == first.rows(table)
            assert sort_pk(back, table).equals(sort_pk(tables[table], table))
        assert (
            zone.read_labels(Window.LIVE, LIVE_DAY)
            .sort_by("record_id")
            .equals(labels.sort_by("record_id"))
        )
        fs = fsspec.filesystem("memory")
        files = fs.find(zone.root)
        assert files and not [f for f in files if f.endswith(".tmp")]
    finally:
        fsspec.filesystem("memory").rm(zone.root, recursive=True)


def test_the_manifest_and_commit_record_list_exactly_the_files_of_the_write(small_config, written):
    root, results = written
    zone = LandingZone(str(root))
    for result in results:
        manifest = zone.read_manifest(result.window, result.day)
        digest = layout.config_hash(small_config, result.window)
        assert set(manifest["config_hash"].to_pylist()) == {digest}
        labels = layout.labels_file(result.window, result.day, layout.token_of(digest))
        assert set(manifest["labels_file"].to_pylist()) == {labels}
        assert zone.labels_path(result.window, result.day) == str(root / labels)
        listed = [f for files in manifest["files"].to_pylist() for f in files]
        record = json.loads(zone.read_commit_record(result.window, result.day))
        assert record == {"config_hash": digest, "files": sorted(listed, key=lambda f: f["path"])}
        for row, files in zip(manifest.to_pylist(), manifest["files"].to_pylist(), strict=True):
            for table in TABLES:
                mine = [f for f in files if f["table"] == table]
                assert sum(f["rows"] for f in mine) == row[f"rows_{table}"]
            for f in files:
                path = root / f["path"]
                assert layout.parse_landing_name(path.name).batch_id == row["batch_id"]
                assert path.stat().st_size == f["bytes"]
                assert pq.read_metadata(path).num_rows == f["rows"]
        on_disk = {
            str(p.relative_to(root))
            for p in (root / "landing").rglob(f"{layout.batch_prefix(result.window, result.day)}*")
        }
        assert on_disk == {f["path"] for f in listed}


def test_the_same_day_under_another_date_range_lands_the_same_names_and_bytes(
    tmp_path, small_config, written
):
    root, _ = written
    longer = small_config.model_copy(
        update={"start_date": START_EARLIER, "historical_days": 3, "live_days": 10}
    )
    assert layout.config_hash(longer, "live") == layout.config_hash(small_config, "live")
    other = tmp_path / "other"
    LandingZone(str(other)).write_day(longer, LIVE_DAY)
    assert contents(tree(other)) == contents(of_day(tree(root), "live", LIVE_DAY))


def test_a_historical_day_under_other_anomaly_parameters_lands_the_same_names_and_bytes(
    tmp_path, small_config
):
    # Its one batch is normal: anomaly strengths cannot change it, so they must not rename it
    # either (a streaming reader would take renamed files for new data).
    day = small_config.start_date
    stronger = ScenarioConfig.model_validate(
        {
            **small_config.model_dump(),
            "anomalies": {
                "null_burst": {"null_rate": 0.9},
                "traffic_spike": {"visitor_multiplier": 5.0},
                "fraud_spike": {"rate": 0.5},
                "stale_data": {"delay_hours": 20.0},
            },
        }
    )
    assert layout.config_hash(stronger, "live") != layout.config_hash(small_config, "live")
    first, second = tmp_path / "first", tmp_path / "second"
    LandingZone(str(first)).write_day(small_config, day, Window.HISTORICAL)
    LandingZone(str(second)).write_day(stronger, day, Window.HISTORICAL)
    assert contents(tree(first)) == contents(tree(second))
    assert any(path.startswith("landing/") for path in contents(tree(first)))


# --- bytes of the default scenario, and of the structural anomalies -------------------------

# sha256 over the names and bytes of every landing and labels file of one historical and one
# live day of the default scenario (seed 7, scale 0.2, starting 2026-11-01), as landed before
# the structural anomalies existed: adding them changed no byte of the default scenario.
DEFAULT_GOLDEN = "4d5300cb2d99b3ab6931ef36db29657f2c964bd179154c438791a8e55e81f27f"


def _data_digest(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        relative = path.relative_to(root).as_posix()
        if relative.startswith(("landing/_commits", "ground_truth/manifest")):
            continue  # markers list the files; their format may grow
        digest.update(relative.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def test_default_scenario_bytes_are_unchanged(tmp_path):
    config = ScenarioConfig(start_date=dt.date(2026, 11, 1), seed=7, scale=0.2)
    zone = LandingZone(str(tmp_path))
    zone.write_day(config, dt.date(2026, 11, 2))
    zone.write_day(config, dt.date(2026, 11, 16))
    assert _data_digest(tmp_path) == DEFAULT_GOLDEN


def test_a_day_receiving_replayed_copies_lands_the_same_bytes_alone(tmp_path):
    # The extended week's fourth day opens with copies replayed from the third day's last
    # batch: written alone (the third day never landed) it is byte-identical, and so are
    # days written by two workers.
    config = ScenarioConfig(start_date=dt.date(2026, 11, 1), scenario="extended", scale=0.05)
    days = [config.live_start + dt.timedelta(days=i) for i in range(2, 4)]
    LandingZone(str(tmp_path / "alone")).write_day(config, days[1])
    run_scenario(config, str(tmp_path / "both"), days=days, workers=2)
    alone = tmp_path / "alone"
    both = {p.relative_to(tmp_path / "both") for p in (tmp_path / "both").rglob("*.parquet")}
    for path in alone.rglob("*.parquet"):
        relative = path.relative_to(alone)
        assert relative in both
        assert path.read_bytes() == (tmp_path / "both" / relative).read_bytes(), relative
    first = plan_day(config, days[1])[0]
    labels = LandingZone(str(alone)).read_labels(Window.LIVE, days[1])
    replayed = labels.filter(pc.equal(labels["batch_id"], first.batch_id))
    assert replayed.num_rows > 0
    assert set(replayed["anomaly"].to_pylist()) == {"duplicate_records"}
