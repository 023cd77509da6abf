"""The code location: definitions load, jobs and the schedule resolve, partitions are right.

``DTG_START_DATE`` is pinned to 2026-11-01 by the conftest, so the historical window is
2026-11-01..2026-11-14 and the live window starts on 2026-11-15. Times are fixed wherever the
answer depends on "now".
"""

from __future__ import annotations

import ast
import datetime as dt
from pathlib import Path

import dagster as dg
import pytest

from dtg_assets.definitions import defs
from dtg_assets.gatekeeper.verdicts import FAMILIES
from dtg_assets.partitions import (
    build_partitions,
    complete_partition_keys,
    historical_partitions,
    live_partitions,
)
from dtg_assets.simulation.schemas import LABEL_SCHEMA, MANIFEST_SCHEMA, TABLE_SCHEMAS, TABLES
from dtg_assets.simulation.verify import CHECK_SPECS
from dtg_assets_tests.conftest import DAGSTER_START

WINDOWS = ("historical", "live")
NAMES = (*TABLES, "ground_truth_labels", "batch_manifest")
UTC = dt.UTC
# A partitioned run request is resolved against the code location's jobs.
REPOSITORY = defs.get_repository_def()


def _days(first: dt.date, n: int) -> list[str]:
    return [(first + dt.timedelta(days=i)).isoformat() for i in range(n)]


def test_definitions_load():
    dg.Definitions.validate_loadable(defs)


def test_every_window_has_its_six_assets_with_group_kind_owner_and_schema():
    specs = {s.key: s for s in defs.resolve_all_asset_specs() if s.group_name in WINDOWS}
    expected = {dg.AssetKey([w, n]) for w in WINDOWS for n in NAMES}
    assert set(specs) == expected
    for key, spec in specs.items():
        assert spec.group_name == key.path[0]
        assert spec.kinds == {"parquet"}
        assert spec.owners
        assert spec.description
        assert "dagster/column_schema" in spec.metadata


def test_every_check_spec_is_defined_per_window_with_its_severity():
    graph = defs.resolve_asset_graph()
    expected = {
        dg.AssetCheckKey(dg.AssetKey([w, s.asset]), s.name) for w in WINDOWS for s in CHECK_SPECS
    }
    assert {k for k in graph.asset_check_keys if k.asset_key.path[0] in WINDOWS} == expected
    severity = {s.name: s.severity for s in CHECK_SPECS}
    for key in expected:
        # The UI shows the description: it must say whether a failure fails the run.
        assert graph.get_check_spec(key).description.startswith(f"[{severity[key.name]}] "), key


def test_error_checks_are_blocking_and_warn_checks_are_not_as_their_descriptions_say():
    # The UI prints "This is a (non-)blocking asset check." from the flag, right above the
    # description: both must say the same thing.
    graph = defs.resolve_asset_graph()
    specs = [graph.get_check_spec(k) for k in graph.asset_check_keys]
    by_severity = {"ERROR": [], "WARN": []}
    for spec in specs:
        severity = spec.description[1 : spec.description.index("]")]
        by_severity[severity].append(spec)
        assert spec.blocking is (severity == "ERROR"), spec.key
        if spec.blocking:
            assert "Blocking: a failure fails the run's step" in spec.description, spec.key
        else:
            assert "A warning: a failure is recorded and the run goes on." in spec.description
    # 23 ERROR (8 of them structure checks) and two WARN checks per window; the gatekeeper's
    # four family checks are WARN.
    assert len(by_severity["ERROR"]) == 2 * 23
    assert len(by_severity["WARN"]) == 2 * 2 + len(FAMILIES)


@pytest.mark.parametrize("window", WINDOWS)
def test_each_window_declares_the_funnel_lineage(window):
    graph = defs.resolve_asset_graph()

    def parents(name: str) -> set[str]:
        node = graph.get(dg.AssetKey([window, name]))
        return {k.path[-1] for k in node.parent_keys}

    assert parents("visitor_events") == set()
    assert parents("applications") == {"visitor_events"}
    assert parents("accounts") == {"applications"}
    assert parents("transactions") == {"accounts"}
    assert parents("ground_truth_labels") == set(TABLES)
    assert parents("batch_manifest") == {*TABLES, "ground_truth_labels"}
    # All in the window's own group: lineage inside one multi_asset, no new cross-window edge.
    assert all(
        k.path[0] == window for n in NAMES for k in graph.get(dg.AssetKey([window, n])).parent_keys
    )


def test_every_landing_column_is_described():
    schemas = {
        **TABLE_SCHEMAS,
        "ground_truth_labels": LABEL_SCHEMA,
        "batch_manifest": MANIFEST_SCHEMA,
    }
    specs = {s.key: s for s in defs.resolve_all_asset_specs() if s.group_name in WINDOWS}
    for key, spec in specs.items():
        columns = spec.metadata["dagster/column_schema"].columns
        # Exactly the schema's columns (a column added to a schema shows up here)...
        assert [c.name for c in columns] == schemas[key.path[-1]].names, key
        # ...and each with a description, or this names it.
        undescribed = [c.name for c in columns if not (c.description or "").strip()]
        assert not undescribed, f"{key.to_user_string()}: no description for {undescribed}"


def _private_dagster_uses(tree: ast.AST) -> list[tuple[int, str]]:
    """Imports of ``dagster._...`` modules and ``dg._...``/``dagster._...`` attribute uses."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""]
        elif (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in ("dg", "dagster")
        ):
            names = [f"dagster.{node.attr}"]
        else:
            continue
        found += [(node.lineno, n) for n in names if n.startswith("dagster._")]
    return found


def test_private_dagster_use_is_detected():
    # The scan below must see each form of private use, or its silence proves nothing.
    source = (
        "from dagster._core.definitions import x\nimport dagster._utils\n"
        "import dagster as dg\ndg._check\nmessage = 'dagster._core in a string is fine'\n"
    )
    assert [n for _, n in _private_dagster_uses(ast.parse(source))] == [
        "dagster._core.definitions",
        "dagster._utils",
        "dagster._check",
    ]


def test_no_module_imports_private_dagster_apis():
    # Only `import dagster as dg` and its public names: Dagster's underscore modules may change
    # in any release. (Strings and comments may name them: error texts quote Dagster's types.)
    root = Path(__file__).resolve().parents[1]
    offenders = [
        f"{path.relative_to(root)}:{line}: {name}"
        for folder in ("dtg_assets", "dtg_assets_tests", "benchmarks")
        for path in sorted((root / folder).rglob("*.py"))
        for line, name in _private_dagster_uses(ast.parse(path.read_text()))
    ]
    assert not offenders, offenders


@pytest.mark.parametrize("window", WINDOWS)
def test_both_windows_backfill_in_a_single_run_and_can_be_subset(window):
    graph = defs.resolve_asset_graph()
    assets_def = graph.assets_def_for_key(dg.AssetKey([window, "visitor_events"]))
    assert assets_def.backfill_policy == dg.BackfillPolicy.single_run()
    assert assets_def.can_subset


@pytest.mark.parametrize(
    ("name", "window", "partitions"),
    [
        ("historical_job", "historical", historical_partitions),
        ("live_job", "live", live_partitions),
    ],
)
def test_jobs_resolve_to_their_window(name, window, partitions):
    job = defs.resolve_job_def(name)
    assert job.partitions_def == partitions
    # Every landing asset of its window and none of the other's (a job may add others, such
    # as the gatekeeper's findings of the live days).
    landing = {k for k in job.asset_layer.selected_asset_keys if k.path[0] in WINDOWS}
    assert landing == {dg.AssetKey([window, n]) for n in NAMES}


def test_historical_partitions_are_the_14_days_from_the_start_date():
    keys = historical_partitions.get_partition_keys(
        current_time=dt.datetime(2030, 1, 1, tzinfo=UTC)
    )
    assert keys == _days(DAGSTER_START, 14)


@pytest.mark.parametrize(
    ("now", "last", "complete"),
    [
        # Today is a partition from midnight (its batches arrive live); the days before it
        # are complete.
        (dt.datetime(2026, 11, 22, 0, 0, tzinfo=UTC), "2026-11-22", "2026-11-21"),
        (dt.datetime(2026, 11, 21, 23, 59, tzinfo=UTC), "2026-11-21", "2026-11-20"),
        (dt.datetime(2026, 11, 22, 8, 30, tzinfo=UTC), "2026-11-22", "2026-11-21"),
    ],
)
def test_live_partitions_run_from_the_day_after_history_to_today(now, last, complete):
    keys = live_partitions.get_partition_keys(current_time=now)
    assert keys[0] == "2026-11-15"
    assert keys[-1] == last
    assert keys == _days(dt.date(2026, 11, 15), len(keys))
    assert complete_partition_keys(live_partitions, now) == keys[:-1]
    assert complete_partition_keys(live_partitions, now)[-1] == complete


def test_live_partitions_keep_growing_to_today():
    today = dt.datetime.now(UTC).date()
    keys = live_partitions.get_partition_keys()
    assert keys[0] == "2026-11-15"
    assert keys[-1] == today.isoformat()


def test_default_start_date_gives_seven_complete_live_days_and_today(monkeypatch):
    monkeypatch.delenv("DTG_START_DATE")
    historical, live = build_partitions()
    now = dt.datetime.now(UTC)
    assert len(historical.get_partition_keys(current_time=now)) == 14
    assert len(complete_partition_keys(live, now)) == 7
    assert live.get_partition_keys(current_time=now)[-1] == now.date().isoformat()


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("01/11/2026", r"^DTG_START_DATE='01/11/2026' is not a date.*YYYY-MM-DD$"),
        # The partitions would run past the last date Python knows.
        ("9999-12-25", r"^DTG_START_DATE=9999-12-25: the scenario's 21 days.*9999-12-05$"),
    ],
)
def test_bad_start_date_is_rejected_by_name(monkeypatch, raw, message):
    monkeypatch.setenv("DTG_START_DATE", raw)
    with pytest.raises(ValueError, match=message):
        build_partitions()


def test_schedule_runs_live_job_at_one_in_the_morning_utc():
    schedule = defs.resolve_schedule_def("live_daily_schedule")
    assert schedule.job_name == "live_job"
    assert schedule.cron_schedule == "0 1 * * *"
    assert schedule.execution_timezone == "UTC"


@pytest.mark.parametrize(
    ("tick", "partition"),
    [
        (dt.datetime(2026, 11, 22, 1, 0, tzinfo=UTC), "2026-11-21"),
        # The first live day is requested the morning after it ends.
        (dt.datetime(2026, 11, 16, 1, 0, tzinfo=UTC), "2026-11-15"),
    ],
)
def test_schedule_tick_requests_the_day_that_just_ended(tick, partition):
    schedule = defs.resolve_schedule_def("live_daily_schedule")
    # Both as context managers: the schedule context opens an instance of its own, and left
    # unclosed it broke later in-process runs of the session ("undefined DagsterInstance").
    with (
        dg.instance_for_test() as instance,
        dg.build_schedule_context(
            instance=instance, scheduled_execution_time=tick, repository_def=REPOSITORY
        ) as context,
    ):
        result = schedule.evaluate_tick(context)
    [request] = result.run_requests
    assert request.partition_key == partition
    assert request.job_name == "live_job"


def test_schedule_tick_before_any_live_day_is_complete_requests_nothing():
    schedule = defs.resolve_schedule_def("live_daily_schedule")
    tick = dt.datetime(2026, 11, 15, 1, 0, tzinfo=UTC)
    # Both as context managers: the schedule context opens an instance of its own, and left
    # unclosed it broke later in-process runs of the session ("undefined DagsterInstance").
    with (
        dg.instance_for_test() as instance,
        dg.build_schedule_context(
            instance=instance, scheduled_execution_time=tick, repository_def=REPOSITORY
        ) as context,
    ):
        result = schedule.evaluate_tick(context)
    assert not result.run_requests


def test_live_arrival_sensor_and_replay_job_load():
    sensor = defs.resolve_sensor_def("live_arrival_sensor")
    assert sensor.job_name == "live_job"
    assert sensor.minimum_interval_seconds == 60
    # Off until turned on in the UI (or `dagster sensor start`): it writes into the data root.
    assert sensor.default_status == dg.DefaultSensorStatus.STOPPED
    job = defs.resolve_job_def("live_replay_job")
    assert job.partitions_def is None
    assert set(job.graph.node_names()) == {"replay_live_window"}
