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
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from dtg_assets.simulation.config import DEFAULT_LIVE_SCHEDULE, ScenarioConfig
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


def test_bad_schedule_in_run_config_is_rejected_at_launch_and_nothing_is_written(tmp_path, dirs):
    home, data = dirs
    config = _write_yaml(
        tmp_path / "bad.yaml",
        # In process: the resources are validated when the run starts, with either executor.
        "execution:\n  config:\n    in_process: {}\n"
        "resources:\n  anomaly_schedule:\n    config:\n      batches:\n"
        "        - {anomaly: bot_storm, visitors: 100}\n"
        "        - {anomaly: null, visitors: -3}\n",
    )
    proc = _run(
        _dagster("asset", "materialize", "-m", "dtg_assets.definitions",
                 "--select", "group:live", "--partition", LIVE_DAY.isoformat(),
                 "-c", str(config)),
        _env(home, data),
        tmp_path,
    )  # fmt: skip
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "batches.0.anomaly: unknown anomaly 'bot_storm'; allowed: null (a normal batch) or " in (
        output
    )
    assert "batches.1.visitors: Input should be greater than or equal to 1 (got -3)" in output
    assert not data.exists()


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
    home, data = dirs
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


BAD_DEFINITIONS = """
import dagster as dg
from dtg_assets.definitions import defs
from dtg_assets.resources import AnomalyScheduleResource, LiveBatch

bad = dg.Definitions(
    assets=list(defs.assets),
    resources={
        **defs.resources,
        "anomaly_schedule": AnomalyScheduleResource(
            batches=[LiveBatch(anomaly="bogus", visitors=-3)]
        ),
    },
)
"""


def test_bad_schedule_in_definitions_fails_the_code_location_load(tmp_path, dirs):
    # A schedule edited into the code (not the launchpad) fails when Dagster loads the code
    # location, with the engine's messages, before any run could write anything.
    home, data = dirs
    module = tmp_path / "bad_defs.py"
    module.write_text(BAD_DEFINITIONS)
    proc = _run(_dagster("definitions", "validate", "-f", str(module)), _env(home, data), tmp_path)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    assert "batches.0.anomaly: unknown anomaly 'bogus'" in out
    assert "null_burst, age_error, traffic_spike" in out
    assert "batches.0.visitors: Input should be greater than or equal to 1 (got -3)" in out
    assert not data.exists()
