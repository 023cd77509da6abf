"""Read and write findings files (format v1) as Parquet, CSV or JSON lines, by extension.

``.parquet`` files carry typed columns (strings; timestamps, or ISO 8601 strings) and the format
version in their key-value metadata; ``.csv`` files have a header row and text cells (an empty
cell is no value); ``.jsonl``/``.ndjson`` files hold one JSON object per line (blank lines
skipped). Any of them may carry a ``format_version`` column, which must be 1. Rows are counted
as the user counts them: the first data row is row 1 (the CSV header excluded; in JSON lines,
row N is line N). Every problem is a :class:`~dtg_assets.gatekeeper.flags.FlagsError` naming
the file, the row and the field.
"""

from __future__ import annotations

import csv
import json
import os

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from dtg_assets.gatekeeper.flags import (
    FLAGS_SCHEMA,
    FORMAT_VERSION,
    STRINGS,
    TIMESTAMPS,
    VERSION_KEY,
    FlagsError,
    check_rows,
    require,
)

EXTENSIONS = {".parquet": "parquet", ".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
KNOWN = (*STRINGS, *TIMESTAMPS)


def _kind(path: str) -> str:
    ext = os.path.splitext(path)[1].lower()
    if ext not in EXTENSIONS:
        raise FlagsError(
            f"{path}: unknown extension {ext or '(none)'!r} (allowed: {', '.join(EXTENSIONS)})"
        )
    return EXTENSIONS[ext]


def read_flags(path: str) -> pa.Table:
    """Read and validate a findings file.

    Args:
        path: A ``.parquet``, ``.csv``, ``.jsonl`` or ``.ndjson`` file.

    Returns:
        ``FLAGS_SCHEMA`` rows, in file order.

    Raises:
        FlagsError: For an unknown extension, a missing or unreadable file, or any invalid row
            (one line naming the row and field).
    """
    kind = _kind(path)
    try:
        reader = {"parquet": _parquet, "csv": _csv, "jsonl": _jsonl}[kind]
        columns, rows = reader(path)
    except FileNotFoundError:
        raise FlagsError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError, pa.ArrowException) as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise FlagsError(f"{path}: cannot read as {kind}: {reason}") from None
    _version(columns.pop("format_version", None), rows, path)
    return check_rows(columns, rows, path)


def _version(values: pa.Array | None, rows: list[int], where: str) -> None:
    if values is None:
        return
    text = pc.cast(values, pa.string()) if not pa.types.is_string(values.type) else values
    for i, value in enumerate(text.to_pylist()):
        if value is not None and value.strip() != str(FORMAT_VERSION):
            raise FlagsError(
                f"{where}: row {rows[i]}, field format_version: {value!r} is not supported "
                f"(this version reads format {FORMAT_VERSION})"
            )


def _parquet(path: str) -> tuple[dict[str, pa.Array], list[int]]:
    table = pq.read_table(path)
    version = (table.schema.metadata or {}).get(VERSION_KEY)
    if version is not None and version.decode() != str(FORMAT_VERSION):
        raise FlagsError(
            f"{path}: findings format {version.decode()!r} in the file's metadata is not "
            f"supported (this version reads format {FORMAT_VERSION})"
        )
    return _typed_columns(table, path), list(range(1, table.num_rows + 1))


def _typed_columns(table: pa.Table, where: str) -> dict[str, pa.Array]:
    """The known columns of a typed table, strings as ``string``; a wrong type is an error."""
    require(table.column_names, where)
    columns = {}
    for name in table.column_names:
        if name not in (*KNOWN, "format_version"):
            continue
        column = table[name].combine_chunks()
        if pa.types.is_dictionary(column.type):
            column = column.dictionary_decode()
        if pa.types.is_large_string(column.type):
            column = column.cast(pa.string())
        stringly = pa.types.is_string(column.type)
        if name in STRINGS and not stringly:
            raise FlagsError(f"{where}: field {name}: column type {column.type}; strings required")
        if name in TIMESTAMPS and not (stringly or pa.types.is_timestamp(column.type)):
            raise FlagsError(
                f"{where}: field {name}: column type {column.type}; a timestamp (UTC) or ISO 8601 "
                "strings required"
            )
        columns[name] = column
    return columns


def validate_table(table: pa.Table, where: str = "findings") -> pa.Table:
    """Validate an in-memory findings table as a Parquet file would be.

    Args:
        table: Columns of the format (others ignored), typed as in Parquet.
        where: Its name in messages.

    Returns:
        ``FLAGS_SCHEMA`` rows.

    Raises:
        FlagsError: As :func:`read_flags`.
    """
    columns = _typed_columns(table, where)
    rows = list(range(1, table.num_rows + 1))
    _version(columns.pop("format_version", None), rows, where)
    return check_rows(columns, rows, where)


def _csv(path: str) -> tuple[dict[str, pa.Array], list[int]]:
    # utf-8-sig: spreadsheet exports often start with a byte-order mark.
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        header = next(reader, [])
        names = [h.strip() for h in header]
        require(names, path)
        values: dict[str, list] = {n: [] for n in names if n in (*KNOWN, "format_version")}
        rows = []
        for number, record in enumerate(reader, start=1):
            if not record:
                continue
            if len(record) > len(names):
                raise FlagsError(
                    f"{path}: row {number}: {len(record)} fields but the header names {len(names)}"
                )
            for name, cell in zip(names, record + [""] * (len(names) - len(record)), strict=True):
                if name in values:
                    values[name].append(cell)
            rows.append(number)
    return {n: pa.array(v, pa.string()) for n, v in values.items()}, rows


def _jsonl(path: str) -> tuple[dict[str, pa.Array], list[int]]:
    values: dict[str, list] = {}
    rows: list[int] = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise FlagsError(f"{path}: row {number}: not JSON ({exc.msg})") from None
            if not isinstance(record, dict):
                raise FlagsError(f"{path}: row {number}: a JSON object is required")
            for name in KNOWN:
                value = record.get(name)
                if value is not None and not isinstance(value, str):
                    raise FlagsError(
                        f"{path}: row {number}, field {name}: {json.dumps(value)} is not a "
                        "string; a string (or null) is required"
                    )
                if name in record and name not in values:
                    values[name] = [None] * len(rows)  # a column first seen here
            version = record.get("format_version")
            if "format_version" in record and "format_version" not in values:
                values["format_version"] = [None] * len(rows)
            for name, column in values.items():
                column.append(version if name == "format_version" else record.get(name))
            rows.append(number)
    columns = {
        n: pa.array([None if v is None else str(v) for v in c], pa.string())
        for n, c in values.items()
    }
    return columns, rows


def write_flags(flags: pa.Table, path: str) -> None:
    """Write ``FLAGS_SCHEMA`` rows as a findings file (the format chosen by extension).

    Timestamps are written as Parquet timestamps, or as ISO 8601 with ``Z`` in CSV and JSON
    lines; Parquet records the format version in its metadata.

    Args:
        flags: ``FLAGS_SCHEMA`` rows.
        path: ``.parquet``, ``.csv``, ``.jsonl`` or ``.ndjson``.

    Raises:
        FlagsError: For an unknown extension.
    """
    kind = _kind(path)
    flags = flags.cast(FLAGS_SCHEMA)
    if kind == "parquet":
        pq.write_table(flags, path)
        return
    records = flags.to_pylist()
    for record in records:
        for name in TIMESTAMPS:
            if record[name] is not None:
                record[name] = record[name].isoformat().replace("+00:00", "Z")
    with open(path, "w", newline="", encoding="utf-8") as handle:
        if kind == "csv":
            writer = csv.DictWriter(handle, fieldnames=FLAGS_SCHEMA.names)
            writer.writeheader()
            writer.writerows(records)
        else:
            handle.writelines(json.dumps(r) + "\n" for r in records)
