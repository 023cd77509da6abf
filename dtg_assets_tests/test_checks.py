"""Each asset check shown to fail on tampered data, and only the checks that should.

A historical and a live day are landed once (scale 0.1) and copied for every test, which then
tampers with the copy as a broken writer or a careless hand would: a deleted file, a duplicated
row, a missing batch, an orphan reference, a label pointing nowhere, a manifest that lies, a
truncated Parquet file. Most tampering is verified with ``verify_day`` directly and the exact
set of failing checks asserted; the main cases also go through Dagster as a checks-only run, to
show that the evaluations carry the partition and that a failed (blocking) ERROR check fails the
run while a failed WARN check does not.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import uuid

import dagster as dg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dtg_assets.resources import AnomalyScheduleResource, SimulationResource, build_scenario
from dtg_assets.simulation.checks import CHECKS, CheckOutcome
from dtg_assets.simulation.landing import LandingZone
from dtg_assets.simulation.plan import Window, plan_day
from dtg_assets.simulation.schemas import MANIFEST_SCHEMA, TABLES
from dtg_assets.simulation.verify import CHECK_SPECS, verify_day
from dtg_assets_tests.conftest import HISTORICAL_DAY, LIVE_DAY, run_checks_only

SCALE = 0.1
H, L = Window.HISTORICAL, Window.LIVE
DAY = {H: HISTORICAL_DAY, L: LIVE_DAY}


@pytest.fixture(scope="module")
def config():
    """The scenario the Dagster resources build at this scale (SPEC's defaults otherwise)."""
    return build_scenario(SimulationResource(scale=SCALE), AnomalyScheduleResource())


@pytest.fixture(scope="module")
def pristine(config, tmp_path_factory):
    """A data root holding one landed historical and one landed live day, untouched."""
    root = tmp_path_factory.mktemp("pristine")
    zone = LandingZone(str(root))
    for window, day in DAY.items():
        zone.write_day(config, day, window)
    return root


@pytest.fixture
def zone(pristine, tmp_path):
    """A private copy of the pristine data root, to tamper with."""
    shutil.copytree(pristine, tmp_path / "data")
    return LandingZone(str(tmp_path / "data"))


# --- helpers ----------------------------------------------------------------------------------


def _read(path: str) -> pa.Table:
    return pq.ParquetFile(path).read()


def _write(path: str, table: pa.Table) -> None:
    pq.write_table(table, path)


def _file(zone: LandingZone, table: str, window: Window, index: int = 0) -> str:
    return zone.day_files(table, window, DAY[window])[index]


def _set(table: pa.Table, row: int, column: str, value) -> pa.Table:
    values = table.column(column).to_pylist()
    values[row] = value
    i = table.schema.get_field_index(column)
    return table.set_column(i, table.schema.field(i), pa.array(values, table.schema.field(i).type))


def _first(table: pa.Table, column: str, value) -> int:
    """Index of the first row whose column equals value."""
    return table.column(column).to_pylist().index(value)


def _edit_manifest(zone: LandingZone, window: Window, edit) -> None:
    path = zone.manifest_path(window, DAY[window])
    rows = [r for r in (edit(r) for r in _read(path).to_pylist()) if r is not None]
    _write(path, pa.Table.from_pylist(rows, schema=MANIFEST_SCHEMA))


def _outcomes(zone: LandingZone, config, window: Window) -> dict:
    return {(o.spec.asset, o.spec.name): o for o in verify_day(zone, config, DAY[window], window)}


def _failed(zone: LandingZone, config, window: Window) -> set[tuple[str, str]]:
    return {k for k, o in _outcomes(zone, config, window).items() if not o.passed}


def _through_dagster(zone: LandingZone, window: Window, **simulation):
    """A checks-only Dagster run on the tampered day.

    Returns:
        ``(result, failed evaluations by key, the run's log messages)``.
    """
    run_config = {
        "resources": {
            "simulation": {"config": {"data_root": zone.uri, "scale": SCALE, **simulation}}
        }
    }
    with dg.instance_for_test() as instance:
        result = run_checks_only(
            f"{window.value}_job", DAY[window], run_config=run_config, instance=instance
        )
        logs = [e.user_message for e in instance.all_logs(result.run_id)]
    evaluations = result.get_asset_check_evaluations()
    assert len(evaluations) == len(CHECK_SPECS)
    assert {e.partition for e in evaluations} == {DAY[window].isoformat()}
    assert not result.get_asset_materialization_events()
    assert not [m for m in logs if "did not yield or return expected outputs" in m]
    failed = {(e.asset_key.path[-1], e.check_name): e for e in evaluations if not e.passed}
    return result, failed, logs


def _run_failure(result) -> str:
    [failure] = [e for e in result.all_events if e.is_step_failure]
    return failure.event_specific_data.error.to_string()


def _assert_fails_the_run(result, failed: dict, window: Window, logs: list[str]) -> None:
    """ERROR checks failed: Dagster's blocking gate fails the run naming each failed check,
    and the run's log names each with its partition and why."""
    assert not result.success
    message = _run_failure(result)
    assert f"{len(failed)} blocking asset check" in message
    assert "DagsterAssetCheckFailedError" in message
    [logged] = [m for m in logs if "blocking check(s) failed" in m]
    for (asset, name), evaluation in failed.items():
        assert evaluation.severity.value == "ERROR"
        [line] = [x for x in message.splitlines() if x.startswith(f"{window.value}/{asset}: ")]
        assert name in line.split(": ", 1)[1].split(",")
        assert f"{DAY[window]} {window.value}/{asset}:{name} - {evaluation.description}" in logged


# --- the untouched days -----------------------------------------------------------------------


@pytest.mark.parametrize("window", [H, L])
def test_untouched_days_pass_every_check(pristine, config, window):
    assert _failed(LandingZone(str(pristine)), config, window) == set()


def test_one_check_value_per_check_and_typed_outcomes(pristine, config):
    # One catalog: the specs Dagster declares are exactly those of the checks that run.
    assert list(CHECK_SPECS) == [c.spec for c in CHECKS]
    assert len({(s.asset, s.name) for s in CHECK_SPECS}) == len(CHECKS) == 16
    outcomes = verify_day(LandingZone(str(pristine)), config, HISTORICAL_DAY, H)
    assert [o.spec for o in outcomes] == list(CHECK_SPECS)
    for outcome in outcomes:
        assert isinstance(outcome, CheckOutcome)
        assert outcome.day == HISTORICAL_DAY and outcome.passed is True
        assert json.loads(json.dumps(outcome.metadata)) == outcome.metadata  # plain JSON


@pytest.mark.parametrize("table", TABLES)
def test_an_unreadable_table_fails_exactly_the_checks_that_read_it(zone, config, table):
    path = _file(zone, table, H)
    with open(path, "r+b") as handle:
        handle.truncate(os.path.getsize(path) // 2)
    reading = {(c.spec.asset, c.spec.name) for c in CHECKS if table in c.reads}
    assert _failed(zone, config, H) == reading
    # A subset of the checks runs only those, in the order given.
    subset = tuple(c for c in CHECKS if table not in c.reads)
    outcomes = verify_day(zone, config, DAY[H], H, checks=subset)
    assert [o.spec for o in outcomes] == [c.spec for c in subset]
    assert all(o.passed for o in outcomes)


# --- landing errors through Dagster -----------------------------------------------------------


def test_deleted_landing_file_fails_rows_match_manifest(zone, config):
    # Transactions land up to five days after their batch: delete one of the later dates.
    path = _file(zone, "transactions", H, index=1)
    lost = _read(path).num_rows
    os.remove(path)
    result, failed, logs = _through_dagster(zone, H)
    assert set(failed) == {("transactions", "rows_match_manifest")}
    evaluation = failed[("transactions", "rows_match_manifest")]
    batch = plan_day(config, HISTORICAL_DAY, H)[0].batch_id
    assert batch in evaluation.description
    meta = evaluation.metadata
    assert meta["rows_in_manifest"].value - meta["rows_landed"].value == lost
    _assert_fails_the_run(result, failed, H, logs)


def test_duplicated_row_fails_primary_key_and_counts(zone):
    path = _file(zone, "visitor_events", H)
    table = _read(path)
    _write(path, pa.concat_tables([table, table.slice(7, 1)]))
    result, failed, logs = _through_dagster(zone, H)
    assert set(failed) == {
        ("visitor_events", "primary_key_unique"),
        ("visitor_events", "rows_match_manifest"),
        ("visitor_events", "visitors_match_schedule"),
    }
    pk = failed[("visitor_events", "primary_key_unique")]
    assert pk.metadata["duplicate_keys"].value == 1
    assert table.column("visitor_id")[7].as_py() in pk.metadata["sample"].value
    _assert_fails_the_run(result, failed, H, logs)


def test_orphan_account_fails_referential_integrity(zone):
    path = _file(zone, "accounts", H)
    table = _read(path)
    orphan = table.slice(0, 1)
    orphan = _set(orphan, 0, "account_id", str(uuid.uuid4()))
    orphan = _set(orphan, 0, "app_id", str(uuid.uuid4()))
    _write(path, pa.concat_tables([table, orphan]))
    result, failed, logs = _through_dagster(zone, H)
    assert set(failed) == {
        ("accounts", "accounts_reference_approved_applications"),
        ("accounts", "accounts_equal_approved_applications"),
        ("accounts", "rows_match_manifest"),
    }
    ref = failed[("accounts", "accounts_reference_approved_applications")]
    assert ref.metadata["orphans"].value == 1
    assert ref.metadata["sample"].value == [orphan.column("app_id")[0].as_py()]
    _assert_fails_the_run(result, failed, H, logs)


def test_truncated_parquet_fails_the_checks_of_its_table_naming_the_file(zone):
    path = _file(zone, "visitor_events", L, index=2)
    with open(path, "r+b") as handle:
        handle.truncate(os.path.getsize(path) // 2)
    result, failed, logs = _through_dagster(zone, L)
    # Every check reading visitor_events fails; the others still run and pass.
    assert set(failed) == {
        ("visitor_events", "rows_match_manifest"),
        ("visitor_events", "primary_key_unique"),
        ("visitor_events", "visitors_match_schedule"),
        ("applications", "applications_reference_visitors"),
        ("batch_manifest", "all_scheduled_batches_present"),
        ("batch_manifest", "funnel_ratios_within_bounds"),
        ("ground_truth_labels", "labels_consistent_with_landing"),
    }
    for evaluation in failed.values():
        assert f"cannot read {path}" in evaluation.description
    _assert_fails_the_run(
        result, {k: v for k, v in failed.items() if v.severity.value == "ERROR"}, L, logs
    )


def test_funnel_out_of_bounds_is_a_warning_that_does_not_fail_the_run(zone):
    # The landed day is fine, but the checks are told the funnel converts 50% of visitors.
    result, failed, logs = _through_dagster(zone, H, funnel={"apply_rate": 0.5})
    assert set(failed) == {("batch_manifest", "funnel_ratios_within_bounds")}
    evaluation = failed[("batch_manifest", "funnel_ratios_within_bounds")]
    assert evaluation.severity.value == "WARN"
    assert evaluation.metadata["worst_z"].value > 5
    assert result.success
    assert not [m for m in logs if "blocking check(s) failed" in m]


# --- every other check, with verify_day ---------------------------------------------------------


def test_missing_batch_fails_the_schedule_checks(zone, config):
    batch = plan_day(config, LIVE_DAY, L)[3].batch_id  # a normal batch: no labels to fix up
    for table in TABLES:
        for path in zone.day_files(table, L, LIVE_DAY):
            if os.path.basename(path).startswith(f"{batch}."):
                os.remove(path)
    _edit_manifest(zone, L, lambda r: None if r["batch_id"] == batch else r)
    outcomes = _outcomes(zone, config, L)
    assert {k for k, o in outcomes.items() if not o.passed} == {
        ("batch_manifest", "all_scheduled_batches_present"),
        ("visitor_events", "visitors_match_schedule"),
    }
    present = outcomes[("batch_manifest", "all_scheduled_batches_present")]
    assert present.metadata["missing"] == [batch]


def test_batch_files_gone_but_in_the_manifest_fail_counts_and_presence(zone, config):
    batch = plan_day(config, LIVE_DAY, L)[3].batch_id
    for table in TABLES:
        for path in zone.day_files(table, L, LIVE_DAY):
            if os.path.basename(path).startswith(f"{batch}."):
                os.remove(path)
    failed = _failed(zone, config, L)
    assert {(t, "rows_match_manifest") for t in TABLES} <= failed
    assert ("batch_manifest", "all_scheduled_batches_present") in failed


def test_missing_manifest_fails_every_count_check(zone, config):
    os.remove(zone.manifest_path(H, HISTORICAL_DAY))
    outcomes = _outcomes(zone, config, H)
    for table in TABLES:
        outcome = outcomes[(table, "rows_match_manifest")]
        assert not outcome.passed
        assert "no batch manifest" in outcome.description
    assert not outcomes[("batch_manifest", "all_scheduled_batches_present")].passed


def test_whole_file_appended_twice_fails_primary_key(zone, config):
    path = _file(zone, "transactions", L, index=0)
    table = _read(path)
    _write(path, pa.concat_tables([table, table]))
    outcomes = _outcomes(zone, config, L)
    failed = {k for k, o in outcomes.items() if not o.passed}
    assert {("transactions", "primary_key_unique"), ("transactions", "rows_match_manifest")} <= (
        failed
    )
    assert outcomes[("transactions", "primary_key_unique")].metadata["duplicate_keys"] == (
        table.num_rows
    )


def test_manifest_count_off_by_one_fails_only_that_table(zone, config):
    _edit_manifest(zone, H, lambda r: {**r, "rows_transactions": r["rows_transactions"] + 1})
    assert _failed(zone, config, H) == {("transactions", "rows_match_manifest")}


def test_visitors_off_schedule_fail_only_visitors_match_schedule(zone, config):
    # Drop a visitor who did not apply, and make the manifest agree: only the schedule differs.
    path = _file(zone, "visitor_events", H)
    visitors = _read(path)
    applied = set(_read(_file(zone, "applications", H)).column("visitor_id").to_pylist())
    keep = [v not in applied for v in visitors.column("visitor_id").to_pylist()]
    drop = keep.index(True)
    keep = [True] * visitors.num_rows
    keep[drop] = False
    _write(path, visitors.filter(pa.array(keep)))
    _edit_manifest(zone, H, lambda r: {**r, "rows_visitor_events": r["rows_visitor_events"] - 1})
    outcomes = _outcomes(zone, config, H)
    assert {k for k, o in outcomes.items() if not o.passed} == {
        ("visitor_events", "visitors_match_schedule")
    }
    meta = outcomes[("visitor_events", "visitors_match_schedule")].metadata
    assert meta["scheduled_visitors"] - meta["landed_visitors"] == 1


@pytest.mark.parametrize(
    ("table", "column", "check"),
    [
        ("applications", "visitor_id", "applications_reference_visitors"),
        ("accounts", "app_id", "accounts_reference_approved_applications"),
        ("transactions", "account_id", "transactions_reference_accounts"),
    ],
)
def test_dangling_reference_fails_only_its_referential_check(zone, config, table, column, check):
    path = _file(zone, table, H)
    _write(path, _set(_read(path), 0, column, str(uuid.uuid4())))
    assert _failed(zone, config, H) == {(table, check)}


def test_account_of_a_rejected_application_fails_the_approved_reference(zone, config):
    apps = _read(_file(zone, "applications", H))
    rejected = apps.column("app_id")[_first(apps, "application_status", "rejected")].as_py()
    path = _file(zone, "accounts", H)
    _write(path, _set(_read(path), 0, "app_id", rejected))
    assert _failed(zone, config, H) == {("accounts", "accounts_reference_approved_applications")}


def test_approved_application_without_account_fails_accounts_equal_approved(zone, config):
    path = _file(zone, "applications", H)
    apps = _read(path)
    row = _first(apps, "application_status", "rejected")
    _write(path, _set(apps, row, "application_status", "approved"))
    outcomes = _outcomes(zone, config, H)
    assert {k for k, o in outcomes.items() if not o.passed} == {
        ("accounts", "accounts_equal_approved_applications")
    }
    meta = outcomes[("accounts", "accounts_equal_approved_applications")].metadata
    assert meta["approved_applications"] == meta["accounts"] + 1


def test_two_accounts_for_one_application_fail_accounts_equal_approved(zone, config):
    path = _file(zone, "accounts", H)
    accounts = _read(path)
    # Account 1 now points at account 0's application: one approved app has none, one has two.
    _write(path, _set(accounts, 1, "app_id", accounts.column("app_id")[0].as_py()))
    outcomes = _outcomes(zone, config, H)
    assert {k for k, o in outcomes.items() if not o.passed} == {
        ("accounts", "accounts_equal_approved_applications")
    }
    meta = outcomes[("accounts", "accounts_equal_approved_applications")].metadata
    assert meta["apps_with_several_accounts"] == 1


def test_label_of_a_record_that_never_landed_fails_labels_consistent(zone, config):
    path = zone.labels_path(L, LIVE_DAY)
    labels = _read(path)
    row = _first(labels, "effect", "modified")
    _write(path, _set(labels, row, "record_id", str(uuid.uuid4())))
    outcomes = _outcomes(zone, config, L)
    assert {k for k, o in outcomes.items() if not o.passed} == {
        ("ground_truth_labels", "labels_consistent_with_landing")
    }
    table = labels.column("table")[row].as_py()
    description = outcomes[("ground_truth_labels", "labels_consistent_with_landing")].description
    assert f"1 {table} labels disagree with landing" in description


def test_label_naming_another_anomaly_fails_labels_consistent(zone, config):
    path = zone.labels_path(L, LIVE_DAY)
    labels = _read(path)
    first = labels.column("anomaly")[0].as_py()
    other = "fraud_spike" if first != "fraud_spike" else "null_burst"
    _write(path, _set(labels, 0, "anomaly", other))
    outcome = _outcomes(zone, config, L)[("ground_truth_labels", "labels_consistent_with_landing")]
    assert not outcome.passed
    assert "1 labels name another anomaly than their batch's" in outcome.description


def test_dropped_label_fails_label_counts(zone, config):
    path = zone.labels_path(L, LIVE_DAY)
    labels = _read(path)
    _write(path, labels.slice(1))
    outcome = _outcomes(zone, config, L)[("ground_truth_labels", "labels_consistent_with_landing")]
    assert not outcome.passed
    assert "label counts differ from the manifest" in outcome.description


def test_most_applications_dropped_fails_the_funnel_ratio(zone, config):
    path = _file(zone, "applications", H)
    apps = _read(path)
    # Keep one application in five: the apply rate falls from 0.20 to about 0.04.
    _write(path, apps.filter(pa.array([i % 5 == 0 for i in range(apps.num_rows)])))
    outcomes = _outcomes(zone, config, H)
    funnel = outcomes[("batch_manifest", "funnel_ratios_within_bounds")]
    assert not funnel.passed
    assert funnel.spec.severity == "WARN"
    assert funnel.metadata["worst_z"] > 5
    assert not outcomes[("applications", "rows_match_manifest")].passed


def test_funnel_check_holds_for_every_anomaly_of_the_live_schedule(pristine, config):
    # The live day's anomalies (age error, traffic spike...) shift the rates in ways the check
    # expects; its worst deviation must stay within bounds on an untouched day.
    outcome = _outcomes(LandingZone(str(pristine)), config, L)[
        ("batch_manifest", "funnel_ratios_within_bounds")
    ]
    assert outcome.passed
    assert len(outcome.metadata["z_by_batch"]) == len(config.live_schedule)


@pytest.mark.parametrize(
    ("change", "why"),
    [("drop", "missing column(s) ['app_id']"), ("retype", "is int64, not string")],
)
def test_lost_or_retyped_column_fails_the_checks_naming_the_file(zone, config, change, why):
    # A file without the landing schema is not read as if it had it (no null-filled or
    # stringified ids): every check that reads accounts fails, naming the file and the column.
    path = _file(zone, "accounts", H)
    table = _read(path)
    if change == "drop":
        table = table.drop_columns(["app_id"])
    else:
        i = table.schema.get_field_index("app_id")
        table = table.set_column(i, "app_id", pa.array(range(table.num_rows)))
    _write(path, table)
    outcomes = _outcomes(zone, config, H)
    failed = {k for k, o in outcomes.items() if not o.passed}
    assert failed == {
        ("accounts", "rows_match_manifest"),
        ("accounts", "primary_key_unique"),
        ("accounts", "accounts_reference_approved_applications"),
        ("accounts", "accounts_equal_approved_applications"),
        ("transactions", "transactions_reference_accounts"),
        ("batch_manifest", "funnel_ratios_within_bounds"),
        ("ground_truth_labels", "labels_consistent_with_landing"),
    }
    for key in failed:
        assert str(path).rsplit("/", 1)[-1] in outcomes[key].description
        assert why in outcomes[key].description


# --- the extended preset: the structural anomalies landed on purpose --------------------------


@pytest.fixture(scope="module")
def extended(tmp_path_factory):
    """The extended preset's whole live week (scale 0.1) landed once: ``(config, root)``."""
    config = build_scenario(
        SimulationResource(scale=SCALE), AnomalyScheduleResource(scenario="extended")
    )
    root = tmp_path_factory.mktemp("extended")
    zone = LandingZone(str(root))
    for day in _live_days(config):
        zone.write_day(config, day, L)
    return config, root


def _live_days(config):
    return [config.live_start + dt.timedelta(days=i) for i in range(config.live_days)]


def test_every_check_passes_on_the_extended_week(extended):
    config, root = extended
    zone = LandingZone(str(root))
    for day in _live_days(config):
        failed = [(o.spec.name, o.description) for o in verify_day(zone, config, day, L)
                  if not o.passed]  # fmt: skip
        assert failed == [], (day, failed)


def test_extended_manifest_plans_the_missing_batch_without_files(extended):
    config, root = extended
    zone = LandingZone(str(root))
    rows = [r for d in _live_days(config) for r in zone.read_manifest(L, d).to_pylist()]
    missing = [r for r in rows if "missing_batch" in r["anomalies"]]
    assert len(missing) == 3
    assert all(r["files"] == [] and r["rows_visitor_events"] == 0 for r in missing)
    doubles = [r for r in rows if len(r["anomalies"]) == 2]
    assert [r["anomaly"] for r in doubles] == [
        "null_burst+schema_drift",
        "fraud_spike+timezone_shift",
    ]
    assert all(r["anomaly"] is None and r["anomalies"] == [] for r in rows if r["batch_index"] == 0)


def _dup_day(config):
    """The first live day with a same-batch duplicate, and the file of its copied visitors."""
    for day in _live_days(config):
        for plan in plan_day(config, day, L):
            if plan.anomaly_label == "duplicate_records":
                return day, plan
    raise AssertionError("no duplicate batch")


def test_an_unplanned_copy_and_a_lost_planned_copy_fail_the_key_check(extended, tmp_path):
    config, pristine_root = extended
    shutil.copytree(pristine_root, tmp_path / "data")
    zone = LandingZone(str(tmp_path / "data"))
    day, plan = _dup_day(config)
    path = next(p for p in zone.day_files("visitor_events", L, day) if plan.batch_id in p)
    rows = _read(path)
    # Losing the last row (a planned copy) and repeating the first (an unplanned one) keeps
    # the row count, so only the key check can tell.
    _write(path, pa.concat_tables([rows.slice(0, 1), rows.slice(0, rows.num_rows - 1)]))
    failed = {o.spec.name for o in verify_day(zone, config, day, L) if not o.passed}
    assert "primary_key_unique" in failed
    assert "rows_match_manifest" not in failed


def test_an_unplanned_orphan_fails_while_the_planned_ones_pass(extended, tmp_path):
    config, pristine_root = extended
    shutil.copytree(pristine_root, tmp_path / "data")
    zone = LandingZone(str(tmp_path / "data"))
    orphaning = [p.day for p in _all_plans(config) if p.anomaly_label == "orphan_records"]
    day = orphaning[0]
    path = _file_of(zone, day, "applications", 0)
    _write(path, _set(_read(path), 0, "visitor_id", str(uuid.uuid4())))
    outcome = {o.spec.name: o for o in verify_day(zone, config, day, L)}
    assert not outcome["applications_reference_visitors"].passed
    assert "1 applications rows reference no visitor_events" in (
        outcome["applications_reference_visitors"].description
    )


def _all_plans(config):
    return [p for d in _live_days(config) for p in plan_day(config, d, L)]


def _file_of(zone, day, table, index):
    return zone.day_files(table, L, day)[index]
