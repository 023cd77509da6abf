"""Profiling helpers: type kinds, string shapes and the unseen-value rate of a domain.

Shared by the baseline (which profiles history) and the technical detectors (which compare a
batch against it). A string column with few distinct values gets a *domain* (value -> count);
one with many (campaign ids, city names) gets a *shape* domain instead, where each run of
upper-case letters, lower-case letters or digits collapses to ``A``, ``a`` or ``9``
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
