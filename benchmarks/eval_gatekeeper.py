"""Score the gatekeeper on the default scenario for several seeds and print the tables.

For each seed the default 21-day scenario is written to a temporary data root, the baseline is
learned from the 14 historical days, every historical and live day is checked, and the findings
are scored against the ground truth. ``--conversion-drop`` appends a ``conversion_drop`` batch
of 5,000 visitors to the live schedule (nine batches a day, 24h/9 apart).

    .venv/bin/python benchmarks/eval_gatekeeper.py [--seeds 42 7 2026] [--conversion-drop]
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
import time

import pyarrow as pa

from dtg_assets.gatekeeper import detect_days, learn_baseline
from dtg_assets.gatekeeper.evaluation import Evaluation, evaluate, load_ground_truth
from dtg_assets.simulation.config import DEFAULT_LIVE_SCHEDULE, BatchSpec, ScenarioConfig
from dtg_assets.simulation.landing import LandingZone
from dtg_assets.simulation.plan import Window, scenario_days


def run(config: ScenarioConfig, root: str) -> tuple[Evaluation, dict[str, float]]:
    """Write a scenario, learn, detect and evaluate.

    Args:
        config: The scenario.
        root: An empty data root.

    Returns:
        The evaluation and wall times (seconds) per stage.
    """
    zone = LandingZone(root)
    days = scenario_days(config)
    times = {}
    t = time.perf_counter()
    zone.write_days(config, days)
    times["write"] = time.perf_counter() - t
    t = time.perf_counter()
    baseline = learn_baseline(zone, [d for d, w in days if w is Window.HISTORICAL])
    times["baseline"] = time.perf_counter() - t
    t = time.perf_counter()
    findings: pa.Table = detect_days(zone, [(d, w.value) for d, w in days], baseline)
    times["detect"] = time.perf_counter() - t
    labels, manifest = load_ground_truth(zone, [(d, w.value) for d, w in days])
    return evaluate(findings, labels, manifest), times


def main() -> None:
    """Parse arguments, run every seed and print its tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[42, 7, 2026])
    parser.add_argument("--start-date", type=dt.date.fromisoformat, default=dt.date(2026, 1, 1))
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--conversion-drop", action="store_true")
    args = parser.parse_args()
    schedule = DEFAULT_LIVE_SCHEDULE
    if args.conversion_drop:
        schedule = (*schedule, BatchSpec(anomaly="conversion_drop", visitors=5000))
    for seed in args.seeds:
        config = ScenarioConfig(
            start_date=args.start_date, seed=seed, scale=args.scale, live_schedule=schedule
        )
        with tempfile.TemporaryDirectory() as root:
            evaluation, times = run(config, root)
        spent = ", ".join(f"{k} {v:.1f} s" for k, v in times.items())
        print(f"### seed {seed}\n\n{evaluation.to_markdown()}\n\n_{spent}_\n")


if __name__ == "__main__":
    main()
