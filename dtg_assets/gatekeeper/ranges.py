"""Range detectors: ``range:<table>.<column>`` for every numeric column history profiled.

A value outside the range history makes normal for its column
(:meth:`~dtg_assets.gatekeeper.summaries.Distribution.learned_range`: the historical extremes
pushed out by a multiple of the width of their outer tails) is a finding: a transaction
amount above any the accounts ever made, an income below any applicant ever declared. The
range is learned per column from *this* history, so the same rule holds whatever the funnel's
incomes, limits or amounts are; a ratio of two columns can hide what a column alone shows
(larger amounts on smaller limits spread the amount-to-limit ratio over the values a fraud
takes) and the other way round, so both are checked. History, by construction, has no value
outside the range: a batch flags from the rule's ``min_count`` such records on.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pyarrow as pa

from dtg_assets.gatekeeper.baseline import Baseline
from dtg_assets.gatekeeper.detector import Detector, make
from dtg_assets.gatekeeper.frames import Frames
from dtg_assets.gatekeeper.rules import RangeRule
from dtg_assets.gatekeeper.verdicts import Finding, count_tests
from dtg_assets.simulation.schemas import PRIMARY_KEY


def value_range(b: Baseline, name: str, rule: RangeRule) -> Detector:
    """``range:<table>.<column>``: records whose value lies outside the learned range.

    Args:
        b: The baseline (its ``ranges`` hold the column's distribution).
        name: ``table.column``.
        rule: The range's margins and the count test's.

    Returns:
        The detector.
    """
    table, column = name.split(".", 1)
    low, high = b.ranges[name].learned_range(rule.tail, rule.k, rule.tail_records)

    def outside(f: Frames) -> np.ndarray:
        values = f[table].floats(column)
        with np.errstate(invalid="ignore"):
            return (values < low) | (values > high)

    def check(f: Frames, _: Mapping[str, pa.Schema]) -> list[Finding]:
        rows = f[table]
        return count_tests(
            d.target, f.batches, rows, outside(f), PRIMARY_KEY[table], (0, b.ranges[name].count),
            rule.z, rule.min_count, detail=f"{column} outside [{low:.6g}, {high:.6g}]",
            scope=~rows.isna(column) & rows.usable(column),
        )  # fmt: skip

    d = make(f"range:{name}", "technical", table, "out_of_range_rate", check, outside)
    return d


def value_ranges(b: Baseline, rule: RangeRule) -> list[Detector]:
    """One range detector per numeric column with history.

    Args:
        b: The baseline.
        rule: The rule.

    Returns:
        The detectors, in the baseline's column order.
    """
    return [value_range(b, name, rule) for name, dist in b.ranges.items() if dist.count]
