"""Tests of the forked day writers with real processes: killed, interrupted or failing mid-run,
the command leaves no worker behind and every day it committed is byte-identical to a clean
run's.

Each test starts ``python -m dtg_assets.simulation generate`` in its own session, waits until a
first day is committed, signals it, then waits (bounded) for the command and every worker it
forked to be gone. Worker pids are read from ``/proc`` (Linux).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import multiprocessing
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dtg_assets.simulation.config import ScenarioConfig
from dtg_assets.simulation.landing import LandingZone
from dtg_assets.simulation.scenario import run_scenario
from dtg_assets.simulation.workers import WorkerDiedError

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")

START = "2026-11-01"
# Big enough that a run lasts seconds, so it is caught with days still to write.
SCALE = "3"
WAIT_S = 60.0


def children(pid: int) -> set[int]:
    """Pids of the live (not zombie) processes whose parent is ``pid``."""
    found = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            if int(fields[1]) == pid and fields[0] != "Z":
                found.add(int(entry))
    return found


def alive(pid: int) -> bool:
    """Whether a process exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def wait_until(condition, what: str, timeout: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out after {timeout:.0f} s waiting for {what}"
        time.sleep(0.02)


def manifests(root: Path) -> list[Path]:
    directory = root / "ground_truth" / "manifest"
    return sorted(directory.glob("*.parquet")) if directory.is_dir() else []


def start(root: Path, workers: int) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "dtg_assets.simulation", "generate", "--data-root", str(root)]
    cmd += ["--start-date", START, "--scale", SCALE, "--workers", str(workers)]
    return subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )


def day_files(root: Path, name: str) -> dict[str, str]:
    """sha256 of every file of one committed day (``<window>-YYYYMMDD``), by relative path."""
    prefix = name.removesuffix(".parquet")
    paths = list((root / "landing").glob(f"*/date=*/{prefix}-*.parquet"))
    paths += [root / "ground_truth" / d / name for d in ("labels", "manifest")]
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in paths
        if p.exists()
    }


def assert_committed_days_are_clean(root: Path, clean_root: Path) -> int:
    """Every day with a manifest matches a clean write of that day; returns how many."""
    config = ScenarioConfig(start_date=START, scale=float(SCALE))
    names = [p.name for p in manifests(root)]
    days = [dt.date.fromisoformat(f"{n[-16:-12]}-{n[-12:-10]}-{n[-10:-8]}") for n in names]
    run_scenario(config, str(clean_root), days=days)
    for name in names:
        got, want = day_files(root, name), day_files(clean_root, name)
        assert got == want, name
        assert len(want) > 4
    temporaries = [p for p in root.rglob("*.tmp")]
    assert temporaries == [], temporaries
    return len(names)


def run_and_signal(root: Path, workers: int, send) -> tuple[subprocess.Popen, set[int]]:
    """Start the command, wait for a first committed day, record its workers, signal it."""
    process = start(root, workers)
    try:
        wait_until(lambda: manifests(root) or process.poll() is not None, "a committed day")
        assert process.poll() is None, process.communicate()
        forked = children(process.pid)
        assert len(forked) == (workers if workers > 1 else 0), forked
        send(process)
        wait_until(lambda: process.poll() is not None, "the command to exit")
        wait_until(lambda: not any(alive(p) for p in forked), "every worker to exit")
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        raise
    return process, forked


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_workers_die_with_a_killed_parent(tmp_path, sig):
    root = tmp_path / "data"
    process, forked = run_and_signal(root, 2, lambda p: os.kill(p.pid, sig))
    assert process.returncode == (-signal.SIGKILL if sig == signal.SIGKILL else 143)
    # No worker lingers, nor commits days after its parent is gone.
    time.sleep(1.0)
    count = len(manifests(root))
    assert not any(alive(p) for p in forked)
    time.sleep(1.0)
    assert len(manifests(root)) == count < 21
    assert assert_committed_days_are_clean(root, tmp_path / "clean") == count
    if sig == signal.SIGTERM:
        err = process.stderr.read().splitlines()
        assert len(err) == 1 and "interrupted (SIGTERM)" in err[0], err


@pytest.mark.parametrize("workers", [1, 2])
def test_ctrl_c_stops_the_command_and_its_workers_with_one_line(tmp_path, workers):
    root = tmp_path / "data"
    # Ctrl-C in a terminal signals the whole foreground process group.
    process, _ = run_and_signal(root, workers, lambda p: os.killpg(p.pid, signal.SIGINT))
    out, err = process.communicate(timeout=WAIT_S)
    assert process.returncode == 130
    assert err.splitlines() == [
        "error: interrupted (Ctrl-C); the days already written are complete, "
        "the day in progress was not written"
    ]
    assert "Traceback" not in out
    count = assert_committed_days_are_clean(root, tmp_path / "clean")
    assert 1 <= count < 21


def failing_write_day(fail_on: dt.date, how: str):
    original = LandingZone.write_day

    def write_day(self, config, day, window=None, progress=None):
        if day == fail_on:
            if how == "exit":
                os._exit(3)  # a worker dying without a word (e.g. killed by the OOM killer)
            raise ValueError(f"disk says no on {day}")
        return original(self, config, day, window, progress)

    return write_day


@pytest.mark.parametrize(
    ("how", "error", "message"),
    [
        ("raise", ValueError, "disk says no on 2026-11-03"),
        ("exit", WorkerDiedError, "died without reporting (exit code 3)"),
    ],
)
def test_a_failing_worker_stops_the_run_with_its_error(tmp_path, monkeypatch, how, error, message):
    monkeypatch.setattr(LandingZone, "write_day", failing_write_day(dt.date(2026, 11, 3), how))
    config = ScenarioConfig(start_date=START, scale=0.02)
    before = children(os.getpid())  # other tests' helpers (e.g. a resource tracker) may live on
    with pytest.raises(error, match=re.escape(message)):
        run_scenario(config, str(tmp_path), workers=2)
    assert multiprocessing.active_children() == []
    assert children(os.getpid()) <= before
    assert not (tmp_path / "ground_truth" / "manifest" / "historical-20261103.parquet").exists()
    assert list(tmp_path.rglob("*.tmp")) == []
