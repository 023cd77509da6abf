"""Staging live batches ahead in forked processes while this one commits them in arrival order.

A replay as fast as possible spends as much time generating and Parquet-encoding each batch as
committing it (locks, the day's labels file, commit record and manifest, renames). A
:class:`Stagers` forks a few processes (after every import and the Faker pools, which they
inherit) that generate and encode the batches in memory, each its share in arrival order
(batch *i* by stager ``i % count``), and ship them back as :class:`StagedBatch` (the encoded
files' bytes and manifest row, the label chunks); this process commits them one by one, in
arrival order, with :meth:`~dtg_assets.simulation.batchwriter.BatchWriter.commit`. Every random
stream derives from (seed, table, day, batch) and the encoding is the same in memory and on disk,
so the bytes landed are those of a serial replay. Stagers write nothing: a stager killed or
failing leaves no file, and its failure is raised here when its batch's turn comes, after every
batch before it is committed and before anything of its own is. Each stager sends one batch at a
time over a pipe that holds none whole, so it runs at most :data:`AHEAD` batches ahead of the
commits and memory stays bounded; like the day-writing workers it dies with this process
(:func:`~dtg_assets.simulation.workers.die_with_parent`), even by ``SIGKILL``.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import signal
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from typing import TYPE_CHECKING

import pyarrow as pa

from dtg_assets.simulation import layout
from dtg_assets.simulation.config import ScenarioConfig
from dtg_assets.simulation.generate import spiked_visitors
from dtg_assets.simulation.plan import BatchPlan
from dtg_assets.simulation.pools import value_pools
from dtg_assets.simulation.staging import BUFFERED_VISITORS, DayFiles, Tally, stage_batch
from dtg_assets.simulation.workers import (
    WorkerDiedError,
    WorkerStopped,
    _portable,
    die_with_parent,
    stop_workers,
)

if TYPE_CHECKING:
    from dtg_assets.simulation.landing import LandingZone

# Batches a stager may have generated and not yet handed over (besides the one it generates).
AHEAD = 2
POLL_S = 0.1
_STOPS = {signal.SIGTERM, signal.SIGINT}


@dataclass
class StagedBatch:
    """One batch generated and encoded, ready to commit.

    Attributes:
        row: Its manifest row, ``files`` included (landing paths, rows, bytes, schemas).
        data: Each file's encoded bytes, in the order of ``row["files"]``.
        labels: Its label chunks, in order.
        by_anomaly: Its label rows per anomaly type.
    """

    row: dict
    data: list[bytes]
    labels: list[pa.Table] = field(default_factory=list)
    by_anomaly: dict[str, int] = field(default_factory=dict)


def pipelinable(config: ScenarioConfig, plans: list[BatchPlan]) -> bool:
    """Whether every batch's files are encoded in memory (bounded), so can be staged ahead."""
    return all(spiked_visitors(config, p) <= BUFFERED_VISITORS for p in plans)


class _Captured:
    """Stands for a write's commit and background writer: files keep their final paths and
    their encoded bytes are kept, not written."""

    def __init__(self) -> None:
        self.files: dict[str, pa.Buffer] = {}

    def stage(self, final: str, make_dir: bool = True) -> str:
        return final

    def before_abort(self, callback: object) -> None:
        pass

    def submit(self, path: str, data: pa.Buffer) -> None:
        self.files[path] = data

    def wait(self) -> None:
        pass

    def close(self, cancel: bool = False) -> None:
        pass


class _Chunks(list):
    """A label sink keeping the chunks."""

    def write(self, table: pa.Table) -> None:
        self.append(table)


def stage_in_memory(zone: LandingZone, config: ScenarioConfig, plan: BatchPlan) -> StagedBatch:
    """Generate and encode one buffered batch, writing nothing.

    Args:
        zone: The data root (for the files' names only).
        config: The scenario.
        plan: The batch (its files must be buffered: see :func:`pipelinable`).

    Returns:
        The batch, as :meth:`BatchWriter.commit` lands it.
    """
    recorded = layout.config_json(config, plan.window)
    digest = layout.hash_of(recorded)
    labels_file = layout.labels_file(plan.window, plan.day, layout.token_of(digest))
    captured, labels, tally = _Captured(), _Chunks(), Tally()
    files = DayFiles(zone, captured, layout.token_of(digest), captured)  # type: ignore[arg-type]
    provenance = {"config_hash": digest, "config": recorded, "labels_file": labels_file}
    row, _ = stage_batch(config, plan, files, labels, tally, provenance)
    data = [captured.files[zone.path(f["path"])].to_pybytes() for f in row["files"]]
    return StagedBatch(row, data, list(labels), dict(tally.by_anomaly))


def _stager(
    parent_pid: int,
    zone: LandingZone,
    config: ScenarioConfig,
    plans: list[BatchPlan],
    results: Connection,
) -> None:
    """A stager's life: stage ``plans`` in order, sending each (or the failure) on ``results``."""
    code = 0
    try:
        die_with_parent(parent_pid)
        # Blocked by the parent from before the fork until the handlers above were set: a
        # stop sent at once is not lost to the parent's inherited handler.
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOPS)
        # A thread sends while the next batch is generated; the bounded queue holds the rest.
        outbox: queue.Queue = queue.Queue(AHEAD)
        sender = threading.Thread(target=_send_all, args=(outbox, results), daemon=True)
        sender.start()
        for plan in plans:
            try:
                item = (stage_in_memory(zone, config, plan), None)
            except Exception as exc:  # reported in its turn; the parent stops everything
                item = (None, _portable(exc))
            _put(outbox, item)
            if item[1] is not None:
                break
        _put(outbox, None)
        while sender.is_alive():
            sender.join(POLL_S)
    except WorkerStopped:
        code = 1
    finally:
        os._exit(code)  # no interpreter shutdown: it could block on a pipe nobody reads


def _put(outbox: queue.Queue, item: object) -> None:
    """Queue ``item``, waking up now and then: a stop signal is handled between waits even if
    the kernel delivered it to another thread."""
    while True:
        try:
            outbox.put(item, timeout=POLL_S)
            return
        except queue.Full:
            pass


def _send_all(outbox: queue.Queue, results: Connection) -> None:
    while (item := outbox.get()) is not None:
        try:
            results.send(item)
        except OSError:  # the parent is gone: the stager is being stopped
            return


class Stagers:
    """Forked processes staging batches ahead, read back in arrival order.

    Args:
        zone: The data root.
        config: The scenario.
        plans: The batches, in arrival order (every one buffered: :func:`pipelinable`).
        count: Stager processes (at most one per batch).
    """

    def __init__(
        self, zone: LandingZone, config: ScenarioConfig, plans: list[BatchPlan], count: int
    ) -> None:
        self.plans = plans
        context = multiprocessing.get_context("fork")
        value_pools(config.seed)  # built once here, inherited by every stager
        count = max(1, min(count, len(plans)))
        self._readers: list[Connection] = []
        self._processes: list[multiprocessing.process.BaseProcess] = []
        try:
            for j in range(count):
                reader, writer = context.Pipe(duplex=False)
                args = (os.getpid(), zone, config, plans[j::count], writer)
                process = context.Process(target=_stager, args=args, daemon=True)
                masked = signal.pthread_sigmask(signal.SIG_BLOCK, _STOPS)
                try:
                    process.start()
                finally:
                    signal.pthread_sigmask(signal.SIG_SETMASK, masked)
                writer.close()
                self._readers.append(reader)
                self._processes.append(process)
        except BaseException:
            self.close()
            raise

    def __iter__(self) -> Iterator[tuple[BatchPlan, StagedBatch]]:
        """Each batch with its staging, in arrival order.

        Raises:
            Exception: A stager's failure, in its batch's turn.
            WorkerDiedError: If a stager died without reporting.
        """
        count = len(self._processes)
        for i, plan in enumerate(self.plans):
            reader, process = self._readers[i % count], self._processes[i % count]
            ready = wait([reader, process.sentinel])
            if reader not in ready:
                process.join()
                raise WorkerDiedError(
                    f"the process staging batch {plan.batch_id} died without reporting "
                    f"(exit code {process.exitcode})"
                )
            try:
                staged, error = reader.recv()
            except EOFError:
                process.join()
                raise WorkerDiedError(
                    f"the process staging batch {plan.batch_id} died without reporting "
                    f"(exit code {process.exitcode})"
                ) from None
            if error is not None:
                raise error
            yield plan, staged

    def close(self) -> None:
        """Stop the stagers (those still staging drop their work) and wait for them."""
        stop_workers(self._processes)
        for reader in self._readers:
            reader.close()
