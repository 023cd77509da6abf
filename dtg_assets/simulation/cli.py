"""The command for users without Dagster: ``python -m dtg_assets.simulation generate``.

``generate --data-root DIR [--start-date YYYY-MM-DD] [--seed N] [--scale F] [--workers N]
[--scenario default|extended|quiet]`` writes the whole scenario (the default preset unless
``--scenario`` names another) (landing zone and ground truth) under the data root and
prints a per-table summary, writing days in up to two forked processes (same bytes for any
``--workers``). The start date defaults to 21 days before today (UTC) and the seed to 42, as in the
original notebook. On a terminal a progress bar (batches, rows/s, ETA) is drawn on stderr;
when stderr is not a terminal nothing is drawn. The data root is checked writable (object
stores: credentials and endpoint from the ``AWS_*`` environment variables) before anything is
generated. Every invalid argument ends the command with exit status 2 and a single line naming
the option, the value and what is allowed; a failure while writing ends it with status 1 and a
single line. Ctrl-C (exit status 130) and ``SIGTERM`` (143) stop the command and its workers
promptly, with one line: the days already written are complete, the day in progress is
abandoned (its temporaries deleted). ``replay`` takes the same scenario options and ``--speed
N|max``: it lands the history (days already landed kept), then the live window batch by batch,
paced, printing each batch as it lands (:mod:`~dtg_assets.simulation.replay`); interrupted, it
resumes after the last committed batch when run again. Installed as the ``dtg-simulate`` console
script too.
"""

from __future__ import annotations

import argparse
import gc
import math
import os
import signal
import sys
import time
from typing import NoReturn

from pydantic import ValidationError

from dtg_assets.simulation.config import PRESETS, ScenarioConfig
from dtg_assets.simulation.errors import format_validation_error
from dtg_assets.simulation.landing import LandingZone
from dtg_assets.simulation.plan import BatchPlan
from dtg_assets.simulation.process import (
    StopSignals,
    Terminated,
    default_workers,
    keep_pandas_out,
)
from dtg_assets.simulation.progress import ProgressBar
from dtg_assets.simulation.replay import format_batch, replay
from dtg_assets.simulation.roots import DataRootError
from dtg_assets.simulation.scenario import format_summary, run_scenario, summarize
from dtg_assets.simulation.seeds import SettingError, parse_seed
from dtg_assets.simulation.workers import WorkerDiedError

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
# The shell's convention for a command ended by a signal: 128 + its number.
EXIT_INTERRUPTED, EXIT_TERMINATED = 128 + signal.SIGINT, 128 + signal.SIGTERM


class UsageError(Exception):
    """An invalid command line, reported as one line with exit status 2."""


class _Parser(argparse.ArgumentParser):
    """argparse, but errors raise instead of printing the usage block and exiting."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def _finite_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid number: {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def _speed(text: str) -> float | None:
    if text == "max":
        return None
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(
            f"{text!r}: must be a positive number (simulated hours per wall-clock hour) or max"
        )
    return value


def _scenario_options(command: argparse.ArgumentParser) -> None:
    """The options ``generate`` and ``replay`` share: the data root and the scenario."""
    command.add_argument("--data-root", required=True, help="local directory or fsspec URI")
    command.add_argument(
        "--start-date",
        metavar="YYYY-MM-DD",
        help="first historical day (default: 21 days before today, UTC)",
    )
    command.add_argument("--seed", default="42", help="random seed, 0 to 2**63-1 (default: 42)")
    command.add_argument(
        "--scenario",
        choices=PRESETS,
        default="default",
        help="scenario preset: default (the shipped live day), extended (all thirteen anomaly "
        "types over the live week) or quiet (no anomaly) (default: %(default)s)",
    )
    command.add_argument(
        "--scale",
        type=_finite_float,
        default=1.0,
        help="multiplies every visitor count (default: 1)",
    )
    command.add_argument(
        "--workers",
        type=int,
        default=default_workers(),
        help="processes writing days at once; same data for any value "
        "(default: %(default)s, the CPUs up to 2)",
    )


MODULE_PROG = "python -m dtg_assets.simulation"


def build_parser(prog: str = MODULE_PROG) -> argparse.ArgumentParser:
    """The command-line parser.

    Args:
        prog: The command's name in help and errors, as the user typed it.

    Returns:
        A parser with the ``generate`` and ``replay`` sub-commands.
    """
    parser = _Parser(
        prog=prog,
        description="Simulate the DTG credit-card funnel and land it as Parquet.",
    )
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    gen = commands.add_parser(
        "generate",
        help="write the whole default scenario (landing zone + ground truth)",
        description="Write the whole default scenario (landing zone + ground truth) and "
        "print a per-table summary.",
    )
    _scenario_options(gen)
    gen.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="print each batch as it lands (stderr) instead of the progress bar",
    )
    rep = commands.add_parser(
        "replay",
        help="land the live window batch by batch, paced (history first, day at once)",
        description="Land the historical window (days already landed are kept), then the live "
        "window batch by batch in arrival order, one simulated hour per 1/SPEED wall-clock "
        "hours from the first batch landed; prints each batch as it lands. Interrupted, the "
        "same command resumes after the last committed batch.",
    )
    _scenario_options(rep)
    rep.add_argument(
        "--speed",
        required=True,
        type=_speed,
        metavar="N|max",
        help="simulated hours per wall-clock hour (3600: an hour a second), or max: as fast "
        "as possible",
    )
    return parser


def _config(args: argparse.Namespace) -> ScenarioConfig:
    try:
        seed = parse_seed(args.seed, "--seed")  # the same rule and message as DTG_SEED
    except SettingError as exc:
        raise UsageError(str(exc)) from None
    fields: dict = {"seed": seed, "scale": args.scale, "scenario": args.scenario}
    if args.start_date is not None:
        fields["start_date"] = args.start_date
    try:
        return ScenarioConfig(**fields)
    except ValidationError as exc:
        raise UsageError(format_validation_error(exc)) from None


def _check_data_root(root: str) -> None:
    if "://" in root:
        return  # a remote filesystem reports its own errors when written to
    if not root.strip():
        raise UsageError("--data-root must not be empty")
    if os.path.exists(root) and not os.path.isdir(root):
        raise UsageError(f"--data-root={root}: is a file; a directory (new or existing) is needed")


def _print_batch(plan: BatchPlan, counts: dict[str, int]) -> None:
    rows = ", ".join(f"{t}={n:,}" for t, n in counts.items())
    print(f"{plan.batch_id}: {rows}", file=sys.stderr, flush=True)


def _checked(args: argparse.Namespace) -> ScenarioConfig:
    """The command line's scenario, once the data root's form and ``--workers`` are valid."""
    config = _config(args)
    _check_data_root(args.data_root)
    if args.workers < 1:
        raise UsageError(f"--workers={args.workers}: must be at least 1")
    return config


def generate(args: argparse.Namespace, stop: StopSignals | None = None) -> int:
    """Run ``generate``: write the scenario and print its summary.

    Args:
        args: Parsed command line.
        stop: The signals received, checked after each landed batch.

    Returns:
        The exit status.

    Raises:
        UsageError: If an argument is invalid.
    """
    config = _checked(args)
    try:
        zone = LandingZone(args.data_root)
        zone.preflight()  # before generating anything: fail in seconds, write nothing
    except DataRootError as exc:
        print(f"error: cannot write the scenario to {args.data_root}: {exc.why}", file=sys.stderr)
        return EXIT_FAILED
    days = (config.end_date - config.start_date).days
    preset = "" if config.scenario == "default" else f", scenario {config.scenario}"
    print(
        f"writing {days} days from {config.start_date.isoformat()} "
        f"(seed {config.seed}, scale {config.scale:g}{preset}) to {args.data_root}",
        flush=True,
    )
    started = time.perf_counter()
    bar = None if args.verbose else ProgressBar(config)
    try:
        show = _print_batch if bar is None else bar

        def progress(plan: BatchPlan, counts: dict[str, int]) -> None:
            show(plan, counts)
            if stop is not None:
                stop.check()

        results = run_scenario(config, args.data_root, progress=progress, workers=args.workers)
    except (OSError, ValueError, ImportError, WorkerDiedError) as exc:
        message = exc.why if isinstance(exc, DataRootError) else str(exc)
        message = " ".join(message.split()) or type(exc).__name__
        print(f"error: cannot write the scenario to {args.data_root}: {message}", file=sys.stderr)
        return EXIT_FAILED
    except (KeyboardInterrupt, Terminated) as exc:
        # The day in progress was abandoned (its temporaries deleted) and any workers stopped.
        name = "SIGTERM" if isinstance(exc, Terminated) else "Ctrl-C"
        print(
            f"error: interrupted ({name}); the days already written are complete, "
            "the day in progress was not written",
            file=sys.stderr,
        )
        return EXIT_TERMINATED if isinstance(exc, Terminated) else EXIT_INTERRUPTED
    finally:
        if bar is not None:
            bar.close()
    print(format_summary(summarize(results), time.perf_counter() - started))
    return EXIT_OK


def replay_command(args: argparse.Namespace, stop: StopSignals | None = None) -> int:
    """Run ``replay``: land the history, then the live window batch by batch, paced.

    Args:
        args: Parsed command line.
        stop: The signals received, checked after each landed batch and before each wait.

    Returns:
        The exit status.

    Raises:
        UsageError: If an argument is invalid.
    """
    config = _checked(args)
    pace = "as fast as possible" if args.speed is None else f"at speed {args.speed:g}"
    print(f"replaying to {args.data_root} {pace} (seed {config.seed}, scale {config.scale:g}, "
          f"scenario {config.scenario})", flush=True)  # fmt: skip
    started = time.perf_counter()

    def landed(plan: BatchPlan, counts: dict[str, int]) -> None:
        print(format_batch(plan, counts), flush=True)

    try:
        result = replay(config, args.data_root, args.speed, landed, args.workers,
                        None if stop is None else stop.check)  # fmt: skip
    except (OSError, ValueError, ImportError, WorkerDiedError) as exc:
        message = exc.why if isinstance(exc, DataRootError) else str(exc)
        message = " ".join(message.split()) or type(exc).__name__
        print(f"error: cannot replay to {args.data_root}: {message}", file=sys.stderr)
        return EXIT_FAILED
    except (KeyboardInterrupt, Terminated) as exc:
        name = "SIGTERM" if isinstance(exc, Terminated) else "Ctrl-C"
        print(f"error: interrupted ({name}); every batch printed is committed, the one in "
              "progress was not: run the same command to resume", file=sys.stderr)  # fmt: skip
        return EXIT_TERMINATED if isinstance(exc, Terminated) else EXIT_INTERRUPTED
    print(f"replayed {len(result.landed)} live batches ({len(result.skipped)} already landed), "
          f"{len(result.history_landed)} historical days ({len(result.history_skipped)} already "
          f"landed) in {time.perf_counter() - started:.2f} s", flush=True)  # fmt: skip
    return EXIT_OK


def main(argv: list[str] | None = None, prog: str = MODULE_PROG) -> int:
    """Entry point of ``python -m dtg_assets.simulation`` and ``dtg-simulate``.

    Args:
        argv: Arguments (without the program name); ``sys.argv[1:]`` when None.
        prog: The command's name in help and errors.

    Returns:
        The exit status: 0 on success, 1 if writing failed, 2 for invalid arguments.
    """
    keep_pandas_out()
    parser = build_parser(prog)
    stop = StopSignals()
    previous = {sig: signal.signal(sig, stop.handle) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        args = parser.parse_args(argv)
        if args.command == "replay":
            return replay_command(args, stop)
        return generate(args, stop)
    except UsageError as exc:
        print(f"{parser.prog}: error: {exc} (see --help)", file=sys.stderr)
        return EXIT_USAGE
    except SystemExit as exc:  # --help
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    except (KeyboardInterrupt, Terminated) as exc:  # before or after writing: nothing to undo
        return EXIT_TERMINATED if isinstance(exc, Terminated) else EXIT_INTERRUPTED
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run() -> NoReturn:
    """The command's process entry point: :func:`main`, then exit with its status.

    Raises:
        SystemExit: Always, with the exit status.
    """
    invoked = os.path.basename(sys.argv[0])
    status = main(prog=MODULE_PROG if invoked == "__main__.py" else invoked)
    # Everything is written and reported. Interpreter shutdown would garbage-collect the few
    # hundred thousand objects of the imports (numpy, pyarrow, pydantic), a tenth of a second
    # of a two-second command; frozen, they are left to the process's exit.
    gc.freeze()
    sys.exit(status)
