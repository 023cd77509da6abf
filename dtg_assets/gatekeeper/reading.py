"""Reading committed landing files as they are, one by one, each with its own schema.

Landing files are read single-threaded (which halves the CPU of reading a day's many small
files), each with its own schema and conformed to the landing schema
(:mod:`~dtg_assets.gatekeeper.drift`): a drifted file never fails a read, its drift travels
with its rows. Only the files of a day's commit record are read, so a torn write beside them
never is.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import pyarrow as pa
import pyarrow.parquet as pq

from dtg_assets.gatekeeper.drift import SCHEMA_COLUMN, conform_file
from dtg_assets.simulation.landing import LandingZone
from dtg_assets.simulation.schemas import PRIMARY_KEY, TABLE_SCHEMAS, TABLES


def read_local(zone: LandingZone, paths: list[str], schema: pa.Schema) -> pa.Table | None:
    """Local Parquet files of exactly ``schema``, concatenated (None: let the zone read them).

    ``pq.read_table`` sets up a dataset and threads for each file, which costs more CPU than
    decoding a small landing file; a plain single-threaded read halves it. Only files of exactly
    the expected schema are taken this way: anything else (a broken or missing file, a remote
    root) is left to :class:`LandingZone`'s readers, which name the bad file.

    Args:
        zone: The data root.
        paths: Files under it.
        schema: Their expected schema.

    Returns:
        The rows, or None.
    """
    if not getattr(zone.storage, "local", False):
        return None
    parts = []
    for path in paths:
        try:
            with pq.ParquetFile(path) as handle:
                part = handle.read(use_threads=False)
        except (pa.ArrowException, OSError, ValueError):
            return None
        if not part.schema.equals(schema):
            return None
        parts.append(part)
    return pa.concat_tables(parts) if parts else schema.empty_table()


def _read_file(zone: LandingZone, path: str, column: str | None = None) -> pa.Table | None:
    """One landing file with its own schema (None: a committed file deleted since); with
    ``column``, only that column (an empty table if the file lacks it)."""
    try:
        source = path if zone.storage.local else pa.BufferReader(zone.storage.read_bytes(path))
        with pq.ParquetFile(source) as handle:
            if column is None:
                return handle.read(use_threads=False)
            if column not in handle.schema_arrow.names:
                return pa.table({})
            return handle.read(columns=[column], use_threads=False)
    except FileNotFoundError:
        return None
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise ValueError(f"cannot read {zone.uri_of(path)} as Parquet: {exc}") from exc


def read_day(zone: LandingZone, table: str, window: str, day: dt.date) -> pa.Table:
    """Every row one window's day committed in a table, each file read with its own schema.

    The files are exactly those of the day's commit record (as :meth:`LandingZone.read_day`),
    so a torn write beside it is never read. Each file is conformed to the landing schema
    (:func:`~dtg_assets.gatekeeper.drift.conform_file`): a drifted file never fails the read,
    its drift travels with its rows in ``SCHEMA_COLUMN``.

    Args:
        zone: The data root.
        table: Landing table.
        window: ``historical`` or ``live``.
        day: The batches' day.

    Returns:
        The rows, in the landing schema plus ``SCHEMA_COLUMN``.

    Raises:
        ValueError: If a committed file is not readable Parquet (naming it).
    """
    schema = TABLE_SCHEMAS[table]
    parts = []
    for path in zone.day_files(table, window, day):
        raw = _read_file(zone, path)
        if raw is not None:
            parts.append(conform_file(raw, schema)[0])
    return pa.concat_tables(parts) if parts else conform_file(schema.empty_table(), schema)[0]


def read_keys(zone: LandingZone, table: str, window: str, day: dt.date) -> pa.Array:
    """The primary keys one window's day committed in a table (as strings; files that lost
    the key column contribute none).

    Args:
        zone: The data root.
        table: Landing table.
        window: ``historical`` or ``live``.
        day: The batches' day.

    Returns:
        The keys.
    """
    key, parts = PRIMARY_KEY[table], []
    for path in zone.day_files(table, window, day):
        raw = _read_file(zone, path, key)
        if raw is not None and key in raw.column_names:
            parts.append(raw.column(key).combine_chunks().cast(pa.string()))
    return pa.concat_arrays(parts) if parts else pa.array([], pa.string())


def read_days(
    zone: LandingZone, window: str, days: Iterable[dt.date]
) -> tuple[dict[str, pa.Table], dict[str, pa.Schema]]:
    """Read every landing table of some days of a window (all event dates, the committed files).

    Args:
        zone: The data root.
        window: ``historical`` or ``live``.
        days: The batches' days.

    Returns:
        ``(tables, schemas)``: the rows per table (landing schema plus ``SCHEMA_COLUMN``) and
        the landing schema they were conformed to.
    """
    days = list(days)
    tables = {
        t: pa.concat_tables([read_day(zone, t, window, d) for d in days])
        if days
        else conform(TABLE_SCHEMAS[t].empty_table(), TABLE_SCHEMAS[t])
        for t in TABLES
    }
    return tables, dict(TABLE_SCHEMAS)


def conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """Bring a table to a landing schema so detectors can run on data that drifted from it.

    A table read by :func:`read_day` is conformed already (file by file); any other table is
    conformed as one file (:func:`~dtg_assets.gatekeeper.drift.conform_file`): columns of the
    expected kind are cast, a renamed one is read under its name, a dropped or retyped one
    becomes all-null and unavailable, extra columns are dropped.

    Args:
        table: Rows as they arrived.
        schema: The landing schema.

    Returns:
        The rows in ``schema``'s column order and types, plus ``SCHEMA_COLUMN``.
    """
    if SCHEMA_COLUMN in table.column_names:
        return table
    return conform_file(table, schema)[0]
