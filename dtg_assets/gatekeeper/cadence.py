"""Missing batches, found from the arrival cadence: which slots of a day's grid stayed empty.

A batch that never lands leaves no row to check, so this detector reasons about the batches
that did arrive. What history teaches (:class:`~dtg_assets.gatekeeper.baseline.Cadence`) is the
*phase* of the grid: historical batches start at fixed offsets of the UTC day (midnight, for
one batch a day). What history cannot teach is the live *spacing*: the live window runs several
batches a day where history ran one. The spacing is learned from the day's own arrivals: the
coarsest even division of the day (24h / n, n = 1, 2, ...) that puts every arrival within a
tolerance of a slot ``phase + k * 24h / n``. With n known, every empty slot is a missing batch,
named by the id its batch would have had (:func:`~dtg_assets.simulation.layout.batch_id`);
arrivals off every grid are reported as irregular instead.

Limits: a day from which every batch is missing leaves nothing to learn from, and a day that
lost every other batch of an even grid looks like a coarser grid (its slots are all filled).
"""

from __future__ import annotations

import datetime as dt
import math

import pandas as pd

from dtg_assets.gatekeeper.baseline import Baseline
from dtg_assets.gatekeeper.rules import CadenceRule
from dtg_assets.gatekeeper.verdicts import Finding, Target, bound_test
from dtg_assets.simulation.layout import batch_id, parse_batch_id

DAY_SECONDS = 86_400.0
TARGET = Target("cadence", "freshness", "batch", "missing_batches")


def _phase(baseline: Baseline, step: float) -> float:
    """The grid's phase: the historical start offsets folded onto the step (0 if none)."""
    offsets = baseline.cadence.offsets_seconds
    return min(o % step for o in offsets) if offsets else 0.0


def _near(offset: float, slot: float, tolerance: float) -> bool:
    return abs(offset - slot) <= tolerance


def grid(offsets: list[float], baseline: Baseline, rule: CadenceRule) -> tuple[int, float] | None:
    """The coarsest even grid of the day that holds every arrival.

    Args:
        offsets: Start offsets of the day's arrived batches, in seconds after midnight.
        baseline: History (the grid's phase).
        rule: Tolerance and finest grid.

    Returns:
        ``(batches per day, phase in seconds)``, or None if no grid fits.
    """
    for n in range(1, rule.max_batches_per_day + 1):
        step = DAY_SECONDS / n
        phase = _phase(baseline, step)
        slots = [phase + k * step for k in range(n)]
        if all(any(_near(o, s, rule.tolerance_seconds) for s in slots) for o in offsets):
            return n, phase
    return None


def cadence_findings(
    batches: list[str], day: dt.date, window: str, baseline: Baseline, rule: CadenceRule
) -> list[Finding]:
    """One finding per arrived batch (pass) and per empty slot of the day's grid (flag).

    Args:
        batches: Ids of the batches that landed rows on the day.
        day: The day.
        window: Its window.
        baseline: History.
        rule: Tolerance and finest grid.

    Returns:
        The findings; the flags carry the missing batches' ids.
    """
    midnight = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
    starts = [p[1] for p in map(parse_batch_id, batches) if p is not None]
    offsets = [(s - midnight).total_seconds() for s in starts]
    found = grid(offsets, baseline, rule) if offsets else None
    out = []
    n = found[0] if found else 0
    detail = f"{n} evenly spaced batches a day" if found else "arrivals fit no even grid"
    for batch in batches:
        metric = 0.0 if found else math.nan
        out.append(bound_test(TARGET, batch, metric, 0.0, None, 0.0, 1, None, detail))
    if found is None:
        return out
    n, phase = found
    step, delay = DAY_SECONDS / n, baseline.cadence.ingestion_delay_seconds
    for k in range(n):
        slot = phase + k * step
        if any(_near(o, slot, rule.tolerance_seconds) for o in offsets):
            continue
        # Slot k's start in whole microseconds (24h / 7 is not whole seconds) names the batch
        # as its writer would have.
        start = midnight + dt.timedelta(
            microseconds=round(phase * 1e6) + k * (int(DAY_SECONDS * 1e6) // n)
        )
        # Known missing once it is overdue: its slot plus history's delay and the tolerance.
        due = start + dt.timedelta(seconds=(delay or 0.0) + rule.tolerance_seconds)
        out.append(
            bound_test(
                TARGET, batch_id(window, start), 1.0, 0.0, None, 0.0, 0, pd.Timestamp(due),
                f"no batch in slot {k} of {n} ({start:%H:%M} UTC)",
            )
        )  # fmt: skip
    return out
