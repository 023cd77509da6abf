"""Ground-truth labelling: compare a batch's records with its normal twin's, label the difference.

Every table of a chunk is drawn over a candidate space shared with the chunk's normal twin
(the same plan with ``anomaly=None``), so the two versions can be compared record by record.
A :class:`TableDiff` holds that comparison for one table, aligned over the records that exist
in either version; :func:`label_rows` turns it into label rows: ``modified`` (in both, some
column changed), ``added`` (only in the anomalous batch) or ``removed`` (only in the twin).
Pure functions of their inputs: no randomness, no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from dtg_assets.simulation.schemas import LABEL_SCHEMA
from dtg_assets.simulation.streams import constant_strings, string_array

MODIFIED, ADDED, REMOVED = 0, 1, 2
EFFECTS = string_array(["modified", "added", "removed"])
NOT_LABELLED = -1


@dataclass(frozen=True)
class TableDiff:
    """One table's records in the anomalous batch and in its twin.

    Attributes:
        table: Landing table name.
        ids: Primary keys of the records that exist in either version.
        twin_exists: Per record: it exists in the normal twin.
        exists: Per record: it exists in the anomalous batch.
        modified: Column name -> per record: the column differs from the twin's (a scalar
            mask applies to every record).
    """

    table: str
    ids: pa.StringArray
    twin_exists: np.ndarray
    exists: np.ndarray
    modified: dict[str, np.ndarray]

    def column_masks(self) -> list[np.ndarray]:
        """Per column, the records whose value changed; a removed record changed nothing."""
        return [np.broadcast_to(m, self.exists.shape) & self.exists for m in self.modified.values()]


def effects(diff: TableDiff, masks: list[np.ndarray] | None = None) -> np.ndarray:
    """The effect code of every record: ``MODIFIED``, ``ADDED``, ``REMOVED`` or ``NOT_LABELLED``.

    Args:
        diff: The comparison.
        masks: ``diff.column_masks()``, when already computed.

    Returns:
        An int8 code per record of ``diff.ids``.
    """
    exists, twin = diff.exists, diff.twin_exists
    masks = diff.column_masks() if masks is None else masks
    code = np.full(exists.shape, NOT_LABELLED, np.int8)
    code[exists & twin & np.logical_or.reduce(masks)] = MODIFIED
    code[exists & ~twin] = ADDED
    code[~exists & twin] = REMOVED
    return code


def label_rows(diff: TableDiff, batch_id: str, anomaly: str) -> pa.Table | None:
    """Label rows of the records that differ from the twin.

    Args:
        diff: One table's comparison.
        batch_id: The batch the records belong to.
        anomaly: The batch's anomaly type.

    Returns:
        Rows in ``LABEL_SCHEMA``, or None when no record differs.
    """
    masks = diff.column_masks()
    code = effects(diff, masks)
    rows = np.flatnonzero(code >= 0)
    if rows.size == 0:
        return None
    # Only the labelled rows' column matrix is built: it is small next to the batch.
    sub = np.stack([m[rows] for m in masks], axis=1)
    offsets = np.zeros(rows.size + 1, np.int32)
    np.cumsum(sub.sum(axis=1), out=offsets[1:])
    values = pa.array(list(diff.modified), pa.string()).take(np.nonzero(sub)[1])
    count = rows.size
    return pa.Table.from_pydict(
        {
            "table": constant_strings(diff.table, count),
            "record_id": diff.ids.take(rows),
            "batch_id": constant_strings(batch_id, count),
            "anomaly": constant_strings(anomaly, count),
            "effect": EFFECTS.take(code[rows]),
            "affected_columns": pa.ListArray.from_arrays(pa.array(offsets), values),
        },
        schema=LABEL_SCHEMA,
    )


def label_table(diffs: Iterable[TableDiff], batch_id: str, anomaly: str) -> pa.Table:
    """Label rows of several tables' comparisons, in the order given.

    Args:
        diffs: Comparisons, one per table.
        batch_id: The batch.
        anomaly: Its anomaly type.

    Returns:
        All label rows (``LABEL_SCHEMA``; empty when nothing differs).
    """
    parts = [t for d in diffs if (t := label_rows(d, batch_id, anomaly)) is not None]
    return pa.concat_tables(parts) if parts else LABEL_SCHEMA.empty_table()


def record_labels(
    table: str,
    ids: pa.Array | pa.ChunkedArray,
    batch_id: str,
    anomaly: str,
    effect: str,
    columns: list[str],
) -> pa.Table:
    """Label rows giving every record of ``ids`` the same effect and affected columns.

    Args:
        table: Landing table name (``batch`` for a batch-level label).
        ids: The records' primary keys.
        batch_id: The batch the records belong to (or would have).
        anomaly: The anomaly that changed them.
        effect: ``modified``, ``added`` or ``removed``.
        columns: The affected columns.

    Returns:
        Rows in ``LABEL_SCHEMA``.
    """
    count = len(ids)
    offsets = np.arange(count + 1, dtype=np.int32) * len(columns)
    values = pa.array(columns * count, pa.string())
    ids = ids.combine_chunks() if isinstance(ids, pa.ChunkedArray) else ids
    return pa.Table.from_pydict(
        {
            "table": constant_strings(table, count),
            "record_id": ids.cast(pa.string()),
            "batch_id": constant_strings(batch_id, count),
            "anomaly": constant_strings(anomaly, count),
            "effect": constant_strings(effect, count),
            "affected_columns": pa.ListArray.from_arrays(pa.array(offsets), values),
        },
        schema=LABEL_SCHEMA,
    )
