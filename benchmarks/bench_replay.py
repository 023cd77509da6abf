"""Benchmark of ``replay``: batch-by-batch landing against the day-at-once ``generate``.

Each run starts the command as a fresh process into a new, empty data root, with the defaults
(start 21 days before today: 14 historical and 7 live days, seed 42, scale 1), timed from the
outside. ``replay --speed max`` (history day at once, then the 56 live batches each committed on
its own) and ``generate`` (every day at once) alternate, so the machine's noise hits both alike;
the script prints every run, the medians and their ratio against the 1.5x target (issue #10),
and the load average before and after (the figures mean little on a busy machine).
With ``--speed 3600`` it instead times replays at an hour a second: the live week's 165 simulated
hours from the first batch landed to the last should take under 3 minutes of wall time. Figures
only, no assertion: timings depend on the machine and on what else runs on it.

Usage::

    python benchmarks/bench_replay.py [--runs 5] [--scale 1.0] [--speed max|3600]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RATIO_TARGET = 1.5
PACED_TARGET_S = 180.0


def one_run(command: list[str], scale: float) -> float:
    """Run one engine command into a fresh temporary data root.

    Args:
        command: ``generate`` or ``replay`` and its own options.
        scale: Visitor volume multiplier.

    Returns:
        Wall seconds.

    Raises:
        RuntimeError: If the command fails.
    """
    work = Path(tempfile.mkdtemp(prefix="dtg-bench-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("DTG_")}
    cmd = [sys.executable, "-m", "dtg_assets.simulation", *command, "--data-root",
           str(work / "data"), "--scale", str(scale)]  # fmt: skip
    try:
        started = time.perf_counter()
        done = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - started
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}): {done.stderr[-2000:]}")
    return wall


def main() -> None:
    """Parse arguments, time the runs, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--speed", default="max", help="max (ratio to generate) or 3600")
    args = parser.parse_args()
    print(f"load average before: {load()}", flush=True)
    if args.speed != "max":
        walls = []
        for i in range(args.runs):
            walls.append(one_run(["replay", "--speed", args.speed], args.scale))
            print(f"run {i + 1}: replay --speed {args.speed} {walls[-1]:.1f} s", flush=True)
        median = statistics.median(walls)
        print(f"median replay --speed {args.speed}: {median:.1f} s (target at 3600: under "
              f"{PACED_TARGET_S:.0f} s); load average after: {load()}")  # fmt: skip
        return
    generate, replay = [], []
    for i in range(args.runs):
        generate.append(one_run(["generate"], args.scale))
        replay.append(one_run(["replay", "--speed", "max"], args.scale))
        print(f"run {i + 1}: generate {generate[-1]:.2f} s, replay --speed max "
              f"{replay[-1]:.2f} s", flush=True)  # fmt: skip
    at_once, by_batch = statistics.median(generate), statistics.median(replay)
    print(f"median generate {at_once:.2f} s, replay --speed max {by_batch:.2f} s: "
          f"ratio {by_batch / at_once:.2f}x (target <= {RATIO_TARGET}x); "
          f"load average after: {load()}")  # fmt: skip


def load() -> str:
    """The 1, 5 and 15 minute load averages (``?`` where the platform has none)."""
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "?"


if __name__ == "__main__":
    main()
