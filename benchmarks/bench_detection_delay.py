"""Benchmark: the measured detection delay of a paced replay checked by the gatekeeper as it lands.

The live window arrives batch by batch through Dagster's ``live_replay_job`` (run in process on
an ephemeral instance, as the UI would run it), paced at ``--speed`` (default 3600: an hour of
simulated time a second), and the gatekeeper records its findings of each batch the moment it
lands. The findings are then scored with :func:`~dtg_assets.gatekeeper.score.score`, and the
script prints the distribution over the caught batches of the two delays the evaluation reports:

- *measured*: from a batch's landing (the store's modification time of its files) to the
  wall-clock time its first flag was recorded — what a real-time gate adds;
- *event time*: from the batch's start to the earliest evidence of its flags — how much of the
  batch had to happen before the anomaly was decidable (independent of the speed).

Before the replay, the historical window is landed day at once and the baseline learned from it
(neither is timed). Figures only, no assertion: timings depend on the machine and its load.

Usage::

    python benchmarks/bench_detection_delay.py [--speed 3600] [--scale 1.0] [--live-days 7]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time

import dagster as dg
import pyarrow as pa

from dtg_assets.gatekeeper import learn_baseline
from dtg_assets.gatekeeper.score import score
from dtg_assets.gatekeeper.store import GatekeeperStore
from dtg_assets.replay import live_replay_job
from dtg_assets.resources import (
    AnomalyScheduleResource,
    GatekeeperResource,
    SimulationResource,
    build_scenario,
)
from dtg_assets.simulation.landing import LandingZone
from dtg_assets.simulation.plan import Window
from dtg_assets.simulation.scenario import scenario_days


def _row(name: str, values: list[float]) -> str:
    if not values:
        return f"| {name} | 0 | - | - | - |"
    p90 = (
        statistics.quantiles(values, n=10, method="inclusive")[-1] if len(values) > 1 else values[0]
    )
    return (
        f"| {name} | {len(values)} | {statistics.median(values):.4g} | {p90:.4g} | "
        f"{max(values):.4g} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--speed", default="3600", help="simulated hours per wall hour, or max")
    parser.add_argument("--scale", type=float, default=1.0, help="visitor volume multiplier")
    parser.add_argument("--live-days", type=int, default=None, help="live days (default 7)")
    args = parser.parse_args()

    root = tempfile.mkdtemp(prefix="dtg-delay-")
    try:
        simulation = SimulationResource(data_root=root, scale=args.scale)
        schedule = AnomalyScheduleResource()
        config = build_scenario(simulation, schedule)
        zone = LandingZone(root)
        history = [d for d, w in scenario_days(config) if w is Window.HISTORICAL]
        zone.write_days(config, [(d, Window.HISTORICAL) for d in history])
        GatekeeperStore(zone).write_baseline(learn_baseline(zone, history))

        started = time.perf_counter()
        run_config = {"ops": {"replay_live_window": {"config": {"speed": args.speed}}}}
        if args.live_days is not None:
            run_config["ops"]["replay_live_window"]["config"]["days"] = args.live_days
        result = live_replay_job.execute_in_process(
            run_config=run_config,
            instance=dg.DagsterInstance.ephemeral(),
            resources={
                "simulation": simulation,
                "anomaly_schedule": schedule,
                "gatekeeper": GatekeeperResource(),
            },
        )
        wall = time.perf_counter() - started
        if not result.success:
            raise SystemExit("live_replay_job failed")

        store = GatekeeperStore(zone)
        live = [(d, "live") for d in store.findings_days()]
        findings = [store.read_findings(d) for d, _ in live]
        evaluation = score(zone, pa.concat_tables(findings), days=live)
        caught = evaluation.batches[evaluation.batches["status"] == "caught"]
        measured = [float(v) * 60 for v in caught["measured_delay_minutes"].dropna()]
        event = [float(v) for v in caught["delay_minutes"].dropna()]
        summary = evaluation.summary()
        print(
            f"live_replay_job at speed {args.speed}, scale {args.scale}: {len(live)} live days, "
            f"{wall:.1f} s wall; {summary['caught_batches']} of {summary['anomalous_batches']} "
            f"anomalous batches caught, {summary['false_alarms']} false alarms"
        )
        print()
        print("| delay (caught batches) | batches | median | p90 | max |")
        print("|---|---|---|---|---|")
        print(_row("measured: landing -> flag recorded (s)", measured))
        print(_row("event time: batch start -> evidence (min)", event))
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
