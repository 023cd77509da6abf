"""Landing one day: at once (:func:`land_day`) or batch by batch (:func:`land_batches`).

:func:`land_day` streams each batch's chunks into one Parquet file per (table, event date) and the
day's labels into one file, all under temporary names of one
:class:`~dtg_assets.simulation.commit.Commit`, then commits them with the day's commit record
(landing side, read by the gatekeeper) and manifest (ground truth) last, in that order. Every name
carries the token of the day's configuration (:mod:`~dtg_assets.simulation.layout`), and the record
and the manifest list exactly the files of this write with their rows and bytes; after the commit,
this day's files that the new manifest does not list (an earlier write under another configuration,
a torn one) and temporaries of dead writers of this day are deleted. :func:`land_batches` commits
each requested batch on its own, in arrival order (:mod:`~dtg_assets.simulation.batchwriter`): the
day's manifest grows batch by batch, and once every batch has landed the day's files are byte for
byte the ones :func:`land_day` writes. Both stage a batch the same way
(:mod:`~dtg_assets.simulation.staging`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc

from dtg_assets.simulation import layout
from dtg_assets.simulation.batchwriter import BatchWriter
from dtg_assets.simulation.commit import Commit
from dtg_assets.simulation.config import ScenarioConfig
from dtg_assets.simulation.layout import Window
from dtg_assets.simulation.plan import plan_day
from dtg_assets.simulation.reading import commit_record
from dtg_assets.simulation.schemas import LABEL_SCHEMA, MANIFEST_SCHEMA, TABLES
from dtg_assets.simulation.staging import (
    BUFFERED_VISITORS,
    PREVIEW_ROWS,
    DayFiles,
    ProgressCallback,
    Tally,
    stage_batch,
    stale_files,
)

if TYPE_CHECKING:
    from dtg_assets.simulation.landing import LandingZone

__all__ = [
    "BUFFERED_VISITORS",
    "PREVIEW_ROWS",
    "BatchWriter",
    "DayResult",
    "ProgressCallback",
    "land_batches",
    "land_day",
]


@dataclass
class DayResult:
    """What writing one day (or some of its batches) landed.

    Attributes:
        day: The UTC day.
        window: Its window.
        manifest: The day's whole manifest after the write, one row per batch committed so far
            (``MANIFEST_SCHEMA``).
        paths: Landing files written by this write, per table.
        removed: Files of this day deleted: an earlier write's under another configuration,
            and temporaries of dead writers.
        labels_by_anomaly: Label rows per anomaly type, of the batches this write landed.
        preview: First rows landed per table (for UI previews).
        landed: Ids of the batches this write committed, in arrival order.
        planned: How many batches the day's schedule plans.
        complete: Whether every planned batch is in the manifest.
    """

    day: dt.date
    window: Window
    manifest: pa.Table
    paths: dict[str, list[str]] = field(default_factory=dict)
    removed: list[str] = field(default_factory=list)
    labels_by_anomaly: dict[str, int] = field(default_factory=dict)
    preview: dict[str, pa.Table] = field(default_factory=dict)
    landed: list[str] = field(default_factory=list)
    planned: int = 0
    complete: bool = False

    def rows(self, table: str) -> int:
        """Rows landed in one table by the day's committed batches (over all event dates)."""
        return int(pc.sum(self.manifest.column(f"rows_{table}")).as_py() or 0)


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
    provenance = layout.Provenance.of(config, window, day)
    token, labels_file = provenance.token, provenance.labels_file
    tally = Tally()
    manifest_rows = []
    doing = f"writing {window.value} day {day.isoformat()}"
    with Commit(zone.storage, zone.root, zone.uri, doing) as commit:
        files = DayFiles(zone, commit, token)
        # Labels stream to their file chunk by chunk, so memory does not grow with the day.
        labels = zone.storage.open_parquet(commit.stage(zone.path(labels_file)), LABEL_SCHEMA)
        commit.before_abort(labels.discard)
        for plan in plans:
            row, counts = stage_batch(config, plan, files, labels, tally, provenance.columns())
            manifest_rows.append(row)
            if progress is not None:
                progress(plan, counts)
        labels.close()
        # The two markers, committed in this order after everything else.
        make_dir = files.background is None
        record = commit.stage(zone.path(layout.commit_record_file(window, day)), make_dir)
        record_bytes = commit_record(provenance.digest, files.committed)
        zone.storage.write_bytes(record, record_bytes, files.background)
        manifest = pa.Table.from_pylist(manifest_rows, schema=MANIFEST_SCHEMA)
        marker = commit.stage(zone.path(layout.manifest_file(window, day)), make_dir)
        zone.storage.write_parquet(marker, manifest, files.background)
        # Listed while the background writer is still writing: the wait is shorter.
        stale = stale_files(zone, window, day, commit.own_paths)
        files.wait()
        removed = commit.commit(stale, markers=2)
    return DayResult(
        day=day,
        window=window,
        manifest=manifest,
        paths=files.landing_paths,
        removed=removed,
        labels_by_anomaly=dict(sorted(tally.by_anomaly.items())),
        preview=tally.preview,
        landed=[p.batch_id for p in plans],
        planned=len(plans),
        complete=True,
    )


def land_batches(
    zone: LandingZone,
    config: ScenarioConfig,
    day: dt.date,
    batches: Iterable[int] | None = None,
    window: Window | str | None = None,
    progress: ProgressCallback | None = None,
    skip_landed: bool = False,
    writer: BatchWriter | None = None,
) -> DayResult:
    """Land some batches of one day, each committed atomically on its own, in arrival order.

    Every other batch of the day stays as it is; afterwards the day's manifest and commit record
    list every batch committed so far. Landing every batch this way gives the bytes of
    :func:`land_day`; landing a batch again gives the same bytes again.

    Args:
        zone: The data root (already checked writable).
        config: The scenario.
        day: The UTC day.
        batches: The batches' indexes in the day (``BatchPlan.index``); all when None.
        window: The day's window; inferred from the scenario when None.
        progress: Called after each batch is committed, with its plan and rows per table.
        skip_landed: Leave batches already in the day's manifest under this configuration
            untouched (not rewritten) while their files are intact; one whose file was deleted
            or resized since is landed again.
        writer: The batch writer to commit with, kept by a caller landing many batches one
            call at a time (a replay); a new one for this call when None.

    Returns:
        What was landed; ``manifest`` is the day's whole manifest after the call.

    Raises:
        ValueError: If the day does not belong to the window, a batch index is not one of the
            day's, or the day holds batches of another configuration and the write does not
            start from its first batch.
        StoreError: If the store fails (the batches committed before stay as they were).
    """
    plans = plan_day(config, day, window)
    window = plans[0].window
    if batches is None:
        wanted = plans
    else:
        indexes = sorted(set(batches))
        bad = [i for i in indexes if not 0 <= i < len(plans)]
        if bad:
            raise ValueError(
                f"batch index {bad[0]} is not one of {window.value} day {day.isoformat()}'s "
                f"batches: 0 to {len(plans) - 1}"
            )
        wanted = [plans[i] for i in indexes]
    tally, staged, landed, removed = Tally(), [], [], []
    manifest = None
    own = writer is None
    writer = BatchWriter(zone) if writer is None else writer
    try:
        for plan in wanted:
            done = writer.commit(config, plan, tally, staged, skip_landed)
            if done is None:
                continue
            manifest = done[0]
            landed.append(plan.batch_id)
            removed += done[1]
            if progress is not None:
                row = manifest.filter(pc.equal(manifest.column("batch_id"), plan.batch_id))
                progress(plan, {t: row.column(f"rows_{t}")[0].as_py() for t in TABLES})
    finally:
        if own:
            writer.close()
    if manifest is None:  # nothing written: what is there
        manifest = zone.read_manifest(window, day)
    paths = {t: [p for s in staged for p in s.landing_paths[t]] for t in TABLES}
    return DayResult(
        day=day,
        window=window,
        manifest=manifest,
        paths=paths,
        removed=sorted(removed),
        labels_by_anomaly=dict(sorted(tally.by_anomaly.items())),
        preview=tally.preview,
        landed=landed,
        planned=len(plans),
        complete=set(manifest.column("batch_id").to_pylist()) >= {p.batch_id for p in plans},
    )
