"""One landing table's rows over several batches, with per-batch counts and selections.

:class:`TableRows` keeps the Arrow table as it is and adds the index of each row's batch
(``codes``), so the gatekeeper never splits a day into per-batch frames: a per-batch count is
one ``bincount`` over the codes of the rows a mask selects, and a batch's rows are found only
when a detector flags it (to list its record ids and time the evidence). Column conversions to
numpy are cached, since several detectors read the same column. Missing values follow pandas:
``isna`` counts a float NaN as missing, comparisons with a missing value are false.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

_NAT = np.iinfo(np.int64).min
_MICROS = 1_000_000


def seconds(delta_us: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Microsecond differences as seconds, exactly as pandas' ``total_seconds`` computes them.

    Args:
        delta_us: Differences in microseconds (any value where not valid).
        valid: Which differences exist (the others become NaN).

    Returns:
        Seconds, float64.
    """
    if valid.any() and np.abs(delta_us[valid]).max() >= 2**52:
        # pandas nudges values this large off whole seconds; let it do so.
        delta = np.where(valid, delta_us, _NAT).view("m8[us]")
        return pd.TimedeltaIndex(delta).total_seconds().to_numpy(dtype=np.float64)
    whole, rest = np.divmod(delta_us, _MICROS)
    return np.where(valid, whole + rest / _MICROS, np.nan)


def timestamp(micros: int) -> pd.Timestamp:
    """A UTC timestamp from microseconds since the epoch."""
    return pd.Timestamp(int(micros), unit="us", tz="UTC")


class TableRows:
    """Rows of one landing table over several batches.

    Args:
        table: The rows.
        batches: Batch ids in order; a row's code is the index of its ``batch_id`` there
            (``len(batches)`` for a row of no listed batch).

    Attributes:
        table: The rows.
        codes: Batch index of each row (int64).
        sizes: Rows per batch.
        derived: Derived per-row columns by name (numpy), readable like table columns.
        available: ``(microseconds, valid)`` of when each record could first be seen.
    """

    def __init__(self, table: pa.Table, batches: list[str]) -> None:
        self.table = table
        self.nbatches = len(batches)
        if "batch_id" in table.column_names and batches:
            col = table.column("batch_id")
            found = pc.index_in(col, value_set=pa.array(batches, type=col.type))
            codes = found.fill_null(len(batches)).to_numpy()
            self.codes = codes.astype(np.int64, copy=False)
        else:
            self.codes = np.full(table.num_rows, len(batches), dtype=np.int64)
        self.sizes = self.count()
        self.derived: dict[str, np.ndarray] = {}
        self.available = (np.zeros(table.num_rows, np.int64), np.zeros(table.num_rows, bool))
        self._floats: dict[str, np.ndarray] = {}
        self._missing: dict[str, np.ndarray] = {}
        self._order: np.ndarray | None = None
        # Set by ``prepare``: expected columns whose values did not arrive usable, per row.
        self.unavailable: dict[str, np.ndarray] = {}

    def __len__(self) -> int:
        return self.table.num_rows

    def __contains__(self, column: str) -> bool:
        return column in self.derived or column in self.table.column_names

    # -- columns -------------------------------------------------------------------------------
    def column(self, name: str) -> pa.ChunkedArray:
        """A table column (all null if the table lacks it)."""
        if name in self.table.column_names:
            return self.table.column(name)
        return pa.chunked_array([pa.nulls(len(self), pa.string())])

    def floats(self, name: str) -> np.ndarray:
        """A numeric or derived column as float64, NaN where missing."""
        if name in self.derived:
            return self.derived[name]
        if name not in self._floats:
            col = pc.cast(self.column(name), pa.float64(), safe=False)
            self._floats[name] = col.to_numpy(zero_copy_only=False).astype(np.float64, copy=False)
        return self._floats[name]

    def isna(self, name: str) -> np.ndarray:
        """Which values are missing (null, or NaN in a float column)."""
        if name in self.derived:
            return np.isnan(self.derived[name])
        if name not in self._missing:
            col = self.column(name)
            if pa.types.is_floating(col.type):
                missing = np.isnan(self.floats(name))
            elif col.null_count:
                missing = bools(col.is_null())
            else:
                missing = np.zeros(len(self), dtype=bool)
            self._missing[name] = missing
        return self._missing[name]

    def micros(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """A timestamp column as ``(microseconds since the epoch, valid)``."""
        col = self.column(name)
        if not pa.types.is_timestamp(col.type):
            col = col.cast(pa.timestamp("us", tz="UTC"))
        elif col.type.unit != "us":
            col = col.cast(pa.timestamp("us", tz=col.type.tz), safe=False)
        valid = bools(col.is_valid())
        values = pc.cast(col, pa.int64()).fill_null(0).to_numpy()
        return values.astype(np.int64, copy=False), valid

    def equals(self, name: str, value: str) -> np.ndarray:
        """``column == value``, false where missing."""
        return bools(pc.equal(self.column(name), pa.scalar(value, self.column(name).type)))

    def isin(self, name: str, values: list[str]) -> np.ndarray:
        """Whether each value is one of ``values``, false where missing."""
        col = self.column(name)
        return bools(pc.is_in(col, value_set=pa.array(values, type=col.type), skip_nulls=True))

    def usable(self, name: str) -> np.ndarray:
        """Which rows carry a usable value of a column (false where its file dropped or
        retyped it: such a value is not missing, it was never delivered)."""
        if name in self.unavailable:
            return ~self.unavailable[name]
        return np.ones(len(self), dtype=bool)

    def file_schemas(self, column: str) -> tuple[np.ndarray, list[str]]:
        """Per row, the index of its file's schema text in the list of distinct texts.

        Args:
            column: The hidden column holding each row's file schema text.

        Returns:
            ``(index per row, distinct texts)``.
        """
        if column not in self.table.column_names or not len(self):
            return np.zeros(len(self), dtype=np.int64), []
        col = self.table.column(column)
        if pa.types.is_dictionary(col.type):
            col = col.cast(pa.string())
        codes = pc.dictionary_encode(col.combine_chunks(), null_encoding="encode")
        index = codes.indices.to_numpy(zero_copy_only=False).astype(np.int64)
        return index, [str(t) for t in codes.dictionary.to_pylist()]

    # -- batches -------------------------------------------------------------------------------
    def count(self, mask: np.ndarray | None = None) -> np.ndarray:
        """Rows per batch, of all rows or of those a mask selects."""
        codes = self.codes if mask is None else self.codes[mask]
        return np.bincount(codes, minlength=self.nbatches + 1)[: self.nbatches]

    def rows(self, batch: int, mask: np.ndarray | None = None) -> np.ndarray:
        """Row positions of one batch (those a mask selects), in table order."""
        own = self.codes == batch
        return np.flatnonzero(own if mask is None else own & mask)

    def groups(self, values: np.ndarray) -> list[np.ndarray]:
        """Per-row values split by batch, each batch's in table order."""
        if self._order is None:
            self._order = np.argsort(self.codes, kind="stable")
        ends = np.cumsum(self.sizes)
        ordered = values[self._order]
        return [ordered[end - size : end] for size, end in zip(self.sizes, ends, strict=True)]

    def ids(self, key: str, rows: np.ndarray) -> list[str]:
        """Values of an id column at some rows, as strings, missing ones left out."""
        values = self.column(key).take(pa.array(rows, pa.int64())).drop_null()
        return [str(v) for v in values.to_pylist()]

    def nth_available(self, rows: np.ndarray, n: int) -> pd.Timestamp | None:
        """The ``n``-th (0-based) earliest availability among some rows (None past the known:
        records without ``ingested_at`` have no known availability)."""
        times, valid = self.available
        known = np.sort(times[rows][valid[rows]])
        return timestamp(known[n]) if n < known.size else None

    def last_available(self, batch: int) -> pd.Timestamp | None:
        """When the batch's last record became available (None if it has no rows here)."""
        if not self.sizes[batch]:
            return None
        times, valid = self.available
        own = (self.codes == batch) & valid
        return timestamp(times[own].max()) if own.any() else pd.NaT


def last_available(batch: int, *tables: TableRows) -> pd.Timestamp | None:
    """When the last record of a batch in some tables became available (None if none has one).

    Args:
        batch: Batch index.
        *tables: The tables to look in.

    Returns:
        The latest availability (as pandas' ``max`` of per-table maxima would give it), None
        where that is unknown (NaT).
    """
    times = [t for t in (rows.last_available(batch) for rows in tables) if t is not None]
    latest = max(times) if times else None
    return None if latest is pd.NaT else latest


def median(values: np.ndarray) -> float:
    """Median of the non-NaN values as pandas computes it (NaN if there are none)."""
    if not values.size:
        return np.nan
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "All-NaN slice encountered", RuntimeWarning)
        warnings.filterwarnings("ignore", "Mean of empty slice", RuntimeWarning)
        return np.nanmedian(values[~np.isnan(values)])


def bools(values: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """A boolean Arrow array as numpy, null counting as False."""
    return values.fill_null(False).to_numpy(zero_copy_only=False).astype(bool, copy=False)
