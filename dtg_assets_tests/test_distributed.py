"""The distributed deployment of deploy/, run for real: PostgreSQL, Redis, two Celery workers.

The ``cluster`` fixture (conftest.py) starts every service of ``deploy/cluster.py`` on free
loopback ports. Through them: a multi-run backfill launched as the UI launches it (GraphQL
``launchPartitionBackfill``) spreads over both workers and lands, with its checks, exactly what
an in-process run lands; the daemon, running at a fixed time against the PostgreSQL instance,
ticks the daily schedule and launches the right partition on a worker; and a worker SIGKILLed
mid-run has its run retried by Dagster on the other worker, with the same final landing zone.
Marked ``distributed``: deselected, with a line in pytest's header, only where the
``distributed`` extra is not installed and ``CI`` is unset.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import time
import urllib.request
from pathlib import Path

import dagster as dg
import pytest

from dtg_assets_tests.conftest import DAGSTER_START, tree_hashes

pytestmark = pytest.mark.distributed

NAMES = (
    "visitor_events",
    "applications",
    "accounts",
    "transactions",
    "ground_truth_labels",
    "batch_manifest",
)
HISTORICAL = [(DAGSTER_START + dt.timedelta(days=i)).isoformat() for i in range(14)]
# DTG_BACKFILL_MAX_PARTITIONS_PER_RUN of the cluster: the first 8 days backfill as 2 runs.
PER_RUN = 4
BACKFILLED = HISTORICAL[:8]
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"
IN_PROCESS = {"execution": {"config": {"in_process": {}}}}
# Seconds after which the fault test's restarted worker takes over a dead worker's run
# (deploy/dagster.yaml: an hour, longer than any run): more than its run needs to land a day.
VISIBILITY_TIMEOUT_S = 20

LAUNCH_BACKFILL = """
mutation($p: LaunchBackfillParams!) { launchPartitionBackfill(backfillParams: $p) {
  __typename ... on LaunchBackfillSuccess { backfillId } ... on PythonError { message }
  ... on InvalidSubsetError { message } } }"""
LAUNCH_RUN = """
mutation($p: ExecutionParams!) { launchRun(executionParams: $p) {
  __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message }
  ... on RunConfigValidationInvalid { errors { message } } } }"""
START_SCHEDULE = """
mutation($s: ScheduleSelector!) { startSchedule(scheduleSelector: $s) {
  __typename ... on PythonError { message } } }"""
LOCATION = """{ repositoriesOrError { ... on RepositoryConnection { nodes { name location {
  name } } } } }"""


# --- helpers --------------------------------------------------------------------------------
def graphql(cluster, query: str, variables: dict | None = None) -> dict:
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    request = urllib.request.Request(
        f"{cluster.url}/graphql", body, {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=60) as answer:
        payload = json.load(answer)
    assert "errors" not in payload, payload["errors"]
    return payload["data"]


def keys(window: str) -> list[dict]:
    return [{"path": [window, name]} for name in NAMES]


def run_config(root: Path, scale: float) -> dict:
    return {
        **IN_PROCESS,
        "resources": {"simulation": {"config": {"data_root": str(root), "scale": scale}}},
    }


def celery_app(cluster):
    import celery

    env = cluster.env()
    app = celery.Celery(
        broker=env["DAGSTER_CELERY_BROKER_URL"], backend=env["DAGSTER_CELERY_BACKEND_URL"]
    )
    app.conf.result_extended = True
    return app


def worker_of(cluster, run: dg.DagsterRun) -> str | None:
    """The Celery worker that ran (or runs) a run, from the task's extended result."""
    return celery_app(cluster).AsyncResult(run.tags["dagster-celery/task_id"]).worker


def workers(cluster) -> set[str]:
    return {f"dtg-worker-{i}@{cluster.host}" for i in (1, 2)}


def children(instance, run_id: str) -> list:
    """The retries of a run (runs whose parent it is)."""
    return instance.get_runs(filters=dg.RunsFilter(tags={"dagster/parent_run_id": run_id}))


def wait_for(what: str, condition, deadline_s: float):
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out after {deadline_s:.0f} s waiting for {what}")


def finished_runs(instance, tags: dict[str, str], count: int, deadline_s: float) -> list:
    def done():
        runs = instance.get_runs(filters=dg.RunsFilter(tags=tags))
        finished = [r for r in runs if r.is_finished]
        return runs if len(runs) >= count and len(finished) == len(runs) else None

    return wait_for(f"{count} finished runs tagged {tags}", done, deadline_s)


def failures(instance, run: dg.DagsterRun) -> list[str]:
    """Why a run failed: the cause line of each step or run failure event (for assertions)."""
    from dtg_assets.summary import failure_cause

    found = []
    for kind in (dg.DagsterEventType.STEP_FAILURE, dg.DagsterEventType.RUN_FAILURE):
        for entry in instance.all_logs(run.run_id, of_type=kind):
            error = getattr(entry.dagster_event.event_specific_data, "error", None)
            cause = failure_cause(error) if error is not None else entry.message
            found.append(f"{entry.step_key or 'run'}: {cause}")
    return found


def land_in_process(
    root: Path, window: str, days: list[str], scale: float, check: bool = False
) -> set[tuple]:
    """The reference: the engine lands ``days`` here, in the test process, and with ``check``
    runs their checks too (else none: a third of the work, which bytes alone do not need).

    Returns:
        The check outcomes as :func:`check_outcomes` gives them (none without ``check``).
    """
    from dtg_assets.resources import AnomalyScheduleResource, SimulationResource, build_scenario
    from dtg_assets.simulation.verify import verify_day

    simulation = SimulationResource(data_root=str(root), scale=scale)
    config = build_scenario(simulation, AnomalyScheduleResource())
    zone = simulation.zone()
    outcomes = set()
    for day in map(dt.date.fromisoformat, days):
        zone.write_day(config, day, window)
        if not check:
            continue
        outcomes |= {
            (f"{window}/{o.spec.asset}", o.spec.name, day.isoformat(), o.passed,
             o.description.replace(str(root), "<root>"))
            for o in verify_day(zone, config, day, window)
        }  # fmt: skip
    return outcomes


def check_outcomes(evaluations, root: Path) -> set[tuple]:
    """``(asset, check, partition, passed, description)`` of Dagster check evaluations."""
    return {
        (
            e.asset_key.to_user_string(),
            e.check_name,
            e.partition,
            e.passed,
            (e.description or "").replace(str(root), "<root>"),
        )
        for e in evaluations
    }


# --- tests ----------------------------------------------------------------------------------
def test_a_ui_backfill_runs_as_several_runs_over_both_workers_and_lands_the_in_process_bytes(
    cluster, tmp_path
):
    root = Path(cluster.env()["DTG_DATA_ROOT"])
    answer = graphql(
        cluster,
        LAUNCH_BACKFILL,
        {
            "p": {
                "partitionNames": BACKFILLED,
                "assetSelection": keys("historical"),
                "runConfigData": IN_PROCESS,  # the data root and scale of the environment
                "title": "historical window",
            }
        },
    )["launchPartitionBackfill"]
    assert answer["__typename"] == "LaunchBackfillSuccess", answer
    cluster.stop_daemon()  # (if running) its backfill loop looks again only every 30 s:
    cluster.ensure_daemon()  # a new daemon picks the backfill up on its first iteration

    reference = land_in_process(tmp_path / "ref", "historical", BACKFILLED, 1.0, check=True)
    with cluster.instance() as instance:
        runs = finished_runs(instance, {"dagster/backfill": answer["backfillId"]}, 2, 240)
        assert len(runs) == len(BACKFILLED) // PER_RUN == 2
        assert all(r.status == dg.DagsterRunStatus.SUCCESS for r in runs), [
            (r.run_id, r.status, failures(instance, r)) for r in runs
        ]
        ranges = sorted((r.tags[RANGE_START_TAG], r.tags[RANGE_END_TAG]) for r in runs)
        assert ranges == [(BACKFILLED[0], BACKFILLED[3]), (BACKFILLED[4], BACKFILLED[7])]
        assert {worker_of(cluster, r) for r in runs} == workers(cluster)
        evaluations = [
            entry.dagster_event.event_specific_data
            for r in runs
            for entry in instance.all_logs(
                r.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION
            )
        ]
    assert tree_hashes(root) == tree_hashes(tmp_path / "ref")
    assert len(tree_hashes(root)) > len(BACKFILLED) * 6
    distributed_checks = check_outcomes(evaluations, root)
    from dtg_assets.assets import historical_landing

    checks = len(historical_landing.check_keys)
    assert len(evaluations) == len(distributed_checks) == len(BACKFILLED) * checks
    assert distributed_checks == reference
    assert all(outcome[3] for outcome in distributed_checks)


def test_the_daemon_evaluates_the_daily_schedule_tick_of_0100_utc_onto_a_worker(cluster, tmp_path):
    from dtg_assets.assets.gatekeeper import gatekeeper_baseline
    from dtg_assets.resources import GatekeeperResource, SimulationResource

    data_root = Path(cluster.env()["DTG_DATA_ROOT"])
    # live_job also runs the gatekeeper's findings: they need the historical window (the
    # backfill test lands the same bytes there) and the baseline.
    landed = {p.stem for p in (data_root / "ground_truth" / "manifest").glob("historical-*")}
    land_in_process(data_root, "historical",
                    [d for d in HISTORICAL if f"historical-{d.replace('-', '')}" not in landed],
                    1.0)  # fmt: skip
    resources = {"simulation": SimulationResource(data_root=str(data_root)),
                 "gatekeeper": GatekeeperResource()}  # fmt: skip
    assert dg.materialize([gatekeeper_baseline], resources=resources).success

    # The fixed time: the latest 01:00 UTC. The schedule is started as the UI starts it, then
    # its state is dated a minute before that tick, as if the daemon had been down since: the
    # daemon evaluates exactly that tick (a catch-up), which must land the day before it.
    now = dt.datetime.now(dt.UTC)
    tick = now.replace(hour=1, minute=0, second=0, microsecond=0)
    tick -= dt.timedelta(days=1) if tick > now else dt.timedelta(0)
    partition = (tick - dt.timedelta(days=1)).date().isoformat()
    location = graphql(cluster, LOCATION)["repositoriesOrError"]["nodes"][0]
    selector = {
        "repositoryLocationName": location["location"]["name"],
        "repositoryName": location["name"],
        "scheduleName": "live_daily_schedule",
    }
    answer = graphql(cluster, START_SCHEDULE, {"s": selector})["startSchedule"]
    assert answer["__typename"] == "ScheduleStateResult", answer
    cluster.stop_daemon()  # it would only look again at the next minute
    with cluster.instance() as instance:
        (state,) = [s for s in instance.all_instigator_state() if s.name == "live_daily_schedule"]
        data = state.instigator_data._replace(start_timestamp=tick.timestamp() - 60)
        instance.update_instigator_state(state.with_data(data))
        cluster.ensure_daemon()

        tags = {"dagster/schedule_name": "live_daily_schedule"}
        (run,) = finished_runs(instance, tags, 1, 180)
        (tick_record,) = instance.get_ticks(state.instigator_origin_id, state.selector_id)
        assert tick_record.timestamp == tick.timestamp()
        assert tick_record.run_ids == [run.run_id]
        assert run.job_name == "live_job"
        assert run.tags["dagster/partition"] == partition
        assert run.status == dg.DagsterRunStatus.SUCCESS, failures(instance, run)
        assert worker_of(cluster, run) in workers(cluster)

    reference = tmp_path / "ref"
    land_in_process(reference, "live", [partition], 1.0)
    live = {k: v for k, v in tree_hashes(data_root).items() if Path(k).name.startswith("live-")}
    assert live == tree_hashes(reference)
    assert {Path(k).name[5:13] for k in live} == {partition.replace("-", "")}


def test_a_worker_killed_mid_run_is_retried_on_the_other_worker_with_the_same_bytes(
    cluster, tmp_path
):
    # Worker 1 alone takes the run; worker 2 then starts again with a visibility timeout of
    # 20 s, not an hour: it takes over worker 1's run 20 s after worker 1 received it. (Every
    # run not finished by then is taken over, a running one too, which then fails: only this
    # test's run, which lands a day in less, may run under it.)
    cluster.stop("worker-2")
    cluster.ensure_daemon()  # (still running after the schedule test)
    root = cluster.root / "fault"
    days = ["2026-11-15", "2026-11-16"]
    location = graphql(cluster, LOCATION)["repositoriesOrError"]["nodes"][0]
    answer = graphql(
        cluster,
        LAUNCH_RUN,
        {
            "p": {
                "selector": {
                    "repositoryLocationName": location["location"]["name"],
                    "repositoryName": location["name"],
                    "jobName": "__ASSET_JOB",
                    "assetSelection": keys("live"),
                },
                "runConfigData": run_config(root, 10.0),
                "executionMetadata": {
                    "tags": [
                        {"key": RANGE_START_TAG, "value": days[0]},
                        {"key": RANGE_END_TAG, "value": days[1]},
                    ]
                },
            }
        },
    )["launchRun"]
    assert answer["__typename"] == "LaunchRunSuccess", answer
    run_id = answer["run"]["runId"]

    with cluster.instance() as instance:

        def first_day_landed():
            return any(
                "(day 1/2): landed" in (entry.user_message or "")
                for entry in instance.all_logs(run_id)
            )

        def started_task():
            run = instance.get_run_by_id(run_id)
            return run.status == dg.DagsterRunStatus.STARTED and celery_app(cluster).AsyncResult(
                run.tags["dagster-celery/task_id"])  # fmt: skip

        task = wait_for("the run to start", started_task, 120)
        takeover = cluster.start_worker(2, wait=False, visibility_timeout=VISIBILITY_TIMEOUT_S)
        wait_for("the run's first day to land", first_day_landed, 120)
        cluster.wait_worker(takeover)
        killed = task.info["hostname"]
        assert killed == f"dtg-worker-1@{cluster.host}"
        os.kill(task.info["pid"], signal.SIGKILL)  # the worker itself: --pool=solo
        reference = tmp_path / "ref"
        land_in_process(reference, "live", days, 10.0)

        retry = wait_for(
            "the retry of the killed run",
            lambda: children(instance, run_id),
            120,
        )[0]
        retry = wait_for(
            "the retry to finish",
            lambda: (r := instance.get_run_by_id(retry.run_id)).is_finished and r,
            120,
        )
        original = instance.get_run_by_id(run_id)
        assert original.status == dg.DagsterRunStatus.FAILURE
        assert retry.status == dg.DagsterRunStatus.SUCCESS, failures(instance, retry)
        assert retry.tags["dagster/retry_number"] == "1"
        assert not children(instance, retry.run_id)  # one retry was enough
        survivor = worker_of(cluster, retry)
        assert {killed, survivor} == workers(cluster)  # retried on the other worker
    assert tree_hashes(root) == tree_hashes(reference)
    assert not list(root.rglob("*.tmp")), "the killed writer's temporaries are left"
