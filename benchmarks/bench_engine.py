"""Benchmark of the simulation engine: the default scenario at 1x, 10x and 100x (35M visitors),
generated and written to local Parquet, several runs each (one at 100x).

Each scale runs in a fresh Python subprocess, so its peak RSS is its own (``ru_maxrss`` of that
process) and no cache of one scale helps another. Inside it the Faker value pools are built once
and timed apart (the engine caches them per process, as a Dagster code server or a long script
would), then every run writes the whole scenario into a new temporary directory, deleted after
the run and outside the timing. Figures are printed, not asserted: timings depend on the
machine and on what else runs on it.

Usage::

    python benchmarks/bench_engine.py [--scales 1,10,100] [--runs N] [--workers W] [--tmp-dir DIR]

``--runs`` defaults to 5 runs for scales up to 1, 3 up to 10 and 1 above (100x takes one to
two minutes and ~3.8 GB of disk). The report ends with a side-by-side table of seconds and
rows/s per table for every scale, and checks the 100x peak RSS against its 1.5 GB budget.
``--workers`` > 1 writes days in that many processes (``run_scenario(workers=...)``); the data
are the same bytes either way.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

# The original row-by-row notebook needed about 70 s for a similar volume (issue #2).
NOTEBOOK_BASELINE_S = 70.0
# Peak RSS allowed at any scale (issue #4: 100x within 1.5 GB, chunked generation and writing).
RSS_BUDGET_MB = 1536
START_DATE = "2026-11-01"


def worker(scale: float, runs: int, workers: int, tmp_dir: str | None) -> dict:
    """Time ``runs`` full scenarios at one scale in this process.

    Args:
        scale: Volume multiplier.
        runs: Timed runs.
        workers: Processes writing days (1: this process only).
        tmp_dir: Where the temporary data roots go (system default when None).

    Returns:
        Timings, volumes and peak RSS, JSON-serialisable.
    """
    t0 = time.perf_counter()
    from dtg_assets.simulation.config import ScenarioConfig
    from dtg_assets.simulation.pools import value_pools
    from dtg_assets.simulation.scenario import run_scenario, summarize

    import_s = time.perf_counter() - t0
    config = ScenarioConfig(start_date=START_DATE, scale=scale)
    t0 = time.perf_counter()
    value_pools(config.seed)
    pools_s = time.perf_counter() - t0

    wall, cpu, summary = [], [], None
    for _ in range(runs):
        root = tempfile.mkdtemp(prefix="dtg-bench-", dir=tmp_dir)
        try:
            w0, c0 = time.perf_counter(), time.process_time()
            results = run_scenario(config, root, workers=workers)
            wall.append(time.perf_counter() - w0)
            cpu.append(time.process_time() - c0)
            summary = summarize(results)
            landed = sum(
                os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(root) for f in fs
            )
        finally:
            shutil.rmtree(root, ignore_errors=True)
    assert summary is not None
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return {
        "scale": scale,
        "runs": runs,
        "workers": workers,
        "wall_s": wall,
        "cpu_s": cpu,
        "import_s": import_s,
        "pools_s": pools_s,
        "rows": {t.table: t.rows for t in summary.tables.values()},
        "files": sum(t.files for t in summary.tables.values()),
        "labels": summary.labels,
        "bytes": landed,
        # Linux reports ru_maxrss in KiB.
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "peak_rss_workers_mb": children / 1024,
    }


def run_scale(scale: float, runs: int, workers: int, tmp_dir: str | None) -> dict:
    """Run :func:`worker` for one scale in a fresh interpreter and return its report."""
    cmd = [sys.executable, __file__, "--worker", "--scales", repr(scale), "--runs", str(runs)]
    cmd += ["--workers", str(workers)]
    if tmp_dir:
        cmd += ["--tmp-dir", tmp_dir]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"scale {scale} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def report(results: list[dict]) -> str:
    """Human-readable figures for every scale, then the linearity and baseline ratios."""
    lines = []
    for r in results:
        med = statistics.median(r["wall_s"])
        visitors = r["rows"]["visitor_events"]
        lines += [
            f"scale {r['scale']:g}: {visitors:,} visitors, {r['files']:,} files, "
            f"{r['bytes'] / 1e6:,.1f} MB, {r['labels']:,} labels, "
            f"{r['runs']} runs, {r['workers']} worker(s)",
            f"  wall median {med:.3f} s (min {min(r['wall_s']):.3f}, "
            f"max {max(r['wall_s']):.3f}); cpu median {statistics.median(r['cpu_s']):.3f} s "
            f"(this process)",
            f"  runs: {', '.join(f'{w:.3f}' for w in r['wall_s'])}",
            f"  peak RSS {r['peak_rss_mb']:.0f} MB"
            + (
                f" (day workers: {r['peak_rss_workers_mb']:.0f} MB each at most)"
                if r["workers"] > 1
                else ""
            ),
            f"  Faker pools built once: {r['pools_s']:.3f} s (not in the run times); "
            f"imports {r['import_s']:.2f} s",
        ]
        for table, rows in r["rows"].items():
            lines.append(f"  {table:<16}{rows:>12,} rows {rows / med:>14,.0f} rows/s")
    lines += side_by_side(results)
    by_scale = {r["scale"]: r for r in results}
    if 1.0 in by_scale:
        med = statistics.median(by_scale[1.0]["wall_s"])
        lines.append(
            f"default scenario: {NOTEBOOK_BASELINE_S / med:.0f}x faster than the notebook's "
            f"~{NOTEBOOK_BASELINE_S:.0f} s"
        )
    if len(results) > 1:
        base = results[0]
        base_us = statistics.median(base["wall_s"]) / base["rows"]["visitor_events"] * 1e6
        for r in results[1:]:
            us = statistics.median(r["wall_s"]) / r["rows"]["visitor_events"] * 1e6
            lines.append(
                f"linearity: {us:.2f} us/visitor at scale {r['scale']:g} vs {base_us:.2f} at "
                f"scale {base['scale']:g} (ratio {us / base_us:.2f}; 1.00 is linear)"
            )
    return "\n".join(lines)


def side_by_side(results: list[dict]) -> list[str]:
    """Seconds, peak RSS and rows/s per table, one column per scale."""
    width = 14
    head = "".join(f"{'scale ' + format(r['scale'], 'g'):>{width}}" for r in results)
    lines = ["", f"{'':<22}{head}"]
    medians = [statistics.median(r["wall_s"]) for r in results]
    lines.append(f"{'wall s (median)':<22}" + "".join(f"{m:>{width}.2f}" for m in medians))
    lines.append(
        f"{'peak RSS MB':<22}" + "".join(f"{r['peak_rss_mb']:>{width},.0f}" for r in results)
    )
    for table in results[0]["rows"]:
        rates = "".join(
            f"{r['rows'][table] / m:>{width},.0f}" for r, m in zip(results, medians, strict=True)
        )
        lines.append(f"{table + ' rows/s':<22}{rates}")
    worst = max(r["peak_rss_mb"] for r in results)
    verdict = "within" if worst <= RSS_BUDGET_MB else "OVER"
    lines.append(f"peak RSS {worst:,.0f} MB: {verdict} the {RSS_BUDGET_MB:,} MB budget")
    return lines


def default_runs(scale: float) -> int:
    """Runs per scale when not given: fewer as a run gets longer."""
    return 5 if scale <= 1 else 3 if scale <= 10 else 1


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its figures.

    Args:
        argv: Command-line arguments (``sys.argv[1:]`` when None).

    Returns:
        Exit status.
    """
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--scales", default="1,10,100", help="comma-separated scales (default 1,10,100)"
    )
    parser.add_argument(
        "--runs", type=int, help="runs per scale (default: 5, 3 above 1x, 1 above 10x)"
    )
    parser.add_argument("--workers", type=int, default=1, help="day-writing processes")
    parser.add_argument("--tmp-dir", help="parent directory of the temporary data roots")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    scales = [float(s) for s in args.scales.split(",") if s.strip()]
    if args.worker:
        runs = args.runs or default_runs(scales[0])
        print(json.dumps(worker(scales[0], runs, args.workers, args.tmp_dir)))
        return 0
    results = []
    for scale in scales:
        runs = args.runs or default_runs(scale)
        print(f"scale {scale:g}: {runs} runs ...", file=sys.stderr, flush=True)
        results.append(run_scale(scale, runs, args.workers, args.tmp_dir))
    print(report(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
