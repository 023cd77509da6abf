"""The gatekeeper's Dagster assets: baseline, per-day findings with family checks, evaluation.

History is landed with the engine directly (the landing assets have their own tests), at full
default scale and seed 42 so the statistics are those of the product; then the gatekeeper's
assets run through Dagster and are compared with the pure functions they wrap.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import shutil

import dagster as dg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from dtg_assets.assets.gatekeeper import (
    BASELINE,
    EVALUATION,
    FAMILIES,
    FINDINGS,
    gatekeeper_baseline,
    gatekeeper_evaluation,
    gatekeeper_findings,
)
from dtg_assets.definitions import defs
from dtg_assets.gatekeeper import Baseline, detect_day
from dtg_assets.gatekeeper.evaluation import evaluate, load_ground_truth
from dtg_assets.gatekeeper.findings import flagged
from dtg_assets.gatekeeper.flagfile import write_flags
from dtg_assets.gatekeeper.flags import from_findings
from dtg_assets.gatekeeper.score_cli import main as score_main
from dtg_assets.gatekeeper.store import GatekeeperStore
from dtg_assets.partitions import historical_partitions
from dtg_assets.resources import GatekeeperResource, SimulationResource
from dtg_assets.simulation.config import ScenarioConfig
from dtg_assets.simulation.landing import LandingZone
from dtg_assets.simulation.plan import Window, plan_day
from dtg_assets.simulation.storage import Storage
from dtg_assets_tests.conftest import DAGSTER_START, LIVE_DAY


@pytest.fixture(scope="module")
def landed(tmp_path_factory) -> tuple[str, ScenarioConfig]:
    """14 historical days and one live day of the default scenario (seed 42), via the engine."""
    root = str(tmp_path_factory.mktemp("gatekeeper"))
    config = ScenarioConfig(start_date=DAGSTER_START, seed=42)
    zone = LandingZone(root)
    for key in historical_partitions.get_partition_keys():
        zone.write_day(config, dt.date.fromisoformat(key), Window.HISTORICAL)
    zone.write_day(config, LIVE_DAY, Window.LIVE)
    return root, config


def _resources(root: str) -> dict:
    return {"simulation": SimulationResource(data_root=root), "gatekeeper": GatekeeperResource()}


@pytest.fixture(scope="module")
def materialized(landed):
    """Baseline, the live day's findings and the evaluation, materialized in one instance."""
    root, _ = landed
    instance = dg.DagsterInstance.ephemeral()
    resources = _resources(root)
    baseline = dg.materialize([gatekeeper_baseline], resources=resources, instance=instance)
    findings = dg.materialize(
        [gatekeeper_findings],
        resources=resources,
        instance=instance,
        partition_key=LIVE_DAY.isoformat(),
    )
    evaluation = dg.materialize([gatekeeper_evaluation], resources=resources, instance=instance)
    return baseline, findings, evaluation, instance


def test_baseline_asset_stores_what_learn_baseline_learns_from_history(landed, materialized):
    root, _ = landed
    result = materialized[0]
    assert result.success
    stored = GatekeeperStore(LandingZone(root)).read_baseline()
    assert isinstance(stored, Baseline)
    assert len(stored.days) == 14 and len(stored.batches) == 14
    assert all(b.startswith("historical-") for b in stored.batches)
    meta = result.get_asset_materialization_events()[0].materialization.metadata
    assert meta["batches"].value == 14
    assert meta["path"].value.endswith("gatekeeper/baseline.json")


def test_findings_asset_equals_detect_day_and_flags_every_anomalous_batch(landed, materialized):
    root, config = landed
    result = materialized[1]
    assert result.success
    zone = LandingZone(root)
    store = GatekeeperStore(zone)
    stored = store.read_findings(LIVE_DAY)
    direct = detect_day(zone, LIVE_DAY, store.read_baseline())
    stamps = ["evidence_at", "flagged_at"]  # the asset stamps when it recorded the findings
    assert stored.drop(stamps).equals(direct.drop(stamps))
    assert stored["flagged_at"].null_count == 0  # stamped with the wall clock
    assert direct["flagged_at"].null_count == direct.num_rows  # unstamped unless asked
    flagged_batches = set(flagged(stored)["batch_id"])
    plans = plan_day(config, LIVE_DAY, Window.LIVE)
    assert flagged_batches == {p.batch_id for p in plans if p.anomaly is not None}
    (mat,) = result.get_asset_materialization_events()
    assert mat.materialization.partition == LIVE_DAY.isoformat()
    assert mat.materialization.metadata["dagster/row_count"].value == stored.num_rows
    assert mat.materialization.metadata["flagged_batches"].value == 6


def test_one_warn_check_per_family_per_partition_naming_batch_detector_and_metric(materialized):
    result = materialized[1]
    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert set(evaluations) == {f"{f}_detectors_pass" for f in FAMILIES}
    flags = None
    for family in FAMILIES:
        ev = evaluations[f"{family}_detectors_pass"]
        assert ev.partition == LIVE_DAY.isoformat()
        assert ev.severity == dg.AssetCheckSeverity.WARN
        # Every family catches something on a default live day (stale data, null burst, ...).
        assert not ev.passed, family
        batches = ev.metadata["flagged_batches"].value
        assert batches and all(b.startswith(f"live-{LIVE_DAY:%Y%m%d}-") for b in batches)
        flags = ev.metadata["flags"].value
        assert "| batch_id | family | detector | metric | threshold |" in flags
        assert batches[0] in flags
    assert result.success, "WARN checks must not fail the run"


def test_findings_run_logs_no_missing_check_output(materialized):
    # Dagster logs "did not yield or return expected outputs" for declared checks a step does
    # not produce; users read it as a failure.
    findings, instance = materialized[1], materialized[3]
    logs = [e.user_message for e in instance.all_logs(findings.run_id)]
    assert logs and not [m for m in logs if "did not yield or return expected outputs" in m]


def _steps(result: dg.ExecuteInProcessResult) -> dict[str, set[str]]:
    """``step key -> event types`` of a run."""
    steps: dict[str, set[str]] = {}
    for event in result.all_events:
        if event.step_key:
            steps.setdefault(event.step_key, set()).add(event.event_type_value)
    return steps


def test_a_failed_blocking_landing_check_stops_the_gatekeeper_in_live_job(
    landed, materialized, tmp_path
):
    root = str(tmp_path / "data")
    shutil.copytree(landed[0], root)
    job = defs.resolve_job_def("live_job")
    run_config = {"resources": {"simulation": {"config": {"data_root": root}}}}
    clean = job.execute_in_process(run_config=run_config, partition_key=LIVE_DAY.isoformat())
    assert clean.success
    assert "STEP_SUCCESS" in _steps(clean)["gatekeeper_findings"]
    # A stray file among the day's visitor events: a directory reader downstream would read
    # it, so the visitor_events check only_committed_files (ERROR, blocking) fails.
    zone = LandingZone(root)
    first = zone.day_files("visitor_events", Window.LIVE, LIVE_DAY)[0]
    stray = f"{first.rsplit('/', 1)[0]}/export.csv"
    assert f"date={LIVE_DAY.isoformat()}" in stray
    with zone.fs.open(stray, "wb") as handle:
        handle.write(b"visitor_id\n1\n")
    bad = job.execute_in_process(
        run_config=run_config, partition_key=LIVE_DAY.isoformat(), raise_on_error=False
    )
    assert not bad.success
    steps = _steps(bad)
    assert "STEP_FAILURE" in steps["live_landing"]
    # The gatekeeper never started: Dagster's gate on the blocking checks skipped it.
    assert "STEP_START" not in steps.get("gatekeeper_findings", set())
    failed = {
        (e.asset_key.path[-1], e.check_name)
        for e in bad.get_asset_check_evaluations()
        if not e.passed
    }
    assert failed == {("visitor_events", "only_committed_files")}
    assert not [e for e in bad.get_asset_materialization_events() if e.asset_key == FINDINGS]


def test_evaluation_asset_scores_findings_like_evaluate(landed, materialized):
    root, _ = landed
    result = materialized[2]
    assert result.success
    meta = result.get_asset_materialization_events()[0].materialization.metadata
    assert meta["anomalous_batches"].value == 6
    assert meta["caught_batches"].value == 6
    # 14 historical and the day's two normal live batches, none flagged.
    assert meta["normal_batches"].value == 16
    assert meta["false_alarms"].value == 0
    assert meta["min_record_precision"].value >= 0.95
    assert meta["min_record_recall"].value >= 0.95
    assert "anomalous batches caught" in meta["evaluation"].value
    zone = LandingZone(root)
    store = GatekeeperStore(zone)
    labels, manifest = load_ground_truth(zone, [(LIVE_DAY, "live")])
    direct = evaluate(store.read_findings(LIVE_DAY), labels, manifest)
    with zone.fs.open(zone.path("gatekeeper", "evaluation", "records.parquet"), "rb") as handle:
        records = pq.read_table(handle)
    live_truth = direct.records.set_index("record_type")["labelled"]
    for row in records.to_pylist():
        assert row["labelled"] == live_truth[row["record_type"]]
    assert pc.sum(records["true_positives"]).as_py() > 0
    # Measured delay: each flagged live batch's landing to its findings being recorded.
    with zone.fs.open(zone.path("gatekeeper", "evaluation", "batches.parquet"), "rb") as handle:
        batches = pq.read_table(handle).to_pandas()
    live = batches[batches["flagged"] & (batches["window"] == "live")]
    assert len(live) == 6 and (live["measured_delay_minutes"] >= 0).all()


def test_evaluation_asset_equals_dtg_score_on_the_exported_findings(
    landed, materialized, tmp_path, capsys
):
    root, _ = landed
    zone = LandingZone(root)
    store = GatekeeperStore(zone)
    history = [dt.date.fromisoformat(k) for k in historical_partitions.get_partition_keys()]
    baseline = store.read_baseline()
    parts = [detect_day(zone, d, baseline, window="historical") for d in history]
    findings = pa.concat_tables([*parts, store.read_findings(LIVE_DAY)])
    path = str(tmp_path / "gatekeeper.parquet")
    write_flags(from_findings(findings), path)
    args = ["--data-root", root, "--findings", path, "--targets", "gatekeeper", "--format", "json"]
    assert score_main(args) == 0
    scored = json.loads(capsys.readouterr().out)
    meta = materialized[2].get_asset_materialization_events()[0].materialization.metadata
    assert scored["summary"] == {k: meta[k].value for k in scored["summary"]}
    for name in ("by_anomaly", "records"):
        with zone.fs.open(zone.path("gatekeeper", "evaluation", f"{name}.parquet"), "rb") as f:
            stored = pq.read_table(f).to_pandas()
        rows = json.loads(stored.to_json(orient="records"))  # 10 significant digits
        assert len(rows) == len(scored[name]), name
        for want, got in zip(rows, scored[name], strict=True):
            assert got.keys() == want.keys(), name
            for key, value in want.items():
                close = isinstance(value, float) and math.isclose(got[key], value, rel_tol=1e-9)
                assert close or got[key] == value, (name, key)


def test_rematerialized_findings_keep_the_time_each_flag_was_first_recorded(landed, materialized):
    root, _ = landed
    store = GatekeeperStore(LandingZone(root))
    first = store.read_findings(LIVE_DAY)
    dg.materialize(
        [gatekeeper_findings],
        resources=_resources(root),
        instance=materialized[3],
        partition_key=LIVE_DAY.isoformat(),
    )
    again = store.read_findings(LIVE_DAY)
    flags = pc.equal(again["verdict"], "flag")
    assert again.filter(flags)["flagged_at"].equals(first.filter(flags)["flagged_at"])
    passes = again.filter(pc.invert(flags))["flagged_at"]
    assert pc.all(pc.greater(passes, first.filter(pc.invert(flags))["flagged_at"])).as_py()


def test_findings_without_a_baseline_fail_with_a_clear_message(tmp_path):
    result = dg.materialize(
        [gatekeeper_findings],
        resources=_resources(str(tmp_path)),
        partition_key=LIVE_DAY.isoformat(),
        raise_on_error=False,
    )
    assert not result.success
    (failure,) = [e for e in result.all_events if e.is_step_failure]
    message = str(failure.event_specific_data.error)
    assert "no gatekeeper baseline" in message and "gatekeeper/baseline" in message


def test_baseline_without_history_fails_naming_the_partitions(tmp_path):
    result = dg.materialize(
        [gatekeeper_baseline], resources=_resources(str(tmp_path)), raise_on_error=False
    )
    assert not result.success
    (failure,) = [e for e in result.all_events if e.is_step_failure]
    message = str(failure.event_specific_data.error)
    assert "no historical visitor events landed" in message
    assert "materialize the historical partitions (2026-11-01...2026-11-14)" in message


def test_bad_gatekeeper_rules_are_rejected_by_name():
    with pytest.raises(Exception, match=r"rules\.volume\.tolerance"):
        GatekeeperResource(rules={"volume": {"tolerance": -1}})
    with pytest.raises(Exception, match=r"rules\.no_such_rule"):
        GatekeeperResource(rules={"no_such_rule": {}})


def test_live_job_runs_findings_and_gatekeeper_job_holds_baseline_and_evaluation():
    live = defs.resolve_job_def("live_job")
    gate = defs.resolve_job_def("gatekeeper_job")
    assert FINDINGS in live.asset_layer.executable_asset_keys
    assert {BASELINE, EVALUATION} <= gate.asset_layer.executable_asset_keys
    assert gate.partitions_def is None


def test_a_store_failure_writing_findings_fails_the_step_in_one_line(
    landed, materialized, monkeypatch
):
    root, _ = landed
    store = GatekeeperStore(LandingZone(root))
    before = store.read_findings(LIVE_DAY)

    def disk_full(self, pairs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Storage, "rename_many", disk_full)
    result = dg.materialize(
        [gatekeeper_findings],
        resources=_resources(root),
        instance=materialized[3],
        partition_key=LIVE_DAY.isoformat(),
        raise_on_error=False,
    )
    monkeypatch.undo()
    assert not result.success
    (failure,) = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE]
    error = failure.step_failure_data.error
    assert error.cls_name == "Failure"
    assert error.message.strip().count("\n") == 0, error.message
    assert f"gatekeeper/findings {LIVE_DAY}:" in error.message
    assert "No space left on device" in error.message
    # The findings stored before are untouched.
    assert store.read_findings(LIVE_DAY).equals(before)
