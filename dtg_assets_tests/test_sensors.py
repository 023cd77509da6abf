"""The live arrival sensor driven by a fixed, advancing clock across live days.

History and the gatekeeper's baseline are laid down once with the engine; then the sensor (with
an injected clock) is ticked through a live day, and every run it requests is executed in
process against the same persistent test instance, as the daemon would launch it. The tests
assert that exactly the due batches land, once each; that a tick with nothing new due, or a
second tick at the same time, requests nothing; that the findings cover exactly the landed
batches with earlier batches' rows kept; and that the daily schedule completes a partially
landed day with every check passing.
"""

from __future__ import annotations

import datetime as dt
import uuid

import dagster as dg
import pytest

from dtg_assets.arrival import BATCHES_TAG, DAY_TAG
from dtg_assets.definitions import defs
from dtg_assets.gatekeeper import learn_baseline
from dtg_assets.gatekeeper.recording import FLAGGED_AT, read_recorded
from dtg_assets.gatekeeper.store import GatekeeperStore
from dtg_assets.partitions import historical_partitions
from dtg_assets.resources import AnomalyScheduleResource, GatekeeperResource, SimulationResource
from dtg_assets.sensors import build_live_arrival_sensor
from dtg_assets.simulation.config import ScenarioConfig
from dtg_assets.simulation.landing import LandingZone
from dtg_assets.simulation.plan import Window, plan_day
from dtg_assets_tests.conftest import DAGSTER_START, LIVE_DAY

SCALE = 0.1
REPOSITORY = defs.get_repository_def()
CONFIG = ScenarioConfig(start_date=DAGSTER_START, seed=42, scale=SCALE)


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> str:
    """The 14 historical days and the baseline learned from them; no live day yet."""
    path = str(tmp_path_factory.mktemp("arrival"))
    zone = LandingZone(path)
    days = [dt.date.fromisoformat(k) for k in historical_partitions.get_partition_keys()]
    for day in days:
        zone.write_day(CONFIG, day, Window.HISTORICAL)
    GatekeeperStore(zone).write_baseline(learn_baseline(zone, days))
    return path


@pytest.fixture(scope="module")
def instance():
    with dg.instance_for_test() as inst:
        yield inst


class Clock:
    """A settable clock for the sensor."""

    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


def _resources(root: str) -> dict:
    return {
        "simulation": SimulationResource(data_root=root, scale=SCALE),
        "anomaly_schedule": AnomalyScheduleResource(),
        "gatekeeper": GatekeeperResource(),
    }


def _tick(sensor: dg.SensorDefinition, instance, root: str):
    with dg.build_sensor_context(
        instance=instance, resources=_resources(root), repository_def=REPOSITORY
    ) as context:
        return sensor.evaluate_tick(context)


def _execute(
    request: dg.RunRequest, instance, root: str, **run_config
) -> dg.ExecuteInProcessResult:
    """Run a requested live_job run in process, as the daemon would launch it."""
    resources = {"simulation": {"config": {"data_root": root, "scale": SCALE}}}
    return defs.resolve_job_def("live_job").execute_in_process(
        run_config={**request.run_config, **run_config, "resources": resources},
        partition_key=request.partition_key,
        tags=request.tags,
        instance=instance,
        raise_on_error=False,
    )


def _landed(root: str, day: dt.date) -> list[str]:
    return LandingZone(root).landed_batches(Window.LIVE, day)


def _found(root: str, day: dt.date, flags_only: bool = False) -> dict[tuple, dt.datetime]:
    """(batch id, detector) -> the time the finding was recorded (flags only if asked)."""
    table = read_recorded(LandingZone(root), day)
    if table is None:
        return {}
    rows = table.select(["batch_id", "detector", "verdict", FLAGGED_AT]).to_pylist()
    found = {
        (r["batch_id"], r["detector"]): r[FLAGGED_AT]
        for r in rows
        if r["verdict"] == "flag" or not flags_only
    }
    assert len(found) == len(rows) or flags_only
    return found


def _batches(found: dict[tuple, dt.datetime]) -> set[str]:
    return {batch for batch, _ in found}


def _batch_files(root: str, day: dt.date) -> dict[str, float]:
    """Path -> modification time of every committed landing file of the day."""
    zone = LandingZone(root)
    files = [p for t in ("visitor_events", "applications") for p in zone.day_files(t, "live", day)]
    return {p: zone.fs.modified(p).timestamp() for p in files}


def _metadata(result: dg.ExecuteInProcessResult, name: str) -> dict:
    [event] = [e for e in result.get_asset_materialization_events() if e.asset_key.path[-1] == name]
    return {k: v.value for k, v in event.materialization.metadata.items()}


def test_the_sensor_lands_exactly_the_due_batches_once_each_across_a_day(root, instance):
    day = LIVE_DAY
    plans = plan_day(CONFIG, day, Window.LIVE)
    ids = [p.batch_id for p in plans]
    clock = Clock(_midnight(day))
    sensor = build_live_arrival_sensor(clock=clock)
    # (seconds after midnight, batches the tick must request); 3 h = 10,800 s between batches.
    ticks = [
        (60, None),  # batch 0 lands at 00:01:40
        (100, [0]),
        (100, None),  # a second tick at the same time: nothing new
        (10_799, None),
        (3 * 10_800 + 100, [1, 2, 3]),  # the sensor was off for a while: one run catches up
        (3 * 10_800 + 160, None),
        *((k * 10_800 + 100, [k]) for k in range(4, 8)),
        (86_399, None),
    ]
    recorded: dict[tuple, dt.datetime] = {}
    files: dict[str, float] = {}
    for seconds, expected in ticks:
        clock.now = _midnight(day) + dt.timedelta(seconds=seconds)
        data = _tick(sensor, instance, root)
        if expected is None:
            assert not data.run_requests, (seconds, data.run_requests)
            assert data.skip_message
            continue
        [request] = data.run_requests
        assert request.partition_key == day.isoformat()
        assert request.tags[BATCHES_TAG] == ",".join(map(str, expected))
        assert request.run_key == f"live-{day}-b{'-'.join(map(str, expected))}"
        result = _execute(request, instance, root)
        assert result.success
        due = ids[: expected[-1] + 1]
        # Exactly the due batches are in the manifest, each once.
        assert _landed(root, day) == due
        # Earlier batches' files were not written again.
        now_files = _batch_files(root, day)
        assert {p: now_files[p] for p in files} == files
        files = now_files
        # Findings: exactly the landed batches; earlier batches keep their recording time.
        found = _found(root, day)
        assert _batches(found) == set(due)
        assert {k: found[k] for k in recorded} == recorded
        recorded = found
        meta = _metadata(result, "visitor_events")
        assert meta["batches_landed"] == f"{len(due)} of 8"
        assert meta["complete"] is (len(due) == 8)
        assert meta["landed_by_this_run"] == [ids[i] for i in expected]
        # The partial day's checks expect what is due by the tick, and pass.
        checks = result.get_asset_check_evaluations()
        assert checks and all(c.passed for c in checks if c.severity.value == "ERROR")
    assert _landed(root, day) == ids


def test_no_run_before_the_live_window_or_while_a_run_is_landing_the_batches(root, instance):
    sensor_clock = Clock(_midnight(DAGSTER_START + dt.timedelta(days=3)))
    sensor = build_live_arrival_sensor(clock=sensor_clock)
    data = _tick(sensor, instance, root)
    assert not data.run_requests
    assert "before the live window (from 2026-11-15)" in data.skip_message
    # A run already landing batches 0-1 of the day (started, not finished): not requested again.
    day = LIVE_DAY + dt.timedelta(days=2)
    instance.add_run(
        dg.DagsterRun(
            job_name="live_job",
            run_id=str(uuid.uuid4()),
            tags={DAY_TAG: day.isoformat(), BATCHES_TAG: "0,1"},
            status=dg.DagsterRunStatus.STARTED,
        )
    )
    sensor_clock.now = _midnight(day) + dt.timedelta(hours=6, seconds=100)
    [request] = _tick(sensor, instance, root).run_requests
    assert request.tags[BATCHES_TAG] == "2"


def test_a_failed_run_is_retried_under_a_new_key(root, instance):
    day = LIVE_DAY + dt.timedelta(days=3)
    sensor = build_live_arrival_sensor(clock=Clock(_midnight(day) + dt.timedelta(minutes=5)))
    [request] = _tick(sensor, instance, root).run_requests
    assert request.run_key == f"live-{day}-b0"
    # The run fails before landing anything (a bad as_of): the batch is still pending.
    bad = {"ops": {"live_landing": {"config": {"batches": [0], "as_of": "soon"}}}}
    assert not _execute(request, instance, root, **bad).success
    [retry] = _tick(sensor, instance, root).run_requests
    assert retry.run_key == f"live-{day}-b0-retry1"
    assert _execute(retry, instance, root).success
    assert not _tick(sensor, instance, root).run_requests


def test_the_daily_schedule_completes_a_partially_landed_day_and_its_checks_pass(root, instance):
    day = LIVE_DAY + dt.timedelta(days=1)
    ids = [p.batch_id for p in plan_day(CONFIG, day, Window.LIVE)]
    sensor = build_live_arrival_sensor(clock=Clock(_midnight(day) + dt.timedelta(hours=7)))
    [request] = _tick(sensor, instance, root).run_requests
    assert _execute(request, instance, root).success
    assert _landed(root, day) == ids[:3]
    early = _found(root, day, flags_only=True)
    assert early and _batches(early) <= set(ids[:3])
    files = _batch_files(root, day)
    schedule = defs.resolve_schedule_def("live_daily_schedule")
    tick = _midnight(day + dt.timedelta(days=1)) + dt.timedelta(hours=1)
    with dg.build_schedule_context(
        instance=instance, scheduled_execution_time=tick, repository_def=REPOSITORY
    ) as context:
        [daily] = schedule.evaluate_tick(context).run_requests
    assert daily.partition_key == day.isoformat()
    result = _execute(daily, instance, root)
    assert result.success
    assert _landed(root, day) == ids
    meta = _metadata(result, "batch_manifest")
    assert meta["batches_landed"] == "8 of 8" and meta["complete"] is True
    assert meta["landed_by_this_run"] == ids[3:]
    # The batches the sensor landed were left untouched, and kept their findings' times.
    after = _batch_files(root, day)
    assert {p: after[p] for p in files} == files
    assert _batches(_found(root, day)) == set(ids)
    # Flags the sensor's run raised keep the time they were first raised.
    found = _found(root, day, flags_only=True)
    assert {k: found[k] for k in early} == early
    checks = result.get_asset_check_evaluations()
    landing = [c for c in checks if c.asset_key.path[0] == "live"]
    assert landing and all(c.passed for c in landing if c.severity.value == "ERROR")
