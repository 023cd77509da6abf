"""Tests of the pipelined replay: batches staged ahead in a forked process, committed in order.

A replay as fast as possible with two or more workers stages the live batches in a forked process
(and itself, from the last, while it would wait: :mod:`dtg_assets.simulation.pipeline`) and
commits them in arrival order. The landing zone must be byte for
byte what ``generate`` writes (the extended preset too: drifted schemas, duplicates replayed into
the next batch); a stager's failure is raised in its batch's turn with every batch before it
committed and nothing of its own; a rerun resumes without rewriting; and a stager never outlives
the replay, even when the replay is killed with ``SIGKILL``.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import fsspec
import pytest

from dtg_assets.simulation import layout, pipeline
from dtg_assets.simulation.config import ScenarioConfig
from dtg_assets.simulation.landing import LandingZone
from dtg_assets.simulation.plan import Window
from dtg_assets.simulation.replay import live_plans, replay
from dtg_assets.simulation.scenario import run_scenario
from dtg_assets.simulation.workers import WorkerDiedError
from dtg_assets_tests.conftest import START, tree_hashes

SMALL = ScenarioConfig(start_date=START, historical_days=1, live_days=2, seed=11, scale=0.02)
EXTENDED = ScenarioConfig(start_date=START, historical_days=1, seed=12, scale=0.02,
                          scenario="extended")  # fmt: skip


def leftovers(root: Path) -> list[str]:
    """Temporaries (hidden files) under the landing zone and the ground truth."""
    return [str(p) for top in ("landing", "ground_truth") for p in (root / top).rglob(".*")]


def landed(root: Path, config: ScenarioConfig) -> list[str]:
    zone = LandingZone(str(root))
    days = sorted({p.day for p in live_plans(config)})
    return [b for d in days for b in zone.landed_batches(Window.LIVE, d)]


@pytest.mark.parametrize("config", [SMALL, EXTENDED], ids=["default", "extended"])
def test_a_pipelined_replay_lands_the_bytes_generate_writes(tmp_path, config):
    run_scenario(config, str(tmp_path / "generated"))
    printed = []

    def progress(plan, counts):
        printed.append((plan.batch_id, counts))

    result = replay(config, str(tmp_path / "replayed"), None, progress, workers=2)
    plans = live_plans(config)
    assert result.landed == [p.batch_id for p in plans] and result.skipped == []
    assert [b for b, _ in printed] == result.landed  # in arrival order, once each
    zone = LandingZone(str(tmp_path / "replayed"))
    manifest = zone.read_manifest(Window.LIVE, plans[-1].day).to_pylist()
    assert printed[-1][1] == {t: manifest[-1][f"rows_{t}"] for t in printed[-1][1]}
    assert tree_hashes(tmp_path / "replayed") == tree_hashes(tmp_path / "generated")
    assert leftovers(tmp_path / "replayed") == []


def test_a_pipelined_replay_into_a_process_private_store_lands_there(tmp_path):
    """The stager only encodes: this process writes, so even an in-memory root works."""
    fs = fsspec.filesystem("memory")
    name = tmp_path.name
    run_scenario(SMALL, f"memory://{name}-generated")
    result = replay(SMALL, f"memory://{name}-replayed", None, workers=2)
    assert result.landed == [p.batch_id for p in live_plans(SMALL)]

    def files(root: str) -> dict[str, str]:
        return {
            p[len(root) :]: hashlib.sha256(fs.cat_file(p)).hexdigest()
            for p in fs.find(root)
            if p[len(root) :].startswith(("/landing", "/ground_truth"))
        }

    replayed = files(f"/{name}-replayed")
    assert replayed and replayed == files(f"/{name}-generated")


def test_only_a_replay_as_fast_as_possible_with_workers_to_spare_is_pipelined(
    tmp_path, monkeypatch
):
    forks = []
    real = pipeline.Stager.__init__
    monkeypatch.setattr(pipeline.Stager, "__init__",
                        lambda self, *a: forks.append(len(a[2])) or real(self, *a))  # fmt: skip
    replay(SMALL, str(tmp_path / "one"), None, workers=1)
    assert forks == []
    replay(SMALL, str(tmp_path / "two"), None, workers=2)
    assert forks == [len(live_plans(SMALL))]
    assert tree_hashes(tmp_path / "one") == tree_hashes(tmp_path / "two")


def test_a_failing_stager_is_raised_in_its_turn_and_nothing_of_its_batch_lands(
    tmp_path, monkeypatch
):
    plans = live_plans(SMALL)
    bad = plans[5]
    real = pipeline.stage_in_memory

    def failing(zone, config, plan):
        if plan.batch_id == bad.batch_id:
            raise ValueError(f"cannot stage {plan.batch_id}: disk on fire")
        return real(zone, config, plan)

    # Set before the fork: the stager inherits it.
    monkeypatch.setattr(pipeline, "stage_in_memory", failing)
    with pytest.raises(ValueError, match=f"cannot stage {bad.batch_id}: disk on fire"):
        replay(SMALL, str(tmp_path), None, workers=2)
    assert landed(tmp_path, SMALL) == [p.batch_id for p in plans[:5]]
    assert leftovers(tmp_path) == []

    monkeypatch.setattr(pipeline, "stage_in_memory", real)
    result = replay(SMALL, str(tmp_path), None, workers=2)
    assert result.skipped == [p.batch_id for p in plans[:5]]
    assert result.landed == [p.batch_id for p in plans[5:]]
    run_scenario(SMALL, str(tmp_path / "generated"))
    assert tree_hashes(tmp_path) == tree_hashes(tmp_path / "generated")


def test_a_stager_dying_without_reporting_is_one_error_naming_the_batch(tmp_path, monkeypatch):
    plans = live_plans(SMALL)
    real = pipeline.stage_in_memory

    test = os.getpid()

    def dying(zone, config, plan):
        if plan.batch_id == plans[3].batch_id and os.getpid() != test:  # in the stager
            os._exit(9)
        return real(zone, config, plan)

    monkeypatch.setattr(pipeline, "stage_in_memory", dying)
    with pytest.raises(WorkerDiedError, match=r"died without reporting \(exit code 9\)$") as caught:
        replay(SMALL, str(tmp_path), None, workers=2)
    # The batches it staged but had not sent yet die with it: the first one not received is
    # named, and every batch before it is committed.
    ids = [p.batch_id for p in plans]
    named = str(caught.value).split("staging batch ")[1].split()[0]
    assert named in ids[:4]
    assert landed(tmp_path, SMALL) == ids[: ids.index(named)]
    assert leftovers(tmp_path) == []


def children(pid: int) -> set[int]:
    """The processes ``pid``'s main thread forked (one small read: the replay keeps running)."""
    return {int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()}


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] not in "ZX"
    except OSError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("stop", [signal.SIGKILL, signal.SIGINT], ids=["SIGKILL", "Ctrl-C"])
def test_a_pipelined_replay_stopped_stops_its_stager_and_the_rerun_resumes(tmp_path, stop):
    config = ScenarioConfig(start_date=START, seed=13, scale=0.5)  # the command's 14 + 7 days
    root = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("DTG_")}
    command = [sys.executable, "-m", "dtg_assets.simulation", "replay", "--data-root", str(root),
               "--speed", "max", "--workers", "2", "--start-date", START.isoformat(), "--seed",
               "13", "--scale", "0.5"]  # fmt: skip
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    plans = live_plans(config)
    first_day = root / layout.manifest_file(Window.LIVE, plans[0].day)
    deadline = time.monotonic() + 300
    while not first_day.exists():
        assert time.monotonic() < deadline and proc.poll() is None, proc.stderr.read()
        time.sleep(0.001)
    stagers = children(proc.pid)  # the history's workers are done
    proc.send_signal(stop)
    _, err = proc.communicate(timeout=60)
    assert len(stagers) == 1
    if stop == signal.SIGINT:  # one line; the replay stopped its stager before exiting
        assert proc.returncode == 130 and err.decode().count("\n") == 1, err
        assert "interrupted (Ctrl-C)" in err.decode() and not any(map(alive, stagers))
    deadline = time.monotonic() + 15
    while any(map(alive, stagers)):
        assert time.monotonic() < deadline, "a stager outlived the killed replay"
        time.sleep(0.05)
    before = landed(root, config)
    assert 0 < len(before) < len(plans), "the stop should come mid-replay"
    kept = {p: os.stat(p) for p in (root / "landing").rglob("*.parquet")}

    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    lines = [line.split()[0] for line in done.stdout.splitlines() if " landed: " in line]
    assert lines == [p.batch_id for p in plans if p.batch_id not in before]
    for path, stat in kept.items():  # committed batches are not rewritten
        after = os.stat(path)
        assert (after.st_ino, after.st_mtime_ns) == (stat.st_ino, stat.st_mtime_ns), path
    assert leftovers(root) == []
    run_scenario(config, str(tmp_path / "generated"), workers=2)
    assert tree_hashes(root) == tree_hashes(tmp_path / "generated")
