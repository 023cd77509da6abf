"""Benchmark of the simulation engine against the original notebook's generator, whole process.

Each run is a fresh process, timed from start to exit (imports, Faker pools, generation and
writing included), as a user meets them: the engine as ``python -m dtg_assets.simulation
generate`` of the default scenario, and the original row-by-row generator (kept outside the
project, ``../shared/anchors/seed_generator.py`` relative to the repository, or
``/work/shared/anchors``) as ``python seed_generator.py OUTDIR SCALE``, run from its own
directory. Runs of the two alternate, so both meet the same load on a shared machine; every
run writes into a new temporary directory, deleted outside the timing. The report gives the
median wall time of each, its visitors, and the speed-up per visitor (the two generators write
similar but not equal volumes). Figures are printed, not asserted: they depend on the machine
and on what else runs on it. Without the anchor the engine alone is timed and the ratio is
skipped with a message.

Usage::

    python benchmarks/bench_engine.py [--runs N] [--anchor-runs N] [--scale F]
        [--anchor-scale F] [--workers 1,2] [--anchor PATH] [--tmp-dir DIR]

``--workers`` lists the engine's ``--workers`` values to time (default: the command's own
default only); ``--scale`` multiplies the engine's volume and ``--anchor-scale`` the anchor's.
Each engine setting's peak RSS (the process or any of its workers, whichever is largest) is
reported too: ``--scale 100 --runs 1 --anchor-runs 0`` checks the memory of a 35M-visitor run.
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

REPO = Path(__file__).resolve().parents[1]
ANCHOR_CANDIDATES = (
    REPO.parent / "shared" / "anchors" / "seed_generator.py",
    Path("/work/shared/anchors/seed_generator.py"),
)
START_DATE = "2026-11-01"


def find_anchor(explicit: str | None) -> Path | None:
    """The anchor script: the one given, else the first known location that exists."""
    if explicit:
        return Path(explicit).resolve()
    return next((p for p in ANCHOR_CANDIDATES if p.is_file()), None)


def timed(cmd: list[str], cwd: Path, done: str | None = None) -> tuple[float, str, float]:
    """Run a command to completion: its wall seconds, stdout and peak RSS in MB (the largest
    of the process and the workers it waited for).

    Raises SystemExit if it fails, unless ``done`` (a regular expression) matches its output:
    the anchor's pyarrow can abort at interpreter exit, after its work is done and reported.
    """
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        t0 = time.perf_counter()
        process = subprocess.Popen(cmd, cwd=cwd, stdout=out, stderr=err, text=True)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - t0
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        output = out.read()
        if process.returncode != 0 and not (done and re.search(done, output)):
            raise SystemExit(
                f"{' '.join(cmd)} failed ({process.returncode}):\n{err.read()[-2000:]}"
            )
        # Linux reports ru_maxrss in KiB.
        return wall, output, usage.ru_maxrss / 1024


def engine_run(scale: float, workers: int | None, tmp_dir: str | None) -> tuple[float, int, float]:
    """One whole-process engine run: wall seconds, visitors landed and peak RSS (MB)."""
    root = tempfile.mkdtemp(prefix="dtg-bench-", dir=tmp_dir)
    cmd = [sys.executable, "-m", "dtg_assets.simulation", "generate", "--data-root", root]
    cmd += ["--start-date", START_DATE, "--seed", "42", "--scale", repr(scale)]
    if workers is not None:
        cmd += ["--workers", str(workers)]
    try:
        wall, out, rss = timed(cmd, REPO)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    match = re.search(r"^visitor_events\s+([\d,]+)", out, re.M)
    if not match:
        raise SystemExit(f"no visitor count in the engine's output:\n{out}")
    return wall, int(match.group(1).replace(",", "")), rss


def anchor_run(script: Path, scale: float, tmp_dir: str | None) -> tuple[float, int]:
    """One whole-process run of the original generator: wall seconds and visitors."""
    out_dir = tempfile.mkdtemp(prefix="dtg-anchor-", dir=tmp_dir)
    try:
        cmd = [sys.executable, script.name, out_dir, repr(scale)]
        wall, out, _ = timed(cmd, script.parent, done=r"generate_s [\d.]+ write_s [\d.]+")
    finally:
        shutil.rmtree(out_dir, ignore_errors=True)
    match = re.search(r"'visitor_events': (\d+)", out)
    if not match:
        raise SystemExit(f"no visitor count in the anchor's output:\n{out[-2000:]}")
    return wall, int(match.group(1))


def summary(name: str, walls: list[float], visitors: int, rss: str = "") -> tuple[str, float]:
    """One report line and the median microseconds per visitor."""
    med = statistics.median(walls)
    us = med / visitors * 1e6
    runs = ", ".join(f"{w:.2f}" for w in walls)
    line = (
        f"{name:<24} median {med:7.2f} s  {visitors:>9,} visitors  {us:7.2f} us/visitor"
        f"{rss}  (runs: {runs})"
    )
    return line, us


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its figures.

    Args:
        argv: Command-line arguments (``sys.argv[1:]`` when None).

    Returns:
        Exit status.
    """
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="engine runs per setting (5)")
    parser.add_argument("--anchor-runs", type=int, default=3, help="anchor runs (3)")
    parser.add_argument("--scale", type=float, default=1.0, help="engine scale (1)")
    parser.add_argument("--anchor-scale", type=float, default=1.0, help="anchor scale (1)")
    parser.add_argument(
        "--workers", default="", help="engine --workers values, comma-separated (default: its own)"
    )
    parser.add_argument("--anchor", help="path of seed_generator.py (default: found by location)")
    parser.add_argument("--tmp-dir", help="parent directory of the temporary output")
    args = parser.parse_args(argv)
    settings: list[int | None] = [int(w) for w in args.workers.split(",") if w.strip()] or [None]
    anchor = find_anchor(args.anchor)
    if anchor is not None and not anchor.is_file():
        raise SystemExit(f"--anchor={anchor}: no such file")

    walls: dict[int | None, list[float]] = {w: [] for w in settings}
    peak: dict[int | None, float] = dict.fromkeys(settings, 0.0)
    visitors: dict[int | None, int] = {}
    anchor_walls: list[float] = []
    anchor_visitors = 0
    rounds = max(args.runs, args.anchor_runs if anchor else 0)
    for i in range(rounds):
        print(f"round {i + 1}/{rounds} ...", file=sys.stderr, flush=True)
        for w in settings:
            if i < args.runs:
                wall, visitors[w], rss = engine_run(args.scale, w, args.tmp_dir)
                walls[w].append(wall)
                peak[w] = max(peak[w], rss)
        if anchor is not None and i < args.anchor_runs:
            wall, anchor_visitors = anchor_run(anchor, args.anchor_scale, args.tmp_dir)
            anchor_walls.append(wall)

    lines = [
        f"whole-process runs, default scenario from {START_DATE}, seed 42, engine x{args.scale:g}"
    ]
    engine_us = {}
    for w in settings:
        name = f"engine (--workers {w})" if w is not None else "engine (default workers)"
        line, engine_us[w] = summary(name, walls[w], visitors[w], f"  peak RSS {peak[w]:,.0f} MB")
        lines.append(line)
    if anchor is not None and args.anchor_runs < 1:
        lines.append("anchor not run (--anchor-runs 0): speed-up not measured")
    elif anchor is None:
        where = " or ".join(str(p.parent) for p in ANCHOR_CANDIDATES)
        lines.append(f"anchor not found ({where}): speed-up not measured")
    else:
        line, anchor_us = summary(
            f"seed_generator x{args.anchor_scale:g}", anchor_walls, anchor_visitors
        )
        lines.append(line)
        for w, us in engine_us.items():
            label = f"--workers {w}" if w is not None else "default workers"
            lines.append(f"speed-up per visitor ({label}): {anchor_us / us:.1f}x")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
