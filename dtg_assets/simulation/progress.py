"""A terminal progress bar for long engine runs: batches done, rows/s and time left.

The engine reports each landed batch to a progress callback; :class:`ProgressBar` is one that
redraws a single status line on its stream (stderr for the command) when, and only when, that
stream is a terminal, so piped or logged output stays clean. Work is counted in visitors, not
batches, because batches differ in size by an order of magnitude (a traffic spike is 2.5x), so
the estimate of the time left stays honest. :func:`format_progress` renders the line and is
pure, for tests.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

from dtg_assets.simulation.config import AnomalyType, ScenarioConfig
from dtg_assets.simulation.generate import spiked_visitors
from dtg_assets.simulation.plan import BatchPlan, plan_day, scenario_days

BAR_WIDTH = 24
# Redraws at most this often: a terminal is slow next to thousands of small batches.
MIN_INTERVAL_S = 0.1


def format_duration(seconds: float) -> str:
    """``M:SS`` or ``H:MM:SS``, rounded to the second."""
    total = max(0, round(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def format_progress(
    batches_done: int,
    batches_total: int,
    work_done: int,
    work_total: int,
    rows: int,
    elapsed_s: float,
    width: int = BAR_WIDTH,
) -> str:
    """One status line: bar, batches, rows landed, rows/s and ETA (elapsed time when done).

    Args:
        batches_done: Batches landed so far.
        batches_total: Batches of the whole run.
        work_done: Visitors landed so far (the unit of work).
        work_total: Visitors of the whole run.
        rows: Rows landed so far, all tables.
        elapsed_s: Seconds since the run started.
        width: Characters of the bar itself.

    Returns:
        The line, without a line ending.
    """
    share = min(1.0, work_done / work_total) if work_total > 0 else 1.0
    filled = int(share * width)
    bar = "#" * filled + "-" * (width - filled)
    rate = rows / elapsed_s if elapsed_s > 0 else 0.0
    if batches_done >= batches_total:
        tail = f"done in {format_duration(elapsed_s)}"
    elif work_done > 0 and elapsed_s > 0:
        tail = f"ETA {format_duration(elapsed_s * (work_total - work_done) / work_done)}"
    else:
        tail = "ETA --:--"
    return (
        f"[{bar}] {share:4.0%} {batches_done}/{batches_total} batches, "
        f"{rows:,} rows, {rate:,.0f} rows/s, {tail}"
    )


class ProgressBar:
    """A progress callback that redraws one line on a terminal and is silent otherwise.

    Args:
        config: The scenario (for the total work).
        days: ``(day, window)`` pairs being written; the whole scenario when None.
        stream: Where to draw (stderr by default).
        enabled: Draw or not; by default, when ``stream`` is a terminal.
        clock: Seconds, monotonic (injectable for tests).
    """

    def __init__(
        self,
        config: ScenarioConfig,
        days: list | None = None,
        stream: TextIO | None = None,
        enabled: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream if stream is not None else sys.stderr
        if enabled is None:
            isatty = getattr(self.stream, "isatty", None)
            enabled = bool(isatty and isatty())
        self.enabled = enabled
        plans = [p for d, w in days or scenario_days(config) for p in plan_day(config, d, w)]
        self.batches_total = len(plans)
        # A missing batch lands no visitor: its work is done as soon as it is reported.
        self.work_total = sum(
            0 if p.has(AnomalyType.MISSING_BATCH) else spiked_visitors(config, p) for p in plans
        )
        self.batches_done = self.work_done = self.rows = 0
        self._clock = clock
        self._started = clock()
        self._drawn_at: float | None = None

    def __call__(self, plan: BatchPlan, counts: dict[str, int]) -> None:
        """Count one landed batch and redraw if due (the engine's progress callback)."""
        self.batches_done += 1
        self.work_done += counts.get("visitor_events", 0)
        self.rows += sum(counts.values())
        now = self._clock()
        last = self.batches_done >= self.batches_total
        if self.enabled and (
            last or self._drawn_at is None or now - self._drawn_at >= MIN_INTERVAL_S
        ):
            self._draw(now)

    def _draw(self, now: float) -> None:
        line = format_progress(
            self.batches_done,
            self.batches_total,
            self.work_done,
            self.work_total,
            self.rows,
            now - self._started,
        )
        # Carriage return, the line, then clear what a longer previous line left.
        self.stream.write(f"\r{line}\x1b[K")
        self.stream.flush()
        self._drawn_at = now

    def close(self) -> None:
        """End the status line (a newline), if one was drawn."""
        if self.enabled and self._drawn_at is not None:
            self.stream.write("\n")
            self.stream.flush()
