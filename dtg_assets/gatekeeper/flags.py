"""The findings format (version 1): one row per flag, from any detector, in one Arrow table.

A detector's output, whatever produced it, is a table with one row per flag: ``batch_id``
(required, a batch id of the data root), ``detector`` (free text; ``unnamed`` when absent),
``table`` and ``record_id`` (both or neither: a record-level flag names a landing table and a
record's primary key), ``flagged_at`` (when the flag was raised, UTC: the measured detection
delay runs from the batch's landing to it) and ``evidence_at`` (event time by which the evidence
was complete: the event-time delay runs from the batch's start to it). Other columns are
ignored. :data:`FLAGS_SCHEMA` is the validated form; :mod:`~dtg_assets.gatekeeper.flagfile`
reads and writes files of it, and :func:`from_findings` turns the gatekeeper's own findings
into it, so that every detector is scored by the same code.
"""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from dtg_assets.simulation.schemas import TABLES

FORMAT_VERSION = 1
# Parquet key-value metadata recording the version (an optional ``format_version`` column
# does the same in CSV and JSON lines).
VERSION_KEY = b"dtg_findings_format_version"
TS = pa.timestamp("us", tz="UTC")
UNNAMED = "unnamed"

FLAGS_SCHEMA = pa.schema(
    [
        pa.field("batch_id", pa.string(), nullable=False),
        pa.field("detector", pa.string(), nullable=False),
        pa.field("table", pa.string()),
        pa.field("record_id", pa.string()),
        pa.field("flagged_at", TS),
        pa.field("evidence_at", TS),
    ],
    metadata={VERSION_KEY: str(FORMAT_VERSION).encode()},
)
REQUIRED = ("batch_id",)
STRINGS = ("batch_id", "detector", "table", "record_id")
TIMESTAMPS = ("flagged_at", "evidence_at")


class FlagsError(ValueError):
    """A findings file or table that is not valid format-v1 findings; the message is one line
    naming the file, the row (1-based, header excluded) and the field."""


def from_findings(findings: pa.Table) -> pa.Table:
    """The gatekeeper's findings as format-v1 flags.

    Each flagging finding (``verdict == 'flag'``) becomes one batch-level row, and one
    record-level row per id in its ``flagged_ids`` (with the finding's table); passing
    findings are dropped.

    Args:
        findings: ``FINDINGS_SCHEMA`` rows (``flagged_at`` may be absent: older files).

    Returns:
        ``FLAGS_SCHEMA`` rows: batch-level rows first, in findings order, then record rows.
    """
    flags = findings.filter(pc.equal(findings["verdict"], "flag"))
    n = flags.num_rows
    stamped = (
        flags["flagged_at"].cast(TS) if "flagged_at" in flags.column_names else pa.nulls(n, TS)
    )
    batch_level = pa.table(
        {
            "batch_id": flags["batch_id"],
            "detector": flags["detector"],
            "table": pa.nulls(n, pa.string()),
            "record_id": pa.nulls(n, pa.string()),
            "flagged_at": stamped,
            "evidence_at": flags["evidence_at"].cast(TS),
        }
    )
    ids = flags["flagged_ids"].combine_chunks()
    parents = pc.list_parent_indices(ids)
    record_level = pa.table(
        {
            "batch_id": pc.take(flags["batch_id"], parents),
            "detector": pc.take(flags["detector"], parents),
            "table": pc.take(flags["table"], parents),
            "record_id": pc.list_flatten(ids),
            "flagged_at": pc.take(stamped, parents),
            "evidence_at": pc.take(flags["evidence_at"].cast(TS), parents),
        }
    )
    return pa.concat_tables([batch_level, record_level]).cast(FLAGS_SCHEMA)


def _problem(where: str, row: int | None, field: str, text: str) -> FlagsError:
    at = f"row {row}, " if row is not None else ""
    return FlagsError(f"{where}: {at}field {field}: {text}")


def check_rows(columns: dict[str, pa.Array], rows: list[int], where: str) -> pa.Table:
    """Validate string-typed columns row by row and build the ``FLAGS_SCHEMA`` table.

    Args:
        columns: Column name -> values: the strings columns as strings, the timestamps as
            timestamps or ISO 8601 strings (naive ones are UTC); absent optional columns may be
            missing.
        rows: The user's 1-based row number of each value (for messages).
        where: The file, for messages.

    Returns:
        The validated flags.

    Raises:
        FlagsError: At the first bad row: missing ``batch_id``, empty ``batch_id``, a ``table``
            without ``record_id`` (or the reverse), an unknown table, a bad timestamp.
    """
    n = len(rows)
    require(list(columns), where)
    out: dict[str, pa.Array] = {}
    for name in STRINGS:
        out[name] = columns[name] if name in columns else pa.nulls(n, pa.string())
    batch = out["batch_id"]
    bad = pc.or_kleene(pc.is_null(batch), pc.equal(pc.utf8_trim_whitespace(batch), ""))
    _first(bad, rows, where, "batch_id", lambda i: "empty; every flag names its batch")
    out["detector"] = pc.fill_null(out["detector"], UNNAMED)
    table, record = out["table"], out["record_id"]
    # An empty cell (CSV) is no value: a batch-level flag leaves both blank.
    table = pc.if_else(pc.equal(table, ""), pa.nulls(n, pa.string()), table)
    record = pc.if_else(pc.equal(record, ""), pa.nulls(n, pa.string()), record)
    _first(
        pc.and_(pc.is_valid(table), pc.is_null(record)),
        rows, where, "record_id",
        lambda i: f"missing for table {table[i].as_py()!r}; a record-level flag names both",
    )  # fmt: skip
    _first(
        pc.and_(pc.is_null(table), pc.is_valid(record)),
        rows, where, "table",
        lambda i: f"missing for record_id {record[i].as_py()!r}; a record-level flag names both",
    )  # fmt: skip
    unknown = pc.and_(pc.is_valid(table), pc.invert(pc.is_in(table, value_set=pa.array(TABLES))))
    _first(
        unknown, rows, where, "table",
        lambda i: f"{table[i].as_py()!r} is not a landing table (allowed: {', '.join(TABLES)})",
    )  # fmt: skip
    out["table"], out["record_id"] = table, record
    for name in TIMESTAMPS:
        out[name] = _timestamps(columns.get(name), n, rows, where, name)
    return pa.table(out).cast(FLAGS_SCHEMA)


def require(names: list[str], where: str) -> None:
    """Raise unless the required columns are among ``names`` (all of a file's columns).

    Raises:
        FlagsError: Naming the missing column and the columns found.
    """
    for name in REQUIRED:
        if name not in names:
            found = ", ".join(names) or "none"
            raise FlagsError(f"{where}: missing required column {name} (found: {found})")


def _first(mask: pa.Array, rows: list[int], where: str, field: str, text) -> None:
    hits = pc.indices_nonzero(mask.fill_null(False) if mask.null_count else mask)
    if len(hits):
        i = hits[0].as_py()
        raise _problem(where, rows[i], field, text(i))


def _timestamps(values: pa.Array | None, n: int, rows: list[int], where: str, name: str):
    if values is None:
        return pa.nulls(n, TS)
    if pa.types.is_timestamp(values.type):
        # A zone-less timestamp is UTC; an aware one is converted to it.
        # Nanoseconds are truncated to the format's microseconds.
        zoned = pc.cast(values, pa.timestamp(values.type.unit, tz=values.type.tz or "UTC"))
        return pc.cast(zoned, TS, safe=False)
    text = pc.utf8_trim_whitespace(values)
    text = pc.if_else(pc.equal(text, ""), pa.nulls(n, pa.string()), text)
    # pandas' ISO 8601 parser takes offsets, Z and naive times (UTC) alike.
    parsed = pd.to_datetime(
        pd.Series(text.to_pandas(), dtype=object), utc=True, format="ISO8601", errors="coerce"
    )
    bad = parsed.isna().to_numpy() & text.is_valid().to_numpy(zero_copy_only=False)
    if bad.any():
        i = int(bad.argmax())
        raise _problem(
            where, rows[i], name,
            f"{text[i].as_py()!r} is not an ISO 8601 timestamp "
            "(e.g. 2026-03-10T06:10:00Z; a time without offset is UTC)",
        )  # fmt: skip
    return pa.array(parsed.dt.as_unit("us"), TS)
