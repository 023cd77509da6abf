"""Benchmark of the CI time the distributed tests add: the test command with and without them.

CI (``.ci/run``) installs ``.[dev,distributed]`` and runs ``pytest`` with ``CI=true``, which
runs the tests marked ``distributed`` (PostgreSQL, Redis, two Celery workers, the daemon and
the webserver, started by the tests). Without the deployment, CI would install ``.[dev]`` and
run the same suite without them. This script measures both halves of the difference on this
machine, in one invocation:

- the test command, ``CI=true pytest -q -p no:cacheprovider``, against the same command with
  ``-m 'not distributed'``, in alternating rounds (both meet the same load), timed as whole
  processes;
- with ``--install``, a fresh venv's ``pip install -e '.[dev]'`` against a fresh venv's
  ``pip install -e '.[dev,distributed]'`` (pip's cache as it is: warm after the first install
  on a machine, as on CI's runners with a cache).

It prints each round, the medians and the time added (median with minus median without, plus the
extra install time). Figures are printed, not asserted. It needs the ``distributed`` extra,
``redis-server`` and PostgreSQL, as CI does.

Usage::

    python benchmarks/bench_ci_time.py [--rounds N] [--install] [-- PYTEST_ARGS...]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import venv
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PYTEST = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]


def timed(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, str]:
    """Run a command in the repository; its wall seconds and last output line.

    Raises:
        SystemExit: If the command fails.
    """
    t0 = time.perf_counter()
    done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stdout[-3000:]}")
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    return wall, lines[-1] if lines else ""


def install_time(extras: str) -> float:
    """Seconds of ``pip install -e '.[extras]'`` into a fresh venv (pip upgraded first, as
    ``.ci/run`` does, outside the timing)."""
    with tempfile.TemporaryDirectory(prefix="dtg-ci-venv-") as where:
        venv.create(where, with_pip=True)
        python = str(Path(where) / "bin" / "python")
        subprocess.run([python, "-m", "pip", "install", "-q", "--upgrade", "pip"], check=True)
        wall, _ = timed([python, "-m", "pip", "install", "-q", "-e", f".[{extras}]"])
    return wall


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its figures.

    Args:
        argv: Command-line arguments (``sys.argv[1:]`` when None).

    Returns:
        Exit status.
    """
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=1, help="rounds of each command (1)")
    parser.add_argument("--install", action="store_true", help="also time the two installs")
    parser.add_argument("pytest_args", nargs="*", help="extra pytest arguments, after --")
    args = parser.parse_args(argv)
    env = {**os.environ, "CI": "true"}
    commands = {
        "with the distributed tests": [*PYTEST, *args.pytest_args],
        "without them": [*PYTEST, "-m", "not distributed", *args.pytest_args],
    }
    walls: dict[str, list[float]] = {name: [] for name in commands}
    for i in range(args.rounds):
        for name, cmd in commands.items():
            print(f"round {i + 1}/{args.rounds}: {name} ...", file=sys.stderr, flush=True)
            wall, last = timed(cmd, env)
            walls[name].append(wall)
            summary = re.sub(r"=+", "", last).strip()
            print(f"round {i + 1}  {name:<28} {wall:7.1f} s  ({summary})", flush=True)
    with_, without = (statistics.median(w) for w in walls.values())
    print(f"test command, median of {args.rounds}: {with_:.1f} s with the distributed tests, "
          f"{without:.1f} s without: {with_ - without:+.1f} s")  # fmt: skip
    added = with_ - without
    if args.install:
        print("timing the installs ...", file=sys.stderr, flush=True)
        dev, distributed = install_time("dev"), install_time("dev,distributed")
        print(f"install: {dev:.1f} s for .[dev], {distributed:.1f} s for .[dev,distributed]: "
              f"{distributed - dev:+.1f} s")  # fmt: skip
        added += distributed - dev
    print(f"CI time added by the distributed tests: {added:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
