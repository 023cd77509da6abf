"""The few filesystem operations the landing writer needs, fast on local disk, fsspec elsewhere.

A data root can be any fsspec URL, but a local root is by far the common case, and fsspec's
pure-Python file objects, ``glob`` and ``info`` calls cost more than generating the data for
the hundreds of small files a scenario lands. :class:`Storage` therefore goes straight to ``os``
and to pyarrow's native file streams when the filesystem is local, and through fsspec otherwise;
the semantics (atomic rename, listing by name prefix) are the same on both paths. The Parquet
files themselves are written by :mod:`~dtg_assets.simulation.sinks`.

Object stores have no rename: there a "rename" is a server-side copy (which creates the final
object atomically: a reader sees the previous object or the new one, never part of one) and a
delete. :meth:`Storage.preflight` proves, before anything is generated, that the root can be
written (a clear :class:`DataRootError` otherwise). The commit protocol built on these
operations is :mod:`dtg_assets.simulation.commit`.
"""

from __future__ import annotations

import os
import secrets
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import pyarrow as pa

from dtg_assets.simulation.roots import (
    DEFAULT_STORE_TIMEOUT,
    DataRootError,
    fail_fast,
    preflight_remote,
    reason,
)
from dtg_assets.simulation.sinks import BackgroundWriter, ParquetSink, _write_file

if TYPE_CHECKING:
    import fsspec

# Object stores: no directories, no rename (a copy), whole-object visibility on upload.
OBJECT_STORE_PROTOCOLS = frozenset({"s3", "s3a", "gs", "gcs", "abfs", "abfss", "az", "adl"})


class Storage:
    """File operations on one fsspec filesystem, with a direct path for local disk.

    Args:
        fs: The filesystem the data root lives on; None for the local disk, whose fsspec
            filesystem is then only opened (and fsspec imported) if something asks for it.
        timeout: Seconds an object-store call may wait (for the preflight's own client).
    """

    def __init__(
        self, fs: fsspec.AbstractFileSystem | None = None, timeout: float = DEFAULT_STORE_TIMEOUT
    ) -> None:
        self._fs, self.timeout = fs, timeout
        protocols = set() if fs is None else _protocols(fs)
        self.local = fs is None or bool(protocols & {"file", "local"})
        self.object_store = bool(protocols & OBJECT_STORE_PROTOCOLS)
        # A process's own memory: other processes cannot see it.
        self.in_memory = "memory" in protocols

    @property
    def fs(self) -> fsspec.AbstractFileSystem:
        """The fsspec filesystem (for the local disk, opened on first use)."""
        if self._fs is None:
            from fsspec.implementations.local import LocalFileSystem

            self._fs = LocalFileSystem()
        return self._fs

    def makedirs(self, path: str) -> None:
        """Create a directory and its parents if missing (object stores have none: no-op)."""
        if self.local:
            os.makedirs(path, exist_ok=True)
        elif not self.object_store:
            self.fs.makedirs(path, exist_ok=True)

    def rename_many(self, pairs: list[tuple[str, str]]) -> None:
        """Move files into place (see :meth:`rename`); on an object store, concurrently.

        Each target appears whole or not at all; the order among the pairs is not kept, so a
        file that must come last (a day's manifest) is committed by a later call.
        """
        if not self.object_store or len(pairs) < 2:
            for source, target in pairs:
                self.rename(source, target)
            return
        # Server-side copies, several at once: each costs a round trip, not bandwidth.
        with ThreadPoolExecutor(8, thread_name_prefix="dtg-commit") as pool:
            list(pool.map(lambda pair: self.fs.cp_file(*pair), pairs))
        self.fs.rm([source for source, _ in pairs])  # one bulk delete per 1,000 keys

    def read_bytes(self, path: str) -> bytes:
        """A whole file in one request (object stores: one GET, no HEAD)."""
        if self.local:
            with open(path, "rb") as handle:
                return handle.read()
        return self.fs.cat_file(path)

    def open_parquet(
        self, path: str, schema: pa.Schema, background: BackgroundWriter | None = None
    ) -> ParquetSink:
        """Open a new Parquet file for writing.

        Args:
            path: The file; its directory must exist unless ``background`` is given.
            schema: Its schema.
            background: Local writer thread to hand the finished file to, or None to stream.

        Returns:
            The open file.
        """
        return ParquetSink(self, path, schema, background)

    def write_parquet(
        self, path: str, table: pa.Table, background: BackgroundWriter | None = None
    ) -> None:
        """Write a whole table to a new Parquet file (see :meth:`open_parquet`)."""
        sink = self.open_parquet(path, table.schema, background)
        try:
            sink.write(table)
        finally:
            sink.close()

    def write_bytes(
        self, path: str, data: bytes, background: BackgroundWriter | None = None
    ) -> None:
        """Write a whole small file (queued on ``background`` when given)."""
        if background is not None:
            background.submit(path, pa.py_buffer(data))
        elif self.local:
            _write_file(path, pa.py_buffer(data))
        else:
            self.fs.pipe_file(path, data)

    def rename(self, source: str, target: str) -> None:
        """Move a file into place, replacing any file already there (atomic on local disk)."""
        if self.local:
            os.replace(source, target)
        else:
            self.fs.mv(source, target)

    def remove(self, path: str, missing_ok: bool = False) -> None:
        """Delete a file (one already gone is fine with ``missing_ok``: a concurrent cleaner)."""
        try:
            if self.local:
                os.remove(path)
            else:
                self.fs.rm(path)
        except FileNotFoundError:
            if not missing_ok:
                raise

    def remove_many(self, paths: list[str]) -> None:
        """Delete files, those already gone included (one bulk request on an object store)."""
        if self.object_store and paths:
            self.fs.rm(paths)  # deleting a missing key is not an error on an object store
            return
        for path in paths:
            self.remove(path, missing_ok=True)

    def preflight(self, root: str, uri: str) -> None:
        """Prove the data root can be written, before anything is generated.

        Locally the root is created if missing and a hidden probe file is written and deleted
        in it; on an object store a hidden probe object is put and deleted under the root and
        the root is listed, with no retries, so missing credentials, an unreachable endpoint,
        a missing bucket or denied access fail in seconds rather than after the first batch.

        Args:
            root: Filesystem path of the root.
            uri: How to name the root in messages.

        Raises:
            DataRootError: Naming the root and what is wrong (never a credential).
        """
        probe = f"{root}/.dtg-write-probe-{secrets.token_hex(4)}"
        if not self.local:
            preflight_remote(fail_fast(self.fs, self.timeout), root, probe, uri)
            return
        if os.path.exists(root) and not os.path.isdir(root):
            raise DataRootError(uri, "it is a file; a directory (new or existing) is needed")
        try:
            os.makedirs(root, exist_ok=True)
        except OSError as exc:
            raise DataRootError(uri, f"cannot create it: {reason(exc)}") from None
        try:
            os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            os.remove(probe)
        except OSError as exc:
            raise DataRootError(uri, f"not writable: {reason(exc)}") from None

    def exists(self, path: str) -> bool:
        """Whether a file or directory exists."""
        return os.path.exists(path) if self.local else self.fs.exists(path)

    def size(self, path: str) -> int | None:
        """A file's size in bytes, or None if it does not exist."""
        try:
            return os.stat(path).st_size if self.local else int(self.fs.size(path))
        except FileNotFoundError:
            return None

    def list_files(self, directory: str, name_prefix: str) -> list[str]:
        """Files ``<directory>/<name_prefix>*`` (not in subdirectories), sorted; none if missing."""
        if not self.local:
            try:
                paths = self.fs.find(directory, maxdepth=1)
            except FileNotFoundError:
                return []
            return sorted(p for p in paths if p.rpartition("/")[2].startswith(name_prefix))
        try:
            entries = list(os.scandir(directory))
        except (FileNotFoundError, NotADirectoryError):
            return []
        names = [e.name for e in entries if e.name.startswith(name_prefix) and e.is_file()]
        return sorted(f"{directory}/{name}" for name in names)

    def find_in_subdirs(
        self,
        base: str,
        subdir_prefix: str,
        name_prefix: str | tuple[str, ...],
        suffix: str | tuple[str, ...],
    ) -> list[str]:
        """Files ``<base>/<subdir_prefix>*/<name_prefix>*<suffix>``, sorted.

        Args:
            base: Directory whose subdirectories are searched (missing: no files).
            subdir_prefix: Prefix of the subdirectories, e.g. ``date=``.
            name_prefix: Prefix of the file names (or any of several).
            suffix: End of the file names (or any of several).

        Returns:
            Matching file paths.
        """
        if not self.local:
            # One flat listing (one request per 1,000 keys on an object store), filtered here:
            # a glob would list level by level.
            try:
                paths = self.fs.find(base)
            except FileNotFoundError:
                return []
            found = []
            for path in paths:
                parts = path[len(base) :].strip("/").split("/")
                if (
                    len(parts) == 2
                    and parts[0].startswith(subdir_prefix)
                    and parts[1].startswith(name_prefix)
                    and parts[1].endswith(suffix)
                ):
                    found.append(path)
            return sorted(found)
        found = []
        try:
            subdirs = [e.path for e in os.scandir(base) if e.name.startswith(subdir_prefix)]
        except (FileNotFoundError, NotADirectoryError):
            return []
        for subdir in subdirs:
            try:
                entries = list(os.scandir(subdir))
            except (FileNotFoundError, NotADirectoryError):
                continue
            found.extend(
                f"{subdir}/{e.name}"
                for e in entries
                if e.name.startswith(name_prefix) and e.name.endswith(suffix) and e.is_file()
            )
        return sorted(found)


def _protocols(fs: fsspec.AbstractFileSystem) -> set[str]:
    return {fs.protocol} if isinstance(fs.protocol, str) else set(fs.protocol)
