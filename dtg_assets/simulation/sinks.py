"""Parquet files being written: writer options, streamed or buffered sinks, a background writer.

A :class:`ParquetSink` is one Parquet file being written, row group by row group: streamed to
its path, or (for files of bounded size) encoded in memory and handed whole to a
:class:`BackgroundWriter`, whose thread absorbs the latency of creating files on a busy local
disk, or whose eight threads upload concurrently to an object store. :func:`parquet_options`
holds the per-column encoding chosen by measurement.
"""

from __future__ import annotations

import collections
import contextlib
import os
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.parquet as pq

if TYPE_CHECKING:
    from dtg_assets.simulation.storage import Storage

# Parquet writer options, chosen by measurement (benchmarks/bench_engine.py): dictionary
# encoding only pays off for the low-cardinality string columns; trying it on UUIDs and
# random floats costs time and saves nothing. Snappy keeps the other columns small for little
# CPU, but random hex ids and random doubles barely compress (UUIDs: -11% for 3.5x the time
# of writing them plain), so they are stored uncompressed.
COMPRESSION = "snappy"
UNCOMPRESSED_COLUMNS = frozenset(
    {"visitor_id", "app_id", "account_id", "txn_id", "record_id", "session_duration"}
)
STATISTICS_STRINGS = frozenset({"batch_id"})
DICTIONARY_COLUMNS = frozenset(
    {
        "event_type",
        "device_type",
        "geo",
        "employment_status",
        "application_status",
        "account_status",
        "merchant_cat_code",
        "location",
        "state",
        "batch_id",
        "table",
        "anomaly",
        "effect",
        "window",
    }
)


def parquet_options(schema: pa.Schema) -> dict:
    """Writer options for a schema: per-column compression and dictionary encoding.

    Args:
        schema: The schema to write.

    Returns:
        Keyword arguments for :class:`pyarrow.parquet.ParquetWriter`.
    """
    return {
        # Columns missing from a per-column dict would be uncompressed: name them all.
        "compression": {
            name: "none" if name in UNCOMPRESSED_COLUMNS else COMPRESSION for name in schema.names
        },
        "use_dictionary": [name for name in schema.names if name in DICTIONARY_COLUMNS],
        # Min/max of random ids and free text prune nothing and cost a fifth of the encoding;
        # timestamps, numbers and the batch id keep theirs for readers' predicate pushdown.
        "write_statistics": [
            field.name
            for field in schema
            if field.name in STATISTICS_STRINGS or not pa.types.is_string(field.type)
        ],
    }


# Bytes of encoded files waiting for the background writer before the engine waits for it.
MAX_PENDING_BYTES = 256 << 20


class BackgroundWriter:
    """Writes whole local files on one background thread, in submission order.

    Creating a file can block for a millisecond or more when the disk is busy (ext4 waits for
    its journal), and a scenario creates hundreds; the thread absorbs those waits while the
    engine generates the next batch. Pending bytes are bounded, so a slow disk slows the engine
    down instead of filling memory.

    On an object store each file is one PUT, whose latency (not bandwidth) dominates for the
    small files of a scenario: there several threads upload at once (:meth:`for_storage`).

    Args:
        max_pending_bytes: Bytes submitted but not yet written before :meth:`submit` blocks.
        write: Writes one whole file (default: a local file).
        threads: Writer threads.
    """

    def __init__(
        self,
        max_pending_bytes: int = MAX_PENDING_BYTES,
        write: Callable[[str, pa.Buffer], None] | None = None,
        threads: int = 1,
    ) -> None:
        self._write = write or _write_file
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="dtg-landing-io")
        self._pending: collections.deque[tuple[Future, int]] = collections.deque()
        self._pending_bytes = 0
        self._max_pending = max_pending_bytes

    def submit(self, path: str, data: pa.Buffer) -> None:
        """Queue a new file (its directory is made if missing)."""
        while self._pending and self._pending_bytes + data.size > self._max_pending:
            self._retire()
        self._pending.append((self._pool.submit(self._write, path, data), data.size))
        self._pending_bytes += data.size

    @classmethod
    def for_storage(cls, storage: Storage) -> BackgroundWriter | None:
        """The writer for a data root: one thread locally, eight uploads on an object store."""
        if storage.local:
            return cls()
        if storage.object_store:
            fs = storage.fs
            return cls(write=lambda path, data: fs.pipe_file(path, data.to_pybytes()), threads=8)
        return None

    def _retire(self) -> None:
        future, size = self._pending.popleft()
        self._pending_bytes -= size
        future.result()

    def wait(self) -> None:
        """Block until every queued file is written; raise the first failure."""
        while self._pending:
            self._retire()

    def close(self, cancel: bool = False) -> None:
        """Stop the threads once queued writes are done (their failures are ignored).

        Args:
            cancel: Drop the writes not yet started (an abort: on a hanging store each would
                wait for its timeout).
        """
        if cancel:
            for future, _ in self._pending:
                future.cancel()
        while self._pending:
            with contextlib.suppress(Exception):
                self._retire()
        self._pool.shutdown(cancel_futures=cancel)


def _write_file(path: str, data: pa.Buffer) -> None:
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    try:
        fd = os.open(path, flags, 0o666)
    except FileNotFoundError:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd = os.open(path, flags, 0o666)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)


class ParquetSink:
    """An open Parquet file being written (streamed, row group by row group).

    With a :class:`BackgroundWriter`, the file is encoded in memory and handed to it whole on
    :meth:`close` (for files of bounded size); otherwise it is streamed to its path.
    """

    def __init__(
        self,
        storage: Storage,
        path: str,
        schema: pa.Schema,
        background: BackgroundWriter | None = None,
    ) -> None:
        # The schema the file is written with: what its manifest entry records.
        self.schema = schema
        self._path, self._background = path, background
        if background is not None:
            self._handle = pa.BufferOutputStream()
        elif storage.local:
            self._handle = pa.OSFile(path, "wb")
        else:
            self._handle = storage.fs.open(path, "wb")
        try:
            self._writer = pq.ParquetWriter(self._handle, schema, **parquet_options(schema))
        except BaseException:
            self._handle.close()
            raise

    def write(self, table: pa.Table) -> None:
        """Append rows (one or more row groups)."""
        self._writer.write_table(table)

    def close(self) -> int:
        """Write the footer and close the file (or queue it for the background writer).

        Returns:
            The file's size in bytes.
        """
        try:
            self._writer.close()
            if self._background is not None:
                data = self._handle.getvalue()
                self._background.submit(self._path, data)
                return data.size
            return self._handle.tell()
        finally:
            self._handle.close()

    def discard(self) -> None:
        """Abandon the file: close what is open and queue nothing (never raises)."""
        self._background = None
        with contextlib.suppress(Exception):
            self.close()
