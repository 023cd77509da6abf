"""Landing files read as they are: each with its own schema, its drift named, its rows conformed.

A producer may drop, rename, add or retype a column of some files. The gatekeeper never reads a
file with the schema it expects (which would fail on the first drifted file): it reads each file
with its own schema, compares that schema with the expected one (:func:`compare`: kinds of
columns, see :func:`~dtg_assets.gatekeeper.profile.kind`), and conforms the rows
(:func:`conform_file`) so every detector can still check the columns that arrived intact:

- a column of the expected kind keeps its values (cast to the landing type);
- a renamed column (one missing column and one unexpected column of the same kind, paired
  unambiguously) keeps its values under its expected name;
- a dropped column, or one whose kind changed (an income written as a formatted string, a
  timestamp as epoch integers), is *unavailable*: all null, and detectors leave those values
  out rather than counting them as missing;
- an added column is dropped.

Each conformed row carries the canonical text of its file's schema in the hidden column
``_file_schema`` (:data:`SCHEMA_COLUMN`), so the schema detector reports the drift per batch and
lists the records of the drifted files.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from dtg_assets.gatekeeper.profile import kind

SCHEMA_COLUMN = "_file_schema"


@dataclass(frozen=True)
class Drift:
    """How a file's columns differ from the expected ones.

    Attributes:
        dropped: Expected columns absent from the file (renamed ones excluded).
        renamed: ``(expected name, name in the file)`` pairs.
        added: Unexpected columns of the file (rename targets excluded).
        retyped: ``(column, expected kind, kind in the file)`` triples.
    """

    dropped: tuple[str, ...] = ()
    renamed: tuple[tuple[str, str], ...] = ()
    added: tuple[str, ...] = ()
    retyped: tuple[tuple[str, str, str], ...] = ()

    def __bool__(self) -> bool:
        return bool(self.dropped or self.renamed or self.added or self.retyped)

    @property
    def unavailable(self) -> frozenset[str]:
        """Expected columns whose values did not arrive usable (dropped or retyped)."""
        return frozenset(self.dropped) | {c for c, _, _ in self.retyped}

    @property
    def changes(self) -> int:
        """Number of columns that drifted."""
        return len(self.dropped) + len(self.renamed) + len(self.added) + len(self.retyped)

    def describe(self) -> str:
        """One line, e.g. ``dropped campaign_id; retyped annual_income float -> string``."""
        parts = [f"dropped {c}" for c in self.dropped]
        parts += [f"renamed {a} -> {b}" for a, b in self.renamed]
        parts += [f"added {c}" for c in self.added]
        parts += [f"retyped {c} {a} -> {b}" for c, a, b in self.retyped]
        return "; ".join(parts)


def schema_text(schema: pa.Schema) -> str:
    """Canonical text of a schema as the gatekeeper compares it: ``[[name, kind], ...]``.

    Args:
        schema: A file's Arrow schema.

    Returns:
        Compact JSON.
    """
    return json.dumps([[f.name, kind(f.type)] for f in schema], separators=(",", ":"))


def kinds_of(text: str) -> dict[str, str]:
    """Column name -> kind of a :func:`schema_text`."""
    return {name: k for name, k in json.loads(text)}


def compare(found: dict[str, str], expected: dict[str, str]) -> Drift:
    """The drift of a file's columns (name -> kind) from the expected ones.

    A missing column and an unexpected column pair as a rename when each is the other's only
    candidate of the same kind; anything ambiguous stays a drop plus an addition.

    Args:
        found: The file's columns.
        expected: The expected columns.

    Returns:
        The drift (falsy when the kinds agree column for column).
    """
    missing = [c for c in expected if c not in found]
    extra = [c for c in found if c not in expected]
    renamed = []
    for col in missing:
        options = [e for e in extra if found[e] == expected[col]]
        rivals = [m for m in missing if expected[m] == expected[col]]
        if len(options) == 1 and len(rivals) == 1:
            renamed.append((col, options[0]))
    taken = {a for a, _ in renamed} | {b for _, b in renamed}
    return Drift(
        dropped=tuple(c for c in missing if c not in taken),
        renamed=tuple(renamed),
        added=tuple(c for c in extra if c not in taken),
        retyped=tuple(
            (c, expected[c], found[c]) for c in expected if c in found and found[c] != expected[c]
        ),
    )


def conform_file(table: pa.Table, schema: pa.Schema) -> tuple[pa.Table, Drift]:
    """A file's rows in the landing schema, plus the hidden column of the file's schema.

    Args:
        table: The rows as the file holds them.
        schema: The landing schema.

    Returns:
        ``(rows in schema order and types plus SCHEMA_COLUMN, drift from the schema)``.
    """
    text = schema_text(table.schema)
    tag = pa.DictionaryArray.from_arrays(
        pa.array(np.zeros(table.num_rows, np.int32)), pa.array([text], pa.string())
    )
    if table.schema.equals(schema):
        # The common case, a file as the writer meant it: nothing to cast.
        names = [*schema.names, SCHEMA_COLUMN]
        return pa.Table.from_arrays([*table.columns, tag], names=names), Drift()
    drift = compare(kinds_of(text), {f.name: kind(f.type) for f in schema})
    source = {a: b for a, b in drift.renamed}
    columns = []
    for field in schema:
        name = source.get(field.name, field.name)
        if field.name in drift.unavailable or name not in table.column_names:
            columns.append(pa.nulls(table.num_rows, field.type))
            continue
        try:
            columns.append(table.column(name).cast(field.type))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
            columns.append(pa.nulls(table.num_rows, field.type))
    return (
        pa.Table.from_arrays([*columns, tag], names=[*schema.names, SCHEMA_COLUMN]),
        drift,
    )
