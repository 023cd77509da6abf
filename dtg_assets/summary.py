"""Run the whole scenario through Dagster in process and summarise it for a terminal.

Used by ``dtg-run``: one single-run backfill per window (all partitions, every check) executed
in process against the instance at ``DAGSTER_HOME``, so the runs and their per-partition
materializations and check results are recorded where ``dagster dev`` will show them.
"""

from __future__ import annotations

from collections import defaultdict

import dagster as dg

from dtg_assets.markdown import markdown_rows
from dtg_assets.simulation.schemas import TABLES

RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"


def run_window(
    job_name: str, instance: dg.DagsterInstance, run_config: dict | None = None
) -> dg.ExecuteInProcessResult:
    """Materialize every partition of a window's job as one in-process run.

    Args:
        job_name: ``historical_job`` or ``live_job``.
        instance: The Dagster instance to record the run in.
        run_config: Optional run config (e.g. resource overrides).

    Returns:
        The run's result (not raised on failure).
    """
    from dtg_assets.definitions import defs

    job = defs.resolve_job_def(job_name)
    keys = job.partitions_def.get_partition_keys(dynamic_partitions_store=instance)
    if not keys:
        raise ValueError(f"{job_name} has no partitions yet: check DTG_START_DATE")
    return job.execute_in_process(
        instance=instance,
        run_config=run_config,
        tags={RANGE_START_TAG: keys[0], RANGE_END_TAG: keys[-1]},
        raise_on_error=False,
    )


def summarize(results: dict[str, dg.ExecuteInProcessResult]) -> tuple[bool, str]:
    """Rows per window and table, and check outcomes, as text.

    Args:
        results: Run results by window name.

    Returns:
        ``(all runs succeeded, summary text)``.
    """
    rows: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    partitions: dict[str, set[str]] = defaultdict(set)
    checks: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    failures = []
    for window, result in results.items():
        for event in result.all_events:
            if event.event_type_value == "ASSET_MATERIALIZATION":
                mat = event.event_specific_data.materialization
                name = mat.asset_key.path[-1]
                partitions[window].add(mat.partition)
                count = mat.metadata.get("dagster/row_count")
                if count is not None:
                    rows[window][name] += int(count.value)
            elif event.event_type_value == "ASSET_CHECK_EVALUATION":
                ev = event.event_specific_data
                outcome = "passed" if ev.passed else f"failed ({ev.severity.value})"
                checks[window][outcome] += 1
                if not ev.passed:
                    failures.append(
                        f"{window} {ev.partition} {ev.asset_key.to_user_string()}:{ev.check_name}"
                        f" - {ev.description}"
                    )
            elif event.is_failure and event.event_specific_data.error:
                failures.append(f"{window}: {event.event_specific_data.error.message.strip()}")
    table = [
        {
            "window": w,
            "partitions": len(partitions[w]),
            **{t: rows[w].get(t, 0) for t in TABLES},
            "labels": rows[w].get("ground_truth_labels", 0),
            "checks": ", ".join(f"{n} {k}" for k, n in sorted(checks[w].items())),
        }
        for w in results
    ]
    ok = all(r.success for r in results.values())
    text = "DTG scenario " + ("succeeded" if ok else "FAILED") + "\n\n" + markdown_rows(table)
    if failures:
        text += "\n\nProblems:\n" + "\n".join(f"- {f}" for f in failures[:30])
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


def run_scenario_in_dagster(scale: float = 1.0) -> tuple[bool, str]:
    """Run both windows in process into the instance at ``DAGSTER_HOME``.

    Args:
        scale: Visitor volume multiplier passed to the simulation resource.

    Returns:
        ``(success, summary text)``.
    """
    run_config = {
        "resources": {"simulation": {"config": {"scale": scale}}},
        # Per-day progress and check results stay visible; per-event DEBUG lines would bury them.
        "loggers": {"console": {"config": {"log_level": "INFO"}}},
    }
    relax_local_sqlite_durability()
    with dg.DagsterInstance.get() as instance:
        results = {
            "historical": run_window("historical_job", instance, run_config),
            "live": run_window("live_job", instance, run_config),
        }
    return summarize(results)
