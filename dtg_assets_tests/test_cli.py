"""Tests of ``python -m dtg_assets.simulation generate``: in process through ``main`` and as a
real subprocess, with exact visitor totals and one-line errors for bad arguments."""

from __future__ import annotations

import datetime as dt
import re
import subprocess
import sys

import pyarrow.dataset as ds
import pytest

from dtg_assets.simulation.cli import main
from dtg_assets.simulation.config import ANOMALY_TYPES, ScenarioConfig, default_start_date
from dtg_assets.simulation.generate import spiked_visitors
from dtg_assets.simulation.plan import plan_day, scenario_days
from dtg_assets.simulation.schemas import TABLES

START = "2026-02-01"
SCALE = 0.02

SEED_RANGE = "expected a whole number from 0 to 9223372036854775807 in the digits 0-9"


def expected_visitors(config: ScenarioConfig) -> int:
    """Visitors the scenario lands: each batch's scaled count, spikes multiplied."""
    return sum(
        spiked_visitors(config, p) for d, w in scenario_days(config) for p in plan_day(config, d, w)
    )


def table_rows(output: str) -> dict[str, tuple[int, int, int]]:
    """``table -> (rows, files, labelled)`` parsed from the printed summary."""
    found = {}
    for table in TABLES:
        match = re.search(rf"^{table}\s+([\d,]+)\s+([\d,]+)\s+([\d,]+)$", output, re.M)
        assert match, f"no summary line for {table} in:\n{output}"
        found[table] = tuple(int(g.replace(",", "")) for g in match.groups())
    return found


def test_default_scale_lands_350700_visitors():
    # SPEC's exact volume, from the plan alone (generating it is the benchmark's job).
    assert expected_visitors(ScenarioConfig(start_date=dt.date(2026, 2, 1))) == 350_700


def test_generate_writes_the_scenario_and_prints_its_summary(tmp_path, capsys):
    root = tmp_path / "data"
    args = ["--data-root", str(root), "--start-date", START, "--seed", "7", "--scale", str(SCALE)]
    code = main(["generate", *args])
    out = capsys.readouterr().out
    assert code == 0
    config = ScenarioConfig(start_date=START, seed=7, scale=SCALE)
    rows = table_rows(out)
    assert rows["visitor_events"][0] == expected_visitors(config) == 7_014
    labels = ds.dataset(root / "ground_truth" / "labels").to_table(columns=["table"])
    for table in TABLES:
        files = sorted((root / "landing" / table).glob("date=*/*.parquet"))
        read = ds.dataset(files).count_rows()
        labelled = labels.column("table").to_pylist().count(table)
        assert rows[table] == (read, len(files), labelled), table
    manifests = sorted(p.name for p in (root / "ground_truth" / "manifest").iterdir())
    assert len(manifests) == 21 and manifests[0] == "historical-20260201.parquet"
    assert re.search(r"^null_burst\s+[\d,]+$", out, re.M)
    assert re.search(r"^elapsed [\d.]+ s \([\d,]+ rows/s\)$", out, re.M)
    assert "writing 21 days from 2026-02-01 (seed 7, scale 0.02)" in out


def test_start_date_defaults_to_21_days_before_today(tmp_path, capsys, monkeypatch):
    # Only the header is checked: write a one-visitor scenario to keep it quick.
    before = default_start_date()
    code = main(["generate", "--data-root", str(tmp_path), "--scale", "0.0001"])
    after = default_start_date()
    out = capsys.readouterr().out
    assert code == 0
    header = out.splitlines()[0]
    assert header in {
        f"writing 21 days from {d.isoformat()} (seed 42, scale 0.0001) to {tmp_path}"
        for d in (before, after)
    }
    assert table_rows(out)["visitor_events"][0] == 14 + 7 * (7 + 3)  # 1 each, spike 3


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--seed", "-1"], f"--seed='-1' is not a valid seed: {SEED_RANGE}"),
        (["--seed", "abc"], f"--seed='abc' is not a valid seed: {SEED_RANGE}"),
        (["--seed", "٣"], f"--seed='٣' is not a valid seed: {SEED_RANGE}"),
        (["--seed", str(2**63)], f"--seed='{2**63}' is not a valid seed: {SEED_RANGE}"),
        (["--scale", "0"], "--scale=0.0: Input should be greater than 0"),
        (["--scale", "-2"], "--scale=-2.0: Input should be greater than 0"),
        (["--scale", "nan"], "argument --scale: 'nan' is not a finite number"),
        (["--scale", "2000"], "--scale=2000.0: Input should be less than or equal to 1000"),
        (["--start-date", "2026-13-01"], "--start-date=2026-13-01: unparseable date"),
        (["--start-date", "yesterday"], "--start-date=yesterday: unparseable date"),
        (["--bogus"], "unrecognized arguments: --bogus"),
        (["--scenario", "busy"], "argument --scenario: invalid choice: 'busy'"),
        (["--start-date", "9999-12-25"], "--start-date=9999-12-25: the scenario's 21 days"),
        (["--start-date", "9999-12-10"], "must be between 1000-01-02 and 9999-12-05"),
        (["--start-date", "0001-01-01"], "--start-date=0001-01-01: the scenario's 21 days"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(tmp_path, capsys, args, message):
    root = tmp_path / "data"
    code = main(["generate", "--data-root", str(root), *args])
    captured = capsys.readouterr()
    assert code == 2
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("python -m dtg_assets.simulation: error: ")
    assert message in lines[0]
    assert not root.exists()


def test_data_root_that_is_a_file_or_missing_is_a_usage_error(tmp_path, capsys):
    a_file = tmp_path / "file.txt"
    a_file.write_text("not a directory")
    assert main(["generate", "--data-root", str(a_file)]) == 2
    assert f"--data-root={a_file}: is a file" in capsys.readouterr().err
    assert main(["generate"]) == 2
    assert "required: --data-root" in capsys.readouterr().err
    assert main([]) == 2
    assert "required: command" in capsys.readouterr().err


def test_unwritable_data_root_exits_1_with_one_line(tmp_path, capsys):
    a_file = tmp_path / "file.txt"
    a_file.write_text("")
    root = a_file / "data"  # a directory cannot be made under a file
    code = main(["generate", "--data-root", str(root), "--scale", "0.0001"])
    err = capsys.readouterr().err
    assert code == 1
    assert err.count("\n") == 1 and err.startswith(f"error: cannot write the scenario to {root}")


def test_help_exits_0(capsys):
    assert main(["generate", "--help"]) == 0
    assert "--data-root" in capsys.readouterr().out


def run_module(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "dtg_assets.simulation", *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_module_runs_as_a_subprocess(tmp_path):
    root = tmp_path / "data"
    done = run_module(
        "generate", "--data-root", str(root), "--start-date", START, "--scale", "0.01"
    )
    assert done.returncode == 0, done.stderr
    config = ScenarioConfig(start_date=START, scale=0.01)
    assert table_rows(done.stdout)["visitor_events"][0] == expected_visitors(config) == 3_507
    assert len(list((root / "ground_truth" / "labels").iterdir())) == 21


def test_module_reports_a_bad_argument_without_traceback(tmp_path):
    done = run_module("generate", "--data-root", str(tmp_path), "--seed", "-5")
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"python -m dtg_assets.simulation: error: --seed='-5' is not a valid seed: {SEED_RANGE} "
        "(see --help)"
    ]
    assert "Traceback" not in done.stderr


def test_generate_scenario_extended_lands_every_anomaly_type(tmp_path, capsys):
    root = tmp_path / "data"
    args = ["--data-root", str(root), "--start-date", START, "--scale", "0.01"]
    assert main(["generate", *args, "--scenario", "extended", "--workers", "1"]) == 0
    out = capsys.readouterr().out
    assert "writing 21 days from 2026-02-01 (seed 42, scale 0.01, scenario extended)" in out
    labelled = {m for m in ANOMALY_TYPES if re.search(rf"^{m}\s+[\d,]+$", out, re.M)}
    # At 1 % a fraud spike's ~5 transactions a batch rarely hold a fraudulent one.
    assert labelled >= set(ANOMALY_TYPES) - {"fraud_spike"}
    manifests = ds.dataset(root / "ground_truth" / "manifest").to_table(columns=["anomalies"])
    planned = {a for row in manifests["anomalies"].to_pylist() for a in row}
    assert planned == set(ANOMALY_TYPES)
