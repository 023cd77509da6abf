"""Tests of the command's process set-up: what it imports, its default worker count and how
signals become exceptions (the signals themselves are sent to real processes in
``test_workers.py``)."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest

from dtg_assets.simulation import process
from dtg_assets.simulation.cli import build_parser
from dtg_assets.simulation.process import StopSignals, Terminated

START = "2026-02-01"


HEAVY = ("pandas", "dagster")
PROBE = """
import runpy, sys
sys.argv = ["dtg", *sys.argv[1:]]
try:
    runpy.run_module("dtg_assets.simulation", run_name="__main__")
except SystemExit as exc:
    heavy = sorted({m.split(".")[0] for m in sys.modules if m.startswith(HEAVY)})
    print("HEAVY", heavy, exc.code)
"""


def test_generate_imports_neither_pandas_nor_dagster(tmp_path):
    probe = f"HEAVY = {HEAVY!r}\n{PROBE}"
    args = ["--data-root", str(tmp_path / "d"), "--start-date", START, "--scale", "0.01"]
    done = subprocess.run(
        [sys.executable, "-c", probe, "generate", *args, "--workers", "2"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "HEAVY [] 0", done.stdout[-500:]


def test_keeping_pandas_out_of_pyarrow_leaves_pandas_importable():
    code = (
        "import sys; from dtg_assets.simulation.process import keep_pandas_out; keep_pandas_out();"
        "import pyarrow as pa; pa.array([1, 2]); assert 'pandas' not in sys.modules;"
        "import pandas; print(pandas.DataFrame({'a': [1]}).shape)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "(1, 1)"


def test_workers_default_to_the_cpus_up_to_two(monkeypatch):
    monkeypatch.setattr(process.os, "sched_getaffinity", lambda _: {0, 1, 2, 3}, raising=False)
    assert process.default_workers() == 2
    monkeypatch.setattr(process.os, "sched_getaffinity", lambda _: {5}, raising=False)
    assert process.default_workers() == 1
    args = build_parser().parse_args(["generate", "--data-root", "x"])
    assert args.workers == 1  # the parser's default is taken when it is built


def test_stop_signals_raise_until_handled_and_remember_the_signal():
    stop = StopSignals()
    stop.check()  # nothing received: no-op
    with pytest.raises(KeyboardInterrupt):
        stop.handle(signal.SIGINT, None)
    with pytest.raises(KeyboardInterrupt):
        stop.check()  # still raised after the handler's exception was swallowed
    stop.handle(signal.SIGTERM, None)  # a second signal does not interrupt the clean-up
    with pytest.raises(KeyboardInterrupt):
        stop.check()
    with pytest.raises(Terminated):
        StopSignals().handle(signal.SIGTERM, None)
