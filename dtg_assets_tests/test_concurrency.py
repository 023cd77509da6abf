"""Concurrent writers: parallel multi-run backfills and two writers of the same day at once.

A backfill of all 21 partitions run as one Dagster run per partition, several runs at a time in
separate processes, must land exactly the bytes of the single-run backfill; two writers of the
same day at once (threads with a forced interleaving, processes, and Dagster runs) must end with
one complete copy of the day: every file equal to a lone write's, no duplicate rows, no
temporaries left, and neither writer failing because the other cleaned up its files.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
import os
import threading
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pyarrow.dataset as ds
import pytest

from dtg_assets.simulation.config import ScenarioConfig
from dtg_assets.simulation.landing import LOCK_DIR, LandingZone
from dtg_assets.simulation.plan import Window
from dtg_assets.simulation.schemas import TABLES
from dtg_assets_tests.conftest import DAGSTER_START, LIVE_DAY, START, tree_hashes

SCALE = 0.02
HISTORICAL = [(DAGSTER_START + dt.timedelta(days=i)).isoformat() for i in range(14)]
LIVE = [(DAGSTER_START + dt.timedelta(days=14 + i)).isoformat() for i in range(7)]
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"


def temporaries(root: Path) -> list[str]:
    return sorted(str(p) for p in root.rglob("*.tmp"))


def _materialize(window: str, root: str, scale: float, partition: str | None = None) -> bool:
    """One Dagster run of a window's landing assets (a partition, or the whole window)."""
    import dagster as dg

    from dtg_assets.assets import historical_landing, live_landing
    from dtg_assets_tests.conftest import dagster_resources

    asset = historical_landing if window == "historical" else live_landing
    keys = HISTORICAL if window == "historical" else LIVE
    tags = None if partition else {RANGE_START_TAG: keys[0], RANGE_END_TAG: keys[-1]}
    result = dg.materialize(
        [asset],
        partition_key=partition,
        tags=tags,
        resources=dagster_resources(root, scale=scale),
        raise_on_error=False,
    )
    return result.success


def _spawn_pool(workers: int) -> ProcessPoolExecutor:
    # spawn, not fork: the test process may hold threads (a moto server, Dagster's) whose locks
    # a forked child would inherit.
    return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))


@pytest.fixture(scope="module")
def pool():
    with _spawn_pool(2) as executor:
        # Warm up: each worker imports Dagster and the definitions once.
        list(executor.map(_warm, range(2)))
        yield executor


def _warm(_: int) -> int:
    import dtg_assets.definitions  # noqa: F401

    return os.getpid()


def test_concurrent_multi_run_backfill_equals_the_single_run_backfill(tmp_path, pool):
    single, multi = tmp_path / "single", tmp_path / "multi"
    assert _materialize("historical", str(single), SCALE)
    assert _materialize("live", str(single), SCALE)

    # One run per partition, two runs executing at any time, in separate processes.
    jobs = [("historical", k) for k in HISTORICAL] + [("live", k) for k in LIVE]
    futures = [pool.submit(_materialize, w, str(multi), SCALE, k) for w, k in jobs]
    assert all(f.result(timeout=600) for f in futures)

    expected = tree_hashes(single)
    # 21 days: 14 historical + 7 live manifests, and every table's files.
    assert sum(p.startswith("ground_truth/manifest/") for p in expected) == 21
    assert all(any(p.startswith(f"landing/{t}/") for p in expected) for t in TABLES)
    assert tree_hashes(multi) == expected
    assert temporaries(multi) == []
    assert not any((multi / LOCK_DIR).iterdir())


def test_two_dagster_runs_of_the_same_partition_at_once_leave_one_copy(tmp_path, pool):
    alone, both = tmp_path / "alone", tmp_path / "both"
    assert _materialize("live", str(alone), 0.2, LIVE_DAY.isoformat())
    runs = [pool.submit(_materialize, "live", str(both), 0.2, LIVE_DAY.isoformat()) for _ in "ab"]
    assert [r.result(timeout=600) for r in runs] == [True, True]
    assert tree_hashes(both) == tree_hashes(alone)
    assert temporaries(both) == []
    # No duplicate rows: as many rows as the day's manifest says, read as a reader would.
    zone = LandingZone(str(both))
    manifest = zone.read_manifest(Window.LIVE, LIVE_DAY)
    for table in TABLES:
        read = ds.dataset(both / "landing" / table, partitioning="hive").to_table()
        assert read.num_rows == sum(manifest[f"rows_{table}"].to_pylist()) > 0


@pytest.fixture(scope="module")
def live_config() -> ScenarioConfig:
    return ScenarioConfig(start_date=START, historical_days=1, live_days=1, seed=5, scale=0.1)


LIVE_OF_CONFIG = START + dt.timedelta(days=1)


def test_a_writer_never_deletes_a_concurrent_writers_temporaries(tmp_path, live_config):
    reference = tmp_path / "reference"
    LandingZone(str(reference)).write_day(live_config, LIVE_OF_CONFIG)
    root = tmp_path / "root"
    paused, resume = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def hold_after_first_batch(plan, counts):
        if not paused.is_set():
            paused.set()
            assert resume.wait(60)

    def slow_writer():
        try:
            LandingZone(str(root)).write_day(
                live_config, LIVE_OF_CONFIG, None, hold_after_first_batch
            )
        except BaseException as exc:  # reported to the test thread
            errors.append(exc)

    thread = threading.Thread(target=slow_writer)
    thread.start()
    try:
        assert paused.wait(60)
        pending = set(temporaries(root))
        assert pending, "the paused writer should have temporaries on disk"
        # A whole second write of the same day, committing while the first is half-way.
        LandingZone(str(root)).write_day(live_config, LIVE_OF_CONFIG)
        assert pending <= set(temporaries(root)), "the live writer's temporaries were deleted"
    finally:
        resume.set()
        thread.join(120)
    assert errors == []
    assert tree_hashes(root) == tree_hashes(reference)
    assert temporaries(root) == []


def _write_day_at(root: str, config: ScenarioConfig, day: dt.date, barrier) -> int:
    barrier.wait(60)
    result = LandingZone(root).write_day(config, day)
    return len(result.manifest)


def test_two_processes_writing_the_same_day_end_with_one_complete_copy(tmp_path, live_config):
    reference = tmp_path / "reference"
    LandingZone(str(reference)).write_day(live_config, LIVE_OF_CONFIG)
    expected = tree_hashes(reference)
    root = tmp_path / "root"
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(2, mp_context=context) as executor, context.Manager() as manager:
        for _ in range(2):
            barrier = manager.Barrier(2)
            futures = [
                executor.submit(_write_day_at, str(root), live_config, LIVE_OF_CONFIG, barrier)
                for _ in range(2)
            ]
            assert [f.result(timeout=300) for f in futures] == [8, 8]
            assert tree_hashes(root) == expected
            assert temporaries(root) == []
