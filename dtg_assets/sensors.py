"""The live arrival sensor: today's micro-batches land when their time comes, then are checked.

Every minute (``minimum_interval_seconds``) the sensor looks at today's live partition (UTC):
the batches whose landing time (batch start + 100 s) has passed and that are neither in the
day's manifest nor being landed by a run still in flight. If there are any, it requests one
``live_job`` run of today's partition that lands exactly those batches (run config
``batches``; each batch committed on its own, see :mod:`dtg_assets.assets.live`), checks what
should have landed by then, and runs the gatekeeper's findings on exactly those batches,
earlier batches' findings kept. The run key is derived from the day and the batch set, so a
retried tick never launches the same landing twice; after a failed run the key gains a retry
count so the batches are tried again. Outside the live window, or with nothing new due, a tick
skips and says why.

The clock is injectable (:func:`build_live_arrival_sensor`), for tests and compressed time.
"""

import datetime as dt
from collections import Counter

import dagster as dg

from dtg_assets.arrival import (
    BATCHES_TAG,
    DAY_TAG,
    Clock,
    batches_tag,
    live_day_of,
    parse_batches_tag,
    pending_indices,
    run_key,
    wall_clock,
)
from dtg_assets.jobs import live_job
from dtg_assets.resources import AnomalyScheduleResource, SimulationResource, build_scenario
from dtg_assets.simulation.roots import DataRootError

INTERVAL_SECONDS = 60
LANDING_OP = "live_landing"
FINDINGS_OP = "gatekeeper_findings"


def arrival_run_config(indices: list[int], now: dt.datetime) -> dict:
    """The run config of a ``live_job`` run landing and checking some batches of a day.

    Args:
        indices: The batches (0-based indices in the day).
        now: The time the batches were due by (what the run's checks expect to have landed).

    Returns:
        Run config for the landing and findings steps.
    """
    config = {"batches": sorted(indices), "as_of": now.astimezone(dt.UTC).isoformat()}
    return {"ops": {LANDING_OP: {"config": config}, FINDINGS_OP: {"config": config}}}


def _day_runs(instance: dg.DagsterInstance, day: dt.date) -> tuple[set[int], Counter[str]]:
    """Batches that unfinished arrival runs of the day are landing, and failed runs by batch
    set (the ``dtg/live_batches`` tag)."""
    runs = instance.get_runs(filters=dg.RunsFilter(tags={DAY_TAG: day.isoformat()}))
    in_flight: set[int] = set()
    failed: Counter[str] = Counter()
    for run in runs:
        if not run.is_finished:
            in_flight.update(parse_batches_tag(run.tags.get(BATCHES_TAG, "")))
        elif run.status == dg.DagsterRunStatus.FAILURE:
            failed[run.tags.get(BATCHES_TAG, "")] += 1
    return in_flight, failed


def build_live_arrival_sensor(
    clock: Clock = wall_clock,
    name: str = "live_arrival_sensor",
    default_status: dg.DefaultSensorStatus = dg.DefaultSensorStatus.STOPPED,
) -> dg.SensorDefinition:
    """The live arrival sensor, reading the time from ``clock``.

    Args:
        clock: Returns the current (aware) time; the wall clock by default.
        name: The sensor's name.
        default_status: Whether it runs as soon as the code location loads (stopped by
            default: turn it on in the UI or with ``dagster sensor start``).

    Returns:
        The sensor definition, targeting ``live_job``.
    """

    @dg.sensor(
        name=name,
        job=live_job,
        minimum_interval_seconds=INTERVAL_SECONDS,
        default_status=default_status,
        description="Every minute, land today's live micro-batches whose landing time (batch "
        "start + 100 s) has passed, check them and run the gatekeeper's findings on them: one "
        "live_job run per new set of due batches.",
    )
    def _sensor(
        context: dg.SensorEvaluationContext,
        simulation: SimulationResource,
        anomaly_schedule: AnomalyScheduleResource,
    ):
        now = clock()
        config = build_scenario(simulation, anomaly_schedule)
        day = live_day_of(config, now)
        if day is None:
            return dg.SkipReason(
                f"{now:%Y-%m-%d %H:%M} UTC is before the live window (from {config.live_start})"
            )
        try:
            pending = pending_indices(simulation.zone(), config, day, now)
        except (DataRootError, ValueError) as exc:
            # An unreachable store or an unreadable manifest: the tick fails naming it.
            raise dg.Failure(description=f"live arrival {day}: {exc}") from None
        in_flight, failed = _day_runs(context.instance, day)
        new = [i for i in pending if i not in in_flight]
        if not new:
            return dg.SkipReason(f"{day}: no new batch due at {now:%H:%M:%S} UTC")
        tag = batches_tag(new)
        context.log.info(f"{day}: requesting batches {tag} (due at {now:%H:%M:%S} UTC)")
        return dg.RunRequest(
            run_key=run_key(day, new, failed[tag]),
            partition_key=day.isoformat(),
            run_config=arrival_run_config(new, now),
            tags={DAY_TAG: day.isoformat(), BATCHES_TAG: tag},
        )

    return _sensor


live_arrival_sensor = build_live_arrival_sensor()
