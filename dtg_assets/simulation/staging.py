"""Staging one batch: its landing files, label chunks and manifest row, under one commit.

Both writers of the landing zone, the day at once
(:func:`~dtg_assets.simulation.daywriter.land_day`) and batch by batch
(:mod:`~dtg_assets.simulation.batchwriter`), stage a batch the same way, so their files are the same
bytes: :class:`DayFiles` streams each chunk's rows into one Parquet file per (table, event date)
under a temporary name of the writer's :class:`~dtg_assets.simulation.commit.Commit` (bounded
batches encoded in memory and written by a background thread or uploaded several at a time, bigger
ones streamed chunk by chunk), and :func:`stage_batch` generates a batch into them, hands its label
chunks to a sink and returns its manifest row.
"""

from __future__ import annotations

import collections
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dtg_assets.simulation import layout
from dtg_assets.simulation.commit import Commit, temp_in_use
from dtg_assets.simulation.config import ScenarioConfig
from dtg_assets.simulation.generate import (
    CHUNK_VISITORS,
    US_PER_DAY,
    BatchOutput,
    iter_batch_chunks,
    spiked_visitors,
)
from dtg_assets.simulation.layout import Window
from dtg_assets.simulation.plan import BatchPlan
from dtg_assets.simulation.schemas import EVENT_TIME, TABLES, schema_text
from dtg_assets.simulation.sinks import BackgroundWriter, ParquetSink

if TYPE_CHECKING:
    from dtg_assets.simulation.landing import LandingZone

_EPOCH = dt.date(1970, 1, 1)
# Files of batches up to this size are encoded in memory and written by a background thread;
# bigger batches stream to the store chunk by chunk, so memory stays bounded at any scale.
BUFFERED_VISITORS = 2 * CHUNK_VISITORS
PREVIEW_ROWS = 5

ProgressCallback = Callable[[BatchPlan, dict[str, int]], None]


@dataclass
class _OpenFile:
    sink: ParquetSink
    table: str
    relative: str
    rows: int = 0


class DayFiles:
    """The open files of the batch being written, and what the closed ones hold.

    Args:
        zone: The data root.
        commit: The write's commit (stages every file; closes them on abort).
        token: The configuration token in the files' names.
        shared: A background writer to use and leave running (a batch writer's, shared by its
            commits); when None, the files get their own, stopped by :meth:`wait`.
    """

    def __init__(
        self, zone: LandingZone, commit: Commit, token: str, shared: BackgroundWriter | None = None
    ) -> None:
        self.zone, self.commit, self.token = zone, commit, token
        self.storage = zone.storage
        self.open: dict[tuple[str, str], _OpenFile] = {}
        self._owned = shared is None
        self.background = BackgroundWriter.for_storage(self.storage) if shared is None else shared
        self.landing_paths: dict[str, list[str]] = {t: [] for t in TABLES}
        self.committed: list[dict] = []
        commit.before_abort(self.discard)

    def add(self, part: BatchOutput, buffered: bool) -> None:
        """Append one chunk's rows to the open (table, event date) files of its batch."""
        background = self.background if buffered else None
        for table in TABLES:
            data = part.tables[table]
            if data.num_rows == 0:
                continue
            day_index = data.column(EVENT_TIME[table]).cast(pa.int64()).to_numpy() // US_PER_DAY
            first, last = int(day_index.min()), int(day_index.max())
            # Event dates span a few consecutive days at most: count them rather than sort.
            if first == last:
                days = np.array([first])
            else:
                days = first + np.flatnonzero(np.bincount(day_index - first))
            for d in days:
                date = (_EPOCH + dt.timedelta(days=int(d))).isoformat()
                entry = self.open.get((table, date))
                if entry is None:
                    relative = layout.landing_file(table, date, part.plan.batch_id, self.token)
                    # Registered before the file exists; a buffered file's directory is made
                    # by the background thread.
                    tmp = self.commit.stage(self.zone.path(relative), make_dir=background is None)
                    # The rows' own schema: a schema_drift batch's files are written drifted.
                    sink = self.storage.open_parquet(tmp, data.schema, background)
                    entry = self.open[table, date] = _OpenFile(sink, table, relative)
                rows = data if days.size == 1 else data.filter(day_index == d)
                entry.sink.write(rows)
                entry.rows += rows.num_rows

    def add_encoded(self, files: list[dict], data: list[bytes]) -> None:
        """Stage a batch's files already encoded elsewhere (a stager process).

        Args:
            files: Their manifest ``files`` entries, as :meth:`close_batch` returned them.
            data: Each file's bytes, in the same order.
        """
        for entry, blob in zip(files, data, strict=True):
            final = self.zone.path(entry["path"])
            tmp = self.commit.stage(final, make_dir=self.background is None)
            self.storage.write_bytes(tmp, blob, self.background)
            self.landing_paths[entry["table"]].append(self.zone.uri_of(final))
        self.committed += files

    def close_batch(self) -> list[dict]:
        """Finish the batch's files; return them as manifest ``files`` entries."""
        files = []
        for key in sorted(self.open):
            entry = self.open[key]
            size = entry.sink.close()
            del self.open[key]
            files.append(
                {"path": entry.relative, "table": entry.table, "rows": entry.rows, "bytes": size,
                 "schema": schema_text(entry.sink.schema)}
            )  # fmt: skip
            self.landing_paths[entry.table].append(self.zone.uri_of(self.zone.path(entry.relative)))
        self.committed += files
        return files

    def wait(self) -> None:
        """Block until the background writer has written everything; raise its failure."""
        if self.background is not None:
            self.background.wait()
            if self._owned:
                self.background.close()

    def discard(self) -> None:
        """On abort: close the open files and drop the background writes not started."""
        for entry in self.open.values():
            entry.sink.discard()
        self.open.clear()
        if self.background is not None:
            self.background.close(cancel=True)


class LabelSink(Protocol):
    """Where a batch's label chunks go (the day's labels file being written)."""

    def write(self, table: pa.Table) -> None:
        """Append one chunk of labels."""


@dataclass
class Tally:
    """What a write's batches landed, for its result: labels per anomaly, preview rows."""

    by_anomaly: collections.Counter[str] = field(default_factory=collections.Counter)
    preview: dict[str, pa.Table] = field(default_factory=dict)


def _value_counts(column: pa.ChunkedArray) -> dict[str, int]:
    counts = pc.value_counts(column)
    return dict(
        zip(counts.field("values").to_pylist(), counts.field("counts").to_pylist(), strict=True)
    )


def stage_batch(
    config: ScenarioConfig,
    plan: BatchPlan,
    files: DayFiles,
    labels: LabelSink,
    tally: Tally,
    provenance: dict,
) -> tuple[dict, dict[str, int]]:
    """Generate one batch into the open day's files, its labels into ``labels``.

    Args:
        config: The scenario.
        plan: The batch.
        files: The write's files (the batch's are closed on return).
        labels: Sink of the day's labels file (the batch's label chunks are appended).
        tally: Updated with the batch's labels and first rows.
        provenance: The manifest columns the batch shares with its day (configuration hash and
            record, labels file).

    Returns:
        The batch's manifest row and its rows per table.
    """
    counts = dict.fromkeys(TABLES, 0)
    labelled = dict.fromkeys(TABLES, 0)
    buffered = spiked_visitors(config, plan) <= BUFFERED_VISITORS
    for part in iter_batch_chunks(config, plan):
        files.add(part, buffered)
        for t in TABLES:
            if t not in tally.preview and part.tables[t].num_rows:
                # A copy: a slice would keep the whole chunk alive with the result.
                rows = min(PREVIEW_ROWS, part.tables[t].num_rows)
                tally.preview[t] = part.tables[t].take(np.arange(rows))
            counts[t] += part.tables[t].num_rows
        if part.labels.num_rows:
            labels.write(part.labels)
            for t, n in _value_counts(part.labels.column("table")).items():
                if t in labelled:  # not a missing batch's batch-level label
                    labelled[t] += n
            tally.by_anomaly.update(_value_counts(part.labels.column("anomaly")))
    row = {
        "batch_id": plan.batch_id,
        "window": plan.window.value,
        "day": plan.day,
        "batch_index": plan.index,
        "batch_start": plan.start,
        "anomaly": plan.anomaly_label,
        "anomalies": [k.value for k in plan.anomalies],
        "planned_visitors": plan.visitors,
        "seed": config.seed,
    }
    row.update({f"rows_{t}": counts[t] for t in TABLES})
    row.update({f"labelled_{t}": labelled[t] for t in TABLES})
    row.update(provenance)
    row["files"] = files.close_batch()
    return row, counts


def stale_files(zone: LandingZone, window: Window, day: dt.date, keep: set[str]) -> list[str]:
    """This day's files no longer wanted once a new write commits: landing and labels files
    not in ``keep``, and temporaries of dead writers (a live writer of the day keeps its own).

    Args:
        zone: The data root.
        window: The day's window.
        day: The day.
        keep: Paths the write stages or keeps (its own, and the batches it leaves in place).

    Returns:
        The paths to delete after the commit, sorted.
    """
    prefix, stem = layout.batch_prefix(window, day), layout.day_stem(window, day)
    stale, temps = [], []
    found = []
    for table in TABLES:
        # One listing per table for both kinds (a request or more on an object store).
        found += zone.storage.find_in_subdirs(
            zone.path(layout.landing_dir(table)), "date=", (prefix, f".{prefix}"), ""
        )
    # Labels files of this day under another configuration, and temporaries of every kind.
    found += zone.storage.find_in_subdirs(
        zone.path(layout.GROUND_TRUTH), "", (f"{stem}.", f".{stem}."), ""
    )
    found += zone.storage.list_files(zone.path(layout.COMMITS), f".{stem}.")
    manifest = zone.path(layout.manifest_file(window, day))
    for path in found:
        if path in keep or path == manifest:
            continue
        name = path.rpartition("/")[2]
        if layout.parse_temporary(name) is not None:
            temps.append(path)
        elif layout.parse_landing_name(name) is not None or name.startswith(f"{stem}."):
            stale.append(path)
    stale += [p for p in temps if not temp_in_use(zone.storage, p, zone.root)]
    return sorted(stale)
