"""Profiling helpers: type kinds, string shapes and the unseen-value rate of a domain.

Shared by the baseline (which profiles history) and the technical detectors (which compare a
batch against it). A string column with few distinct values gets a *domain* (value -> count);
one with many (campaign ids, city names) gets a *shape* domain instead, where each run of
upper-case letters, lower-case letters or digits collapses to ``A``, ``a`` or ``9``
(``ARTICLE482`` -> ``A9``). Identifier columns (UUIDs) and lineage columns get neither: their
values are unique by design and checked by the uniqueness detector.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from dtg_assets.simulation.schemas import PRIMARY_KEY

ID_COLUMNS = frozenset(PRIMARY_KEY.values())
LINEAGE_COLUMNS = frozenset({"batch_id", "ingested_at"})


def kind(dtype: pa.DataType) -> str:
    """Coarse type of an Arrow type: a changed unit or width is not a data-quality issue."""
    if pa.types.is_string(dtype) or pa.types.is_large_string(dtype):
        return "string"
    if pa.types.is_integer(dtype):
        return "integer"
    if pa.types.is_floating(dtype):
        return "float"
    if pa.types.is_timestamp(dtype):
        return "timestamp"
    if pa.types.is_boolean(dtype):
        return "bool"
    return str(dtype)


def schema_kinds(schema: pa.Schema) -> dict[str, str]:
    """Column name -> coarse type kind.

    Args:
        schema: An Arrow schema.

    Returns:
        The kinds, in schema order.
    """
    return {f.name: kind(f.type) for f in schema}


def shape_array(values: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """Shape signature of each string (nulls stay null).

    Args:
        values: Strings.

    Returns:
        The signatures, e.g. ``A9`` for ``ARTICLE482`` and ``Aa Aa`` for ``Lake Sarah``.
    """
    for pattern, token in (("[A-Z]+", "A"), ("[a-z]+", "a"), ("[0-9]+", "9")):
        values = pc.replace_substring_regex(values, pattern=pattern, replacement=token)
    return values


def unseen_rate(rows: int, values: int, singletons: int, support: int) -> tuple[int, int]:
    """How often history suggests a value it has not seen yet, as ``(events, trials)``.

    A domain is *closed* when no value was seen only once and every value is well supported
    (``rows / values >= support``): an unseen value is then a finding in itself. Otherwise the
    Good-Turing estimate of the unseen mass, ``singletons / rows``, is used, with one pseudo
    singleton so a domain that was merely lucky in history is not treated as closed.

    Args:
        rows: Non-null historical values.
        values: Distinct historical values.
        singletons: Values seen exactly once.
        support: Rows per value needed to call a domain closed.

    Returns:
        ``(events, trials)`` for :func:`dtg_assets.gatekeeper.stats.rate_bounds`.
    """
    if rows and singletons == 0 and rows >= support * max(values, 1):
        return 0, rows
    return singletons + 1, rows + 1
