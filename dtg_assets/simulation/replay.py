"""Replaying the live window as it would arrive: batch by batch, paced, resumable.

:func:`replay` first makes sure the historical window is landed (the day at once, as ``generate``
writes it; days already committed whole under the same configuration are skipped), then lands
every live batch in arrival order, each committed on its own
(:meth:`~dtg_assets.simulation.landing.LandingZone.write_batches`), paced so that one simulated
hour takes ``1 / speed`` hours of wall time: batch *k* lands ``(landing time of k - landing time
of the first batch landed) / speed`` seconds after the first batch this run lands (the pacing
origin; a batch's landing time is its start + 100 s), and with ``speed=None`` (``--speed max``)
as fast as possible. A batch already committed under the same configuration is never rewritten,
so a run stopped at any point (Ctrl-C, SIGKILL) and started again resumes after the last
committed batch, paced from the first batch it lands, and the landing zone ends byte for byte as
``generate`` writes it: the files record no wall-clock time. As fast as possible with two workers
or more, the live batches are staged ahead by a forked process (from before the history lands)
and committed here in arrival order (:mod:`~dtg_assets.simulation.pipeline`), when every one is
small enough to be encoded in memory.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from dtg_assets.simulation import layout
from dtg_assets.simulation.batchwriter import BatchWriter
from dtg_assets.simulation.config import ScenarioConfig
from dtg_assets.simulation.daywriter import land_batches
from dtg_assets.simulation.landing import LandingZone, ProgressCallback
from dtg_assets.simulation.pipeline import Stager
from dtg_assets.simulation.plan import BatchPlan, Window, plan_day, scenario_days
from dtg_assets.simulation.scenario import run_scenario
from dtg_assets.simulation.schemas import TABLES
from dtg_assets.simulation.staged import pipelinable
from dtg_assets.simulation.staging import Tally


@dataclass
class ReplayResult:
    """What a replay landed.

    Attributes:
        history_landed: Historical days written by this run.
        history_skipped: Historical days already landed under the same configuration.
        landed: Live batches landed by this run, in arrival order.
        skipped: Live batches already landed under the same configuration (left untouched).
    """

    history_landed: list[dt.date] = field(default_factory=list)
    history_skipped: list[dt.date] = field(default_factory=list)
    landed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def landed_under(
    zone: LandingZone, config: ScenarioConfig, day: dt.date, window: Window
) -> set[str]:
    """The batches of a day committed under ``config`` (none if under another configuration).

    Raises:
        ValueError: If the day's manifest is unreadable.
    """
    manifest = zone.read_manifest(window, day)
    if manifest.num_rows == 0:
        return set()
    if set(manifest.column("config_hash").to_pylist()) != {layout.config_hash(config, window)}:
        return set()
    return set(manifest.column("batch_id").to_pylist())


def live_plans(config: ScenarioConfig) -> list[BatchPlan]:
    """Every batch of the live window, in arrival order."""
    days = [d for d, w in scenario_days(config) if w is Window.LIVE]
    return [p for d in days for p in plan_day(config, d, Window.LIVE)]


def replay(
    config: ScenarioConfig,
    data_root: str,
    speed: float | None,
    progress: ProgressCallback | None = None,
    workers: int = 1,
    check: Callable[[], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> ReplayResult:
    """Land the historical window, then the live window batch by batch at ``speed``.

    Args:
        config: The scenario.
        data_root: Local path or fsspec URI of the data root.
        speed: Simulated seconds per wall-clock second (``3600``: an hour a second); None to
            land as fast as possible.
        progress: Called after each live batch is committed, with its plan and rows per table.
        workers: Processes writing the historical days; with ``speed=None`` and two or more,
            the live batches are pipelined (a stager process and this one).
        check: Called after each batch and before each wait (raises to stop the replay).
        clock: Monotonic seconds (injectable for tests).
        sleep: Waits so many seconds (injectable for tests).

    Returns:
        What was landed and what was already there.

    Raises:
        ValueError: If ``speed`` is not positive, or a day holds unreadable files.
        DataRootError: If the data root cannot be written (checked before generating).
    """
    if speed is not None and not speed > 0:
        raise ValueError(f"speed {speed!r} must be a positive number or None (as fast as possible)")
    zone = LandingZone(data_root)
    zone.preflight()
    result = ReplayResult()
    for day, window in scenario_days(config):
        if window is Window.HISTORICAL:
            planned = {p.batch_id for p in plan_day(config, day, window)}
            done = landed_under(zone, config, day, window) >= planned
            (result.history_skipped if done else result.history_landed).append(day)
    landed: dict[dt.date, set[str]] = {}
    todo = []
    for plan in live_plans(config):
        if plan.day not in landed:
            landed[plan.day] = landed_under(zone, config, plan.day, Window.LIVE)
        if plan.batch_id in landed[plan.day]:
            result.skipped.append(plan.batch_id)
        else:
            todo.append(plan)
    stager = None
    if speed is None and workers >= 2 and todo and pipelinable(config, todo):
        # Forked before the history's workers: the live batches are staged while it lands
        # (only generated and encoded; they are committed after it, in arrival order).
        stager = Stager(zone, config, todo)
    try:
        if result.history_landed:
            history = [(d, Window.HISTORICAL) for d in result.history_landed]
            run_scenario(config, data_root, history, workers=workers)
        if check is not None:
            check()
        writer = BatchWriter(zone)  # one for the run: it reuses what it committed last
        try:
            if stager is None:
                _land_paced(zone, config, todo, speed, writer, result, progress, check, clock,
                            sleep)  # fmt: skip
            else:
                _land_staged(config, stager, writer, result, progress, check)
        finally:
            writer.close()
    finally:
        if stager is not None:
            stager.close()
    return result


def format_batch(plan: BatchPlan, counts: dict[str, int]) -> str:
    """The line printed as a batch lands: id, rows per table, anomalies."""
    rows = " ".join(f"{t}={n:,}" for t, n in counts.items())
    anomalies = ",".join(k.value for k in plan.anomalies) or "none"
    return f"{plan.batch_id} landed: {rows} anomalies={anomalies}"


def _land_paced(
    zone: LandingZone,
    config: ScenarioConfig,
    todo: list[BatchPlan],
    speed: float | None,
    writer: BatchWriter,
    result: ReplayResult,
    progress: ProgressCallback | None,
    check: Callable[[], None] | None,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
) -> None:
    """Land ``todo`` in order, batch *k* at ``origin + (its landing time - the first's) / speed``
    (the origin: when the first lands); see :func:`replay` for the arguments."""
    origin = None
    for plan in todo:
        if origin is None:
            origin = clock()  # the pacing origin: the first batch this run lands
        elif speed is not None:
            simulated = (plan.ingested_at - todo[0].ingested_at).total_seconds()
            wait = origin + simulated / speed - clock()
            if wait > 0:
                sleep(wait)
        written = land_batches(zone, config, plan.day, [plan.index], Window.LIVE,
                               skip_landed=True, writer=writer)  # fmt: skip
        result.landed += written.landed
        if progress is not None and written.landed:  # not if another writer landed it first
            mine = written.manifest.column("batch_id").to_pylist().index(plan.batch_id)
            progress(plan, {t: written.manifest.column(f"rows_{t}")[mine].as_py() for t in TABLES})
        if check is not None:
            check()


def _land_staged(
    config: ScenarioConfig,
    stager: Stager,
    writer: BatchWriter,
    result: ReplayResult,
    progress: ProgressCallback | None,
    check: Callable[[], None] | None,
) -> None:
    """Commit the batches ``stager`` generated and encoded, in arrival order, as fast as they
    come; see :func:`replay` for the arguments."""
    for plan, shipped in stager:
        done = writer.commit(config, plan, Tally(), [], skip_landed=True, shipped=shipped)
        if done is not None:  # None: another writer landed it first
            result.landed.append(plan.batch_id)
            if progress is not None:
                progress(plan, {t: shipped.row[f"rows_{t}"] for t in TABLES})
        if check is not None:
            check()
