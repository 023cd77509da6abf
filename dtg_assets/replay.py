"""``live_replay_job``: the live window replayed from Dagster, batch by batch, at any speed.

The Dagster twin of ``dtg-simulate replay``: one op lands the scenario's live days batch by
batch in arrival order, paced so that one simulated hour takes ``1 / speed`` hours of wall time
(``speed: max`` lands as fast as it can), and checks each batch with the gatekeeper as it lands
(findings recorded with the wall-clock time, earlier batches' findings kept). Batches already
committed under the same configuration are skipped, so a replay that was stopped resumes after
the last committed batch and never lands one twice; pacing starts at the first batch still to
land. Each landed batch is reported as a materialization of its live partition
(``live/batch_manifest`` and ``gatekeeper/findings``, with how far the day has arrived).
"""

import datetime as dt
import time
from collections.abc import Callable

import dagster as dg
import pyarrow.compute as pc
from pydantic import Field

from dtg_assets.arrival import wall_clock
from dtg_assets.assets.gatekeeper import FINDINGS
from dtg_assets.assets.landing import asset_key, store_failures_fail_the_step
from dtg_assets.gatekeeper.recording import record_batches
from dtg_assets.gatekeeper.store import GatekeeperStore
from dtg_assets.resources import (
    AnomalyScheduleResource,
    GatekeeperResource,
    SimulationResource,
    build_scenario,
)
from dtg_assets.simulation.config import ScenarioConfig
from dtg_assets.simulation.plan import BatchPlan, Window, plan_day

Sleep = Callable[[float], None]
Monotonic = Callable[[], float]


class ReplayConfig(dg.Config):
    """How fast, and which live days, to replay."""

    speed: str = Field(
        default="max",
        description="Simulated time per wall-clock time: `3600` makes an hour a second; `max` "
        "lands as fast as possible.",
    )
    days: int | None = Field(
        default=None,
        description="How many live days from the live start; null = the scenario's live days.",
    )


def parse_speed(raw: str) -> float | None:
    """The replay speed: a positive number, or None for ``max``.

    Raises:
        dagster.Failure: One line naming the value and what is allowed.
    """
    if raw.strip().lower() == "max":
        return None
    try:
        speed = float(raw)
    except ValueError:
        speed = float("nan")
    if not speed > 0 or speed == float("inf"):
        raise dg.Failure(description=f"speed={raw!r}: give a positive number or 'max'")
    return speed


def replay_plans(config: ScenarioConfig, days: int | None = None) -> list[BatchPlan]:
    """Every batch of the replayed live days, in arrival order.

    Args:
        config: The scenario.
        days: How many live days from the live start (the scenario's ``live_days`` when None).

    Returns:
        The plans.
    """
    n = config.live_days if days is None else days
    if n < 1:
        raise dg.Failure(description=f"days={n}: give at least one live day")
    first = config.live_start
    return [
        p for k in range(n) for p in plan_day(config, first + dt.timedelta(days=k), Window.LIVE)
    ]


def pace(plans: list[BatchPlan], speed: float | None) -> list[float]:
    """Seconds after the replay's start at which each batch is due to land.

    Args:
        plans: The batches still to land, in arrival order.
        speed: Simulated seconds per wall second; None lands everything at once.

    Returns:
        One offset per plan, the first 0.
    """
    if not plans or speed is None:
        return [0.0] * len(plans)
    origin = plans[0].ingested_at
    return [(p.ingested_at - origin).total_seconds() / speed for p in plans]


def build_replay_op(
    sleep: Sleep = time.sleep, monotonic: Monotonic = time.monotonic
) -> dg.OpDefinition:
    """The replay op; ``sleep`` and ``monotonic`` are injectable so tests pace without waiting."""

    @dg.op(name="replay_live_window", out={})
    def _replay(
        context: dg.OpExecutionContext,
        config: ReplayConfig,
        simulation: SimulationResource,
        anomaly_schedule: AnomalyScheduleResource,
        gatekeeper: GatekeeperResource,
    ):
        speed = parse_speed(config.speed)
        scenario = build_scenario(simulation, anomaly_schedule)
        plans = replay_plans(scenario, config.days)
        store = GatekeeperStore(simulation.zone())
        with store_failures_fail_the_step("live replay"):
            store.zone.preflight()
            landed = {
                b for d in {p.day for p in plans} for b in store.zone.landed_batches(Window.LIVE, d)
            }
        try:
            baseline = store.read_baseline()
        except FileNotFoundError as exc:
            raise dg.Failure(description=str(exc)) from None
        rules = gatekeeper.rules_model()
        todo = [p for p in plans if p.batch_id not in landed]
        context.log.info(f"replaying {len(todo)} of {len(plans)} live batches at {config.speed}")
        started = monotonic()
        for plan, offset in zip(todo, pace(todo, speed), strict=True):
            wait = started + offset - monotonic()
            if wait > 0:
                sleep(wait)
            planned = [p.batch_id for p in plan_day(scenario, plan.day, Window.LIVE)]
            with store_failures_fail_the_step(f"live replay {plan.batch_id}"):
                result = store.zone.write_batches(
                    scenario, plan.day, [plan.index], window=Window.LIVE, skip_landed=True
                )
                findings, _ = record_batches(
                    store, plan.day, baseline, rules, [plan.batch_id], planned, wall_clock()
                )
            mine = pc.and_(
                pc.equal(findings["batch_id"], plan.batch_id), pc.equal(findings["verdict"], "flag")
            )
            flags = findings.filter(mine).num_rows
            arrived = f"{result.manifest.num_rows} of {result.planned}"
            context.log.info(f"landed {plan.batch_id} ({arrived} of {plan.day}); {flags} flag(s)")
            meta = {"batch_id": plan.batch_id, "batches_landed": arrived, "flags": flags}
            for key in (asset_key(Window.LIVE, "batch_manifest"), FINDINGS):
                yield dg.AssetMaterialization(
                    asset_key=key, partition=plan.day.isoformat(), metadata=meta
                )

    return _replay


def build_live_replay_job(
    sleep: Sleep = time.sleep, monotonic: Monotonic = time.monotonic
) -> dg.JobDefinition:
    """The replay job; ``sleep`` and ``monotonic`` are injectable so tests pace without waiting."""
    replay = build_replay_op(sleep, monotonic)

    @dg.job(
        name="live_replay_job",
        description="Replay the live window batch by batch at a speed (config `speed`: 3600 = "
        "an hour a second, or max), checking each batch with the gatekeeper as it lands; a "
        "rerun resumes after the last committed batch.",
    )
    def _job():
        replay()

    return _job


live_replay_job = build_live_replay_job()
