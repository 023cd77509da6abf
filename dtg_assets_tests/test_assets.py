"""Landing assets materialized in process: per-partition metadata, checks and idempotence.

Each test lands a small scenario (scale 0.05: 250 historical or about 2,000 live visitors a
day) into a temporary data root, then compares what Dagster recorded with what is on disk.
"""

from __future__ import annotations

import datetime as dt
import os
from collections import Counter

import dagster as dg
import pyarrow.compute as pc
import pytest

from dtg_assets.assets import historical_landing, live_landing
from dtg_assets.definitions import defs
from dtg_assets.simulation.config import DEFAULT_LIVE_SCHEDULE
from dtg_assets.simulation.landing import LandingZone
from dtg_assets.simulation.plan import Window
from dtg_assets.simulation.schemas import PRIMARY_KEY, TABLES
from dtg_assets.simulation.storage import Storage
from dtg_assets.simulation.verify import CHECK_SPECS
from dtg_assets_tests.conftest import (
    HISTORICAL_DAY,
    LIVE_DAY,
    dagster_resources,
    run_checks_only,
)

NAMES = (*TABLES, "ground_truth_labels", "batch_manifest")
MISSING_OUTPUTS = "did not yield or return expected outputs"
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"
CASES = {
    "historical": (historical_landing, HISTORICAL_DAY, Window.HISTORICAL),
    "live": (live_landing, LIVE_DAY, Window.LIVE),
}


def _materializations(result: dg.ExecuteInProcessResult) -> dict:
    """``(asset name, partition) -> metadata`` of every materialization of a run."""
    out = {}
    for event in result.get_asset_materialization_events():
        mat = event.materialization
        key = (mat.asset_key.path[-1], mat.partition)
        assert key not in out, f"{key} materialized twice in one run"
        out[key] = mat.metadata
    return out


def _evaluations(result: dg.ExecuteInProcessResult) -> dict:
    """``(asset name, check name, partition) -> evaluation`` of a run."""
    out = {}
    for ev in result.get_asset_check_evaluations():
        key = (ev.asset_key.path[-1], ev.check_name, ev.partition)
        assert key not in out, f"{key} evaluated twice in one run"
        out[key] = ev
    return out


def _logs(instance: dg.DagsterInstance, result: dg.ExecuteInProcessResult) -> list[str]:
    """Every message the run logged (Dagster's own lines and the assets'), in order."""
    return [e.user_message for e in instance.all_logs(result.run_id)]


def _assert_no_missing_outputs(logs: list[str]) -> None:
    # The line Dagster logs when a step declares check outputs it does not produce: users read
    # it as a failure, so no run may log it.
    assert logs and not [m for m in logs if MISSING_OUTPUTS in m]


def _disk_rows(zone: LandingZone, window: Window, day) -> dict[str, int]:
    rows = {t: zone.read_day(t, window, day).num_rows for t in TABLES}
    rows["ground_truth_labels"] = zone.read_labels(window, day).num_rows
    rows["batch_manifest"] = zone.read_manifest(window, day).num_rows
    return rows


@pytest.fixture(scope="module", params=list(CASES))
def landed(request, tmp_path_factory):
    """One partition of each window materialized once: ``(window, day, zone, result, logs)``."""
    assets_def, day, window = CASES[request.param]
    root = tmp_path_factory.mktemp(f"landed-{request.param}")
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [assets_def],
            partition_key=day.isoformat(),
            resources=dagster_resources(root),
            instance=instance,
        )
        logs = _logs(instance, result)
    return window, day, LandingZone(str(root)), result, logs


def test_every_asset_is_materialized_for_the_partition(landed):
    _, day, _, result, _ = landed
    assert result.success
    assert set(_materializations(result)) == {(n, day.isoformat()) for n in NAMES}


def test_every_check_passes_and_carries_the_partition(landed):
    window, day, _, result, _ = landed
    evaluations = _evaluations(result)
    assert set(evaluations) == {(s.asset, s.name, day.isoformat()) for s in CHECK_SPECS}
    failed = {k: e.description for k, e in evaluations.items() if not e.passed}
    assert not failed
    for (asset, _, _), ev in evaluations.items():
        assert ev.asset_key == dg.AssetKey([window.value, asset])


def test_a_partition_run_logs_no_missing_check_output(landed):
    _assert_no_missing_outputs(landed[4])


def test_an_asset_only_run_lands_without_checks_or_missing_outputs(tmp_path):
    # Materializing assets without their checks (e.g. "Materialize" of a selection in the UI).
    selection = dg.AssetSelection.groups("historical").without_checks()
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [historical_landing],
            selection=selection,
            partition_key=HISTORICAL_DAY.isoformat(),
            resources=dagster_resources(tmp_path),
            instance=instance,
        )
        _assert_no_missing_outputs(_logs(instance, result))
    assert result.success
    assert not result.get_asset_check_evaluations()
    assert set(_materializations(result)) == {(n, HISTORICAL_DAY.isoformat()) for n in NAMES}


def test_row_count_metadata_equals_the_rows_on_disk(landed):
    window, day, zone, result, _ = landed
    mats = _materializations(result)
    disk = _disk_rows(zone, window, day)
    assert disk["visitor_events"] > 0 and disk["transactions"] > 0
    for name in NAMES:
        assert mats[(name, day.isoformat())]["dagster/row_count"].value == disk[name], name


def test_path_metadata_lists_exactly_the_files_on_disk(landed):
    window, day, zone, result, _ = landed
    mats = _materializations(result)
    for table in TABLES:
        meta = mats[(table, day.isoformat())]
        paths = meta["paths"].value
        assert sorted(paths) == zone.day_files(table, window, day)
        assert meta["files"].value == len(paths)
        assert "dagster/column_schema" in meta and "preview" in meta


def test_labelled_rows_metadata_equals_the_labels_on_disk(landed):
    window, day, zone, result, _ = landed
    mats = _materializations(result)
    labels = zone.read_labels(window, day).to_pandas()
    if window is Window.HISTORICAL:
        assert labels.empty
    else:
        # Labels come only from the schedule's anomalies (a rare one, like the fraud spike on
        # a handful of transactions, may leave none at this scale).
        scheduled = {b.anomaly.value for b in DEFAULT_LIVE_SCHEDULE if b.anomaly}
        assert {"null_burst", "traffic_spike", "stale_data"} <= set(labels["anomaly"]) <= scheduled
    for table in TABLES:
        expected = Counter(labels.loc[labels["table"] == table, "anomaly"])
        got = mats[(table, day.isoformat())]["labelled_rows_by_anomaly"].value
        assert got == dict(expected), table
    by_anomaly = mats[("ground_truth_labels", day.isoformat())]["labelled_rows_by_anomaly"].value
    assert by_anomaly == dict(Counter(labels["anomaly"]))


def test_checks_only_run_verifies_without_writing(landed):
    window, day, zone, _, _ = landed
    files = [p for t in TABLES for p in zone.day_files(t, window, day)]
    files += [zone.labels_path(window, day), zone.manifest_path(window, day)]
    before = {p: os.stat(p).st_mtime_ns for p in files}
    with dg.instance_for_test() as instance:
        result = run_checks_only(
            f"{window.value}_job", day, _run_config(zone.uri, scale=0.05), instance
        )
        _assert_no_missing_outputs(_logs(instance, result))
    assert result.success
    assert not result.get_asset_materialization_events()
    evaluations = _evaluations(result)
    assert len(evaluations) == len(CHECK_SPECS)
    assert all(e.passed and e.partition == day.isoformat() for e in evaluations.values())
    assert {p: os.stat(p).st_mtime_ns for p in files} == before


def _run_config(root: str, scale: float) -> dict:
    return {"resources": {"simulation": {"config": {"data_root": root, "scale": scale}}}}


def test_a_range_runs_once_and_records_every_partition(tmp_path):
    days = [HISTORICAL_DAY + dt.timedelta(days=i) for i in range(3)]
    keys = [d.isoformat() for d in days]
    with dg.instance_for_test() as instance:
        result = defs.resolve_job_def("historical_job").execute_in_process(
            run_config=_run_config(str(tmp_path), scale=0.02),
            tags={RANGE_START_TAG: keys[0], RANGE_END_TAG: keys[-1]},
            instance=instance,
        )
        _assert_no_missing_outputs(_logs(instance, result))
    assert result.success
    mats = _materializations(result)
    assert set(mats) == {(n, k) for n in NAMES for k in keys}
    evaluations = _evaluations(result)
    assert set(evaluations) == {(s.asset, s.name, k) for s in CHECK_SPECS for k in keys}
    assert all(e.passed for e in evaluations.values())
    zone = LandingZone(str(tmp_path))
    for day, key in zip(days, keys, strict=True):
        # 5,000 historical visitors a day at scale 0.02, exactly.
        assert mats[("visitor_events", key)]["dagster/row_count"].value == 100
        assert _disk_rows(zone, Window.HISTORICAL, day) == {
            n: mats[(n, key)]["dagster/row_count"].value for n in NAMES
        }


def test_rematerializing_a_partition_is_idempotent(tmp_path):
    resources = dagster_resources(tmp_path)
    zone = LandingZone(str(tmp_path))

    def snapshot():
        files = {t: zone.day_files(t, Window.LIVE, LIVE_DAY) for t in TABLES}
        tables = {t: zone.read_day(t, Window.LIVE, LIVE_DAY) for t in TABLES}
        return files, tables, zone.read_labels(Window.LIVE, LIVE_DAY)

    first = dg.materialize([live_landing], partition_key=LIVE_DAY.isoformat(), resources=resources)
    files, tables, labels = snapshot()
    second = dg.materialize([live_landing], partition_key=LIVE_DAY.isoformat(), resources=resources)
    assert first.success and second.success
    files2, tables2, labels2 = snapshot()
    assert files2 == files
    for table in TABLES:
        assert tables2[table].equals(tables[table]), table
        pk = tables2[table].column(PRIMARY_KEY[table])
        assert pc.count_distinct(pk).as_py() == len(pk)
    assert labels2.equals(labels)
    assert all(e.passed for e in second.get_asset_check_evaluations())
    counts = [
        {k: m["dagster/row_count"].value for k, m in _materializations(r).items()}
        for r in (first, second)
    ]
    assert counts[0] == counts[1]


def test_a_store_failure_mid_write_fails_the_run_in_one_line_and_keeps_the_day(
    tmp_path, monkeypatch
):
    resources = dagster_resources(tmp_path)
    zone = LandingZone(str(tmp_path))
    key = LIVE_DAY.isoformat()
    # The day's first four batches have arrived (landed batches are never written again).
    arrived = {"batches": [0, 1, 2, 3], "as_of": f"{key}T10:00:00+00:00"}
    first = dg.materialize(
        [live_landing],
        partition_key=key,
        resources=resources,
        run_config={"ops": {"live_landing": {"config": arrived}}},
    )
    assert first.success
    before = {t: zone.read_day(t, Window.LIVE, LIVE_DAY) for t in TABLES}

    def disk_full(self, pairs):
        raise OSError(28, "No space left on device")

    # The write of the rest of the day fails at its commit, the way a full disk or a dropped
    # object store does.
    monkeypatch.setattr(Storage, "rename_many", disk_full)
    result = dg.materialize(
        [live_landing], partition_key=key, resources=resources, raise_on_error=False
    )
    monkeypatch.undo()
    assert not result.success
    failures = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE]
    assert len(failures) == 1
    error = failures[0].step_failure_data.error
    # A dg.Failure: its message is the one line, with no exception class of the store's.
    assert error.cls_name == "Failure"
    assert error.message.strip().count("\n") == 0, error.message
    assert f"live {key}:" in error.message and "No space left on device" in error.message
    after = {t: zone.read_day(t, Window.LIVE, LIVE_DAY) for t in TABLES}
    assert all(after[t].equals(before[t]) for t in TABLES)
    assert not list(tmp_path.rglob("*.tmp"))
