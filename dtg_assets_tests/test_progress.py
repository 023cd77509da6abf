"""Progress reporting: the engine command's bar on a terminal, silence elsewhere, Dagster logs.

The bar's text is pinned through :func:`format_progress`; :class:`ProgressBar` is driven with a
fake clock and fake streams (terminal or not); the command itself runs once with stderr on a
pseudo-terminal and once on a pipe; a Dagster run logs one line per day with its rows/s.
"""

from __future__ import annotations

import io
import os
import pty
import re
import subprocess
import sys

import dagster as dg

from dtg_assets.assets import historical_landing
from dtg_assets.simulation.config import ScenarioConfig
from dtg_assets.simulation.plan import plan_day, scenario_days
from dtg_assets.simulation.progress import ProgressBar, format_duration, format_progress
from dtg_assets.simulation.scenario import run_scenario
from dtg_assets_tests.conftest import HISTORICAL_DAY, START, dagster_resources


def test_format_progress_shows_bar_batches_rows_rate_and_eta():
    line = format_progress(7, 70, 25_000, 100_000, 40_000, 2.0, width=8)
    assert line == "[##------]  25% 7/70 batches, 40,000 rows, 20,000 rows/s, ETA 0:06"
    done = format_progress(70, 70, 100_000, 100_000, 160_000, 3725.0, width=8)
    assert done == "[########] 100% 70/70 batches, 160,000 rows, 43 rows/s, done in 1:02:05"
    assert format_progress(0, 70, 0, 100_000, 0, 0.0, width=4).endswith("0 rows/s, ETA --:--")


def test_format_duration():
    assert [format_duration(s) for s in (0, 59.4, 61, 3600, 86399)] == [
        "0:00", "0:59", "1:01", "1:00:00", "23:59:59",
    ]  # fmt: skip


class FakeStream(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


CONFIG = ScenarioConfig(start_date=START, historical_days=2, live_days=1, seed=1, scale=0.01)


def drive(stream: FakeStream, times: list[float]) -> ProgressBar:
    clock = iter(times)
    bar = ProgressBar(CONFIG, stream=stream, clock=lambda: next(clock))
    plans = [p for d, w in scenario_days(CONFIG) for p in plan_day(CONFIG, d, w)]
    for plan in plans:
        bar(plan, {"visitor_events": plan.visitors, "applications": 1})
    bar.close()
    return bar


def test_bar_draws_on_a_terminal_throttled_and_ends_the_line():
    stream = FakeStream(tty=True)
    # start, then 10 batches 1/16 s apart (exact in binary): with redraws at most every 0.1 s,
    # every other one is drawn, plus the last.
    bar = drive(stream, [0.0, *(i / 16 for i in range(1, 11))])
    assert bar.batches_total == 10
    frames = stream.getvalue().split("\r")[1:]
    assert len(frames) == 6  # batches 1 (the first), 3, 5, 7, 9 and 10 (the last)
    assert frames[0].startswith("[") and "1/10 batches" in frames[0] and "ETA" in frames[0]
    assert "10/10 batches" in frames[-1] and "done in 0:01" in frames[-1]
    assert frames[-1].endswith("\x1b[K\n")


def test_bar_is_silent_when_not_a_terminal():
    stream = FakeStream(tty=False)
    drive(stream, [0.0, *(i / 16 for i in range(1, 11))])
    assert stream.getvalue() == ""


def _generate(tmp_path, stderr) -> subprocess.CompletedProcess:
    args = [sys.executable, "-m", "dtg_assets.simulation", "generate",
            "--data-root", str(tmp_path / "data"), "--start-date", START.isoformat(),
            "--scale", "0.02"]  # fmt: skip
    return subprocess.run(args, stdout=subprocess.PIPE, stderr=stderr, timeout=300, check=False)


def test_command_draws_the_bar_on_a_terminal_and_nothing_on_a_pipe(tmp_path):
    controller, terminal = pty.openpty()
    try:
        done = _generate(tmp_path, terminal)
        os.close(terminal)
        terminal = -1
        chunks = []
        while True:
            try:
                chunk = os.read(controller, 65536)
            except OSError:  # EIO: the other side is closed and drained
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        if terminal >= 0:
            os.close(terminal)
        os.close(controller)
    assert done.returncode == 0
    drawn = b"".join(chunks).decode()
    assert "\r[" in drawn
    assert re.search(r"70/70 batches, [\d,]+ rows, [\d,]+ rows/s, done in \d+:\d\d", drawn)
    assert "ETA" in drawn or drawn.count("\r[") == 1  # a fast run may draw only the end

    piped = _generate(tmp_path, subprocess.PIPE)
    assert piped.returncode == 0
    assert piped.stderr == b""
    assert b"elapsed" in piped.stdout


def test_dagster_logs_each_day_with_its_rows_per_second(tmp_path):
    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize(
        [historical_landing],
        partition_key=HISTORICAL_DAY.isoformat(),
        resources=dagster_resources(tmp_path),
        instance=instance,
    )
    assert result.success
    messages = [e.user_message for e in instance.all_logs(result.run_id)]
    [line] = [m for m in messages if m.startswith(f"historical {HISTORICAL_DAY} (day 1/1)")]
    assert re.search(r"landed 250 visitor_events, .* in 1 batches; .* s, [\d,]+ rows/s$", line)


def test_run_scenario_reports_every_batch_to_the_bar(tmp_path):
    stream = FakeStream(tty=True)
    bar = ProgressBar(CONFIG, stream=stream)
    run_scenario(CONFIG, str(tmp_path), progress=bar)
    assert bar.batches_done == bar.batches_total == 10
    assert bar.work_done == bar.work_total


def test_a_missing_batch_counts_no_work(tmp_path):
    schedule = [{"anomaly": None, "visitors": 500}, {"anomaly": "missing_batch", "visitors": 500}]
    config = ScenarioConfig(
        start_date=START, historical_days=0, live_days=1, scale=0.01, live_schedule=schedule
    )
    bar = ProgressBar(config, stream=FakeStream(tty=True))
    assert bar.work_total == 5
    run_scenario(config, str(tmp_path), progress=bar)
    assert bar.batches_done == bar.batches_total == 2
    assert bar.work_done == bar.work_total == 5
