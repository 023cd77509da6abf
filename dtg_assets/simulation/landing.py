"""The landing-zone writer: atomic, idempotent, day-at-a-time Parquet on any fsspec filesystem.

Layout under a data root (a local path or an fsspec URI such as ``memory://dtg`` or
``s3://bucket/prefix``)::

    landing/<table>/date=YYYY-MM-DD/<batch_id>.parquet     one file per (table, batch, event date)
    ground_truth/labels/<window>-<YYYYMMDD>.parquet         label rows of one day's batches
    ground_truth/manifest/<window>-<YYYYMMDD>.parquet       one row per batch of that day

Every file is first written under a hidden temporary name (leading ``.``, ending ``.tmp``),
which Spark, DuckDB's ``*.parquet`` globs and pyarrow datasets all ignore, then renamed into
place when the whole day is generated (on an object store: copied server-side, which creates
the object atomically, then the temporary deleted); the day's manifest comes last, so a day with
a manifest is complete. Writing a day again replaces exactly that day's files (by batch-id
prefix, in every date directory) and never touches another day's: re-running is safe, and so
are two writers of the same day at once (same data, same names; neither deletes the other's
temporaries, see :class:`~dtg_assets.simulation.roots.WriterLock`). The root is checked
writable before anything is generated (:meth:`LandingZone.preflight`).
"""

from __future__ import annotations

import collections
import datetime as dt
import re
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import fsspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from dtg_assets.simulation.config import ScenarioConfig
from dtg_assets.simulation.generate import (
    CHUNK_VISITORS,
    US_PER_DAY,
    BatchOutput,
    iter_batch_chunks,
    spiked_visitors,
)
from dtg_assets.simulation.plan import BatchPlan, Window, batch_prefix, plan_day
from dtg_assets.simulation.roots import DataRootError, WriterLock
from dtg_assets.simulation.schemas import (
    EVENT_TIME,
    LABEL_SCHEMA,
    MANIFEST_SCHEMA,
    TABLE_SCHEMAS,
    TABLES,
)
from dtg_assets.simulation.storage import BackgroundWriter, ParquetSink, Storage

_EPOCH = dt.date(1970, 1, 1)
_BATCH_FILE = re.compile(r"(historical|live)-\d{8}-\d{4}\.parquet")
# Files of batches up to this size are encoded in memory and written by a background thread;
# bigger batches stream to disk chunk by chunk, so memory stays bounded at any scale.
BUFFERED_VISITORS = 2 * CHUNK_VISITORS
PREVIEW_ROWS = 5
# Hidden directory of the writers' lock files, under the data root.
LOCK_DIR = ".dtg-writers"
# On an object store (no locks) a temporary this old is taken as left by a killed writer.
STALE_TEMP_AGE = dt.timedelta(hours=6)


@dataclass
class DayResult:
    """What writing one day landed.

    Attributes:
        day: The UTC day.
        window: Its window.
        manifest: One row per batch (``MANIFEST_SCHEMA``).
        paths: Landing files written, per table.
        removed: Stale files of this day deleted (from an earlier write with another schedule).
        labels_by_anomaly: Label rows per anomaly type.
        preview: First rows landed per table (for UI previews).
    """

    day: dt.date
    window: Window
    manifest: pa.Table
    paths: dict[str, list[str]] = field(default_factory=dict)
    removed: list[str] = field(default_factory=list)
    labels_by_anomaly: dict[str, int] = field(default_factory=dict)
    preview: dict[str, pa.Table] = field(default_factory=dict)

    def rows(self, table: str) -> int:
        """Rows landed in one table by this day's batches (over all event dates)."""
        return int(pc.sum(self.manifest.column(f"rows_{table}")).as_py() or 0)


ProgressCallback = Callable[[BatchPlan, dict[str, int]], None]


class LandingZone:
    """A data root holding the landing zone and the ground truth.

    Args:
        root: Local path or fsspec URI.
        storage_options: Extra options for the fsspec filesystem (credentials come from the
            environment by default).
    """

    def __init__(self, root: str, storage_options: dict | None = None) -> None:
        self.uri = str(root)
        options = dict(storage_options or {})
        if fsspec.core.split_protocol(self.uri)[0] in ("s3", "s3a"):
            # Other processes write the same prefixes (parallel runs): never trust a cached
            # listing. Endpoint and credentials come from the AWS_* environment variables.
            options.setdefault("use_listings_cache", False)
        try:
            self.fs, path = fsspec.core.url_to_fs(self.uri, **options)
        except ImportError as exc:
            raise DataRootError(self.uri, f"{exc} (for S3: pip install 'dtg_assets[s3]')") from None
        self.root = path.rstrip("/")
        self.storage = Storage(self.fs)
        self._writable = False

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
        if self.fs.protocol in ("file", "local") or "file" in self.fs.protocol:
            return path
        return self.fs.unstrip_protocol(path)

    def table_dir(self, table: str) -> str:
        """Directory of one landing table."""
        return self.path("landing", table)

    def day_files(self, table: str, window: Window | str, day: dt.date) -> list[str]:
        """Landing files (committed, not temporary) written by one window's day, any date.

        Args:
            table: Landing table.
            window: Historical or live.
            day: The batches' day.

        Returns:
            Sorted paths.
        """
        prefix = batch_prefix(window, day)
        return self.storage.find_in_subdirs(self.table_dir(table), "date=", prefix, ".parquet")

    def foreign_files(self, table: str, window: Window | str, day: dt.date) -> list[str]:
        """Files no writer of the landing zone made, in the date directories of one day.

        The directories searched are the day's own date and every date its batches landed
        rows on. A file is foreign unless it is named like a batch file
        (``<window>-YYYYMMDD-HHMM.parquet``) or hidden (leading ``.`` or ``_``, which readers
        skip). Foreign files are never read by :meth:`read_day`, but directory readers (pyarrow
        datasets, Spark) would choke on them or count their rows.

        Args:
            table: Landing table.
            window: Historical or live.
            day: The batches' day.

        Returns:
            Their user-facing locations, sorted.
        """
        # One listing of the table (one request per 1,000 keys on an object store).
        every = self.storage.find_in_subdirs(self.table_dir(table), "date=", "", "")
        prefix = batch_prefix(window, day)
        dirs = {p.rsplit("/", 1)[0] for p in every if p.rsplit("/", 1)[1].startswith(prefix)}
        dirs.add(f"{self.table_dir(table)}/date={day.isoformat()}")
        foreign = []
        for path in every:
            directory, name = path.rsplit("/", 1)
            if directory not in dirs or name.startswith((".", "_")):
                continue
            if not _BATCH_FILE.fullmatch(name):
                foreign.append(self.uri_of(path))
        return sorted(foreign)

    def labels_path(self, window: Window | str, day: dt.date) -> str:
        """Ground-truth labels file of one window's day."""
        return self.path("ground_truth", "labels", f"{Window(window).value}-{day:%Y%m%d}.parquet")

    def manifest_path(self, window: Window | str, day: dt.date) -> str:
        """Batch manifest file of one window's day."""
        return self.path("ground_truth", "manifest", f"{Window(window).value}-{day:%Y%m%d}.parquet")

    def read_day(
        self, table: str, window: Window | str, day: dt.date, columns: list[str] | None = None
    ) -> pa.Table:
        """Read back what one window's day landed in a table, over every event date.

        Args:
            table: Landing table.
            window: Historical or live.
            day: The batches' day.
            columns: Read only these columns (all when None).

        Returns:
            The rows (landing schema, without the ``date`` partition column).

        Raises:
            ValueError: If a file of that day is not readable Parquet of the table's schema.
        """
        files = self.day_files(table, window, day)
        return read_parquet_files(self, files, TABLE_SCHEMAS[table], columns)

    def read_labels(self, window: Window | str, day: dt.date) -> pa.Table:
        """Ground-truth labels of one window's day (empty if the day was never written)."""
        path = self.labels_path(window, day)
        return read_parquet_files(self, [path] if self.fs.exists(path) else [], LABEL_SCHEMA)

    def read_manifest(self, window: Window | str, day: dt.date) -> pa.Table:
        """Batch manifest of one window's day (empty if the day was never written)."""
        path = self.manifest_path(window, day)
        return read_parquet_files(self, [path] if self.fs.exists(path) else [], MANIFEST_SCHEMA)

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
            DataRootError: If the data root cannot be written (nothing is generated).
        """
        plans = plan_day(config, day, window)
        window = plans[0].window
        self.preflight()
        writer = _DayWriter(self)
        manifest_rows = []
        by_anomaly: collections.Counter[str] = collections.Counter()
        preview: dict[str, pa.Table] = {}
        try:
            # Labels stream to their file chunk by chunk, so memory does not grow with the day.
            labels = writer.stream(self.labels_path(window, day), LABEL_SCHEMA)
            for plan in plans:
                counts = dict.fromkeys(TABLES, 0)
                labelled = dict.fromkeys(TABLES, 0)
                buffered = spiked_visitors(config, plan) <= BUFFERED_VISITORS
                for part in iter_batch_chunks(config, plan):
                    writer.add(part, buffered)
                    for t in TABLES:
                        if t not in preview and part.tables[t].num_rows:
                            # A copy: a slice would keep the whole chunk alive with the result.
                            rows = min(PREVIEW_ROWS, part.tables[t].num_rows)
                            preview[t] = part.tables[t].take(np.arange(rows))
                    for t in TABLES:
                        counts[t] += part.tables[t].num_rows
                    if part.labels.num_rows:
                        labels.write(part.labels)
                        for t, n in _value_counts(part.labels.column("table")).items():
                            labelled[t] += n
                        by_anomaly.update(_value_counts(part.labels.column("anomaly")))
                writer.close_batch()
                manifest_rows.append(_manifest_row(config, plan, counts, labelled))
                if progress is not None:
                    progress(plan, counts)
            writer.close_streams()
            manifest = pa.Table.from_pylist(manifest_rows, schema=MANIFEST_SCHEMA)
            writer.stage(self.manifest_path(window, day), manifest)
            removed = writer.commit(self._stale_files(window, day, writer.own_paths))
        except BaseException:
            writer.abort()
            raise
        return DayResult(
            day=day,
            window=window,
            manifest=manifest,
            paths=writer.landing_paths,
            removed=removed,
            labels_by_anomaly=dict(sorted(by_anomaly.items())),
            preview=preview,
        )

    def _stale_files(self, window: Window, day: dt.date, keep: set[str]) -> list[str]:
        prefix = batch_prefix(window, day)
        stale, temps = [], []
        for table in TABLES:
            # One listing per table for both kinds (a request or more on an object store).
            found = self.storage.find_in_subdirs(
                self.table_dir(table), "date=", (prefix, f".{prefix}"), (".parquet", ".tmp")
            )
            for p in found:
                hidden = p.rsplit("/", 1)[1].startswith(".")
                if hidden and p.endswith(".tmp"):
                    temps.append(p)
                elif not hidden and p.endswith(".parquet") and p not in keep:
                    stale.append(p)
        # Ground-truth temporaries left by a killed write of this day (the files themselves
        # are overwritten by the rename, but their temporaries would otherwise stay forever).
        gt_tmp = f".{Window(window).value}-{day:%Y%m%d}.parquet."
        temps += self.storage.find_in_subdirs(self.path("ground_truth"), "", gt_tmp, ".tmp")
        # Only temporaries of dead writers: another live writer of this day must keep its own.
        lock_dir = self.path(LOCK_DIR)
        stale += [
            p
            for p in temps
            if p not in keep and not self.storage.temp_in_use(p, lock_dir, STALE_TEMP_AGE)
        ]
        return sorted(stale)

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


def _value_counts(column: pa.ChunkedArray) -> dict[str, int]:
    counts = pc.value_counts(column)
    return dict(
        zip(
            counts.field("values").to_pylist(),
            counts.field("counts").to_pylist(),
            strict=True,
        )
    )


def _manifest_row(
    config: ScenarioConfig, plan: BatchPlan, counts: dict[str, int], labelled: dict[str, int]
) -> dict:
    row = {
        "batch_id": plan.batch_id,
        "window": plan.window.value,
        "day": plan.day,
        "batch_index": plan.index,
        "batch_start": plan.start,
        "anomaly": plan.anomaly.value if plan.anomaly else None,
        "planned_visitors": plan.visitors,
        "seed": config.seed,
    }
    row.update({f"rows_{t}": counts[t] for t in TABLES})
    row.update({f"labelled_{t}": labelled[t] for t in TABLES})
    return row


class _DayWriter:
    """Stages a day's files under temporary names, then renames them all into place."""

    def __init__(self, zone: LandingZone) -> None:
        self.zone = zone
        self.storage = zone.storage
        self.token = secrets.token_hex(4)
        # Taken before the first temporary exists, released after the last is renamed.
        self.lock = WriterLock(self.storage.local, zone.path(LOCK_DIR), self.token)
        self.open: dict[tuple[str, str], tuple[ParquetSink, str, str]] = {}
        self.streams: list[tuple[ParquetSink, str, str]] = []
        self.staged: list[tuple[str, str]] = []  # (temporary, final)
        self.landing_paths: dict[str, list[str]] = {t: [] for t in TABLES}
        self.made_dirs: set[str] = set()
        self.background = BackgroundWriter.for_storage(self.storage)

    @property
    def own_paths(self) -> set[str]:
        """Every path this write stages or commits: never stale."""
        return {p for pair in self.staged for p in pair}

    def _tmp(self, final: str, make_dir: bool = True) -> str:
        directory, name = final.rsplit("/", 1)
        if make_dir and directory not in self.made_dirs:
            self.storage.makedirs(directory)
            self.made_dirs.add(directory)
        return f"{directory}/.{name}.{self.token}.tmp"

    def add(self, part: BatchOutput, buffered: bool = False) -> None:
        """Append one chunk's rows to the open (table, date) files of its batch.

        Args:
            part: The chunk.
            buffered: Encode the batch's files in memory and let the background thread write
                them (bounded batches only); else stream them to disk.
        """
        background = self.background if buffered else None
        for table in TABLES:
            data = part.tables[table]
            if data.num_rows == 0:
                continue
            ts = data.column(EVENT_TIME[table]).cast(pa.int64()).to_numpy()
            day_index = ts // US_PER_DAY
            first, last = int(day_index.min()), int(day_index.max())
            # Event dates span a few consecutive days at most: count them rather than sort.
            if first == last:
                days = np.array([first])
            else:
                days = first + np.flatnonzero(np.bincount(day_index - first))
            for d in days:
                date = (_EPOCH + dt.timedelta(days=int(d))).isoformat()
                key = (table, date)
                if key not in self.open:
                    final = f"{self.zone.table_dir(table)}/date={date}/{part.plan.batch_id}.parquet"
                    # The background thread makes the directory of a buffered file.
                    tmp = self._tmp(final, make_dir=background is None)
                    sink = self.storage.open_parquet(tmp, TABLE_SCHEMAS[table], background)
                    self.open[key] = (sink, tmp, final)
                rows = data if days.size == 1 else data.filter(day_index == d)
                self.open[key][0].write(rows)

    def close_batch(self) -> None:
        """Finish the current batch's files (one per table and date)."""
        for (table, _), (sink, tmp, final) in sorted(self.open.items()):
            sink.close()
            self.staged.append((tmp, final))
            self.landing_paths[table].append(self.zone.uri_of(final))
        self.open.clear()

    def stage(self, final: str, table: pa.Table) -> None:
        """Write a whole table to a temporary file, to be committed with the day."""
        tmp = self._tmp(final, make_dir=self.background is None)
        self.staged.append((tmp, final))
        self.storage.write_parquet(tmp, table, self.background)

    def stream(self, final: str, schema: pa.Schema) -> ParquetSink:
        """Open a temporary file to append to over the day, committed with the day."""
        tmp = self._tmp(final)
        sink = self.storage.open_parquet(tmp, schema)
        self.streams.append((sink, tmp, final))
        return sink

    def close_streams(self) -> None:
        """Finish the files opened with :meth:`stream`."""
        for sink, tmp, final in self.streams:
            sink.close()
            self.staged.append((tmp, final))
        self.streams.clear()

    def commit(self, stale: list[str]) -> list[str]:
        """Rename every staged file into place, then delete this day's stale files."""
        if self.background is not None:
            self.background.wait()
            self.background.close()
        # The manifest, staged last, is committed last: a day with a manifest is complete.
        *files, marker = self.staged
        self.storage.rename_many(files)
        self.storage.rename_many([marker])
        for path in stale:
            # Another writer of the day may be cleaning up the same leftovers.
            self.storage.remove(path, missing_ok=True)
        self.lock.release()
        return stale

    def abort(self) -> None:
        """Close and delete everything staged; committed files are left as they were."""
        for sink, tmp, _ in [*self.open.values(), *self.streams]:
            sink.discard()
            self.staged.append((tmp, ""))
        if self.background is not None:
            self.background.close()  # queued temporaries land, then are deleted below
        self.open.clear()
        self.streams.clear()
        for tmp, _ in self.staged:
            if self.storage.exists(tmp):
                self.storage.remove(tmp, missing_ok=True)
        self.lock.release()


def read_parquet_files(
    zone: LandingZone, paths: list[str], schema: pa.Schema, columns: list[str] | None = None
) -> pa.Table:
    """Read and concatenate Parquet files, naming the file that cannot be read.

    Args:
        zone: The data root the paths belong to.
        paths: Filesystem paths.
        schema: Schema of the files (also of an empty result).
        columns: Read only these columns (all when None).

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
        except (pa.ArrowException, OSError, ValueError, KeyError) as exc:
            raise ValueError(f"cannot read {zone.uri_of(path)} as {schema.names}: {exc}") from exc
    return pa.concat_tables(tables) if tables else schema.empty_table()


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
