"""Profiling helpers: type kinds, string shapes and the unseen-value rate of a domain.

Shared by the baseline (which profiles history: :func:`column_profile`, :func:`table_profile`)
and the technical detectors (which compare a batch against it). A string column with few
distinct values gets a *domain* (value -> count); one with many (campaign ids, city names)
gets a *shape* domain instead, where each run of upper-case letters, lower-case letters or
digits collapses to ``A``, ``a`` or ``9``
(``ARTICLE482`` -> ``A9``). Identifier columns (UUIDs) and lineage columns get neither: their
values are unique by design and checked by the uniqueness detector.

A value's shape is its split into maximal runs of those three classes and single other
characters, so "has one of these shapes" is a single regular expression (``A`` -> ``[A-Z]+``,
``a`` -> ``[a-z]+``, ``9`` -> ``[0-9]+``, anything else literal): one match per value instead
of three replacements, which is what makes the shape checks cheap on columns of unique values.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dtg_assets.gatekeeper.rows import TableRows
from dtg_assets.gatekeeper.structure import replayed
from dtg_assets.gatekeeper.summaries import (
    BaselineConfig,
    ColumnProfile,
    Distribution,
    TableProfile,
)
from dtg_assets.simulation.schemas import PRIMARY_KEY

ID_COLUMNS = frozenset(PRIMARY_KEY.values())
LINEAGE_COLUMNS = frozenset({"batch_id", "ingested_at"})
# Kinds whose values have a range (and get a range detector).
NUMERIC = frozenset({"integer", "float"})
_RUNS = {"A": "[A-Z]+", "a": "[a-z]+", "9": "[0-9]+"}
# Shapes found one probe at a time before the rest are shaped wholesale.
_PROBES = 16


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


def shape_pattern(shapes: Iterable[str]) -> str:
    """A regular expression (RE2) matching exactly the strings that have one of some shapes.

    Args:
        shapes: Shapes as :func:`shape_array` makes them.

    Returns:
        The anchored pattern.
    """
    # Hex escapes make every other character literal, whatever RE2 would read into it.
    alternatives = ["".join(_RUNS.get(c) or f"\\x{{{ord(c):x}}}" for c in s) for s in shapes]
    return "^(?:" + "|".join(sorted(alternatives)) + ")$"


def has_shape(values: pa.Array | pa.ChunkedArray, shapes: Iterable[str]) -> np.ndarray:
    """Whether each string has one of some shapes (false for nulls).

    Args:
        values: Strings.
        shapes: The shapes.

    Returns:
        Boolean numpy array.
    """
    shapes = list(shapes)
    if not shapes:
        return np.zeros(len(values), dtype=bool)
    matched = pc.match_substring_regex(values, pattern=shape_pattern(shapes))
    return matched.fill_null(False).to_numpy(zero_copy_only=False).astype(bool, copy=False)


def shape_counts(values: pa.Array, counts: np.ndarray) -> tuple[list[str], np.ndarray]:
    """Shapes of distinct strings with their summed counts, in order of first appearance.

    The first value not matched by the shapes found so far has the next new shape, so a few
    probes (one shape, one match each) find the shapes of a column of mostly unique values;
    whatever is left after ``_PROBES`` of them is shaped wholesale.

    Args:
        values: Distinct strings, no nulls, in order of first appearance.
        counts: Occurrences of each.

    Returns:
        ``(shapes, occurrences of each)``.
    """
    label = np.full(len(values), -1, dtype=np.int64)
    shapes: list[str] = []
    rest = np.arange(len(values))
    while rest.size and len(shapes) < _PROBES:
        shape = shape_array(values.take([rest[0]]))[0].as_py()
        hit = has_shape(values.take(rest), [shape])
        label[rest[hit]] = len(shapes)
        shapes.append(shape)
        rest = rest[~hit]
    if rest.size:
        codes = pc.dictionary_encode(shape_array(values.take(rest)))
        label[rest] = len(shapes) + codes.indices.to_numpy(zero_copy_only=False)
        shapes += codes.dictionary.to_pylist()
    per_shape = np.zeros(len(shapes), dtype=np.int64)
    np.add.at(per_shape, label, counts)
    return shapes, per_shape


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


def _ranked(names: list[str], counts: np.ndarray) -> dict[str, int]:
    """Value -> count, most frequent first, ties in order of first appearance (as pandas)."""
    order = np.argsort(-counts, kind="stable")
    return {str(names[i]): int(counts[i]) for i in order}


def _distinct_counts(values: pa.ChunkedArray) -> np.ndarray:
    """How often each distinct present value occurs (NaN is missing; -0.0 equals 0.0)."""
    t = values.type
    if pa.types.is_floating(t) or (pa.types.is_integer(t) and values.null_count):
        # As pandas counts them: integers with nulls become floats.
        x = pc.cast(values, pa.float64()).to_numpy(zero_copy_only=False)
        return np.unique(x[~np.isnan(x)], return_counts=True)[1]
    counted = pc.value_counts(values)
    return counted.field("counts").filter(counted.field("values").is_valid()).to_numpy()


def column_profile(
    values: pa.ChunkedArray, column: str, dtype: pa.DataType, config: BaselineConfig
) -> ColumnProfile:
    """Profile one column: type kind, nulls, and a value or shape domain for strings.

    Args:
        values: The column's history.
        column: Its name.
        dtype: Its Arrow type.
        config: Baseline definitions (domain size limit).

    Returns:
        The profile.
    """
    k = kind(dtype)
    domain = shape_domain = None
    shape_singletons = 0
    if k == "string" and column not in ID_COLUMNS | LINEAGE_COLUMNS:
        counted = pc.value_counts(values)
        present = counted.field("values").is_valid()
        distinct_values = counted.field("values").filter(present)
        counts = counted.field("counts").filter(present).to_numpy()
        if len(counts) <= config.max_domain_values:
            domain = _ranked(distinct_values.to_pylist(), counts)
        else:
            shapes, per_shape = shape_counts(distinct_values, counts)
            shape_domain = _ranked(shapes, per_shape)
            shape_singletons = int((per_shape == 1).sum())
    else:
        counts = _distinct_counts(values)
    return ColumnProfile(
        kind=k,
        rows=len(values),
        nulls=int(pc.sum(pc.is_null(values, nan_is_null=True)).as_py() or 0),
        distinct=len(counts),
        singletons=int((counts == 1).sum()),
        domain=domain,
        shapes=shape_domain,
        shape_singletons=shape_singletons,
    )


def table_profile(
    rows: TableRows, table: str, schema: pa.Schema, config: BaselineConfig
) -> TableProfile:
    """Profile one landing table (its schema columns; derived columns are skipped).

    Args:
        rows: The prepared history of the table.
        table: Its name.
        schema: The Arrow schema it was read with.
        config: Baseline definitions.

    Returns:
        The profile.
    """
    key = rows.column(PRIMARY_KEY[table]).combine_chunks()
    distinct_keys = len(pc.dictionary_encode(key, null_encoding="encode").dictionary)
    offsets = rows.derived.get("_offset_s")
    return TableProfile(
        rows=len(rows),
        columns={
            f.name: column_profile(rows.column(f.name), f.name, f.type, config) for f in schema
        },
        duplicate_keys=len(rows) - distinct_keys,
        ingestion_lag_seconds=Distribution.of(rows.floats("_lag_s"), config.quantile_probs),
        replayed_keys=int(replayed(rows, PRIMARY_KEY[table], None).sum()),
        orphans=int(rows.derived["_orphan"].sum()) if "_orphan" in rows.derived else 0,
        parent_offset_seconds=(
            Distribution.of(offsets, config.quantile_probs) if offsets is not None else None
        ),
    )
