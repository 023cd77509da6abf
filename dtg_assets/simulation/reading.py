"""Reading landed Parquet back: exactly the files a day committed, in the expected schema.

A day's commit record (``landing/_commits/<window>-<YYYYMMDD>.json``: its configuration hash and
``files``, each with relative path, table, rows, bytes and Arrow schema) and its manifest
(:data:`~dtg_assets.simulation.schemas.MANIFEST_SCHEMA`, ground truth: the same files per batch,
and the labels file) name every file the write committed, so readers never list directories to find
a day's data: files of another write of the day (a torn write under another configuration, a
leftover of an older layout) can sit beside them and are never read. The commit record carries no
ground truth, so the gatekeeper reads the landing zone through it without seeing the labels.
:func:`read_parquet_files` reads a list of files single-threaded and names the file that cannot be
read; a column of another width or unit of the same kind (as other Parquet writers produce) is
cast, anything else is an error. :func:`read_as_recorded` (the checks' reader) also reports each
file's footer schema and reads a file drifted on purpose as far as it can be.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Protocol

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from dtg_assets.simulation.schemas import MANIFEST_SCHEMA, schema_text
from dtg_assets.simulation.storage import Storage


class Root(Protocol):
    """What reading needs of a data root (a :class:`~dtg_assets.simulation.landing.LandingZone`)."""

    storage: Storage

    def uri_of(self, path: str) -> str:
        """User-facing location of a filesystem path."""


def manifest_files(manifest: pa.Table, table: str | None = None) -> list[str]:
    """Relative paths of the files a manifest lists, sorted.

    Args:
        manifest: A day's manifest.
        table: Only that landing table's files (all when None).

    Returns:
        Paths relative to the data root.
    """
    if manifest.num_rows == 0:
        return []
    files = pc.list_flatten(manifest.column("files").combine_chunks())
    if table is not None:
        files = files.filter(pc.equal(files.field("table"), table))
    return sorted(files.field("path").to_pylist())


def commit_record(digest: str, files: list[dict]) -> bytes:
    """The bytes of a day's commit record (canonical JSON: the same write, the same bytes).

    Args:
        digest: The day's configuration hash.
        files: Every landing file committed: ``path``, ``table``, ``rows``, ``bytes``, ``schema``.

    Returns:
        UTF-8 JSON.
    """
    record = {"config_hash": digest, "files": sorted(files, key=lambda f: f["path"])}
    return json.dumps(record, sort_keys=True, separators=(",", ":")).encode()


def parse_commit_record(record: bytes) -> tuple[str, list[dict]]:
    """``(config hash, files)`` of a commit record.

    Raises:
        ValueError: If the bytes are not a commit record.
    """
    try:
        parsed = json.loads(record)
        return str(parsed["config_hash"]), list(parsed["files"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"not a commit record: {exc}") from None


def record_files(files: list[dict], table: str | None = None) -> list[str]:
    """Relative paths of a commit record's files (one table's, or all), sorted.

    Raises:
        ValueError: If an entry is not a file entry.
    """
    try:
        return sorted(f["path"] for f in files if table is None or f["table"] == table)
    except (KeyError, TypeError) as exc:
        raise ValueError(f"not a commit record: {exc}") from None


def manifest_schemas(manifest: pa.Table, table: str) -> dict[str, str]:
    """The schema (:func:`~dtg_assets.simulation.schemas.schema_text`) a manifest records for
    each of a landing table's files, by relative path."""
    if manifest.num_rows == 0:
        return {}
    files = pc.list_flatten(manifest.column("files").combine_chunks())
    files = files.filter(pc.equal(files.field("table"), table))
    paths, schemas = files.field("path").to_pylist(), files.field("schema").to_pylist()
    return dict(zip(paths, schemas, strict=True))


def manifest_labels(manifest: pa.Table) -> str | None:
    """Relative path of the labels file a manifest belongs with (None: no manifest)."""
    if manifest.num_rows == 0:
        return None
    return manifest.column("labels_file")[0].as_py()


@dataclass(frozen=True)
class FileRead:
    """What reading one committed file found out about its schema.

    Attributes:
        path: Its filesystem path.
        schema: :func:`~dtg_assets.simulation.schemas.schema_text` of its footer's Arrow schema
            (None if the footer could not be read).
        problem: Why not (``no such file``, or the reader's error).
    """

    path: str
    schema: str | None
    problem: str | None = None


def read_as_recorded(
    zone: Root,
    paths: list[str],
    schema: pa.Schema,
    columns: list[str],
    recorded: dict[str, str],
) -> tuple[pa.Table | None, list[FileRead], str | None]:
    """Read some columns of committed files, each as the schema its manifest records.

    A file whose footer schema is exactly the one recorded for it and differs from the landing
    schema was drifted on purpose (a ``schema_drift`` anomaly): a needed column it lacks or
    carries in another kind of type reads as nulls. Any other file is read strictly, as
    :func:`read_parquet_files` does. Every file's footer schema is reported, even after a file
    fails to read, so the schema check can name each bad file.

    Args:
        zone: The data root the paths belong to.
        paths: Filesystem paths of the committed files (a missing one is skipped: its rows are
            missing, which the row-count checks report).
        schema: The landing schema of their table.
        columns: The columns to read.
        recorded: The recorded schema text of each file, by filesystem path.

    Returns:
        ``(rows or None, one FileRead per path, the first read error naming its file or None)``.
    """
    target = pa.schema([schema.field(c) for c in columns])
    standard = schema_text(schema)
    tables, found, error = [], [], None
    for path in paths:
        try:
            source = path if zone.storage.local else pa.BufferReader(zone.storage.read_bytes(path))
            parquet = pq.ParquetFile(source)
            actual = schema_text(parquet.schema_arrow)
        except FileNotFoundError:
            found.append(FileRead(path, None, "no such file"))
            continue
        except (pa.ArrowException, OSError, ValueError) as exc:
            found.append(FileRead(path, None, f"cannot read {zone.uri_of(path)}: {exc}"))
            error = error or f"cannot read {zone.uri_of(path)} as {columns}: {exc}"
            continue
        found.append(FileRead(path, actual))
        if error is not None:
            continue  # the table is unreadable already; only schemas are still wanted
        try:
            if recorded.get(path) == actual != standard:
                tables.append(_as_drifted(parquet, target))
            else:
                read = parquet.read(columns=columns, use_threads=False)
                tables.append(_conform(read, target))
        except (pa.ArrowException, OSError, ValueError, KeyError) as exc:
            error = f"cannot read {zone.uri_of(path)} as {columns}: {exc}"
    if error is not None:
        return None, found, error
    return (pa.concat_tables(tables) if tables else target.empty_table()), found, None


def _as_drifted(parquet: pq.ParquetFile, target: pa.Schema) -> pa.Table:
    """A deliberately drifted file in ``target``: columns it lacks or retyped read as nulls."""
    actual = parquet.schema_arrow
    usable = [
        f.name
        for f in target
        if f.name in actual.names and _compatible(actual.field(f.name).type, f.type)
    ]
    read = parquet.read(columns=usable, use_threads=False)
    arrays = [
        read.column(f.name).cast(f.type) if f.name in usable else pa.nulls(read.num_rows, f.type)
        for f in target
    ]
    return pa.Table.from_arrays(arrays, schema=target)


def read_parquet_files(
    zone: Root,
    paths: list[str],
    schema: pa.Schema,
    columns: list[str] | None = None,
    missing_ok: bool = False,
) -> pa.Table:
    """Read and concatenate Parquet files, naming the file that cannot be read.

    Args:
        zone: The data root the paths belong to.
        paths: Filesystem paths.
        schema: Schema of the files (also of an empty result).
        columns: Read only these columns (all when None).
        missing_ok: Skip a file that does not exist (a committed file deleted since: its rows
            are missing, which the row-count checks report) instead of failing.

    Returns:
        All rows.

    Raises:
        ValueError: If a file is not readable Parquet of the expected schema.
    """
    if columns is not None:
        schema = pa.schema([schema.field(c) for c in columns])
    tables = []
    for path in paths:
        try:
            # Single-threaded ParquetFile reads: these files are small and many, and pyarrow's
            # dataset machinery and thread pool cost more than the decoding itself.
            source = path if zone.storage.local else pa.BufferReader(zone.storage.read_bytes(path))
            table = pq.ParquetFile(source).read(columns=schema.names, use_threads=False)
            tables.append(_conform(table, schema))
        except FileNotFoundError:
            if not missing_ok:
                raise ValueError(f"cannot read {zone.uri_of(path)}: no such file") from None
        except (pa.ArrowException, OSError, ValueError, KeyError) as exc:
            raise ValueError(f"cannot read {zone.uri_of(path)} as {schema.names}: {exc}") from exc
    return pa.concat_tables(tables) if tables else schema.empty_table()


def read_manifests(zone: Root, paths: list[str]) -> pa.Table:
    """Read manifest files (:func:`read_parquet_files` with the manifest schema).

    Raises:
        ValueError: Naming the file; for a manifest written before manifests recorded their
            configuration and file schemas, saying so and that the day must be written again.
    """
    try:
        return read_parquet_files(zone, paths, MANIFEST_SCHEMA)
    except ValueError as exc:
        for path in paths:
            if _older_manifest(zone, path):
                raise ValueError(
                    f"{zone.uri_of(path)} is a manifest of an older layout (no configuration "
                    "of record or file schemas): write the day again"
                ) from exc
        raise


def _older_manifest(zone: Root, path: str) -> bool:
    try:
        source = path if zone.storage.local else pa.BufferReader(zone.storage.read_bytes(path))
        schema = pq.ParquetFile(source).schema_arrow
    except (pa.ArrowException, OSError, ValueError):
        return False
    if "config" not in schema.names:
        return True
    files = schema.field("files").type if "files" in schema.names else None
    return (
        files is not None
        and pa.types.is_list(files)
        and pa.types.is_struct(files.value_type)
        and files.value_type.get_field_index("schema") < 0
    )


def _compatible(actual: pa.DataType, expected: pa.DataType) -> bool:
    """Types a landing file may carry for a column: its own, dictionary-encoded, or a
    different width/unit of the same kind (as other Parquet writers produce)."""
    if pa.types.is_dictionary(actual):
        actual = actual.value_type
    same_kind = (pa.types.is_integer, pa.types.is_floating, pa.types.is_timestamp)
    return actual == expected or any(k(actual) and k(expected) for k in same_kind)


def _conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """The table in exactly ``schema``; a missing column or a foreign type is an error."""
    missing = [name for name in schema.names if name not in table.column_names]
    if missing:
        raise ValueError(f"missing column(s) {missing}")
    table = table.select(schema.names)
    if table.schema.equals(schema):
        return table
    for expected, column in zip(schema, table.columns, strict=True):
        if not _compatible(column.type, expected.type):
            raise ValueError(f"column {expected.name!r} is {column.type}, not {expected.type}")
    return table.cast(schema)
