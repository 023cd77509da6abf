"""Per-record measures of structural failures, shared by the baseline and the detectors.

- :func:`replayed`: records whose primary key an earlier batch already landed (this day's
  earlier batches, or the keys of earlier days passed as ``Frames.prior``): a re-sent record;
- :class:`Histogram` binning (:func:`histogram`, :func:`bin_codes`) of the input columns whose
  distribution the drift detector compares with history (``DRIFT_COLUMNS``): categorical
  columns by value, numeric ones by bins cut at historical quantiles;
- :func:`chi2_critical`: the chi-square critical value of a tail probability, without scipy
  (Wilson-Hilferty), for the drift test.

Rows that did not deliver a usable value (a file that dropped or retyped the column) are left
out everywhere, as in the other detectors.
"""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dtg_assets.gatekeeper.rows import TableRows

# Inputs of the funnel that no rule constrains, so only their distribution can drift.
DRIFT_COLUMNS: dict[str, tuple[str, str]] = {
    "visitor_events.event_type": ("visitor_events", "event_type"),
    "visitor_events.device_type": ("visitor_events", "device_type"),
    "visitor_events.geo": ("visitor_events", "geo"),
    "visitor_events.session_duration": ("visitor_events", "session_duration"),
    "applications.employment_status": ("applications", "employment_status"),
    "applications.annual_income": ("applications", "annual_income"),
    "applications.applicant_age": ("applications", "applicant_age"),
    "accounts.interest_rate": ("accounts", "interest_rate"),
    "accounts.approved_limit": ("accounts", "approved_limit"),
    "transactions.merchant_cat_code": ("transactions", "merchant_cat_code"),
    "transactions.amount": ("transactions", "amount"),
}
# Historical quantiles where numeric bins are cut (eight bins, finer in the tails).
CUT_PROBS = (0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95)


def replayed(rows: TableRows, key: str, prior: pa.Array | None) -> np.ndarray:
    """Rows whose key an earlier batch landed (a later batch of these rows, or ``prior``).

    Args:
        rows: One table's rows (batch codes in batch-id order, which is time order).
        key: Its primary key.
        prior: Keys landed before these batches (None: none known).

    Returns:
        Boolean mask; a row with a missing or unusable key is never replayed.
    """
    col = rows.column(key).combine_chunks()
    earlier = prior if prior is not None else pa.array([], col.type)
    codes = pc.dictionary_encode(pa.concat_arrays([earlier.cast(col.type), col]))
    ids = codes.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    before, ids = ids[: len(earlier)], ids[len(earlier) :]
    first = np.full(len(codes.dictionary), np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(first, ids, rows.codes)
    first[before] = -1
    ok = rows.usable(key) & ~rows.isna(key)
    return ok & (rows.codes > first[ids])


def histogram(rows: TableRows, column: str) -> tuple[list[float], list[str], list[int]]:
    """Learn the bins of a column from history and count history in them.

    Args:
        rows: The history of the column's table.
        column: A ``DRIFT_COLUMNS`` column.

    Returns:
        ``(edges, values, counts)``: numeric columns have inner ``edges`` (at ``CUT_PROBS``,
        duplicates merged) and ``len(edges) + 1`` counts; categorical ones have their
        ``values`` (sorted) and a count for each.
    """
    col = rows.column(column)
    if pa.types.is_string(col.type):
        counted = pc.value_counts(col.drop_null())
        values = [str(v) for v in counted.field("values").to_pylist()]
        counts = [int(c) for c in counted.field("counts").to_pylist()]
        order = np.argsort(values)
        return [], [values[i] for i in order], [counts[i] for i in order]
    x = rows.floats(column)
    x = x[~np.isnan(x)]
    if not x.size:
        return [], [], [0]
    edges = sorted({float(e) for e in np.quantile(x, CUT_PROBS)})
    counts = np.bincount(np.searchsorted(edges, x, "right"), minlength=len(edges) + 1)
    return edges, [], [int(c) for c in counts]


def bin_codes(rows: TableRows, column: str, edges: list[float], values: list[str]) -> np.ndarray:
    """Each row's bin as :func:`histogram` defined the bins (-1: no usable value, or a value
    history never had)."""
    ok = rows.usable(column) & ~rows.isna(column)
    if values:
        col = rows.column(column)
        index = pc.index_in(col, value_set=pa.array(values, col.type))
        # A value history never had is the domain detector's finding, not a drift.
        codes = index.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
    else:
        codes = np.searchsorted(edges, np.nan_to_num(rows.floats(column)), "right")
    return np.where(ok, codes, -1)


def normal_quantile(alpha: float) -> float:
    """``z`` with ``P(Z > z) = alpha`` (bisection on erfc; alpha in (0, 0.5])."""
    lo, hi = 0.0, 40.0
    for _ in range(100):
        mid = (lo + hi) / 2
        if 0.5 * math.erfc(mid / math.sqrt(2.0)) > alpha:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def chi2_critical(df: int, alpha: float) -> float:
    """Approximate upper ``alpha`` critical value of chi-square with ``df`` degrees of freedom.

    Args:
        df: Degrees of freedom (>= 1).
        alpha: Tail probability.

    Returns:
        The Wilson-Hilferty value (accurate to a few percent far in the tail).
    """
    z, k = normal_quantile(alpha), 2.0 / (9.0 * df)
    return df * (1.0 - k + z * math.sqrt(k)) ** 3
