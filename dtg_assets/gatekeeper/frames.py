"""Landing rows of some batches as Arrow columns with numpy batch codes and derived columns.

Both the baseline and the detectors see the data through :func:`prepare`, so a statistic is
computed the same way when it is learned and when it is checked. Rows stay in one table per
landing table (never split into per-batch frames): each row carries the index of its batch, so
per-batch counts are one ``bincount`` and per-batch values one stable sort. Derived columns:

- ``_lag_s``: ingestion lag ``ingested_at - <event time>`` in seconds (every table);
- ``available`` (every table, as microseconds and validity): when the record could first be
  seen, ``max(event time, ingested_at)`` (a record cannot be observed before it happens), used
  to time detections;
- applications ``_limit_share``: ``req_credit_limit / annual_income``;
- accounts ``_approved``: whether its application in the same batch is approved and
  ``_transacts``: whether the batch has a transaction on the account;
- transactions ``_limit`` and ``_amount_to_limit``: the account's approved limit and the
  amount's share of it (NaN when the account is not in the batch);
- every child table (``PARENTS``) ``_orphan``: its parent key is not among its parent table's
  rows of the same batch, and ``_offset_s``: its event time minus its parent's, in seconds.

Records are matched within a batch (``batch_id``): a batch's downstream records carry its id
whatever event date they land on. Missing values follow pandas: a float NaN counts as missing,
and a null key matches a null key. Landing files are read by
:mod:`~dtg_assets.gatekeeper.reading`.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from dtg_assets.gatekeeper.drift import SCHEMA_COLUMN, compare, kinds_of
from dtg_assets.gatekeeper.profile import kind
from dtg_assets.gatekeeper.reading import conform, read_day, read_days, read_keys, read_local
from dtg_assets.gatekeeper.rows import TableRows, seconds
from dtg_assets.simulation.schemas import EVENT_TIME, TABLE_SCHEMAS, TABLES

# Re-exported: the readers lived here before :mod:`~dtg_assets.gatekeeper.reading`.
__all__ = [
    "Frames",
    "TableRows",
    "conform",
    "prepare",
    "read_day",
    "read_days",
    "read_keys",
    "read_local",
]

# Child table, the key it shares with its parent, parent table: the funnel's references.
PARENTS = (
    ("applications", "visitor_id", "visitor_events"),
    ("accounts", "app_id", "applications"),
    ("transactions", "account_id", "accounts"),
)


class Frames(dict[str, TableRows]):
    """Prepared landing tables of some batches: table name -> :class:`TableRows`.

    Attributes:
        batches: Batch ids in id order: every batch with a row in any table.
        prior: Per table, the primary keys landed by earlier batches that are not among these
            rows (e.g. the previous day's), so a replayed record is recognised across days.
    """

    def __init__(
        self,
        tables: Mapping[str, TableRows],
        batches: list[str],
        prior: Mapping[str, pa.Array] | None = None,
    ) -> None:
        super().__init__(tables)
        self.batches = batches
        self.prior = dict(prior or {})
        # Per-batch results several detectors share (e.g. a table's clock shift), by key.
        self.cache: dict[object, object] = {}


def _to_arrow(table: pa.Table | pd.DataFrame | None, name: str) -> pa.Table:
    if table is None:
        table = TABLE_SCHEMAS[name].empty_table()
    elif isinstance(table, pd.DataFrame):
        table = pa.Table.from_pandas(table, preserve_index=False)
    return conform(table, TABLE_SCHEMAS[name])


def _keys(left: TableRows, lkey: str, right: TableRows, rkey: str) -> tuple[np.ndarray, np.ndarray]:
    """(batch, key) of each row of two tables as one integer per row, comparable across both."""
    lcol = left.column(lkey).combine_chunks()
    rcol = right.column(rkey).combine_chunks()
    if rcol.type != lcol.type:
        rcol = rcol.cast(lcol.type)
    codes = pc.dictionary_encode(pa.concat_arrays([lcol, rcol]), null_encoding="encode")
    ids = codes.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    width = max(len(codes.dictionary), 1)
    return left.codes * width + ids[: len(lcol)], right.codes * width + ids[len(lcol) :]


def _first_match(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Per left key, the position of its first occurrence among the right keys (-1 if none)."""
    keys, first = np.unique(right, return_index=True)
    if keys.size == 0:
        return np.full(len(left), -1, dtype=np.int64)
    pos = np.minimum(np.searchsorted(keys, left), keys.size - 1)
    return np.where(keys[pos] == left, first[pos], -1)


def _take(values: np.ndarray, index: np.ndarray, fill: object) -> np.ndarray:
    """``values[index]``, with ``fill`` where ``index`` is -1 (no match)."""
    if values.size == 0:
        return np.full(index.shape, fill, dtype=np.result_type(values, type(fill)))
    return np.where(index >= 0, values[np.maximum(index, 0)], fill)


def _positive(values: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return np.where(values > 0, values, np.nan)


def _unavailable(rows: TableRows, schema: pa.Schema) -> dict[str, np.ndarray]:
    """Per expected column that some file dropped or retyped, the rows of those files."""
    index, texts = rows.file_schemas(SCHEMA_COLUMN)
    expected = {f.name: kind(f.type) for f in schema}
    out: dict[str, np.ndarray] = {}
    for i, text in enumerate(texts):
        for column in compare(kinds_of(text), expected).unavailable:
            mask = index == i
            out[column] = out[column] | mask if column in out else mask
    return out


def prepare(
    tables: Mapping[str, pa.Table | pd.DataFrame | None],
    prior: Mapping[str, pa.Array] | None = None,
) -> Frames:
    """Index landing tables by batch and add the derived columns.

    Args:
        tables: Table name -> rows (a missing table counts as empty).
        prior: Per table, primary keys earlier batches landed (see :attr:`Frames.prior`).

    Returns:
        Table name -> rows with batch codes and derived columns, plus the batch ids.
    """
    arrow = {t: _to_arrow(tables.get(t), t) for t in TABLES}
    seen: set[str] = set()
    for t in TABLES:
        if "batch_id" in arrow[t].column_names:
            seen.update(pc.unique(arrow[t].column("batch_id")).drop_null().to_pylist())
    batches = sorted(seen)
    f = Frames({t: TableRows(arrow[t], batches) for t in TABLES}, batches, prior)
    for t in TABLES:
        rows = f[t]
        rows.unavailable = _unavailable(rows, TABLE_SCHEMAS[t])
        ts, ts_ok = rows.micros(EVENT_TIME[t])
        ing, ing_ok = rows.micros("ingested_at")
        both = ts_ok & ing_ok
        rows.derived["_lag_s"] = seconds(ing - np.where(both, ts, 0), both)
        # pandas' ts.where(ts > ingested_at, ingested_at): a null on either side -> ingested_at.
        later = both & (ts > ing)
        rows.available = (np.where(later, ts, ing), ing_ok)
    apps, acc, txn = f["applications"], f["accounts"], f["transactions"]
    income = _positive(apps.floats("annual_income"))
    with np.errstate(divide="ignore", invalid="ignore"):
        apps.derived["_limit_share"] = apps.floats("req_credit_limit") / income
    # Each child's parent in its own batch: -1 is an orphan (or a key that did not arrive).
    for child, key, parent in PARENTS:
        crows, prows = f[child], f[parent]
        found = _first_match(*_keys(crows, key, prows, key))
        crows.derived["_orphan"] = (found < 0) & crows.usable(key) & ~crows.isna(key)
        c_ts, c_ok = crows.micros(EVENT_TIME[child])
        p_ts, p_ok = prows.micros(EVENT_TIME[parent])
        ok = c_ok & (found >= 0) & _take(p_ok, found, False)
        crows.derived["_offset_s"] = seconds(c_ts - _take(p_ts, found, 0), ok)
    app = _first_match(*_keys(acc, "app_id", apps, "app_id"))
    approved = apps.equals("application_status", "approved")
    acc.derived["_approved"] = _take(approved, app, False)
    acc_keys, txn_keys = _keys(acc, "account_id", txn, "account_id")
    acc.derived["_transacts"] = _first_match(acc_keys, txn_keys) >= 0
    owner = _first_match(txn_keys, acc_keys)
    limit = txn.derived["_limit"] = _take(acc.floats("approved_limit"), owner, np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        txn.derived["_amount_to_limit"] = txn.floats("amount") / _positive(limit)
    return f
