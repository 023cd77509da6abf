"""Benchmark of the README's main command: ``dtg-run`` end to end, wall time after install.

Each run starts ``dtg-run`` with its defaults (start 21 days before today: 14 historical and
7 live days, SPEC's schedule, seed 42) as a fresh process: interpreter start, Dagster import,
the five runs of the scenario with every check and the gatekeeper's baseline, findings and
evaluation, in a new, empty ``DAGSTER_HOME`` and data root, exactly as a user's first run
would. It is timed from the outside. Prints every run, the median, the per-run breakdown
``dtg-run`` reports, and the ratio to the 20 s target (issue #3). Figures only, no assertion:
timings depend on the machine and on what else runs on it.

Usage::

    python benchmarks/bench_dtg_run.py [--runs 3] [--scale 1.0]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_S = 20.0


def one_run(scale: float) -> tuple[float, str]:
    """Run ``dtg-run`` once in a fresh temporary directory.

    Args:
        scale: Visitor volume multiplier.

    Returns:
        Wall seconds and the ``Runs:`` breakdown line it printed.

    Raises:
        RuntimeError: If the command fails.
    """
    work = Path(tempfile.mkdtemp(prefix="dtg-bench-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DTG_", "DAGSTER_"))}
    cmd = [
        sys.executable,
        "-m",
        "dtg_assets.run",
        "--dagster-home",
        str(work / "home"),
        "--data-root",
        str(work / "data"),
        "--scale",
        str(scale),
    ]
    try:
        started = time.perf_counter()
        done = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - started
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if done.returncode != 0:
        raise RuntimeError(f"dtg-run failed ({done.returncode}):\n{done.stdout[-3000:]}")
    runs = re.search(r"^Runs.*$", done.stdout, re.MULTILINE)
    return wall, runs.group(0) if runs else ""


def main() -> None:
    """Parse arguments, time the runs, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--scale", type=float, default=1.0)
    args = parser.parse_args()
    walls = []
    for i in range(args.runs):
        wall, breakdown = one_run(args.scale)
        walls.append(wall)
        print(f"run {i + 1}: {wall:.1f} s wall  ({breakdown})", flush=True)
    median = statistics.median(walls)
    print(
        f"dtg-run median over {len(walls)} runs: {median:.1f} s wall "
        f"({median / TARGET_S:.2f}x the {TARGET_S:.0f} s target); load average now "
        f"{os.getloadavg()[0]:.2f}"
    )


if __name__ == "__main__":
    main()
