"""``dtg-run``: run the whole scenario through Dagster into a local ``DAGSTER_HOME``.

``--scenario extended`` (or ``quiet``) runs that preset instead of the default one.

Materializes the 14 historical and the live partitions (every landing asset, ground truth and
asset check) as two single-run backfills executed in process, so no daemon or webserver has to
be started, then prints a summary and the command that opens the result in the Dagster UI
(``dagster-webserver`` with the same ``DAGSTER_HOME``, ``DTG_START_DATE`` and data root). The
instance directory it creates gets a ``dagster.yaml`` with telemetry off, so no banner; a
``dagster.yaml`` already there is the user's and is left as it is.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
from pathlib import Path

from dtg_assets.settings import (
    DATA_ROOT_ENV,
    SEED_ENV,
    START_DATE_ENV,
    SettingError,
    env_data_root,
    parse_seed,
    parse_start_date,
)
from dtg_assets.simulation.config import PRESETS, default_start_date

# What dtg-run writes into an instance directory it creates (its first line marks it as ours).
INSTANCE_YAML = (
    "# Written by dtg-run: a local instance (SQLite under DAGSTER_HOME), telemetry off.\n"
    "telemetry:\n"
    "  enabled: false\n"
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dtg-run",
        description="Run a DTG scenario (14 historical + live days, all checks) "
        "through Dagster, in process, into a local DAGSTER_HOME.",
    )
    parser.add_argument(
        "--dagster-home",
        default=os.environ.get("DAGSTER_HOME") or ".dagster_home",
        help="Dagster instance directory (default: $DAGSTER_HOME or ./.dagster_home).",
    )
    parser.add_argument(
        "--data-root",
        default=None,
        help=f"Landing zone root, local path or fsspec URI (default: ${DATA_ROOT_ENV} or ./data).",
    )
    parser.add_argument(
        "--start-date",
        default=None,
        help=f"First historical day, YYYY-MM-DD (default: ${START_DATE_ENV} or 21 days ago).",
    )
    parser.add_argument("--seed", default=None, help=f"Seed (default: ${SEED_ENV} or 42).")
    parser.add_argument("--scale", type=float, default=1.0, help="Visitor volume multiplier.")
    parser.add_argument(
        "--scenario",
        choices=PRESETS,
        default="default",
        help="Scenario preset: default (the shipped live day), extended (all thirteen anomaly "
        "types over the live week) or quiet (no anomaly).",
    )
    return parser


def _fail(message: str) -> int:
    print(f"dtg-run: error: {message}", file=sys.stderr)
    return 2


def _setting(args: argparse.Namespace, option: str, env: str) -> tuple[str | None, str]:
    """The raw value of a setting and how to name it: the option if given, else the variable."""
    given = getattr(args, option.removeprefix("--").replace("-", "_"))
    if given is not None:
        return given, option
    raw = os.environ.get(env, "")
    return (raw, env) if raw.strip() else (None, env)


def prepare_instance(home: Path) -> None:
    """Create the instance directory, with telemetry off unless the user has a dagster.yaml.

    Args:
        home: The ``DAGSTER_HOME`` directory.

    Raises:
        SettingError: If ``home`` exists and is not a directory.
    """
    if home.exists() and not home.is_dir():
        raise SettingError(f"--dagster-home {str(home)!r} is a file, not a directory")
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text(INSTANCE_YAML)


def browse_command(home: Path, start: str, root: str) -> str:
    """The shell lines that open this instance in the Dagster UI, without any warning.

    ``dagster dev`` is superseded in Dagster 1.13 (it warns and points at ``dg dev`` of the
    separate ``dagster-dg-cli``), so the webserver and, for the schedule and UI-launched
    backfills, the daemon are started directly.

    Args:
        home: ``DAGSTER_HOME``.
        start: The pinned ``DTG_START_DATE``.
        root: The data root.

    Returns:
        The lines to print.
    """
    env = (
        f"export DAGSTER_HOME={shlex.quote(str(home))} {START_DATE_ENV}={shlex.quote(start)} "
        f"{DATA_ROOT_ENV}={shlex.quote(root)}"
    )
    return (
        "Browse the runs, row-count plots and checks (http://127.0.0.1:3000) with:\n"
        f"  {env}\n"
        "  dagster-webserver -m dtg_assets.definitions\n"
        "and, to run the daily schedule and backfills launched from the UI, alongside it:\n"
        "  dagster-daemon run -m dtg_assets.definitions"
    )


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``dtg-run``.

    Args:
        argv: Arguments (``sys.argv[1:]`` when None).

    Returns:
        0 when every run and blocking check succeeded, 1 when one failed, 2 on bad arguments.
    """
    args = _parser().parse_args(argv)
    try:
        raw_start, name = _setting(args, "--start-date", START_DATE_ENV)
        # Pinned for the whole run, and printed, so the UI shows the same partitions.
        start = default_start_date() if raw_start is None else parse_start_date(raw_start, name)
        raw_seed, name = _setting(args, "--seed", SEED_ENV)
        seed = None if raw_seed is None else parse_seed(raw_seed, name)
        if not args.scale > 0:
            raise SettingError(f"--scale {args.scale!r} must be > 0")
        home = Path(args.dagster_home).resolve()
        prepare_instance(home)
    except SettingError as exc:
        return _fail(str(exc))
    os.environ[START_DATE_ENV] = start.isoformat()
    if seed is not None:
        os.environ[SEED_ENV] = str(seed)
    os.environ["DAGSTER_HOME"] = str(home)
    root = args.data_root or env_data_root()
    root = root if "://" in root else str(Path(root).resolve())
    os.environ[DATA_ROOT_ENV] = root

    # Imported late: partitions read DTG_START_DATE when the definitions module loads.
    from dtg_assets.summary import run_scenario_in_dagster

    started = time.perf_counter()
    ok, summary = run_scenario_in_dagster(scale=args.scale, scenario=args.scenario)
    print(summary)
    print(f"\nFinished in {time.perf_counter() - started:.1f} s. Landing zone: {root}")
    print(browse_command(home, start.isoformat(), root))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
