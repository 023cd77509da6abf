"""``dtg-simulate replay``: live batches landing one by one, paced, seen whole by a streaming
reader in another process, and resumed exactly after Ctrl-C or SIGKILL.

The streaming consumer is the one the README describes: it polls the commit records
(``landing/_commits/*.json``), takes a batch as landed the first time a record lists its files
(grouped by the batch id in their names), and reads those files. Every test compares the final
landing zone with ``generate``'s, file by file.
"""

from __future__ import annotations

import datetime as dt
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from dtg_assets.simulation import layout
from dtg_assets.simulation.config import ScenarioConfig
from dtg_assets.simulation.landing import LandingZone
from dtg_assets.simulation.plan import Window, plan_day, scenario_days
from dtg_assets.simulation.replay import live_plans, replay
from dtg_assets_tests.conftest import START, tree_hashes

SCALE = "0.05"
SCENARIO = ["--start-date", START.isoformat(), "--seed", "5", "--scale", SCALE, "--workers", "1"]
CONFIG = ScenarioConfig(start_date=START, seed=5, scale=float(SCALE))
LIVE = live_plans(CONFIG)  # 56 batches over 7 days
# The live week (6 days 21 h from the first landing to the last) in about five seconds.
FAST = "120000"


def command(name: str, root: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "dtg_assets.simulation", name, "--data-root", str(root),
            *SCENARIO, *extra]  # fmt: skip


def env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("DTG_")}


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("generated")
    done = subprocess.run(command("generate", root), env=env(), capture_output=True, text=True,
                          timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return tree_hashes(root)


def committed_batches(root: Path) -> dict[str, list[dict]]:
    """Batch id -> the files the commit records list for it (what a streaming reader sees)."""
    batches: dict[str, list[dict]] = {}
    for record in sorted((root / layout.COMMITS).glob("*.json")):
        for entry in json.loads(record.read_bytes())["files"]:
            name = layout.parse_landing_name(entry["path"].rpartition("/")[2])
            batches.setdefault(name.batch_id, []).append(entry)
    return batches


def consume(root: str, done_file: str, results) -> None:
    """The streaming consumer: poll the commit records; read each new batch's files once."""
    seen: list[str] = []
    first: dict[str, list[dict]] = {}
    problems: list[str] = []
    polls_with_news = 0
    Path(done_file + ".ready").touch()
    while True:
        finished = os.path.exists(done_file)  # one last poll after the replay has ended
        batches = committed_batches(Path(root)) if os.path.isdir(root) else {}
        polls_with_news += bool(set(batches) - set(first))
        for batch in sorted(set(batches) - set(first)):
            first[batch] = sorted(batches[batch], key=lambda f: f["path"])
            seen.append(batch)
            for entry in first[batch]:
                rows = pq.ParquetFile(Path(root) / entry["path"]).metadata.num_rows
                if rows != entry["rows"]:
                    problems.append(f"{entry['path']}: {rows} rows, listed {entry['rows']}")
        if finished:
            break
        time.sleep(0.005)
    final = committed_batches(Path(root))
    changed = [b for b in first if sorted(final[b], key=lambda f: f["path"]) != first[b]]
    results.put((seen, problems, changed, polls_with_news))


def test_a_consumer_in_another_process_sees_each_batch_once_in_order_and_whole(tmp_path, generated):
    root, done_file = tmp_path / "data", tmp_path / "done"
    results = multiprocessing.get_context("spawn").Queue()
    consumer = multiprocessing.get_context("spawn").Process(
        target=consume, args=(str(root), str(done_file), results)
    )
    consumer.start()
    deadline = time.monotonic() + 120
    while not Path(f"{done_file}.ready").exists():
        assert time.monotonic() < deadline
        time.sleep(0.01)
    done = subprocess.run(command("replay", root, "--speed", FAST), env=env(),
                          capture_output=True, text=True, timeout=600)  # fmt: skip
    done_file.touch()
    seen, problems, changed, polls_with_news = results.get(timeout=120)
    consumer.join(timeout=60)
    assert done.returncode == 0, done.stderr
    assert problems == [] and changed == []
    history = [p.batch_id for d, w in scenario_days(CONFIG) if w is Window.HISTORICAL
               for p in plan_day(CONFIG, d, w)]  # fmt: skip
    assert seen == history + [p.batch_id for p in LIVE]  # once each, in arrival order
    assert polls_with_news >= 20  # it did read while the batches arrived
    # One line per live batch as it lands, in order, with its rows and anomalies.
    lines = [line for line in done.stdout.splitlines() if " landed: " in line]
    assert [line.split()[0] for line in lines] == [p.batch_id for p in LIVE]
    assert lines[1].endswith("anomalies=null_burst") and lines[0].endswith("anomalies=none")
    assert "replayed 56 live batches (0 already landed), 14 historical days" in done.stdout
    assert tree_hashes(root) == generated


def test_sigkill_mid_replay_then_rerun_resumes_without_rewriting(tmp_path, generated):
    root = tmp_path / "data"
    proc = subprocess.Popen(command("replay", root, "--speed", FAST), env=env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    zone = LandingZone(str(root))
    deadline = time.monotonic() + 300
    third = LIVE[2 * 8 + 3]  # a few batches into the third live day
    while third.batch_id not in zone.landed_batches(Window.LIVE, third.day):
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    landed = [p.batch_id for p in LIVE if p.batch_id in zone.landed_batches(Window.LIVE, p.day)]
    assert 20 <= len(landed) < len(LIVE), "the kill should land mid-replay"
    committed = committed_batches(root)
    kept = {e["path"]: os.stat(root / e["path"]) for b in landed for e in committed.get(b, [])}

    done = subprocess.run(command("replay", root, "--speed", "max"), env=env(),
                          capture_output=True, text=True, timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = [line.split()[0] for line in done.stdout.splitlines() if " landed: " in line]
    assert lines == [p.batch_id for p in LIVE if p.batch_id not in landed]
    assert f"({len(landed)} already landed), 0 historical days (14 already" in done.stdout
    for path, before in kept.items():  # committed batches are not rewritten
        after = os.stat(root / path)
        assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns), path
    assert not list(root.rglob("*.tmp"))
    assert tree_hashes(root) == generated


def test_ctrl_c_stops_promptly_with_one_line_and_the_rerun_finishes(tmp_path, generated):
    root = tmp_path / "data"
    # An hour a second: batches three seconds apart, so the interrupt comes during a wait.
    proc = subprocess.Popen(command("replay", root, "--speed", "3600"), env=env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    lines = []
    while len(lines) < 2:
        line = proc.stdout.readline()
        assert line, proc.stderr.read()
        lines.append(line)
    assert lines[1].startswith(f"{LIVE[0].batch_id} landed: ")
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    rest, err = proc.communicate(timeout=60)
    assert time.monotonic() - sent < 2.5  # before the next batch is due
    assert proc.returncode == 130
    assert err.strip().count("\n") == 0 and "interrupted (Ctrl-C)" in err
    assert " landed: " not in rest

    done = subprocess.run(command("replay", root, "--speed", "max"), env=env(),
                          capture_output=True, text=True, timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "replayed 55 live batches (1 already landed)" in done.stdout
    assert tree_hashes(root) == generated


@pytest.mark.parametrize("speed", ["0", "-2", "abc", "inf", "nan", ""])
def test_a_bad_speed_is_one_line_naming_it(tmp_path, speed):
    done = subprocess.run(command("replay", tmp_path / "data", "--speed", speed), env=env(),
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1
    assert f"--speed: {speed!r}: must be a positive number" in done.stderr
    assert "or max" in done.stderr
    assert not (tmp_path / "data").exists()


def test_pacing_runs_from_the_first_batch_this_run_lands(tmp_path):
    config = ScenarioConfig(start_date=START, historical_days=1, live_days=2, seed=3, scale=0.02)
    plans = live_plans(config)
    now = [100.0]
    landed_at: dict[str, float] = {}

    def sleep(seconds: float) -> None:
        assert seconds > 0
        now[0] += seconds

    def record(plan, counts):
        landed_at[plan.batch_id] = now[0]

    # The first five batches land, then the replay is stopped (as Ctrl-C would).
    def stop_after_five():
        if len(landed_at) == 5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        replay(config, str(tmp_path), 3600.0, record, check=stop_after_five,
               clock=lambda: now[0], sleep=sleep)  # fmt: skip
    # Three simulated hours apart: three wall-clock seconds at speed 3600, from the first.
    assert landed_at == {p.batch_id: 100.0 + 3 * i for i, p in enumerate(plans[:5])}

    landed_at.clear()
    now[0] = 1000.0
    result = replay(config, str(tmp_path), 3600.0, record, clock=lambda: now[0], sleep=sleep)
    assert result.skipped == [p.batch_id for p in plans[:5]] and result.history_landed == []
    rest = plans[5:]
    origin = rest[0].ingested_at
    assert landed_at == {
        p.batch_id: 1000.0 + (p.ingested_at - origin) / dt.timedelta(hours=1) for p in rest
    }
    assert result.landed == [p.batch_id for p in rest]
