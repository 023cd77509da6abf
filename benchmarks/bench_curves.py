"""Benchmark the detection curves: every anomaly type at 5 strengths x 3 seeds, timed.

Runs :func:`~dtg_assets.gatekeeper.curves.run_curves` (the gatekeeper, plus any command
detectors given with ``--command NAME=TEMPLATE``), prints the markdown table and the elapsed
wall time, and with ``--out DIR`` writes ``curves.csv``, ``curves.md`` and one PNG per anomaly
type (the PNGs need the ``plot`` extra). The target is all thirteen types at the default
strengths and seeds in at most 3 minutes on a 2-core machine.

    .venv/bin/python benchmarks/bench_curves.py [--seeds 42 7 2026] [--strengths 1 0.5 ...]
        [--scale 1.0] [--workers 2] [--command NAME='cmd {data_root} {findings}']
        [--findings-format parquet|csv|jsonl] [--out DIR]
"""

from __future__ import annotations

import argparse
import sys
import time

from dtg_assets.gatekeeper.command import CommandError
from dtg_assets.gatekeeper.curve_plot import PlotUnavailableError, plot_curves
from dtg_assets.gatekeeper.curves import CurveConfig, run_curves
from dtg_assets.gatekeeper.flags import FlagsError


def _command(text: str) -> tuple[str, str]:
    name, sep, template = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"{text!r}: expected NAME=TEMPLATE")
    return name, template


def main() -> None:
    """Parse arguments, sweep, print the table and the time."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    defaults = CurveConfig()
    parser.add_argument("--seeds", type=int, nargs="+", default=list(defaults.seeds))
    parser.add_argument("--strengths", type=float, nargs="+", default=list(defaults.strengths))
    parser.add_argument("--scale", type=float, default=defaults.scale)
    parser.add_argument("--workers", type=int, default=defaults.workers)
    parser.add_argument("--no-gatekeeper", action="store_true")
    parser.add_argument("--command", type=_command, action="append", default=[])
    parser.add_argument("--findings-format", choices=["parquet", "csv", "jsonl"], default="parquet")
    parser.add_argument("--out", help="folder for curves.csv, curves.md and the PNGs")
    args = parser.parse_args()
    try:
        config = CurveConfig(
            seeds=args.seeds, strengths=args.strengths, scale=args.scale, workers=args.workers,
            gatekeeper=not args.no_gatekeeper, commands=dict(args.command),
            findings_format=args.findings_format,
        )  # fmt: skip
    except ValueError as exc:
        parser.error(" ".join(str(exc).split()))
    start = time.perf_counter()
    try:
        curves = run_curves(config)
    except (CommandError, FlagsError) as exc:
        sys.exit(f"bench_curves: {exc}")
    elapsed = time.perf_counter() - start
    print(curves.to_markdown())
    points = len(config.seeds) * len(config.strengths)
    print(
        f"_{points} points ({len(config.seeds)} seeds x {len(config.strengths)} strengths), "
        f"13 anomaly types, {config.workers} worker(s): {elapsed:.1f} s_"
    )
    if args.out:
        paths = curves.save(args.out)
        try:
            pngs = plot_curves(curves, args.out)
        except PlotUnavailableError as exc:
            print(exc)
            pngs = {}
        print(f"wrote {paths['csv']}, {paths['markdown']} and {len(pngs)} PNGs")


if __name__ == "__main__":
    main()
