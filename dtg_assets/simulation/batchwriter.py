"""Committing one batch of a day on its own, beside the day's batches already committed.

:meth:`BatchWriter.commit` is the unit of live arrival: under the day's lock
(:class:`~dtg_assets.simulation.commit.DayLock`) it reads what the day has committed (its
manifest's rows, under the same configuration), stages the batch's landing files, rewrites the
day's labels file (the committed batches' row groups copied as they are, the new batch's label
chunks in batch order among them) and the day's commit record and manifest listing every batch so
far, and commits them with the :class:`~dtg_assets.simulation.commit.Commit` protocol (hidden
temporaries, commit record then manifest last). Row groups, file names and manifest rows are what
the day-at-once writer produces, so a day landed batch by batch is byte for byte the day landed at
once. The clean-up after the commit is scoped to the day's files that no committed batch lists:
other batches of the day under the same configuration are never touched. A writer committing a
day's batches one after another lists the day's files for clean-up on the first of them, after
another writer committed, and on the day's last batch, not in between. A day committed under
another configuration is replaced when the write starts from the day's first batch, and refused
otherwise (a day mixing two configurations would check as neither). A :class:`BatchWriter` kept
across calls (a replay) takes a day's committed state from memory while its files are still the
ones it committed, instead of reading them back for every batch.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.parquet as pq

from dtg_assets.simulation import layout
from dtg_assets.simulation.commit import Commit, DayLock
from dtg_assets.simulation.config import ScenarioConfig
from dtg_assets.simulation.plan import BatchPlan, plan_day
from dtg_assets.simulation.reading import commit_record
from dtg_assets.simulation.schemas import LABEL_SCHEMA, MANIFEST_SCHEMA
from dtg_assets.simulation.sinks import BackgroundWriter, ParquetSink
from dtg_assets.simulation.staging import DayFiles, Tally, stage_batch, stale_files

if TYPE_CHECKING:
    from dtg_assets.simulation.landing import LandingZone
    from dtg_assets.simulation.staged import StagedBatch


def day_lock(zone: LandingZone, window: layout.Window, day: dt.date) -> DayLock:
    """The lock every batch writer of one day holds while it reads and commits."""
    return DayLock(zone.storage.local, zone.path(layout.LOCK_DIR), layout.day_stem(window, day))


def committed_rows(zone: LandingZone, plan: BatchPlan, digest: str) -> list[dict]:
    """The day's manifest rows a write of ``plan`` under configuration ``digest`` builds on.

    Args:
        zone: The data root.
        plan: The batch about to be written.
        digest: Its configuration hash.

    Returns:
        The committed rows in batch order (none if the day is not committed, or is committed
        under another configuration and ``plan`` is the day's first batch: it starts the day
        over).

    Raises:
        ValueError: If the manifest is unreadable, or the day is committed under another
            configuration and ``plan`` is not its first batch.
    """
    manifest = zone.read_manifest(plan.window, plan.day)
    if manifest.num_rows == 0:
        return []
    hashes = set(manifest.column("config_hash").to_pylist())
    if hashes == {digest}:
        return sorted(manifest.to_pylist(), key=lambda r: r["batch_index"])
    if plan.index == 0:
        return []
    landed = ", ".join(manifest.column("batch_id").to_pylist())
    raise ValueError(
        f"cannot land batch {plan.batch_id}: {plan.window.value} day {plan.day.isoformat()} "
        f"has batches landed under another configuration ({landed}); land the day again from "
        "its first batch (or the whole day) to replace them"
    )


def _label_groups(zone: LandingZone, relative: str) -> list[tuple[str, pa.Table]]:
    """The committed labels file's row groups, each with its batch (one batch each)."""
    path = zone.path(relative)
    try:
        data = zone.storage.read_bytes(path)
    except OSError as exc:
        raise ValueError(f"cannot read {zone.uri_of(path)}: {exc}; land the day again") from None
    labels = pq.ParquetFile(pa.BufferReader(data))
    column = labels.schema_arrow.get_field_index("batch_id")
    groups = []
    for i in range(labels.num_row_groups):
        group = labels.read_row_group(i)
        stats = labels.metadata.row_group(i).column(column).statistics
        if stats is not None and stats.has_min_max and stats.min == stats.max:
            ids = [stats.min]
        else:
            ids = group.column("batch_id").unique().to_pylist()
        if len(ids) != 1:
            raise ValueError(f"{zone.uri_of(path)}: a row group mixes batches {ids}")
        groups.append((ids[0], group))
    return groups


@dataclass
class _Committed:
    """A day as this writer last committed it: manifest rows, labels row groups by batch, and
    the stamp (inode, size, modification time) of its manifest and labels files then."""

    digest: str
    rows: list[dict]
    groups: list[tuple[str, pa.Table]]
    stamp: tuple


def _intact(zone: LandingZone, row: dict) -> bool:
    """Whether every file a committed batch lists is still there with its committed size (a
    batch whose file was deleted or truncated since is landed again, not skipped)."""
    return all(zone.storage.size(zone.path(f["path"])) == f["bytes"] for f in row["files"])


class _Recording:
    """A labels sink that also keeps the chunks written (the next commit's row groups)."""

    def __init__(self, sink: ParquetSink) -> None:
        self.sink, self.chunks = sink, []

    def write(self, table: pa.Table) -> None:
        self.sink.write(table)
        self.chunks.append(table)


class BatchWriter:
    """Commits batches one by one, reusing what it committed last for a day's next batch.

    A replay commits a day's batches one after another in one process: rereading the day's
    manifest and labels file for each would cost more than the batch. Locally, when the day's
    manifest and labels file are still the ones this writer committed (same inode, size and
    modification time: no other writer has committed since), they are taken from memory;
    otherwise (another writer, an object store) they are read back. One background writer
    thread serves every commit.

    Args:
        zone: The data root (already checked writable).
    """

    def __init__(self, zone: LandingZone) -> None:
        self.zone = zone
        self.background = BackgroundWriter.for_storage(zone.storage)
        self._days: dict[tuple[str, dt.date], _Committed] = {}

    def close(self) -> None:
        """Stop the background writer (idempotent)."""
        if self.background is not None:
            self.background.close()
            self.background = None

    def _stamp(self, window: layout.Window, day: dt.date, labels_file: str) -> tuple | None:
        if not self.zone.storage.local:
            return None
        paths = (self.zone.path(layout.manifest_file(window, day)), self.zone.path(labels_file))
        try:
            found = [os.stat(p) for p in paths]
        except OSError:
            return None
        return tuple((s.st_ino, s.st_size, s.st_mtime_ns) for s in found)

    def _committed(self, plan: BatchPlan, digest: str, labels_file: str) -> _Committed:
        """The day's committed state under ``digest`` (see :func:`committed_rows`)."""
        known = self._days.get((plan.window.value, plan.day))
        stamp = self._stamp(plan.window, plan.day, labels_file)
        if known is not None and known.digest == digest and stamp and known.stamp == stamp:
            return known
        rows = committed_rows(self.zone, plan, digest)
        groups = _label_groups(self.zone, labels_file) if rows else []
        return _Committed(digest, rows, groups, stamp)

    def commit(
        self,
        config: ScenarioConfig,
        plan: BatchPlan,
        tally: Tally,
        files: list[DayFiles],
        skip_landed: bool = False,
        shipped: StagedBatch | None = None,
    ) -> tuple[pa.Table, list[str]] | None:
        """Generate one batch and commit it with the day's labels, commit record and manifest.

        Args:
            config: The scenario.
            plan: The batch.
            tally: Updated with the batch's labels and first rows.
            files: The batch's staged files are appended (their landing paths, for the result).
            skip_landed: Leave the batch as it is if the day's manifest lists it already under
                this configuration and its files are all there with their committed sizes
                (nothing is written); a batch with a file gone or resized is landed again.
            shipped: The batch already generated and encoded (:mod:`~dtg_assets.simulation.staged`,
                by a stager of :mod:`~dtg_assets.simulation.pipeline`): its bytes are committed
                as they are, and the day's files it carries too if they were encoded after the
                day's batches committed now.

        Returns:
            The day's manifest after the commit and the stale files deleted, or None if the
            batch was skipped.

        Raises:
            ValueError: See :func:`committed_rows`.
            StoreError: If the store fails (the day's committed batches stay as they were).
        """
        zone, window, day = self.zone, plan.window, plan.day
        provenance = layout.Provenance.of(config, window, day)
        digest, token, labels_file = provenance.digest, provenance.token, provenance.labels_file
        with day_lock(zone, window, day):
            known = self._committed(plan, digest, labels_file)
            remembered = known is self._days.get((window.value, day))
            landed = [r for r in known.rows if r["batch_id"] == plan.batch_id]
            if skip_landed and landed and _intact(zone, landed[0]):
                return None
            kept = [r for r in known.rows if r["batch_id"] != plan.batch_id]
            before = [g for g in known.groups if g[0] < plan.batch_id]
            after = [g for g in known.groups if g[0] > plan.batch_id]
            self._days.pop((window.value, day), None)  # stale from here until committed
            doing = f"writing {window.value} batch {plan.batch_id}"
            with Commit(zone.storage, zone.root, zone.uri, doing) as commit:
                staging = DayFiles(zone, commit, token, self.background)
                files.append(staging)
                # A buffered file's directory is made by the background writer if missing.
                make_dir = staging.background is None
                labels_path = commit.stage(zone.path(labels_file), make_dir)
                # The day's files encoded ahead by the stager, if built on what is committed.
                ahead = None if shipped is None else shipped.day
                if ahead is not None and (after or ahead.kept != kept):
                    ahead = None
                if shipped is not None:  # the same row, files and chunks as stage_batch's
                    row, chunks = shipped.row, shipped.labels
                    staging.add_encoded(row["files"], shipped.data)
                    tally.by_anomaly.update(shipped.by_anomaly)
                if ahead is not None:
                    zone.storage.write_bytes(labels_path, ahead.labels, staging.background)
                else:
                    if not make_dir:
                        zone.storage.makedirs(labels_path.rpartition("/")[0])
                    sink = zone.storage.open_parquet(labels_path, LABEL_SCHEMA)
                    commit.before_abort(sink.discard)
                    labels = _Recording(sink)
                    # Row groups as they are, in batch order: the day-at-once file's bytes.
                    for _, group in before:
                        sink.write(group)
                    if shipped is None:
                        row, _ = stage_batch(config, plan, staging, labels, tally,
                                             provenance.columns())  # fmt: skip
                        chunks = labels.chunks
                    else:
                        for chunk in chunks:
                            sink.write(chunk)
                    for _, group in after:
                        sink.write(group)
                    sink.close()
                rows = sorted([*kept, row], key=lambda r: r["batch_index"])
                every = [f for r in rows for f in r["files"]]
                record = commit.stage(zone.path(layout.commit_record_file(window, day)), make_dir)
                marker = commit.stage(zone.path(layout.manifest_file(window, day)), make_dir)
                if ahead is not None:
                    manifest = ahead.manifest
                    zone.storage.write_bytes(record, ahead.record, staging.background)
                    zone.storage.write_bytes(marker, ahead.manifest_bytes, staging.background)
                else:
                    manifest = pa.Table.from_pylist(rows, schema=MANIFEST_SCHEMA)
                    zone.storage.write_bytes(record, commit_record(digest, every),
                                             staging.background)  # fmt: skip
                    zone.storage.write_parquet(marker, manifest, staging.background)
                if remembered and plan.index < len(plan_day(config, day, window)) - 1:
                    # This writer's last commit of the day cleaned it up and nobody has
                    # committed since: the listing (most of a commit's file-system calls) waits
                    # for the day's last batch. Readers never see what no manifest lists.
                    stale = []
                else:
                    keep = commit.own_paths | {zone.path(f["path"]) for f in every}
                    stale = stale_files(zone, window, day, keep)
                staging.wait()
                removed = commit.commit(stale, markers=2)
            groups = [*before, *((plan.batch_id, c) for c in chunks), *after]
            stamp = self._stamp(window, day, labels_file)
            if stamp is not None:
                self._days[window.value, day] = _Committed(digest, rows, groups, stamp)
        return manifest, removed
