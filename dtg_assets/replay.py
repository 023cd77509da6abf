"""``live_replay_job``: the live window replayed from Dagster, batch by batch, at any speed.

The Dagster twin of ``dtg-simulate replay``, built on the engine's
:func:`~dtg_assets.simulation.replay.replay`: one op lands the scenario's live days batch by
batch in arrival order (after any historical day still missing), paced so that one simulated
hour takes ``1 / speed`` hours of wall time (``speed: max`` lands as fast as it can), and checks
each batch with the gatekeeper as it lands (findings recorded with the wall-clock time, earlier
batches' findings kept). Batches already committed under the same configuration are skipped,
so a replay that was stopped resumes after the last committed batch and never lands one twice;
pacing starts at the first batch still to land. Each landed batch is reported as a
materialization of its live partition (``live/batch_manifest`` and ``gatekeeper/findings``,
with how far the day has arrived).
"""

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
from dtg_assets.simulation.replay import replay

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


def replay_scenario(config: ScenarioConfig, days: int | None = None) -> ScenarioConfig:
    """The scenario to replay: ``config`` with its live window cut to ``days`` days.

    The number of live days determines no byte of a day (it is no part of the configuration of
    record), so a shorter replay lands the same batches as the whole one.

    Raises:
        dagster.Failure: One line if ``days`` is below 1.
    """
    if days is None:
        return config
    if days < 1:
        raise dg.Failure(description=f"days={days}: give at least one live day")
    return config.model_copy(update={"live_days": days})


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
        scenario = replay_scenario(build_scenario(simulation, anomaly_schedule), config.days)
        store = GatekeeperStore(simulation.zone())
        try:
            baseline = store.read_baseline()
        except FileNotFoundError as exc:
            raise dg.Failure(description=str(exc)) from None
        rules = gatekeeper.rules_model()

        def on_batch(plan: BatchPlan, rows: dict[str, int]) -> None:
            # Checked as it lands: the findings are stamped with the wall clock of recording.
            planned = [p.batch_id for p in plan_day(scenario, plan.day, Window.LIVE)]
            findings, _ = record_batches(
                store, plan.day, baseline, rules, [plan.batch_id], planned, wall_clock()
            )
            mine = pc.and_(
                pc.equal(findings["batch_id"], plan.batch_id), pc.equal(findings["verdict"], "flag")
            )
            flags = findings.filter(mine).num_rows
            arrived = len(store.zone.landed_batches(Window.LIVE, plan.day))
            context.log.info(
                f"landed {plan.batch_id} ({rows['visitor_events']} visitors; batch {arrived} of "
                f"{len(planned)} of {plan.day}); {flags} flag(s)"
            )
            meta = {
                "batch_id": plan.batch_id,
                "batches_landed": f"{arrived} of {len(planned)}",
                "flags": flags,
            }
            for key in (asset_key(Window.LIVE, "batch_manifest"), FINDINGS):
                context.log_event(
                    dg.AssetMaterialization(
                        asset_key=key, partition=plan.day.isoformat(), metadata=meta
                    )
                )

        with store_failures_fail_the_step("live replay"):
            try:
                result = replay(
                    scenario,
                    simulation.resolved_data_root(),
                    speed,
                    progress=on_batch,
                    clock=monotonic,
                    sleep=sleep,
                )
            except ValueError as exc:
                raise dg.Failure(description=f"live replay: {exc}") from None
        context.log.info(
            f"replay done: {len(result.landed)} live batches landed, {len(result.skipped)} "
            f"already there; {len(result.history_landed)} historical days landed"
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
