"""Staging live batches ahead in a forked process while this one commits them in arrival order.

A replay as fast as possible spends about as long generating and Parquet-encoding each batch as
committing it (locks, the day's labels file, commit record and manifest, renames). A
:class:`Stager` forks one stager (after every import and the Faker pools, which it inherits)
that stages the batches in memory from the first (:func:`~dtg_assets.simulation.staged.
stage_in_memory`, and the day's files ahead while it is ahead of the commits), and sends them
back; this process commits them one by one, in arrival order, with
:meth:`~dtg_assets.simulation.batchwriter.BatchWriter.commit`, and while it would wait for the
stager it stages batches itself from the last, so both cores of a small machine stay busy. The
bytes landed are those of a serial replay. The stager writes nothing: killed or failing, it
leaves no file, and a staging failure is raised here when its batch's turn comes, after every
batch before it is committed and before anything of its own is. It holds at most
:data:`AHEAD_BYTES` of batches not yet sent, so memory stays bounded, and like the day-writing
workers it dies with this process (:func:`~dtg_assets.simulation.workers.die_with_parent`), even
by ``SIGKILL``.
"""

from __future__ import annotations

import collections
import multiprocessing
import os
import signal
import threading
from collections.abc import Iterator
from multiprocessing.connection import Connection, wait
from typing import TYPE_CHECKING

import pyarrow as pa

from dtg_assets.simulation.config import ScenarioConfig
from dtg_assets.simulation.plan import BatchPlan
from dtg_assets.simulation.pools import value_pools
from dtg_assets.simulation.staged import StagedBatch, day_after, stage_in_memory
from dtg_assets.simulation.workers import (
    WorkerDiedError,
    WorkerStopped,
    die_with_parent,
    portable,
    stop_signal,
    stop_workers,
)

if TYPE_CHECKING:
    from dtg_assets.simulation.landing import LandingZone

# Bytes of staged batches a stager may hold, not yet sent (besides the one it stages): a few
# live days at scale 1, while memory stays bounded at any scale.
AHEAD_BYTES = 64 << 20
POLL_S = 0.1
_STOPS = {signal.SIGTERM, signal.SIGINT}


def _stager(
    parent_pid: int,
    zone: LandingZone,
    config: ScenarioConfig,
    plans: list[BatchPlan],
    share: _Share,
    results: Connection,
) -> None:
    """The stager's life: stage its share of ``plans`` in order, sending each (or the failure)."""
    code = 0
    try:
        die_with_parent(parent_pid)
        # Blocked by the parent from before the fork until the handlers above were set: a
        # stop sent at once is not lost to the parent's inherited handler.
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOPS)
        # A thread sends while the next batch is generated; the outbox holds the rest.
        outbox = _Outbox()
        sender = threading.Thread(target=outbox.send_all, args=(results,), daemon=True)
        sender.start()
        days: dict[tuple[str, object], tuple[list[dict], list[list[pa.Table]]]] = {}
        for i, plan in enumerate(plans):
            if (signum := stop_signal()) is not None:  # its exception was swallowed
                raise WorkerStopped(signum)
            if not share.take(i):
                break
            staged = None
            try:
                staged = stage_in_memory(zone, config, plan)
                kept, chunks = days.setdefault((plan.window.value, plan.day), ([], []))
                # Only if it staged every earlier batch of the day, and while it is ahead of
                # the commits: once they wait for it, the committer encodes them instead.
                if len(kept) == plan.index and outbox.waiting():
                    staged.day = day_after(zone, staged, kept, chunks)
                kept.append(staged.row)
                chunks.append(staged.labels)
                item = (staged, None)
            except Exception as exc:  # reported in its turn; the parent stops everything
                item = (None, portable(exc))
            outbox.put(item, 0 if staged is None else staged.size)
            if item[1] is not None:
                break
        outbox.put(None, 0)
        while sender.is_alive():
            sender.join(POLL_S)
    except WorkerStopped:
        code = 1
    finally:
        os._exit(code)  # no interpreter shutdown: it could block on a pipe nobody reads


class _Share:
    """Which batches the stager stages: ``[0, end)``, taken in order; the committer takes the
    others, one at a time from the last, while it would otherwise wait."""

    def __init__(self, context: multiprocessing.context.BaseContext, count: int) -> None:
        self._lock = context.Lock()
        self._bounds = context.RawArray("q", [0, count])  # (the stager's next, end)

    @property
    def end(self) -> int:
        """The end of the stager's share (it only shrinks)."""
        return self._bounds[1]

    def take(self, index: int) -> bool:
        """The stager takes batch ``index`` (the next), unless it is the committer's."""
        with self._lock:
            if index >= self._bounds[1]:
                return False
            self._bounds[0] = index + 1
            return True

    def steal(self) -> int | None:
        """The committer takes the last batch the stager has not taken, if any."""
        with self._lock:
            if self._bounds[1] - 1 < self._bounds[0]:
                return None
            self._bounds[1] -= 1
            return self._bounds[1]


class _Outbox:
    """The batches a stager has staged and not yet sent: at most :data:`AHEAD_BYTES` of them
    (always at least one)."""

    def __init__(self) -> None:
        self._items: collections.deque[tuple[object, int]] = collections.deque()
        self._bytes = 0
        self._changed = threading.Condition()

    def put(self, item: object, size: int) -> None:
        """Queue ``item``, waiting while the outbox is full. It wakes up now and then: a stop
        signal is handled between waits even if the kernel delivered it to another thread."""
        with self._changed:
            while self._items and self._bytes + size > AHEAD_BYTES:
                self._changed.wait(POLL_S)
            self._items.append((item, size))
            self._bytes += size
            self._changed.notify_all()

    def waiting(self) -> bool:
        """Whether staged batches wait to be sent (the committer is behind)."""
        return bool(self._items)

    def send_all(self, results: Connection) -> None:
        """Send every item in order until None (the sender thread's loop)."""
        while True:
            with self._changed:
                while not self._items:
                    self._changed.wait()
                item, size = self._items[0]
            if item is None:
                return
            try:
                results.send(item)
            except OSError:  # the parent is gone: the stager is being stopped
                return
            with self._changed:
                self._items.popleft()
                self._bytes -= size
                self._changed.notify_all()


class Stager:
    """A forked stager staging batches ahead, read back in arrival order.

    The stager stages the batches from the first; while this process would wait for it, it
    stages batches itself from the last (up to :data:`AHEAD_BYTES` held), so both cores of a
    small machine stay busy.

    Args:
        zone: The data root.
        config: The scenario.
        plans: The batches, in arrival order (every one buffered: :func:`pipelinable`).
    """

    def __init__(self, zone: LandingZone, config: ScenarioConfig, plans: list[BatchPlan]) -> None:
        self.zone, self.config, self.plans = zone, config, plans
        context = multiprocessing.get_context("fork")
        value_pools(config.seed)  # built once here, inherited by the stager
        self._share = _Share(context, len(plans))
        self._own: dict[int, tuple[StagedBatch | None, BaseException | None]] = {}
        self._own_bytes = 0
        self._reader, writer = context.Pipe(duplex=False)
        args = (os.getpid(), zone, config, plans, self._share, writer)
        self._process = context.Process(target=_stager, args=args, daemon=True)
        masked = signal.pthread_sigmask(signal.SIG_BLOCK, _STOPS)
        try:
            self._process.start()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, masked)
            writer.close()

    def _steal(self) -> bool:
        """Stage the last batch nobody has taken, here; False if none (or enough held)."""
        if self._own_bytes > AHEAD_BYTES:
            return False
        index = self._share.steal()
        if index is None:
            return False
        try:
            staged = stage_in_memory(self.zone, self.config, self.plans[index])
        except Exception as exc:  # raised in its turn, like the stager's
            self._own[index] = (None, exc)
        else:
            self._own[index] = (staged, None)
            self._own_bytes += staged.size
        return True

    def __iter__(self) -> Iterator[tuple[BatchPlan, StagedBatch]]:
        """Each batch with its staging, in arrival order.

        Raises:
            Exception: A staging failure, in its batch's turn.
            WorkerDiedError: If the stager died without reporting.
        """
        for i, plan in enumerate(self.plans):
            while i < self._share.end and not self._reader.poll() and self._steal():
                pass
            if i >= self._share.end:
                staged, error = self._own.pop(i)
                self._own_bytes -= 0 if staged is None else staged.size
            else:
                staged, error = self._receive(plan)
            if error is not None:
                raise error
            yield plan, staged

    def _receive(self, plan: BatchPlan) -> tuple[StagedBatch | None, BaseException | None]:
        """The stager's next batch (``plan``), or WorkerDiedError if it died before sending."""
        ready = wait([self._reader, self._process.sentinel])
        if self._reader in ready:
            try:
                return self._reader.recv()
            except (EOFError, OSError):  # it died before or while sending
                pass
        self._process.join()
        raise WorkerDiedError(
            f"the process staging batch {plan.batch_id} died without reporting "
            f"(exit code {self._process.exitcode})"
        )

    def close(self) -> None:
        """Stop the stager (dropping what it is staging) and wait for it."""
        stop_workers([self._process])
        self._reader.close()
