"""``dtg-run`` in process: argument and environment checks, the instance it sets up, and the
command it prints. The whole command, in a subprocess, is tested in ``test_cli_dagster.py``."""

from __future__ import annotations

import shlex

import pytest

from dtg_assets.run import INSTANCE_YAML, browse_command, main, prepare_instance

SEED_RANGE = "expected a whole number from 0 to 9223372036854775807 in the digits 0-9"


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    """No DTG_* or DAGSTER_HOME from the developer's shell; restored after the test."""
    for name in ("DTG_SEED", "DTG_START_DATE", "DTG_DATA_ROOT", "DAGSTER_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize(
    ("argv", "env", "message"),
    [
        ([], {"DTG_SEED": "²"}, f"DTG_SEED='²' is not a valid seed: {SEED_RANGE}"),
        (
            [],
            {"DTG_SEED": "99999999999999999999999"},
            f"DTG_SEED='99999999999999999999999' is not a valid seed: {SEED_RANGE}",
        ),
        (["--seed", "-1"], {"DTG_SEED": "7"}, f"--seed='-1' is not a valid seed: {SEED_RANGE}"),
        ([], {"DTG_START_DATE": "01/11/2026"}, "DTG_START_DATE='01/11/2026' is not a date"),
        (["--start-date", "9999-12-25"], {}, "--start-date=9999-12-25: the scenario's 21 days"),
        (["--scale", "0"], {}, "--scale 0.0 must be > 0"),
    ],
)
def test_bad_settings_exit_2_with_one_line_and_create_nothing(
    clean_env, monkeypatch, capsys, argv, env, message
):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    home = clean_env / "home"
    assert main([*argv, "--dagster-home", str(home)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith(f"dtg-run: error: {message}")
    assert not home.exists()


def test_dagster_home_that_is_a_file_is_refused(clean_env, capsys):
    home = clean_env / "home"
    home.write_text("")
    assert main(["--dagster-home", str(home)]) == 2
    assert "is a file, not a directory" in capsys.readouterr().err


def test_a_new_instance_gets_telemetry_off(tmp_path):
    home = tmp_path / "new" / "home"
    prepare_instance(home)
    assert (home / "dagster.yaml").read_text() == INSTANCE_YAML
    assert "telemetry:\n  enabled: false\n" in INSTANCE_YAML


def test_a_users_dagster_yaml_is_left_alone(tmp_path):
    mine = "telemetry:\n  enabled: true\nrun_monitoring:\n  enabled: true\n"
    (tmp_path / "dagster.yaml").write_text(mine)
    prepare_instance(tmp_path)
    assert (tmp_path / "dagster.yaml").read_text() == mine


def test_browse_command_quotes_paths_and_uses_no_superseded_command(tmp_path):
    home = tmp_path / "my home"
    text = browse_command(home, "2026-11-01", "s3://bucket/x")
    lines = [line.strip() for line in text.splitlines()]
    assert f"export DAGSTER_HOME={shlex.quote(str(home))} DTG_START_DATE=2026-11-01 " in (
        lines[1] + " "
    )
    assert shlex.split(lines[1])[1] == f"DAGSTER_HOME={home}"
    assert "dagster-webserver -m dtg_assets.definitions" in lines
    assert "dagster-daemon run -m dtg_assets.definitions" in lines
    assert "dagster dev" not in text


def test_scenario_option_reaches_the_dagster_run(clean_env, monkeypatch, capsys):
    import dtg_assets.summary as summary

    seen = {}

    def fake_run(**kwargs):
        seen.update(kwargs)
        return True, "DTG scenario succeeded"

    monkeypatch.setattr(summary, "run_scenario_in_dagster", fake_run)
    assert main(["--scenario", "extended", "--dagster-home", str(clean_env / "h")]) == 0
    assert seen == {"scale": 1.0, "scenario": "extended"}
    assert "DTG scenario succeeded" in capsys.readouterr().out


def test_unknown_scenario_exits_2(clean_env, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--scenario", "busy", "--dagster-home", str(clean_env / "h")])
    assert exc.value.code == 2
    assert "invalid choice: 'busy'" in capsys.readouterr().err
