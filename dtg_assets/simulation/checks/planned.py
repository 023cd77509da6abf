"""What the writer landed on purpose: duplicates, orphans and missing batches, from the labels.

The structural anomalies make a correct landing zone look broken to a naive check: a
``duplicate_records`` batch repeats primary keys, an ``orphan_records`` batch has applications
without their visitor, a ``missing_batch`` has no rows. The ground-truth labels say exactly which
records were made so (each copy is one ``added`` label in the batch it landed in; each orphan one
``modified`` label; each dropped visitor one ``removed`` label), so the count and reference checks
expect exactly those and nothing else. The functions here read them off a day's labels frame.
"""

from __future__ import annotations

import pandas as pd

from dtg_assets.simulation.checks.model import LandedDay
from dtg_assets.simulation.config import AnomalyType

DUPLICATE = AnomalyType.DUPLICATE_RECORDS.value
ORPHAN = AnomalyType.ORPHAN_RECORDS.value
MISSING = AnomalyType.MISSING_BATCH.value


def _labels(day: LandedDay, table: str, anomaly: str, effect: str) -> pd.DataFrame:
    labels = day.frames["ground_truth_labels"]
    pick = (
        (labels["table"] == table) & (labels["anomaly"] == anomaly) & (labels["effect"] == effect)
    )
    return labels[pick]


def expected_key_counts(day: LandedDay, table: str) -> dict[str, int]:
    """How many times each duplicated primary key of a table should appear in the day.

    A key copied ``c`` times appears ``c + 1`` times, or ``c`` when its copy was replayed into
    the day's first batch from the previous day's last (the original landed that day).

    Args:
        day: The day read back (labels included).
        table: A landing table.

    Returns:
        Expected occurrences of every key with a planned copy (all other keys: once).
    """
    copies = _labels(day, table, DUPLICATE, "added")
    firsts = {p.batch_id for p in day.plans if p.index == 0}
    replayed = copies["affected_columns"].map(len) > 0
    from_yesterday = set(copies.loc[replayed & copies["batch_id"].isin(firsts), "record_id"])
    counts = copies["record_id"].value_counts()
    return {str(k): int(n) + (k not in from_yesterday) for k, n in counts.items()}


def batch_record_counts(day: LandedDay, table: str, anomaly: str, effect: str) -> dict[str, int]:
    """Label rows per batch of one table, anomaly and effect."""
    rows = _labels(day, table, anomaly, effect)
    return {str(k): int(v) for k, v in rows["batch_id"].value_counts().items()}


def planned_orphans(day: LandedDay, child: str) -> set[str]:
    """``batch_id|record_id`` of the child rows made orphans on purpose."""
    rows = _labels(day, child, ORPHAN, "modified")
    return set(rows["batch_id"] + "|" + rows["record_id"])


def missing_batches(day: LandedDay) -> list[str]:
    """The day's batches scheduled to go missing."""
    return [p.batch_id for p in day.plans if p.has(AnomalyType.MISSING_BATCH)]
