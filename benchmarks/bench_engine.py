"""Benchmark of the simulation engine against the original notebook's generator, whole process.

Each run is a fresh process, timed from start to exit (imports, Faker pools, generation and
writing included), as a user meets them: the engine as ``python -m dtg_assets.simulation
generate`` of the default scenario, and the original row-by-row generator (kept outside the
project, ``../shared/anchors/seed_generator.py`` relative to the repository) as
``python seed_generator.py OUTDIR SCALE``, run from its own
directory. Runs of the two alternate, so both meet the same load on a shared machine; every
run writes into a new directory under one temporary folder, deleted after the last run: deleting
one run's output just before the next would bill that run for the deletion (on ext4 without a
journal, creating a file skips every inode freed in the last 30 s, which cost the engine a
fifth of its CPU time right after the anchor's clean-up). The engine's own modules are
byte-compiled once before timing, as an install or a first run does: with
``PYTHONDONTWRITEBYTECODE`` set (as on some CI machines) every run would compile them again,
while the anchor's libraries are installed with their bytecode. The report gives the
median wall time of each, its visitors, and the speed-up per visitor (the two generators write
similar but not equal volumes). Figures are printed, not asserted: they depend on the machine
and on what else runs on it. Without the anchor the engine alone is timed and the ratio is
skipped with a message.

Usage::

    python benchmarks/bench_engine.py [--runs N] [--anchor-runs N] [--scale F]
        [--anchor-scale F] [--workers 1,2] [--anchor PATH] [--tmp-dir DIR]

``--workers`` lists the engine's ``--workers`` values to time (default: the command's own
default only); ``--scale`` multiplies the engine's volume and ``--anchor-scale`` the anchor's.
Wall time is the measure; CPU time (user + system, workers included) is shown beside it, as it
varies less when other work shares the machine. Each engine setting's peak RSS (the process or
any of its workers, whichever is largest) is reported too: ``--scale 100 --runs 1
--anchor-runs 0`` checks the memory of a 35M-visitor run.
"""

from __future__ import annotations

import argparse
import compileall
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ANCHOR_CANDIDATES = (REPO.parent / "shared" / "anchors" / "seed_generator.py",)
START_DATE = "2026-11-01"


def find_anchor(explicit: str | None) -> Path | None:
    """The anchor script: the one given, else the first known location that exists."""
    if explicit:
        return Path(explicit).resolve()
    return next((p for p in ANCHOR_CANDIDATES if p.is_file()), None)


@dataclass(frozen=True)
class Run:
    """One whole-process run: wall and CPU seconds (user + system, workers included), peak
    RSS in MB (the largest of the process and its workers), visitors generated and stdout."""

    wall: float
    cpu: float
    rss_mb: float
    visitors: int = 0
    out: str = ""


def timed(cmd: list[str], cwd: Path, done: str | None = None) -> Run:
    """Run a command to completion and measure it.

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
        cpu = usage.ru_utime + usage.ru_stime
        return Run(wall=wall, cpu=cpu, rss_mb=usage.ru_maxrss / 1024, out=output)


def engine_run(scale: float, workers: int | None, parent: str) -> Run:
    """One whole-process run of ``python -m dtg_assets.simulation generate``."""
    root = tempfile.mkdtemp(prefix="engine-", dir=parent)
    cmd = [sys.executable, "-m", "dtg_assets.simulation", "generate", "--data-root", root]
    cmd += ["--start-date", START_DATE, "--seed", "42", "--scale", repr(scale)]
    if workers is not None:
        cmd += ["--workers", str(workers)]
    run = timed(cmd, REPO)
    match = re.search(r"^visitor_events\s+([\d,]+)", run.out, re.M)
    if not match:
        raise SystemExit(f"no visitor count in the engine's output:\n{run.out}")
    return replace(run, visitors=int(match.group(1).replace(",", "")))


def anchor_run(script: Path, scale: float, parent: str) -> Run:
    """One whole-process run of the original generator, from its own directory."""
    out_dir = tempfile.mkdtemp(prefix="anchor-", dir=parent)
    cmd = [sys.executable, script.name, out_dir, repr(scale)]
    run = timed(cmd, script.parent, done=r"generate_s [\d.]+ write_s [\d.]+")
    match = re.search(r"'visitor_events': (\d+)", run.out)
    if not match:
        raise SystemExit(f"no visitor count in the anchor's output:\n{run.out[-2000:]}")
    return replace(run, visitors=int(match.group(1)))


def summary(name: str, runs: list[Run], rss: bool = True) -> tuple[str, float, float]:
    """One report line, and the median wall and CPU microseconds per visitor."""
    wall = statistics.median(r.wall for r in runs)
    cpu = statistics.median(r.cpu for r in runs)
    visitors = runs[-1].visitors
    memory = f"  peak RSS {max(r.rss_mb for r in runs):,.0f} MB" if rss else ""
    line = (
        f"{name:<24} median {wall:6.2f} s (cpu {cpu:6.2f} s)  {visitors:>9,} visitors  "
        f"{wall / visitors * 1e6:6.2f} us/visitor{memory}  "
        f"(runs: {', '.join(f'{r.wall:.2f}' for r in runs)})"
    )
    return line, wall / visitors * 1e6, cpu / visitors * 1e6


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

    compileall.compile_dir(REPO / "dtg_assets", quiet=1)
    runs: dict[int | None, list[Run]] = {w: [] for w in settings}
    anchor_runs: list[Run] = []
    rounds = max(args.runs, args.anchor_runs if anchor else 0)
    with tempfile.TemporaryDirectory(prefix="dtg-bench-", dir=args.tmp_dir) as out:
        for i in range(rounds):
            print(f"round {i + 1}/{rounds} ...", file=sys.stderr, flush=True)
            for w in settings:
                if i < args.runs:
                    runs[w].append(engine_run(args.scale, w, out))
            if anchor is not None and i < args.anchor_runs:
                anchor_runs.append(anchor_run(anchor, args.anchor_scale, out))

    lines = [
        f"whole-process runs, default scenario from {START_DATE}, seed 42, engine x{args.scale:g}"
    ]
    engine_us = {}
    for w in settings:
        name = f"engine (--workers {w})" if w is not None else "engine (default workers)"
        line, *engine_us[w] = summary(name, runs[w])
        lines.append(line)
    if anchor is not None and args.anchor_runs < 1:
        lines.append("anchor not run (--anchor-runs 0): speed-up not measured")
    elif anchor is None:
        where = " or ".join(str(p.parent) for p in ANCHOR_CANDIDATES)
        lines.append(f"anchor not found ({where}): speed-up not measured")
    else:
        name = f"seed_generator x{args.anchor_scale:g}"
        line, anchor_wall_us, anchor_cpu_us = summary(name, anchor_runs, rss=False)
        lines.append(line)
        for w, (wall_us, cpu_us) in engine_us.items():
            label = f"--workers {w}" if w is not None else "default workers"
            lines.append(
                f"speed-up per visitor ({label}): {anchor_wall_us / wall_us:.1f}x wall "
                f"(CPU time: {anchor_cpu_us / cpu_us:.1f}x)"
            )
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
