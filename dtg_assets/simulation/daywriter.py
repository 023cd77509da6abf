"""Landing one day: generate its batches, stage every file, commit with the manifest last.

:func:`land_day` streams each batch's chunks into one Parquet file per (table, event date) and the
day's labels into one file, all under temporary names of one
:class:`~dtg_assets.simulation.commit.Commit`, then commits them with the day's commit record
(landing side, read by the gatekeeper) and manifest (ground truth) last, in that order. Every name
carries the token of the day's configuration (:mod:`~dtg_assets.simulation.layout`), and the record
and the manifest list exactly the files of this write with their rows and bytes; after the commit,
this day's files that the new manifest does not list (an earlier write under another configuration,
a torn one) and temporaries of dead writers of this day are deleted. Files of bounded batches are
encoded in memory and written by a background thread (local disk) or uploaded several at a time
(object stores); bigger ones stream to the store chunk by chunk.
"""

from __future__ import annotations

import collections
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

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
from dtg_assets.simulation.plan import BatchPlan, plan_day
from dtg_assets.simulation.reading import commit_record
from dtg_assets.simulation.schemas import (
    EVENT_TIME,
    LABEL_SCHEMA,
    MANIFEST_SCHEMA,
    TABLES,
)
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
class DayResult:
    """What writing one day landed.

    Attributes:
        day: The UTC day.
        window: Its window.
        manifest: One row per batch (``MANIFEST_SCHEMA``).
        paths: Landing files written, per table.
        removed: Files of this day deleted: an earlier write's under another configuration,
            and temporaries of dead writers.
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


@dataclass
class _OpenFile:
    sink: ParquetSink
    table: str
    relative: str
    rows: int = 0


class _DayFiles:
    """The open files of the batch being written, and what the closed ones hold."""

    def __init__(self, zone: LandingZone, commit: Commit, token: str) -> None:
        self.zone, self.commit, self.token = zone, commit, token
        self.storage = zone.storage
        self.open: dict[tuple[str, str], _OpenFile] = {}
        self.background = BackgroundWriter.for_storage(self.storage)
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

    def close_batch(self) -> list[dict]:
        """Finish the batch's files; return them as manifest ``files`` entries."""
        files = []
        for key in sorted(self.open):
            entry = self.open[key]
            size = entry.sink.close()
            del self.open[key]
            files.append(
                {"path": entry.relative, "table": entry.table, "rows": entry.rows, "bytes": size}
            )
            self.landing_paths[entry.table].append(self.zone.uri_of(self.zone.path(entry.relative)))
        self.committed += files
        return files

    def wait(self) -> None:
        """Block until the background writer has written everything; raise its failure."""
        if self.background is not None:
            self.background.wait()
            self.background.close()

    def discard(self) -> None:
        """On abort: close the open files and drop the background writes not started."""
        for entry in self.open.values():
            entry.sink.discard()
        self.open.clear()
        if self.background is not None:
            self.background.close(cancel=True)


def _value_counts(column: pa.ChunkedArray) -> dict[str, int]:
    counts = pc.value_counts(column)
    return dict(
        zip(counts.field("values").to_pylist(), counts.field("counts").to_pylist(), strict=True)
    )


def _manifest_row(
    config: ScenarioConfig,
    plan: BatchPlan,
    counts: dict[str, int],
    labelled: dict[str, int],
    provenance: dict,
) -> dict:
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
    return row


def land_day(
    zone: LandingZone,
    config: ScenarioConfig,
    day: dt.date,
    window: Window | str | None = None,
    progress: ProgressCallback | None = None,
) -> DayResult:
    """Generate and land every batch of one day, replacing any earlier write of it.

    Args:
        zone: The data root (already checked writable).
        config: The scenario.
        day: The UTC day.
        window: Its window; inferred from the scenario when None.
        progress: Called after each batch with its plan and rows per table.

    Returns:
        What was landed.

    Raises:
        ValueError: If the day does not belong to the window.
        StoreError: If the store fails (nothing of this write stays but committed files).
    """
    plans = plan_day(config, day, window)
    window = plans[0].window
    digest = layout.config_hash(config, window)
    token = layout.token_of(digest)
    labels_file = layout.labels_file(window, day, token)
    by_anomaly: collections.Counter[str] = collections.Counter()
    preview: dict[str, pa.Table] = {}
    manifest_rows = []
    doing = f"writing {window.value} day {day.isoformat()}"
    with Commit(zone.storage, zone.root, zone.uri, doing) as commit:
        files = _DayFiles(zone, commit, token)
        # Labels stream to their file chunk by chunk, so memory does not grow with the day.
        labels = zone.storage.open_parquet(commit.stage(zone.path(labels_file)), LABEL_SCHEMA)
        commit.before_abort(labels.discard)
        for plan in plans:
            counts = dict.fromkeys(TABLES, 0)
            labelled = dict.fromkeys(TABLES, 0)
            buffered = spiked_visitors(config, plan) <= BUFFERED_VISITORS
            for part in iter_batch_chunks(config, plan):
                files.add(part, buffered)
                for t in TABLES:
                    if t not in preview and part.tables[t].num_rows:
                        # A copy: a slice would keep the whole chunk alive with the result.
                        rows = min(PREVIEW_ROWS, part.tables[t].num_rows)
                        preview[t] = part.tables[t].take(np.arange(rows))
                    counts[t] += part.tables[t].num_rows
                if part.labels.num_rows:
                    labels.write(part.labels)
                    for t, n in _value_counts(part.labels.column("table")).items():
                        if t in labelled:  # not a missing batch's batch-level label
                            labelled[t] += n
                    by_anomaly.update(_value_counts(part.labels.column("anomaly")))
            provenance = {
                "config_hash": digest,
                "labels_file": labels_file,
                "files": files.close_batch(),
            }
            manifest_rows.append(_manifest_row(config, plan, counts, labelled, provenance))
            if progress is not None:
                progress(plan, counts)
        labels.close()
        # The two markers, committed in this order after everything else.
        make_dir = files.background is None
        record = commit.stage(zone.path(layout.commit_record_file(window, day)), make_dir)
        zone.storage.write_bytes(record, commit_record(digest, files.committed), files.background)
        manifest = pa.Table.from_pylist(manifest_rows, schema=MANIFEST_SCHEMA)
        marker = commit.stage(zone.path(layout.manifest_file(window, day)), make_dir)
        zone.storage.write_parquet(marker, manifest, files.background)
        # Listed while the background writer is still writing: the wait is shorter.
        stale = _stale_files(zone, window, day, commit.own_paths)
        files.wait()
        removed = commit.commit(stale, markers=2)
    return DayResult(
        day=day,
        window=window,
        manifest=manifest,
        paths=files.landing_paths,
        removed=removed,
        labels_by_anomaly=dict(sorted(by_anomaly.items())),
        preview=preview,
    )


def _stale_files(zone: LandingZone, window: Window, day: dt.date, keep: set[str]) -> list[str]:
    """This day's files no longer wanted once the new write commits: landing and labels files
    not in it, and temporaries of dead writers (a live writer of the day keeps its own)."""
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
