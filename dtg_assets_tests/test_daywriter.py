"""Batch-level commits: a day landed batch by batch is the day landed at once, byte for byte.

``land_batches`` commits each batch on its own (landing files, the day's labels, commit record and
manifest rewritten with the batches so far). These tests land the ``extended`` preset's first live
days (schema drift, duplicates replayed into the next batch and the next day, missing batches)
batch by batch and compare every file with a day-at-once write; then re-landing, skipping landed
batches, partial-day checks, a failure mid-batch, another configuration and concurrent writers.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
from pathlib import Path

import pytest

from dtg_assets.simulation import layout, storage
from dtg_assets.simulation.config import ScenarioConfig
from dtg_assets.simulation.daywriter import BatchWriter, land_batches
from dtg_assets.simulation.landing import LandingZone
from dtg_assets.simulation.plan import Window, plan_day, scenario_days
from dtg_assets.simulation.roots import DataRootError
from dtg_assets.simulation.schemas import TABLES
from dtg_assets.simulation.verify import verify_day
from dtg_assets_tests.conftest import START

# Live days 1-4 of the extended week: schema_drift, duplicate_records, missing_batch, a
# duplicate in a day's last batch replayed into the next day's first.
CONFIG = ScenarioConfig(
    start_date=START, historical_days=1, live_days=4, seed=7, scale=0.02, scenario="extended"
)
OTHER = CONFIG.model_copy(update={"seed": 8})
DAY = START + dt.timedelta(days=2)  # schema_drift, duplicate_records, missing_batch
MISSING_FAILS = {"all_scheduled_batches_present", "visitors_match_schedule"}


def tree(root: Path) -> dict[str, str]:
    """``relative path -> sha256`` of every file under the data root."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def stats(root: Path) -> dict[str, tuple[int, int]]:
    """``relative path -> (inode, mtime ns)`` of every file under the data root."""
    return {
        str(p.relative_to(root)): (p.stat().st_ino, p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def at_once(tmp_path_factory) -> dict[str, str]:
    """The scenario written day at once."""
    root = tmp_path_factory.mktemp("at_once")
    zone = LandingZone(str(root))
    for day, window in scenario_days(CONFIG):
        zone.write_day(CONFIG, day, window)
    return tree(root)


def land_by_batch(root: Path) -> list[str]:
    """Land the scenario one batch per call, in arrival order; the batch ids landed."""
    zone = LandingZone(str(root))
    landed = []
    for day, window in scenario_days(CONFIG):
        for plan in plan_day(CONFIG, day, window):
            result = zone.write_batches(CONFIG, day, [plan.index], window)
            assert result.landed == [plan.batch_id]
            assert zone.landed_batches(window, day)[-1] == plan.batch_id
            assert result.complete == (plan.index == result.planned - 1)
            landed += result.landed
    return landed


def test_batch_by_batch_equals_day_at_once_byte_for_byte(tmp_path, at_once):
    landed = land_by_batch(tmp_path)
    assert landed == [p.batch_id for d, w in scenario_days(CONFIG) for p in plan_day(CONFIG, d, w)]
    assert tree(tmp_path) == at_once
    assert len(at_once) > 100 and not any(layout.LOCK_DIR in p for p in at_once)


def test_relanding_is_idempotent_and_skip_landed_rewrites_nothing(tmp_path, at_once):
    zone = LandingZone(str(tmp_path))
    zone.write_batches(CONFIG, DAY, [0, 1, 2, 3])
    zone.write_batches(CONFIG, DAY, [2])  # a batch again: the same bytes
    for day, window in scenario_days(CONFIG):
        zone.write_batches(CONFIG, day, None, window)
    assert tree(tmp_path) == at_once
    zone.write_batches(CONFIG, DAY, [5])
    zone.write_day(CONFIG, DAY)  # a whole day again, at once
    assert tree(tmp_path) == at_once

    before = stats(tmp_path)
    for day, window in scenario_days(CONFIG):
        result = zone.write_batches(CONFIG, day, None, window, skip_landed=True)
        assert result.landed == [] and result.complete
        assert result.manifest.num_rows == result.planned
    assert stats(tmp_path) == before

    # A landed batch whose file was deleted, or one truncated, is landed again, not skipped.
    manifest = zone.read_manifest(Window.LIVE, DAY)
    broken = {row["batch_id"]: row["files"][0]["path"] for row in manifest.to_pylist()[2:4]}
    (ids, paths) = zip(*broken.items(), strict=True)
    (tmp_path / paths[0]).unlink()
    (tmp_path / paths[1]).write_bytes((tmp_path / paths[1]).read_bytes()[:-10])
    result = zone.write_batches(CONFIG, DAY, None, skip_landed=True)
    assert result.landed == list(ids)
    assert tree(tmp_path) == at_once


def test_a_partial_day_checks_what_is_due_and_names_a_missing_batch(tmp_path):
    zone = LandingZone(str(tmp_path))
    plans = plan_day(CONFIG, DAY)
    # Before its first batch is due, a day with nothing landed passes every check; once one
    # is due, its absence fails.
    early = verify_day(zone, CONFIG, DAY, Window.LIVE, due=[])
    assert [o.spec.name for o in early if not o.passed] == []
    due = verify_day(zone, CONFIG, DAY, Window.LIVE, due=[0])
    assert "never written" in {o.spec.name: o for o in due}["rows_match_manifest"].description
    zone.write_batches(CONFIG, DAY, range(5))  # schema_drift, duplicates, missing_batch
    assert zone.landed_batches(Window.LIVE, DAY) == [p.batch_id for p in plans[:5]]
    outcomes = verify_day(zone, CONFIG, DAY, Window.LIVE, due=range(5))
    failed = [(o.spec.asset, o.spec.name, o.description) for o in outcomes if not o.passed]
    assert [f for f in failed if f[1] != "funnel_ratios_within_bounds"] == []

    # A due batch not landed fails the presence check (and its visitors are missing), named.
    late = verify_day(zone, CONFIG, DAY, Window.LIVE, due=range(6))
    failed = {o.spec.name: o for o in late if not o.passed}
    assert set(failed) - {"funnel_ratios_within_bounds"} == MISSING_FAILS
    assert plans[5].batch_id in failed["visitors_match_schedule"].description
    assert plans[5].batch_id in failed["all_scheduled_batches_present"].description
    assert plans[6].batch_id not in failed["all_scheduled_batches_present"].description

    # A batch landed out of order is checked too; the gap before it is named.
    zone.write_batches(CONFIG, DAY, [6])
    late = verify_day(zone, CONFIG, DAY, Window.LIVE, due=range(5))
    failed = {o.spec.name: o for o in late if not o.passed}
    assert set(failed) - {"funnel_ratios_within_bounds"} == MISSING_FAILS
    assert plans[5].batch_id in failed["all_scheduled_batches_present"].description
    zone.write_batches(CONFIG, DAY, [5, 7])
    whole = verify_day(zone, CONFIG, DAY, Window.LIVE)
    assert [o.spec.name for o in whole if not o.passed and o.spec.severity == "ERROR"] == []


def test_a_failure_mid_batch_leaves_the_earlier_batches_intact(tmp_path, monkeypatch, at_once):
    zone = LandingZone(str(tmp_path))
    plans = plan_day(CONFIG, DAY)
    zone.write_batches(CONFIG, DAY, range(3))
    before = tree(tmp_path)
    # Batch 1 is drifted on purpose (read_day refuses it): compare what readers are given.
    expected = {t: zone.day_files(t, Window.LIVE, DAY) for t in TABLES}
    labels = zone.read_labels(Window.LIVE, DAY)
    real = storage.ParquetSink.write
    calls = [0]

    def fails_on_the_fourth_write(self, table):
        calls[0] += 1
        if calls[0] == 4:
            raise OSError(28, "No space left on device")
        real(self, table)

    monkeypatch.setattr(storage.ParquetSink, "write", fails_on_the_fourth_write)
    with pytest.raises(DataRootError) as error:
        zone.write_batches(CONFIG, DAY, [3, 4])
    monkeypatch.undo()
    message = str(error.value)
    assert "\n" not in message and "No space left on device" in message
    assert f"writing live batch {plans[3].batch_id}" in message
    # Nothing of batch 3 is visible; readers see exactly the three committed batches.
    assert tree(tmp_path) == before
    assert zone.landed_batches(Window.LIVE, DAY) == [p.batch_id for p in plans[:3]]
    assert {t: zone.day_files(t, Window.LIVE, DAY) for t in TABLES} == expected
    assert zone.read_labels(Window.LIVE, DAY).equals(labels)
    assert not list(tmp_path.rglob("*.tmp"))

    result = zone.write_batches(CONFIG, DAY, skip_landed=True)
    assert result.landed == [p.batch_id for p in plans[3:]]
    for day, window in scenario_days(CONFIG):
        zone.write_batches(CONFIG, day, None, window, skip_landed=True)
    assert tree(tmp_path) == at_once


def test_another_configuration_replaces_the_day_only_from_its_first_batch(tmp_path):
    zone = LandingZone(str(tmp_path))
    zone.write_batches(CONFIG, DAY, range(3))
    before = tree(tmp_path)
    with pytest.raises(ValueError, match="land the day again from its first batch") as error:
        zone.write_batches(OTHER, DAY, [3])
    assert "\n" not in str(error.value) and plan_day(OTHER, DAY)[3].batch_id in str(error.value)
    assert tree(tmp_path) == before

    result = zone.write_batches(OTHER, DAY, [0])
    token = layout.token_of(layout.config_hash(CONFIG, Window.LIVE))
    assert result.removed and all(f".{token}." in p for p in result.removed)
    assert not any(f".{token}." in p for p in tree(tmp_path))
    assert set(result.manifest.column("config_hash").to_pylist()) == {
        layout.config_hash(OTHER, Window.LIVE)
    }
    assert zone.landed_batches(Window.LIVE, DAY) == [plan_day(OTHER, DAY)[0].batch_id]


def test_bad_batch_index_is_one_line(tmp_path):
    zone = LandingZone(str(tmp_path))
    with pytest.raises(ValueError, match=r"^batch index 8 is not one of live day .* 0 to 7$"):
        zone.write_batches(CONFIG, DAY, [1, 8])
    assert not (tmp_path / "landing").exists()


def test_concurrent_batch_writers_of_a_day_lose_no_batch(tmp_path, at_once):
    zone = LandingZone(str(tmp_path))
    barrier = threading.Barrier(4)
    errors = []

    def land(indexes):
        try:
            barrier.wait()
            LandingZone(str(tmp_path)).write_batches(CONFIG, DAY, indexes)
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=land, args=([i, i + 4],)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert zone.landed_batches(Window.LIVE, DAY) == [p.batch_id for p in plan_day(CONFIG, DAY)]
    assert not any((tmp_path / layout.LOCK_DIR).iterdir())
    for day, window in scenario_days(CONFIG):
        zone.write_batches(CONFIG, day, None, window, skip_landed=True)
    assert tree(tmp_path) == at_once


def test_an_object_store_lands_batch_by_batch_the_bytes_of_the_day_at_once():
    config = CONFIG.model_copy(update={"live_days": 2})
    day = START + dt.timedelta(days=2)
    at_once, by_batch = LandingZone("memory://dtg-at-once"), LandingZone("memory://dtg-batches")
    at_once.write_day(config, day)
    for index in range(8):
        by_batch.write_batches(config, day, [index])

    def files(zone: LandingZone) -> dict[str, bytes]:
        found = zone.fs.find(zone.root)
        return {p.removeprefix(zone.root): zone.fs.cat_file(p) for p in found}

    assert files(by_batch) == files(at_once)
    assert len(files(at_once)) > 30


def test_a_kept_writer_sees_what_another_writer_committed_in_between(tmp_path):
    root, reference = tmp_path / "kept", tmp_path / "reference"
    zone = LandingZone(str(root))
    zone.preflight()
    plans = plan_day(CONFIG, DAY)
    writer = BatchWriter(zone)
    try:
        land_batches(zone, CONFIG, DAY, [0], writer=writer)
        land_batches(zone, CONFIG, DAY, [1], writer=writer)  # from its memory of batch 0
        LandingZone(str(root)).write_batches(CONFIG, DAY, [2])  # another writer
        result = land_batches(zone, CONFIG, DAY, [3], writer=writer)
    finally:
        writer.close()
    assert result.manifest.column("batch_id").to_pylist() == [p.batch_id for p in plans[:4]]
    LandingZone(str(reference)).write_batches(CONFIG, DAY, range(4))
    assert tree(root) == tree(reference)


def test_a_kept_writer_cleans_up_a_dead_writers_leftovers_by_the_days_last_batch(tmp_path):
    zone = LandingZone(str(tmp_path))
    zone.preflight()
    plans = plan_day(CONFIG, DAY)
    writer = BatchWriter(zone)
    try:
        first = land_batches(zone, CONFIG, DAY, [0], writer=writer)
        # A writer of the day killed after its first file: a temporary nobody's lock holds.
        landed = first.manifest.to_pylist()[0]["files"][0]["path"]
        dead = Path(layout.temporary_name(zone.path(landed), "deadbeef"))
        dead.write_bytes(b"torn")
        # Between the day's first and last batches, the kept writer does not list the day.
        land_batches(zone, CONFIG, DAY, range(1, len(plans) - 1), writer=writer)
        assert dead.exists()
        last = land_batches(zone, CONFIG, DAY, [len(plans) - 1], writer=writer)
    finally:
        writer.close()
    assert str(dead) in last.removed and not dead.exists()
    reference = tmp_path.parent / f"{tmp_path.name}-reference"
    LandingZone(str(reference)).write_day(CONFIG, DAY)
    assert tree(tmp_path) == tree(reference)
