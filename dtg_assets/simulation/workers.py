"""Forked day writers that die with the command that started them.

:func:`write_days_in_parallel` forks a few worker processes (after every import and the Faker
pools, which they inherit) that take days from a queue, write each one with
:meth:`~dtg_assets.simulation.landing.LandingZone.write_day` and send its result back. Days are
independent and each is generated from its own streams, so the bytes do not depend on which
worker writes which day.

A worker never outlives its parent: on Linux the kernel sends it ``SIGTERM`` when the parent
dies (``PR_SET_PDEATHSIG``), and everywhere a watchdog thread notices the parent is gone (the
worker is re-parented) and does the same. ``SIGTERM`` makes a worker abandon its day the way any
failure does (its temporaries deleted, committed days untouched) and exit at once, even when it
is blocked writing a result nobody will read. Workers ignore ``SIGINT``: Ctrl-C reaches the
parent, which stops them (:func:`stop_workers`) before reporting the interruption.
"""

from __future__ import annotations

import contextlib
import ctypes
import datetime as dt
import multiprocessing
import os
import pickle
import signal
import sys
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection, wait
from multiprocessing.synchronize import Lock

from dtg_assets.simulation.config import ScenarioConfig
from dtg_assets.simulation.landing import DayResult, LandingZone
from dtg_assets.simulation.plan import Window
from dtg_assets.simulation.pools import value_pools

PR_SET_PDEATHSIG = 1
# How often the watchdog looks for its parent, and how long a stopped worker may take to
# delete its temporaries before it is killed.
WATCHDOG_INTERVAL_S = 0.2
STOP_GRACE_S = 10.0

DayTask = tuple[dt.date, Window | str]


class WorkerStopped(BaseException):
    """Raised in a worker by ``SIGTERM``: abandon the day (like any failure) and exit."""


class WorkerDiedError(RuntimeError):
    """A worker died without reporting (killed, or crashed in native code)."""


_stop_signals: list[int] = []


def _raise_stopped(signum: int, frame: object) -> None:
    first = not _stop_signals
    _stop_signals.append(signum)  # checked between days too: code may swallow the raise
    # Raise once: a second signal must not interrupt the clean-up the first one started.
    if first:
        raise WorkerStopped(signum)


def _parent_death_signal(signum: int) -> bool:
    """Ask the kernel to send ``signum`` when the parent dies (Linux only)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, signum, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _watch_parent(parent_pid: int) -> None:
    """Stop this process once its parent is gone (the portable half of dying with it)."""
    while os.getppid() == parent_pid:
        time.sleep(WATCHDOG_INTERVAL_S)
    if not _stop_signals:  # the parent-death signal did not come (not Linux, or too early)
        os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(STOP_GRACE_S)
    os._exit(1)  # the main thread did not stop: it is stuck in native code


def die_with_parent(parent_pid: int) -> None:
    """Make this (forked) process stop when ``parent_pid`` exits, however it exits.

    Args:
        parent_pid: The process that forked this one.
    """
    signal.signal(signal.SIGTERM, _raise_stopped)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _parent_death_signal(signal.SIGTERM)
    # The parent may have died before the request above: then no signal will ever come.
    if os.getppid() != parent_pid:
        os.kill(os.getpid(), signal.SIGTERM)
    threading.Thread(target=_watch_parent, args=(parent_pid,), daemon=True).start()


def stop_signal() -> int | None:
    """The first stop signal this (worker) process received, if any: a stop whose exception
    some library code swallowed is still seen between two units of work."""
    return _stop_signals[0] if _stop_signals else None


def portable(exc: BaseException) -> BaseException:
    """An exception another process can receive.

    Args:
        exc: Raised in this process.

    Returns:
        The exception itself if it survives pickling, else a RuntimeError with its message.
    """
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:
        return RuntimeError(f"{type(exc).__name__}: {exc}")


def _worker(
    parent_pid: int,
    config: ScenarioConfig,
    uri: str,
    storage_options: dict | None,
    tasks: list[DayTask],
    queue: multiprocessing.SimpleQueue,
    results: Connection,
    send_lock: Lock,
) -> None:
    code = 0
    try:
        die_with_parent(parent_pid)
        zone = LandingZone(uri, storage_options)
        while (index := queue.get()) is not None:
            try:
                report = (index, zone.write_day(config, *tasks[index]), None)
            except Exception as exc:  # reported to the parent, which stops everything
                report = (index, None, portable(exc))
            with send_lock:  # one message at a time on the shared pipe
                results.send(report)
            if report[2] is not None or _stop_signals:
                break
    except WorkerStopped:
        code = 1
    finally:
        # No interpreter shutdown: it could block on a pipe whose reader is gone.
        os._exit(1 if _stop_signals else code)


def stop_workers(processes: list[multiprocessing.process.BaseProcess]) -> None:
    """Stop workers and wait for them: ``SIGTERM`` (they abandon their day), then kill.

    Args:
        processes: The workers, alive or not.
    """
    for process in processes:
        if process.is_alive():
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_S
    for process in processes:
        process.join(max(0.0, deadline - time.monotonic()))
        if process.is_alive():
            process.kill()
            process.join()


def write_days_in_parallel(
    config: ScenarioConfig,
    zone: LandingZone,
    tasks: list[DayTask],
    order: list[int],
    workers: int,
    on_day: Callable[[int, DayResult], None] | None = None,
    storage_options: dict | None = None,
) -> list[DayResult]:
    """Write days in forked worker processes.

    Args:
        config: The scenario.
        zone: The data root (already checked writable).
        tasks: ``(day, window)`` pairs.
        order: Indices of ``tasks`` in the order workers should take them.
        workers: Worker processes (at most one per day).
        on_day: Called in this process with each day's index and result as it completes.
        storage_options: Extra fsspec options for the data root.

    Returns:
        One result per task, in task order.

    Raises:
        WorkerDiedError: If a worker died without reporting.
        Exception: The first error a worker reported (the other workers are stopped).
        BaseException: Whatever interrupted this process (e.g. ``KeyboardInterrupt``), after
            stopping the workers.
    """
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else None)
    value_pools(config.seed)  # built once here, inherited by every forked worker
    queue = context.SimpleQueue()
    reader, writer = context.Pipe(duplex=False)
    for index in order:
        queue.put(index)
    count = min(workers, len(tasks))
    for _ in range(count):
        queue.put(None)
    args = (os.getpid(), config, zone.uri, storage_options, tasks, queue, writer, context.Lock())
    processes = [context.Process(target=_worker, args=args, daemon=True) for _ in range(count)]
    out: list[DayResult | None] = [None] * len(tasks)
    try:
        for process in processes:
            process.start()
        for _ in range(len(tasks)):
            index, result, error = _next_result(reader, processes)
            if error is not None:
                raise error
            out[index] = result
            if on_day is not None:
                on_day(index, result)
    finally:
        stop_workers(processes)
    return [r for r in out if r is not None]


def _next_result(
    reader: Connection, processes: list[multiprocessing.process.BaseProcess]
) -> tuple[int, DayResult | None, BaseException | None]:
    """The next reported result; WorkerDiedError as soon as a worker dies without reporting."""
    running = {p.sentinel: p for p in processes}
    while True:
        ready = wait([reader, *running])
        if reader in ready:
            return reader.recv()
        for sentinel in ready:
            process = running.pop(sentinel)
            process.join()
            if process.exitcode != 0:
                raise WorkerDiedError(
                    f"a day-writing worker died without reporting (exit code {process.exitcode})"
                )
        if not running:
            raise WorkerDiedError("every day-writing worker exited before reporting all days")
