"""End to end through the command line, in subprocesses: the Dagster CLI and ``dtg-run``.

Each test gets its own ``DAGSTER_HOME`` and data root under a temporary directory and runs from
there, so nothing relative (``./data``) can leak. Volumes are tiny (scale 0.01-0.02); most of
the time goes to Dagster starting up and recording events. Marked ``slow``, but part of the
default test command and of CI.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import dagster as dg
import pytest

from dtg_assets.simulation.config import ANOMALY_TYPES, DEFAULT_LIVE_SCHEDULE, ScenarioConfig
from dtg_assets.simulation.generate import spiked_visitors
from dtg_assets.simulation.landing import LandingZone
from dtg_assets.simulation.plan import Window, plan_day
from dtg_assets.simulation.verify import CHECK_SPECS
from dtg_assets_tests.conftest import DAGSTER_START, LIVE_DAY

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent
ROWS_CHECKED = dg.AssetCheckKey(
    dg.AssetKey(["historical", "visitor_events"]), "rows_match_manifest"
)


def _env(home: Path, data: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DTG_", "DAGSTER_"))}
    env.update(
        DAGSTER_HOME=str(home),
        DTG_START_DATE=DAGSTER_START.isoformat(),
        DTG_DATA_ROOT=str(data),
        **extra,
    )
    return env


def _run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        args, env=env, cwd=cwd, capture_output=True, text=True, timeout=600, check=False
    )


def _dagster(*args: str) -> list[str]:
    return [str(BIN / "dagster"), *args]


def _write_yaml(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.fixture
def dirs(tmp_path):
    """``(home, data)``: an empty Dagster instance directory and a data root not yet created."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("")
    return home, tmp_path / "data"


def test_asset_materialize_builds_a_partition_range_in_one_run(tmp_path, dirs, monkeypatch):
    home, data = dirs
    config = _write_yaml(
        tmp_path / "small.yaml", "resources:\n  simulation:\n    config:\n      scale: 0.02\n"
    )
    days = [DAGSTER_START + dt.timedelta(days=i) for i in (1, 2)]
    span = f"{days[0]}...{days[-1]}"
    proc = _run(
        _dagster("asset", "materialize", "-m", "dtg_assets.definitions",
                 "--select", "group:historical", "--partition-range", span, "-c", str(config)),
        _env(home, data),
        tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]

    zone = LandingZone(str(data))
    for day in days:
        # 5,000 historical visitors a day at scale 0.02: exactly 100.
        assert zone.read_day("visitor_events", Window.HISTORICAL, day).num_rows == 100
        assert zone.read_manifest(Window.HISTORICAL, day)["planned_visitors"].to_pylist() == [100]
    for outside in (DAGSTER_START, days[-1] + dt.timedelta(days=1)):
        assert zone.read_manifest(Window.HISTORICAL, outside).num_rows == 0
        assert not zone.day_files("visitor_events", Window.HISTORICAL, outside)

    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with dg.DagsterInstance.get() as instance:
        [run] = instance.get_runs()
        assert run.status == dg.DagsterRunStatus.SUCCESS
        key = dg.AssetKey(["historical", "visitor_events"])
        assert instance.get_materialized_partitions(key) == {d.isoformat() for d in days}
        history = instance.event_log_storage.get_asset_check_execution_history(ROWS_CHECKED, 10)
        assert sorted(r.event.dagster_event.event_specific_data.partition for r in history) == [
            d.isoformat() for d in days
        ]
        assert {r.status.value for r in history} == {"SUCCEEDED"}


def _materialize_live(tmp_path, dirs, batches_yaml: str) -> str:
    home, data = dirs
    config = _write_yaml(
        tmp_path / "bad.yaml",
        # In process: the resources are validated when the run starts, with either executor.
        "execution:\n  config:\n    in_process: {}\n"
        "resources:\n  anomaly_schedule:\n    config:\n      batches:\n" + batches_yaml,
    )
    proc = _run(
        _dagster("asset", "materialize", "-m", "dtg_assets.definitions",
                 "--select", "group:live", "--partition", LIVE_DAY.isoformat(),
                 "-c", str(config)),
        _env(home, data),
        tmp_path,
    )  # fmt: skip
    assert proc.returncode != 0
    assert not data.exists()
    return proc.stdout + proc.stderr


def test_unknown_anomaly_in_run_config_is_refused_by_the_config_schema(tmp_path, dirs):
    output = _materialize_live(tmp_path, dirs, "        - {anomaly: bot_storm, visitors: 100}\n")
    assert "DagsterInvalidConfigError" in output
    assert "batches[0]:anomaly not in enum type Anomaly got bot_storm" in output
    assert "RUN_START" not in output  # refused before any run started


def test_out_of_range_visitors_in_run_config_fail_the_run_start_in_one_line(tmp_path, dirs):
    output = _materialize_live(
        tmp_path,
        dirs,
        "        - {anomaly: null, visitors: 100}\n        - {anomaly: null, visitors: -3}\n",
    )
    assert (
        "Failure: invalid anomaly_schedule config: batches.1.visitors=-3: Input should be "
        "greater than or equal to 1\n" in output
    )
    assert "ValidationError" not in output and "errors.pydantic.dev" not in output


def _answers(url: str | None) -> bool:
    """Whether a server answers ``url`` with 200 (True when there is nothing to ask)."""
    if url is None:
        return True
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def _start_printed_command(stdout: str, program: str, ready: str, cwd: Path) -> str:
    """Start a command dtg-run printed, in a shell, until it says ``ready``; stop it.

    Returns:
        Everything it wrote (stdout and stderr) until it was stopped.
    """
    lines = [line.strip() for line in stdout.splitlines()]
    export = next(line for line in lines if line.startswith("export DAGSTER_HOME="))
    command = next(line for line in lines if line.startswith(program))
    url = None
    if program == "dagster-webserver":
        port = _free_port()  # not 3000: tests may run side by side
        command += f" -h 127.0.0.1 -p {port}"
        url = f"http://127.0.0.1:{port}/server_info"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DTG_", "DAGSTER_"))}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    server = subprocess.Popen(
        ["bash", "-c", f"{export}\nexec {command}"],
        cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    output: list[str] = []
    reader = threading.Thread(target=lambda: output.extend(server.stdout), daemon=True)
    reader.start()
    deadline = time.monotonic() + 120
    try:
        # Ready once it says so and, for the webserver, answers: stopping it between its
        # "Serving" line and its event loop's start makes uvicorn warn about an unawaited
        # coroutine, an artefact of the stop, not something a user sees.
        while not (any(ready in line for line in list(output)) and _answers(url)):
            assert server.poll() is None, f"{program} exited:\n{''.join(output)}"
            assert time.monotonic() < deadline, f"{program} not ready:\n{''.join(output)}"
            time.sleep(0.2)
    finally:
        server.terminate()
        server.wait(timeout=60)
        reader.join(timeout=10)
    return "".join(output)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _summary_row(stdout: str, window: str) -> dict[str, str]:
    """A window's row of the first markdown table ``dtg-run`` prints."""
    lines = stdout.splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("|"))
    table = []
    for line in lines[first:]:
        if not line.startswith("|"):
            break
        table.append([c.strip() for c in line.strip("|").split("|")])
    for cells in table[2:]:
        if cells[0] == window:
            return dict(zip(table[0], cells, strict=True))
    raise AssertionError(f"no {window} row in:\n{stdout}")


def test_dtg_run_lands_every_partition_with_all_checks_and_records_its_runs(
    tmp_path, dirs, monkeypatch
):
    _, data = dirs
    home = tmp_path / "new_home"  # created by dtg-run, with its dagster.yaml
    # Fifteen days back: the 14 historical days and one live day (today is not complete).
    start = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=15)
    script = BIN / "dtg-run"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "dtg_assets.run"]
    proc = _run(
        [*command, "--scale", "0.01", "--dagster-home", str(home), "--data-root", str(data),
         "--start-date", start.isoformat()],
        _env(home, data),
        tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert "DTG scenario succeeded" in proc.stdout
    assert "Problems:" not in proc.stdout
    assert "Telemetry" not in proc.stdout + proc.stderr  # no banner in the instance it made
    assert "telemetry:\n  enabled: false\n" in (home / "dagster.yaml").read_text()

    live_days = (dt.datetime.now(dt.UTC).date() - start).days - 14
    config = ScenarioConfig(start_date=start, scale=0.01, live_days=live_days)
    historical, live = _summary_row(proc.stdout, "historical"), _summary_row(proc.stdout, "live")
    assert historical["partitions"] == "14"
    assert historical["visitor_events"] == "700"  # 14 x 5,000 x 0.01
    assert historical["checks"] == f"{14 * len(CHECK_SPECS)} passed"
    live_visitors = sum(spiked_visitors(config, p) for p in plan_day(config, config.live_start))
    assert live_visitors == 401  # SPEC's 40,100 a day (spike counted at 5,000) x 0.01
    assert live["partitions"] == str(live_days)
    assert live["visitor_events"] == str(live_days * live_visitors)
    assert live["checks"] == f"{live_days * len(CHECK_SPECS)} passed"
    assert int(live["labels"]) > 0 and historical["labels"] == "0"
    assert re.search(r"DAGSTER_HOME=\S+ DTG_START_DATE=" + start.isoformat(), proc.stdout)
    for command, ready in (
        ("dagster-webserver", "Serving dagster-webserver on"),
        ("dagster-daemon", "Instance is configured with the following daemons"),
    ):
        output = _start_printed_command(proc.stdout, command, ready, tmp_path)
        assert "Warning" not in output and "Telemetry" not in output, output

    zone = LandingZone(str(data))
    landed = sum(
        zone.read_day("visitor_events", Window.HISTORICAL, start + dt.timedelta(days=i)).num_rows
        for i in range(14)
    )
    assert landed == 700
    schedule = [b.anomaly.value if b.anomaly else None for b in DEFAULT_LIVE_SCHEDULE]
    manifest = zone.read_manifest(Window.LIVE, config.live_start)
    assert manifest["anomaly"].to_pylist() == schedule

    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with dg.DagsterInstance.get() as instance:
        runs = instance.get_runs()
        assert {r.status for r in runs} == {dg.DagsterRunStatus.SUCCESS}
        # The two landing windows, then the gatekeeper's baseline, live findings and evaluation.
        jobs = sorted(r.job_name for r in runs)
        assert jobs == sorted(
            ["historical_job", "live_job", "gatekeeper_job", "live_job", "gatekeeper_job"]
        )
        history = instance.event_log_storage.get_asset_check_execution_history(ROWS_CHECKED, 50)
        assert len(history) == 14
        assert {r.status.value for r in history} == {"SUCCEEDED"}


def test_dtg_run_extended_lands_all_thirteen_anomaly_types_checked_and_scored(tmp_path, dirs):
    # The extended preset end to end: every landing check passes on a week holding drifted,
    # duplicated, orphaned, shifted and missing batches, and the gatekeeper scores all 13 types.
    _, data = dirs
    home = tmp_path / "ext_home"
    start = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=21)  # 14 + the extended week
    proc = _run(
        [*_dtg_run(), "--scenario", "extended", "--scale", "0.05", "--dagster-home", str(home),
         "--data-root", str(data), "--start-date", start.isoformat()],
        _env(home, data),
        tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert "DTG scenario succeeded" in proc.stdout and "Problems:" not in proc.stdout
    historical, live = _summary_row(proc.stdout, "historical"), _summary_row(proc.stdout, "live")
    assert historical["checks"] == f"{14 * len(CHECK_SPECS)} passed"
    assert live["partitions"] == "7"
    assert live["checks"] == f"{7 * len(CHECK_SPECS)} passed"
    scored = {
        m.group(1): int(m.group(2))
        for m in re.finditer(r"^\| ([a-z_]+) \| (\d+) \| \d+ \| \d+ \|", proc.stdout, re.M)
    }
    assert set(ANOMALY_TYPES) <= set(scored), proc.stdout[-3000:]
    # Each type is scheduled three or four times over the week (a batch may carry two).
    assert all(3 <= scored[t] <= 8 for t in ANOMALY_TYPES), scored
    zone = LandingZone(str(data))
    manifest = zone.read_manifest(Window.LIVE, start + dt.timedelta(days=14))
    assert manifest.num_rows == 8


BAD_DEFINITIONS = """
import dagster as dg
from dtg_assets.definitions import defs
from dtg_assets.resources import AnomalyScheduleResource, LiveBatch

bad = dg.Definitions(
    assets=list(defs.assets),
    resources={
        **defs.resources,
        "anomaly_schedule": AnomalyScheduleResource(
            batches=[LiveBatch(anomaly="null_burst", visitors=-3)]
        ),
    },
)
"""


def test_bad_schedule_in_definitions_fails_the_code_location_load(tmp_path, dirs):
    # A schedule edited into the code (not the launchpad) fails when Dagster loads the code
    # location, with the engine's message, before any run could write anything.
    home, data = dirs
    module = tmp_path / "bad_defs.py"
    module.write_text(BAD_DEFINITIONS)
    proc = _run(_dagster("definitions", "validate", "-f", str(module)), _env(home, data), tmp_path)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    assert (
        "Failure: invalid anomaly_schedule config: batches.0.visitors=-3: Input should be "
        "greater than or equal to 1\n" in out
    )
    assert not data.exists()


SEED_RANGE = "expected a whole number from 0 to 9223372036854775807 in the digits 0-9"


@pytest.mark.parametrize("seed", ["²", "99999999999999999999999"])
def test_bad_DTG_SEED_fails_definitions_validate(tmp_path, dirs, seed):
    home, data = dirs
    proc = _run(
        _dagster("definitions", "validate", "-m", "dtg_assets.definitions"),
        _env(home, data, DTG_SEED=seed),
        tmp_path,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    assert f"invalid simulation config: DTG_SEED={seed!r} is not a valid seed: {SEED_RANGE}\n" in (
        out
    )


def _dtg_run() -> list[str]:
    script = BIN / "dtg-run"
    return [str(script)] if script.exists() else [sys.executable, "-m", "dtg_assets.run"]


@pytest.mark.parametrize("seed", ["²", "99999999999999999999999"])
def test_dtg_run_refuses_a_bad_DTG_SEED_in_one_line(tmp_path, dirs, seed):
    home, data = dirs
    proc = _run([*_dtg_run(), "--dagster-home", str(tmp_path / "h")],
                _env(home, data, DTG_SEED=seed), tmp_path)  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        f"dtg-run: error: DTG_SEED={seed!r} is not a valid seed: {SEED_RANGE}"
    ]
    assert not (tmp_path / "h").exists() and not data.exists()


def test_dtg_run_failure_names_its_cause_and_leaves_the_users_dagster_yaml(tmp_path, dirs):
    home, _ = dirs
    mine = "# my own instance settings\ntelemetry:\n  enabled: true\n"
    (home / "dagster.yaml").write_text(mine)
    not_a_dir = tmp_path / "a_file"
    not_a_dir.write_text("")
    proc = _run(
        [*_dtg_run(), "--scale", "0.01", "--dagster-home", str(home),
         "--data-root", str(not_a_dir), "--start-date", DAGSTER_START.isoformat()],
        _env(home, not_a_dir),
        tmp_path,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert "DTG scenario FAILED" in proc.stdout
    problems = proc.stdout.split("Problems:\n", 1)[1].split("\n\n", 1)[0].splitlines()
    # One line per failed run: the cause (the Failure's description), not Dagster's wrapper.
    assert [p.split(":", 1)[0] for p in problems] == ["- historical", "- live"]
    for problem in problems:
        assert re.fullmatch(rf"- \w+: cannot use the data root {re.escape(str(not_a_dir))}: "
                            r".*; nothing was written", problem), problem  # fmt: skip
    assert "Error occurred while executing op" not in proc.stdout
    assert (home / "dagster.yaml").read_text() == mine
