"""``dtg-score``: score any detector's findings file against a data root's ground truth.

``dtg-score --data-root ROOT --findings FILE [--format markdown|json] [--strict]
[--targets any|gatekeeper]`` reads a findings file (format v1: Parquet, CSV or JSON lines, by
extension), scores it against every day with a manifest under the data root and prints the
gatekeeper evaluation's tables (markdown, the default) or one JSON object (for CI). Flags on
batch ids that no manifest lists are reported (count and examples), and rejected with
``--strict``. ``--targets gatekeeper`` attributes flags to anomaly types by the gatekeeper's
detector names (what the ``gatekeeper/evaluation`` asset reports); the default ``any`` counts
every detector for every type. Exit status: 0 when scored, 1 for bad input (an invalid findings
file, an unreadable data root or ground truth, unknown batch ids with ``--strict``) with one
line on stderr, 2 for an invalid command line.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import NoReturn

from dtg_assets.gatekeeper.flagfile import read_flags
from dtg_assets.gatekeeper.flags import FlagsError
from dtg_assets.gatekeeper.report import EXAMPLES
from dtg_assets.gatekeeper.score import manifest_days, score, stored_baseline
from dtg_assets.gatekeeper.targets import ANY_DETECTOR, GATEKEEPER_TARGETS
from dtg_assets.simulation import layout
from dtg_assets.simulation.roots import DataRootError

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
TARGETS = {"any": ANY_DETECTOR, "gatekeeper": GATEKEEPER_TARGETS}
PROG = "dtg-score"


class UsageError(Exception):
    """An invalid command line, reported as one line with exit status 2."""


class _Parser(argparse.ArgumentParser):
    """argparse, but errors raise instead of printing the usage block and exiting."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def build_parser(prog: str = PROG) -> argparse.ArgumentParser:
    """The command-line parser.

    Args:
        prog: The command's name in help and errors.

    Returns:
        The parser.
    """
    parser = _Parser(
        prog=prog,
        description="Score a findings file (format v1) against a DTG data root's ground truth.",
        epilog="Exit status: 0 scored; 1 bad input (invalid findings file, no manifest under the "
        "data root, unreadable ground truth, unknown batch ids with --strict), one line on "
        "stderr; 2 invalid command line.",
    )
    parser.add_argument("--data-root", required=True, help="local directory or fsspec URI")
    parser.add_argument(
        "--findings", required=True, help="findings file: .parquet, .csv, .jsonl or .ndjson"
    )
    parser.add_argument("--format", choices=["markdown", "json"], default="markdown")
    parser.add_argument(
        "--strict", action="store_true", help="fail on flags whose batch id no manifest lists"
    )
    parser.add_argument(
        "--targets",
        choices=list(TARGETS),
        default="any",
        help="attribute flags to anomaly types by the gatekeeper's detector names "
        "(gatekeeper) or count every detector for every type (any; default)",
    )
    return parser


class _InputError(Exception):
    """Bad input: one line, exit status 1."""


def _score(args: argparse.Namespace):
    from dtg_assets.simulation.landing import LandingZone  # after parsing: --help stays quick

    flags = read_flags(args.findings)
    zone = LandingZone(args.data_root)
    days = manifest_days(zone)
    if not days:
        raise _InputError(
            f"{args.data_root}: no manifest under {layout.MANIFEST}/: nothing to score "
            "(generate or land data first)"
        )
    # Visibility is assessed only where a gatekeeper baseline was learned.
    evaluation = score(zone, flags, days, TARGETS[args.targets], stored_baseline(zone))
    if args.strict and evaluation.unknown_batches:
        examples = ", ".join(evaluation.unknown_batches[:EXAMPLES])
        raise _InputError(
            f"{args.findings}: {evaluation.unknown_flags} flags name "
            f"{len(evaluation.unknown_batches)} batch ids no manifest of {args.data_root} lists "
            f"(e.g. {examples}); --strict rejects them"
        )
    return evaluation


def main(argv: list[str] | None = None, prog: str = PROG) -> int:
    """Entry point of ``dtg-score``.

    Args:
        argv: Arguments (without the program name); ``sys.argv[1:]`` when None.
        prog: The command's name in help and errors.

    Returns:
        The exit status: 0 when scored, 1 for bad input, 2 for an invalid command line.
    """
    parser = build_parser(prog)
    try:
        args = parser.parse_args(argv)
    except UsageError as exc:
        print(f"{parser.prog}: error: {exc} (see --help)", file=sys.stderr)
        return EXIT_USAGE
    except SystemExit as exc:  # --help
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    try:
        evaluation = _score(args)
    except (FlagsError, _InputError, DataRootError) as exc:
        message = exc.why if isinstance(exc, DataRootError) else str(exc)
        print(f"error: {' '.join(message.split())}", file=sys.stderr)
        return EXIT_FAILED
    except (OSError, ValueError) as exc:  # an unreadable store or ground-truth file
        message = " ".join(str(exc).split()) or type(exc).__name__
        print(f"error: cannot score against {args.data_root}: {message}", file=sys.stderr)
        return EXIT_FAILED
    if args.format == "json":
        out = {"findings": args.findings, "targets": args.targets, **evaluation.to_json()}
        print(json.dumps(out, indent=2))
    else:
        print(f"### {args.findings} scored against {args.data_root}\n")
        print(evaluation.to_markdown())
    return EXIT_OK


def run() -> NoReturn:
    """The console script: :func:`main`, then exit with its status.

    Raises:
        SystemExit: Always, with the exit status.
    """
    sys.exit(main(prog=os.path.basename(sys.argv[0]) or PROG))
