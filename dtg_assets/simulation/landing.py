"""The landing zone: atomic, idempotent, day-at-a-time Parquet on any fsspec filesystem.

A :class:`LandingZone` is a data root (a local path or an fsspec URI such as ``memory://dtg`` or
``s3://bucket/prefix``) laid out as :mod:`~dtg_assets.simulation.layout` describes. Writing a day
(:meth:`LandingZone.write_day`, implemented by :mod:`~dtg_assets.simulation.daywriter`) stages every
file under a hidden temporary name and commits the day's commit record and manifest last
(:mod:`~dtg_assets.simulation.commit`), and so does writing some of its batches
(:meth:`LandingZone.write_batches`: each batch committed on its own, the day's manifest growing
batch by batch, :meth:`LandingZone.landed_batches` naming what it holds); reading a day
(:meth:`LandingZone.read_day`, :meth:`~LandingZone.day_files`) reads exactly the files its commit
record lists, and its labels (:meth:`~LandingZone.read_labels`) the file its manifest lists
(:mod:`~dtg_assets.simulation.reading`), so an uncommitted day reads as empty and a torn write
beside a committed one is never read; :meth:`LandingZone.foreign_files` names every other file in
the day's date folders, hidden names included. Object-store calls are bounded by a timeout
(``DTG_STORE_TIMEOUT``), and the root is checked writable before anything is generated
(:meth:`LandingZone.preflight`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import TYPE_CHECKING

import pyarrow as pa

from dtg_assets.simulation import layout
from dtg_assets.simulation.commit import LOCK_DIR, STALE_TEMP_AGE, temp_in_use
from dtg_assets.simulation.config import ScenarioConfig
from dtg_assets.simulation.daywriter import (
    BUFFERED_VISITORS,
    PREVIEW_ROWS,
    DayResult,
    ProgressCallback,
    land_batches,
    land_day,
)
from dtg_assets.simulation.layout import Window
from dtg_assets.simulation.plan import plan_day
from dtg_assets.simulation.reading import (
    manifest_labels,
    parse_commit_record,
    read_manifests,
    read_parquet_files,
    record_files,
)
from dtg_assets.simulation.roots import check_timeout, local_root, open_filesystem, store_timeout
from dtg_assets.simulation.schemas import LABEL_SCHEMA, MANIFEST_SCHEMA, TABLE_SCHEMAS
from dtg_assets.simulation.storage import Storage

if TYPE_CHECKING:
    import fsspec

__all__ = [
    "BUFFERED_VISITORS",
    "LOCK_DIR",
    "PREVIEW_ROWS",
    "STALE_TEMP_AGE",
    "DayResult",
    "LandingZone",
    "ProgressCallback",
    "read_parquet_files",
]


class LandingZone:
    """A data root holding the landing zone and the ground truth.

    Args:
        root: Local path or fsspec URI.
        storage_options: Extra options for the fsspec filesystem (credentials come from the
            environment by default).
        timeout: Seconds an object-store call may wait to connect or for an answer; from
            ``DTG_STORE_TIMEOUT`` (default 5) when None.

    Raises:
        DataRootError: For an unknown scheme, a filesystem package that is not installed, or
            a bad timeout.
    """

    def __init__(
        self, root: str, storage_options: dict | None = None, timeout: float | None = None
    ) -> None:
        self.uri = str(root)
        path = local_root(self.uri)
        if path is not None and not storage_options:
            self.storage = Storage(None, check_timeout(self.uri, timeout))
        else:
            fs, path = open_filesystem(self.uri, storage_options, timeout)
            self.storage = Storage(fs, store_timeout(timeout))
        self.root = path.rstrip("/")
        self._writable = False

    @property
    def fs(self) -> fsspec.AbstractFileSystem:
        """The data root's fsspec filesystem (a local one is only opened when asked for)."""
        return self.storage.fs

    def preflight(self) -> None:
        """Check once that the root can be written; cheap, and done before generating.

        Raises:
            DataRootError: If the root is a file, cannot be created or written, or its object
                store is unreachable, has no such bucket or refuses the credentials.
        """
        if not self._writable:
            self.storage.preflight(self.root, self.uri)
            self._writable = True

    def path(self, *parts: str) -> str:
        """Filesystem path of a location under the root."""
        return "/".join([self.root, *parts])

    def uri_of(self, path: str) -> str:
        """User-facing location of a filesystem path: a plain path locally, else a URI."""
        if self.storage.local:
            return path
        return self.fs.unstrip_protocol(path)

    def table_dir(self, table: str) -> str:
        """Directory of one landing table."""
        return self.path(layout.landing_dir(table))

    def day_files(self, table: str, window: Window | str, day: dt.date) -> list[str]:
        """The landing files one window's day committed in a table: exactly its commit record's
        (the same files as its manifest's; the record is kept with the landing zone, apart from
        the ground truth, so the gatekeeper reads it without seeing any label).

        Args:
            table: Landing table.
            window: Historical or live.
            day: The batches' day.

        Returns:
            Sorted paths (none if the day was never committed).

        Raises:
            ValueError: If the commit record is unreadable, or the day's manifest describes
                another write (a commit cut between its two markers: write the day again).
        """
        return self._committed(table, window, day, consistent=True)

    def _committed(
        self, table: str, window: Window | str, day: dt.date, consistent: bool
    ) -> list[str]:
        record = self.read_commit_record(window, day)
        if record is None:
            return []
        digest, files = parse_commit_record(record)
        manifest = self.manifest_path(window, day)
        if consistent and self.storage.exists(manifest):
            hashes = read_parquet_files(self, [manifest], MANIFEST_SCHEMA, ["config_hash"])
            if set(hashes.column(0).to_pylist()) != {digest}:
                record_path = self.path(layout.commit_record_file(window, day))
                raise ValueError(
                    f"{self.uri_of(record_path)} and {self.uri_of(manifest)} describe different "
                    "writes (a commit cut between them): write the day again"
                )
        return [self.path(p) for p in record_files(files, table)]

    def read_commit_record(self, window: Window | str, day: dt.date) -> bytes | None:
        """The commit record of one window's day (JSON bytes), or None if never committed.

        Raises:
            ValueError: If it cannot be read.
        """
        path = self.path(layout.commit_record_file(window, day))
        try:
            return self.storage.read_bytes(path)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise ValueError(f"cannot read {self.uri_of(path)}: {exc}") from exc

    def foreign_files(self, table: str, window: Window | str, day: dt.date) -> list[str]:
        """Files in the date directories of one day that no commit accounts for.

        The directories searched are the day's own date and every date its batches landed
        rows on (committed or left over). Every file there must be a file a day's commit record
        lists: this day's, or, for a file named like another day's batch file, that day's.
        Hidden names are not skipped: a copy named ``.x.parquet`` or ``_x.parquet`` is read by
        DuckDB's ``*/*.parquet`` glob and by hand, so stray files (a CSV, another tool's
        Parquet, a ``_SUCCESS`` marker), duplicates and leftovers (a torn write under another
        configuration, a file of an older layout) are all foreign. The one exception is a
        writer's in-flight temporary (``.<landing file>.<token>.tmp`` whose writer is alive);
        a dead writer's is foreign. Foreign files are never read by :meth:`read_day`.

        Args:
            table: Landing table.
            window: Historical or live.
            day: The batches' day.

        Returns:
            Their user-facing locations, sorted.
        """
        # One listing of the table (one request per 1,000 keys on an object store).
        every = self.storage.find_in_subdirs(self.table_dir(table), "date=", "", "")
        # The landing side's files, even if the ground truth describes another write.
        committed = set(self._committed(table, window, day, consistent=False))
        prefix = layout.batch_prefix(window, day)
        dirs = {p.rpartition("/")[0] for p in committed}
        dirs.add(self.path(layout.landing_dir(table, day)))
        for path in every:
            parsed = layout.parse_landing_name(path.rpartition("/")[2])
            if parsed is not None and parsed.batch_id.startswith(prefix):
                dirs.add(path.rpartition("/")[0])
        records = {prefix: committed}
        foreign = []
        for path in every:
            directory, _, name = path.rpartition("/")
            if directory not in dirs:
                continue
            temporary = layout.parse_temporary(name)
            parsed = layout.parse_landing_name(temporary[0] if temporary else name)
            if parsed is None:
                foreign.append(self.uri_of(path))
            elif temporary:
                # Listed while its writer was alive, committed since: a writer releases its
                # lock only after its renames, so a temporary still there is a dead writer's.
                if not temp_in_use(self.storage, path, self.root) and self.storage.exists(path):
                    foreign.append(self.uri_of(path))
            elif path not in self._committed_by(table, parsed.batch_id, records):
                foreign.append(self.uri_of(path))
        return sorted(foreign)

    def _committed_by(self, table: str, batch: str, records: dict[str, set[str]]) -> set[str]:
        """The files of ``table`` that the commit record of ``batch``'s day lists (none if it
        is unreadable), cached in ``records`` by the day's batch prefix."""
        window, start = layout.parse_batch_id(batch)
        prefix = layout.batch_prefix(window, start.date())
        if prefix not in records:
            try:
                found = self._committed(table, window, start.date(), consistent=False)
            except ValueError:
                found = []
            records[prefix] = set(found)
        return records[prefix]

    def labels_path(self, window: Window | str, day: dt.date, token: str | None = None) -> str:
        """Ground-truth labels file of one window's day.

        Args:
            window: Historical or live.
            day: The day.
            token: The configuration token of the write; when None, the labels file the day's
                manifest lists (an un-tokened path, which never exists, if there is none).

        Returns:
            The filesystem path.
        """
        if token is None:
            listed = manifest_labels(self.read_manifest(window, day))
            if listed is not None:
                return self.path(listed)
        return self.path(layout.labels_file(window, day, token))

    def manifest_path(self, window: Window | str, day: dt.date) -> str:
        """Batch manifest file of one window's day (its commit marker)."""
        return self.path(layout.manifest_file(window, day))

    def read_day(
        self, table: str, window: Window | str, day: dt.date, columns: list[str] | None = None
    ) -> pa.Table:
        """Read back what one window's day committed in a table, over every event date.

        Args:
            table: Landing table.
            window: Historical or live.
            day: The batches' day.
            columns: Read only these columns (all when None).

        Returns:
            The rows (landing schema, without the ``date`` partition column); a committed file
            deleted since is skipped (its rows are missing, as the row-count checks report).

        Raises:
            ValueError: If a file of that day (or its manifest) is not readable Parquet of the
                expected schema.
        """
        files = self.day_files(table, window, day)
        return read_parquet_files(self, files, TABLE_SCHEMAS[table], columns, missing_ok=True)

    def read_labels(self, window: Window | str, day: dt.date) -> pa.Table:
        """Ground-truth labels of one window's day (empty if the day was never committed)."""
        listed = manifest_labels(self.read_manifest(window, day))
        paths = [self.path(listed)] if listed is not None else []
        return read_parquet_files(self, paths, LABEL_SCHEMA)

    def read_manifest(self, window: Window | str, day: dt.date) -> pa.Table:
        """Batch manifest of one window's day (empty if the day was never committed)."""
        path = self.manifest_path(window, day)
        paths = [path] if self.storage.exists(path) else []
        return read_manifests(self, paths)

    def write_day(
        self,
        config: ScenarioConfig,
        day: dt.date,
        window: Window | str | None = None,
        progress: ProgressCallback | None = None,
    ) -> DayResult:
        """Generate and land every batch of one day, replacing any earlier write of it.

        Args:
            config: The scenario.
            day: The UTC day.
            window: Its window; inferred from the scenario when None.
            progress: Called after each batch with its plan and rows per table.

        Returns:
            What was landed.

        Raises:
            ValueError: If the day does not belong to the window.
            DataRootError: If the data root cannot be written (nothing is generated), or
                :class:`~dtg_assets.simulation.roots.StoreError` if the store fails part-way
                (one line; committed files stay as they were).
        """
        plan_day(config, day, window)  # a day outside the window fails before the preflight
        self.preflight()
        return land_day(self, config, day, window, progress)

    def write_days(
        self,
        config: ScenarioConfig,
        days: Iterable[tuple[dt.date, Window | str]],
        progress: ProgressCallback | None = None,
    ) -> list[DayResult]:
        """Write several days in order.

        Args:
            config: The scenario.
            days: ``(day, window)`` pairs.
            progress: Per-batch callback.

        Returns:
            One result per day.
        """
        return [self.write_day(config, d, w, progress) for d, w in days]

    def write_batches(
        self,
        config: ScenarioConfig,
        day: dt.date,
        batches: Iterable[int] | None = None,
        window: Window | str | None = None,
        progress: ProgressCallback | None = None,
        skip_landed: bool = False,
    ) -> DayResult:
        """Land some batches of one day, each committed on its own, in arrival order.

        Args:
            config: The scenario.
            day: The UTC day.
            batches: The batches' indexes in the day; all when None.
            window: Its window; inferred from the scenario when None.
            progress: Called after each batch is committed, with its plan and rows per table.
            skip_landed: Leave batches already landed under this configuration untouched while
                their files are intact (one with a file deleted or resized is landed again).

        Returns:
            What was landed (``manifest``: the day's whole manifest after the call).

        Raises:
            ValueError: If the day does not belong to the window, a batch index is not the
                day's, or the day holds another configuration's batches and the write does
                not start from its first batch.
            DataRootError: If the data root cannot be written (nothing is generated), or
                :class:`~dtg_assets.simulation.roots.StoreError` if the store fails part-way
                (one line; the batches committed before stay as they were).
        """
        plan_day(config, day, window)  # a day outside the window fails before the preflight
        self.preflight()
        return land_batches(self, config, day, batches, window, progress, skip_landed)

    def landed_batches(self, window: Window | str, day: dt.date) -> list[str]:
        """Ids of the batches in one window's day's manifest, in batch order (none if the day
        was never committed).

        Raises:
            ValueError: If the manifest is unreadable.
        """
        manifest = self.read_manifest(window, day)
        order = manifest.column("batch_index").to_pylist()
        ids = manifest.column("batch_id").to_pylist()
        return [b for _, b in sorted(zip(order, ids, strict=True))]
