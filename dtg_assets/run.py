"""``dtg-run``: run the whole default scenario through Dagster into a local ``DAGSTER_HOME``.

Materializes the 14 historical and the live partitions (every landing asset, ground truth and
asset check) as two single-run backfills executed in process, so no daemon or webserver has to
be started, then prints a summary. The runs, row-count plots and check results are then visible
in ``dagster dev`` started with the same ``DAGSTER_HOME`` and ``DTG_START_DATE``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
from pathlib import Path


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dtg-run",
        description="Run the DTG default scenario (14 historical + live days, all checks) "
        "through Dagster, in process, into a local DAGSTER_HOME.",
    )
    parser.add_argument(
        "--dagster-home",
        default=os.environ.get("DAGSTER_HOME") or ".dagster_home",
        help="Dagster instance directory (default: $DAGSTER_HOME or ./.dagster_home).",
    )
    parser.add_argument(
        "--data-root",
        default=os.environ.get("DTG_DATA_ROOT") or "data",
        help="Landing zone root, local path or fsspec URI (default: $DTG_DATA_ROOT or ./data).",
    )
    parser.add_argument(
        "--start-date",
        default=os.environ.get("DTG_START_DATE") or None,
        help="First historical day, YYYY-MM-DD (default: $DTG_START_DATE or 21 days ago).",
    )
    parser.add_argument(
        "--seed", default=os.environ.get("DTG_SEED") or None, help="Seed (default 42)."
    )
    parser.add_argument("--scale", type=float, default=1.0, help="Visitor volume multiplier.")
    return parser


def _fail(message: str) -> int:
    print(f"dtg-run: error: {message}", file=sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``dtg-run``.

    Args:
        argv: Arguments (``sys.argv[1:]`` when None).

    Returns:
        0 when every run and blocking check succeeded, 1 when one failed, 2 on bad arguments.
    """
    args = _parser().parse_args(argv)
    if args.start_date is None:
        # Pinned for the whole run, and printed, so `dagster dev` shows the same partitions.
        args.start_date = (dt.datetime.now(dt.UTC).date() - dt.timedelta(days=21)).isoformat()
    try:
        dt.date.fromisoformat(args.start_date)
    except ValueError:
        return _fail(f"--start-date {args.start_date!r} is not a date; expected YYYY-MM-DD")
    os.environ["DTG_START_DATE"] = args.start_date
    if args.seed is not None:
        if not str(args.seed).isdigit():
            return _fail(f"--seed {args.seed!r} must be a non-negative integer")
        os.environ["DTG_SEED"] = str(args.seed)
    if not args.scale > 0:
        return _fail(f"--scale {args.scale!r} must be > 0")
    home = Path(args.dagster_home).resolve()
    if home.exists() and not home.is_dir():
        return _fail(f"--dagster-home {str(home)!r} is a file, not a directory")
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "dagster.yaml").exists():
        # Dagster's defaults (SQLite under DAGSTER_HOME); the file only silences its warning.
        (home / "dagster.yaml").write_text("# Dagster instance settings; defaults apply.\n")
    os.environ["DAGSTER_HOME"] = str(home)
    root = args.data_root if "://" in args.data_root else str(Path(args.data_root).resolve())
    os.environ["DTG_DATA_ROOT"] = root

    # Imported late: partitions read DTG_START_DATE when the definitions module loads.
    from dtg_assets.summary import run_scenario_in_dagster

    started = time.perf_counter()
    ok, summary = run_scenario_in_dagster(scale=args.scale)
    print(summary)
    print(f"\nFinished in {time.perf_counter() - started:.1f} s. Landing zone: {root}")
    print(
        "Browse the runs, row-count plots and checks with:\n"
        f"  DAGSTER_HOME={home} DTG_START_DATE={args.start_date} DTG_DATA_ROOT={root} "
        "dagster dev -m dtg_assets.definitions"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
