"""Run a whole scenario into a data root, and summarise what it landed.

:func:`run_scenario` is the one call behind ``python -m dtg_assets.simulation generate``, the
benchmark and any script that wants the full 21 days without Dagster: it writes every day
(landing zone and ground truth) in order, each day atomically and idempotently, so running it
again over the same root replaces rather than duplicates. :func:`summarize` folds the per-day
results into per-table totals (rows, files, labelled rows) and per-anomaly label counts, and
:func:`format_summary` renders them as the text the command prints.
"""

from __future__ import annotations

import collections
import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from dtg_assets.simulation.config import ScenarioConfig
from dtg_assets.simulation.landing import DayResult, LandingZone, ProgressCallback
from dtg_assets.simulation.plan import Window, plan_day, scenario_days, window_of
from dtg_assets.simulation.schemas import TABLES
from dtg_assets.simulation.workers import write_days_in_parallel

DaySpec = dt.date | tuple[dt.date, Window | str]


def run_scenario(
    config: ScenarioConfig,
    data_root: str,
    days: Iterable[DaySpec] | None = None,
    progress: ProgressCallback | None = None,
    storage_options: dict | None = None,
    workers: int = 1,
) -> list[DayResult]:
    """Generate and land a scenario's days, landing zone and ground truth.

    Args:
        config: The scenario.
        data_root: Local path or fsspec URI of the data root.
        days: The days to write, as dates (window inferred) or ``(date, window)`` pairs;
            every day of the scenario, historical first, when None.
        progress: Called after each batch with its plan and rows per table (with several
            workers, for a whole day's batches at once as each day completes).
        storage_options: Extra fsspec options for the data root.
        workers: Processes writing days at the same time. Days are independent and each is
            generated from its own streams, so the data are identical for any value; an
            in-memory filesystem, private to a process, is always written in this process.

    Returns:
        One result per day written, in order.

    Raises:
        ValueError: If a day is outside the scenario or not in the window given with it.
        DataRootError: If the data root cannot be written (checked before generating).
    """
    if days is None:
        pairs = scenario_days(config)
    else:
        pairs = [d if isinstance(d, tuple) else (d, window_of(config, d)) for d in days]
    zone = LandingZone(data_root, storage_options)
    zone.preflight()  # a bad root fails here, before any day is generated or forked
    if workers <= 1 or len(pairs) <= 1 or zone.storage.in_memory:
        return zone.write_days(config, pairs, progress)
    return _write_days_in_parallel(config, zone, pairs, progress, storage_options, workers)


def _write_days_in_parallel(
    config: ScenarioConfig,
    zone: LandingZone,
    pairs: list[tuple[dt.date, Window | str]],
    progress: ProgressCallback | None,
    storage_options: dict | None,
    workers: int,
) -> list[DayResult]:
    plans = [plan_day(config, d, w) for d, w in pairs]
    # Biggest days first, so no worker is left with a big day at the end.
    order = sorted(range(len(pairs)), key=lambda i: -sum(p.visitors for p in plans[i]))

    def on_day(index: int, result: DayResult) -> None:
        if progress is not None:
            for plan, row in zip(plans[index], result.manifest.to_pylist(), strict=True):
                progress(plan, {t: row[f"rows_{t}"] for t in TABLES})

    return write_days_in_parallel(config, zone, pairs, order, workers, on_day, storage_options)


@dataclass(frozen=True)
class TableSummary:
    """What a run landed in one table.

    Attributes:
        table: Landing table name.
        rows: Rows landed.
        files: Parquet files written.
        labelled: Ground-truth label rows of the table (including ``removed`` records, which
            are not in the landing zone).
    """

    table: str
    rows: int
    files: int
    labelled: int


@dataclass(frozen=True)
class ScenarioSummary:
    """Totals of a run over all its days.

    Attributes:
        days: Days written.
        batches: Micro-batches generated.
        planned_visitors: Visitors planned (before any traffic-spike multiplier).
        tables: Per-table totals, in landing-table order.
        labels_by_anomaly: Label rows per anomaly type, sorted by type.
    """

    days: int
    batches: int
    planned_visitors: int
    tables: dict[str, TableSummary]
    labels_by_anomaly: dict[str, int]

    @property
    def labels(self) -> int:
        """All label rows."""
        return sum(self.labels_by_anomaly.values())


def summarize(results: Iterable[DayResult]) -> ScenarioSummary:
    """Fold per-day results into scenario totals.

    Args:
        results: What each day landed (e.g. from :func:`run_scenario`).

    Returns:
        The totals.
    """
    rows = dict.fromkeys(TABLES, 0)
    files = dict.fromkeys(TABLES, 0)
    labelled = dict.fromkeys(TABLES, 0)
    by_anomaly: collections.Counter[str] = collections.Counter()
    days = batches = planned = 0
    for result in results:
        days += 1
        batches += result.manifest.num_rows
        planned += sum(result.manifest.column("planned_visitors").to_pylist())
        for table in TABLES:
            rows[table] += result.rows(table)
            files[table] += len(result.paths.get(table, []))
            labelled[table] += sum(result.manifest.column(f"labelled_{table}").to_pylist())
        by_anomaly.update(result.labels_by_anomaly)
    return ScenarioSummary(
        days=days,
        batches=batches,
        planned_visitors=planned,
        tables={t: TableSummary(t, rows[t], files[t], labelled[t]) for t in TABLES},
        labels_by_anomaly=dict(sorted(by_anomaly.items())),
    )


def format_summary(summary: ScenarioSummary, elapsed_s: float | None = None) -> str:
    """Render a summary as an aligned plain-text report.

    Args:
        summary: Scenario totals.
        elapsed_s: Wall-clock seconds the run took, reported when given.

    Returns:
        Multi-line text, no trailing newline.
    """
    lines = [
        f"{summary.days} days, {summary.batches} batches, "
        f"{summary.planned_visitors:,} planned visitors (before traffic-spike multipliers)",
        "",
        f"{'table':<16}{'rows':>12}{'files':>8}{'labelled':>10}",
    ]
    for t in summary.tables.values():
        lines.append(f"{t.table:<16}{t.rows:>12,}{t.files:>8,}{t.labelled:>10,}")
    lines += ["", f"{'anomaly':<16}{'labelled':>12}"]
    for anomaly, count in summary.labels_by_anomaly.items():
        lines.append(f"{anomaly:<16}{count:>12,}")
    lines.append(f"{'total':<16}{summary.labels:>12,}")
    if elapsed_s is not None:
        landed = sum(t.rows for t in summary.tables.values())
        rate = landed / elapsed_s if elapsed_s > 0 else float("inf")
        lines += ["", f"elapsed {elapsed_s:.2f} s ({rate:,.0f} rows/s)"]
    return "\n".join(lines)
