"""Run the whole scenario through Dagster in process and summarise it for a terminal.

Used by ``dtg-run``: one single-run backfill per window (all partitions, every check), the two
windows side by side, then the gatekeeper's baseline, findings and evaluation, all executed in
process against the instance at ``DAGSTER_HOME``, so the runs and their per-partition
materializations and check results are recorded where ``dagster dev`` will show them.
"""

from __future__ import annotations

import multiprocessing as mp
import time
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

import dagster as dg

from dtg_assets.assets.gatekeeper import BASELINE, EVALUATION, FINDINGS
from dtg_assets.markdown import markdown_rows
from dtg_assets.partitions import complete_partition_keys
from dtg_assets.simulation.schemas import TABLES

RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"


def run_job(
    job_name: str,
    instance: dg.DagsterInstance,
    run_config: dict | None = None,
    asset_selection: list[dg.AssetKey] | None = None,
) -> dg.ExecuteInProcessResult:
    """Run a job in process; a partitioned job over all its partitions as one run.

    Args:
        job_name: ``historical_job``, ``live_job`` or ``gatekeeper_job``.
        instance: The Dagster instance to record the run in.
        run_config: Optional run config (e.g. resource overrides).
        asset_selection: Run only these assets of the job.

    Returns:
        The run's result (not raised on failure).

    Raises:
        ValueError: If a partitioned job has no partitions yet.
    """
    from dtg_assets.definitions import defs

    job = defs.resolve_job_def(job_name)
    tags = {}
    if job.partitions_def is not None:
        # Complete days only: today's live partition is still arriving (the sensor's).
        keys = complete_partition_keys(job.partitions_def)
        if not keys:
            raise ValueError(f"{job_name} has no partitions yet: check DTG_START_DATE")
        tags = {RANGE_START_TAG: keys[0], RANGE_END_TAG: keys[-1]}
    return job.execute_in_process(
        instance=instance,
        run_config=run_config,
        tags=tags,
        asset_selection=asset_selection,
        raise_on_error=False,
    )


def failure_cause(error: Any) -> str:
    """The line saying why a run or step failed, without Dagster's wrappers around it.

    Dagster reports a failing op as ``Error occurred while executing op ...:`` with the real
    exception as its cause; a resource that fails to start, as ``Error executing resource_fn``.
    The innermost cause is what went wrong: its last line (the exception's own message, or a
    :class:`dagster.Failure`'s description), without the exception's class path.

    Args:
        error: The failure event's error (Dagster's ``SerializableErrorInfo``: ``message``,
            ``cls_name``, ``cause``).

    Returns:
        One line, e.g. ``invalid simulation config: seed=-2 is not a valid seed ...``.
    """
    while error.cause is not None:
        error = error.cause
    lines = [line.strip() for line in error.message.splitlines() if line.strip()]
    last = lines[-1] if lines else error.cls_name or "unknown error"
    # "dagster._core.definitions.events.Failure: text" -> "text"; "builtins.KeyError: 'x'"
    # -> "KeyError: 'x'": a Failure's description is the cause, another exception needs its name.
    head, sep, rest = last.partition(": ")
    if sep and " " not in head:
        name = head.rsplit(".", 1)[-1]
        last = rest if name == "Failure" else f"{name}: {rest}"
    return last


def summarize_runs(results: dict) -> tuple[bool, str]:
    """Rows per window and table, check outcomes and the gatekeeper's score, as text.

    Args:
        results: Run results by step (``historical``, ``baseline``, ``live``, ``evaluation``).

    Returns:
        ``(all runs succeeded, summary text)``.
    """
    rows: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    partitions: dict[str, set[str]] = defaultdict(set)
    checks: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    problems, evaluation = [], None
    for step, result in results.items():
        for event in result.all_events:
            data = event.event_specific_data
            if event.event_type_value == "ASSET_MATERIALIZATION":
                mat = data.materialization
                group = "gatekeeper" if mat.asset_key.path[0] == "gatekeeper" else step
                partitions[group].add(mat.partition)
                count = mat.metadata.get("dagster/row_count")
                if count is not None:
                    rows[group][mat.asset_key.path[-1]] += int(count.value)
                if "evaluation" in mat.metadata:
                    evaluation = mat.metadata["evaluation"].value
            elif event.event_type_value == "ASSET_CHECK_EVALUATION":
                group = "gatekeeper" if data.asset_key.path[0] == "gatekeeper" else step
                outcome = "passed" if data.passed else f"failed ({data.severity.value})"
                checks[group][outcome] += 1
                if not data.passed and group != "gatekeeper":
                    problems.append(
                        f"{step} {data.partition} {data.asset_key.to_user_string()}:"
                        f"{data.check_name} - {data.description}"
                    )
            elif event.is_failure and getattr(data, "error", None):
                problem = f"{step}: {failure_cause(data.error)}"
                if problem not in problems:  # the step's and the run's failure share a cause
                    problems.append(problem)
    windows = [w for w in ("historical", "live") if w in results]
    table = [
        {
            "window": w,
            "partitions": len(partitions[w]),
            **{t: rows[w].get(t, 0) for t in TABLES},
            "labels": rows[w].get("ground_truth_labels", 0),
            "checks": ", ".join(f"{n} {k}" for k, n in sorted(checks[w].items())),
        }
        for w in windows
    ]
    ok = all(r.success for r in results.values())
    text = "DTG scenario " + ("succeeded" if ok else "FAILED") + "\n\n" + markdown_rows(table)
    if checks["gatekeeper"]:
        flagged = checks["gatekeeper"].get("failed (WARN)", 0)
        text += (
            f"\n\nGatekeeper: {len(partitions['gatekeeper'] - {None})} live days checked; "
            f"{flagged} of {sum(checks['gatekeeper'].values())} per-day family checks flagged "
            "anomalies (WARN)."
        )
    if evaluation:
        text += "\n\nGatekeeper scored against the ground truth:\n\n" + evaluation
    if problems:
        text += "\n\nProblems:\n" + "\n".join(f"- {p}" for p in problems[:30])
    return ok, text


def relax_local_sqlite_durability() -> None:
    """Let this process's SQLite connections commit without waiting for fsync.

    Dagster's default local instance stores every event (each per-partition check result and
    materialization) in SQLite, opening a connection and committing with fsync per write: about
    15-20 ms each on ordinary disks, which would dominate ``dtg-run``. ``synchronous=OFF`` hands
    writes to the OS without waiting; only an OS crash or power loss during the run could damage
    the local run history (the landing zone is unaffected, and re-running rebuilds it). WAL is
    not used: Dagster's connection-per-write pattern would checkpoint (and fsync) on every close.
    It affects only the process that calls it, never ``dagster dev`` or deployed instances.
    """
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    @event.listens_for(Engine, "connect")
    def _pragmas(dbapi_connection, _record) -> None:
        if type(dbapi_connection).__module__.startswith("sqlite3"):
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA synchronous=OFF")
            cursor.close()


@dataclass(frozen=True)
class RunOutcome:
    """What a run left for the summary (picklable, unlike an in-process result)."""

    success: bool
    all_events: list
    seconds: float


def _timed_run(
    job_name: str, run_config: dict, selection: list[dg.AssetKey] | None = None
) -> RunOutcome:
    started = time.perf_counter()
    with dg.DagsterInstance.get() as instance:
        result = run_job(job_name, instance, run_config, selection)
    return RunOutcome(result.success, list(result.all_events), time.perf_counter() - started)


def run_scenario_in_dagster(scale: float = 1.0, scenario: str = "default") -> tuple[bool, str]:
    """Run the scenario in process into the instance at ``DAGSTER_HOME``.

    The historical window (in a forked process) and the live landing (here) run side by side:
    they share nothing but the instance. Then the gatekeeper's baseline (from history), its
    findings for the live days and its evaluation: five runs, stopping at the first failure.

    Args:
        scale: Visitor volume multiplier passed to the simulation resource.
        scenario: Scenario preset passed to the anomaly schedule resource.

    Returns:
        ``(success, summary text)``.
    """
    from dtg_assets.definitions import defs

    run_config = {
        "resources": {
            "simulation": {"config": {"scale": scale}},
            "anomaly_schedule": {"config": {"scenario": scenario}},
        },
        # Per-day progress and check results stay visible; per-event DEBUG lines would bury them.
        "loggers": {"console": {"config": {"log_level": "INFO"}}},
    }
    relax_local_sqlite_durability()
    live_landing = sorted(
        k for k in defs.resolve_job_def("live_job").asset_layer.executable_asset_keys
        if k.path[0] == "live"
    )  # fmt: skip
    # Create the instance's storage once, before two processes could race to create its tables.
    with dg.DagsterInstance.get() as instance:
        instance.get_runs(limit=1)
    results: dict[str, RunOutcome] = {}
    with ProcessPoolExecutor(max_workers=1, mp_context=mp.get_context("fork")) as pool:
        historical = pool.submit(_timed_run, "historical_job", run_config)
        results["live"] = _timed_run("live_job", run_config, live_landing)
        results["historical"] = historical.result()
    for step, job_name, selection in (
        ("baseline", "gatekeeper_job", [BASELINE]),
        ("findings", "live_job", [FINDINGS]),
        ("evaluation", "gatekeeper_job", [EVALUATION]),
    ):
        if not all(r.success for r in results.values()):
            break  # later steps need the earlier ones' output
        results[step] = _timed_run(job_name, run_config, selection)
    ok, text = summarize_runs({k: results[k] for k in sorted(results, key=_STEP_ORDER.index)})
    seconds = ", ".join(f"{k} {r.seconds:.1f} s" for k, r in results.items())
    return ok, f"{text}\n\nRuns (historical and live side by side): {seconds}"


_STEP_ORDER = ["historical", "live", "baseline", "findings", "evaluation"]
