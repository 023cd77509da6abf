"""Turn a scenario configuration into concrete micro-batches.

A day is either historical (one normal batch at 00:00) or live (the configured intra-day
schedule, batches spaced evenly over 24 hours from 00:00). Each batch gets a sortable, unique id
such as ``live-20261120-1500`` (named and parsed by :mod:`~dtg_assets.simulation.layout`) and
its planned visitor count with ``scale`` applied. Everything here is pure date arithmetic, shared
by the engine, the writer, the Dagster assets and the checks.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from dtg_assets.simulation.config import AnomalyType, ScenarioConfig
from dtg_assets.simulation.dates import check_day
from dtg_assets.simulation.layout import Window, batch_prefix
from dtg_assets.simulation.layout import batch_id as make_batch_id

__all__ = [
    "DAY",
    "BatchPlan",
    "Window",
    "batch_prefix",
    "due_batches",
    "plan_day",
    "previous_batch",
    "scaled",
    "scenario_days",
    "window_of",
]

DAY = dt.timedelta(days=1)


@dataclass(frozen=True)
class BatchPlan:
    """One micro-batch, fully resolved.

    Attributes:
        batch_id: Sortable unique id, ``<window>-<YYYYMMDD>-<HHMM>``.
        window: Historical or live.
        day: The UTC day the batch belongs to.
        index: Position of the batch in its day (0-based).
        start: Batch start, UTC.
        anomaly: The first injected anomaly, or None for a normal batch.
        visitors: Planned visitors after ``scale`` (before any traffic-spike multiplier).
        anomalies: Every injected anomaly, in schedule order (empty for a normal batch).
    """

    batch_id: str
    window: Window
    day: dt.date
    index: int
    start: dt.datetime
    anomaly: AnomalyType | None
    visitors: int
    anomalies: tuple[AnomalyType, ...] = ()

    def has(self, kind: AnomalyType) -> bool:
        """Whether the batch injects ``kind``."""
        return kind in self.anomalies

    def has_name(self, name: str) -> bool:
        """Whether the batch injects the anomaly named ``name``."""
        return any(k.value == name for k in self.anomalies)

    @property
    def anomaly_label(self) -> str | None:
        """The manifest's ``anomaly``: None, the one name, or the names joined with ``+``."""
        return "+".join(k.value for k in self.anomalies) or None

    @property
    def ingested_at(self) -> dt.datetime:
        """When the micro-batch landed: batch start + 100 s."""
        return self.start + dt.timedelta(seconds=100)


def scaled(visitors: int, scale: float) -> int:
    """Apply a volume scale, rounding half up and never below one visitor.

    Args:
        visitors: Configured visitor count.
        scale: Volume multiplier.

    Returns:
        The scaled count.
    """
    return max(1, int(visitors * scale + 0.5))


def window_of(config: ScenarioConfig, day: dt.date) -> Window:
    """Which window a day belongs to.

    Args:
        config: The scenario.
        day: A UTC day.

    Returns:
        The day's window.

    Raises:
        ValueError: If the day is outside the scenario.
    """
    if config.start_date <= day < config.live_start:
        return Window.HISTORICAL
    if config.live_start <= day < config.end_date:
        return Window.LIVE
    raise ValueError(
        f"day {day.isoformat()} is outside the scenario "
        f"[{config.start_date.isoformat()}, {config.end_date.isoformat()})"
    )


def scenario_days(config: ScenarioConfig) -> list[tuple[dt.date, Window]]:
    """Every day of the scenario with its window, in order.

    Args:
        config: The scenario.

    Returns:
        ``(day, window)`` pairs, historical days first.
    """
    n_days = config.historical_days + config.live_days
    days = [config.start_date + i * DAY for i in range(n_days)]
    return [(d, window_of(config, d)) for d in days]


def plan_day(
    config: ScenarioConfig, day: dt.date, window: Window | str | None = None
) -> list[BatchPlan]:
    """The batches of one day.

    Live days follow ``config.schedule_for(day)`` (any day on or after the live start, so an
    open-ended live window keeps working past ``live_days``); historical days have one normal
    batch of ``historical_visitors`` at 00:00.

    Args:
        config: The scenario.
        day: A UTC day.
        window: The window the day is built for; inferred from the day when None.

    Returns:
        The day's batches in start order.

    Raises:
        ValueError: If the day does not belong to the requested window, or is a live day so
            far past the scenario that its events would land after 9999-12-31.
    """
    if window is None:
        window = window_of(config, day)
    window = Window(window)
    if window is Window.HISTORICAL and not (config.start_date <= day < config.live_start):
        raise ValueError(
            f"day {day.isoformat()} is not historical: the historical window is "
            f"[{config.start_date.isoformat()}, {config.live_start.isoformat()})"
        )
    if window is Window.LIVE and day < config.live_start:
        raise ValueError(
            f"day {day.isoformat()} is not live: live days start on {config.live_start.isoformat()}"
        )
    before, after = config.event_margins
    check_day(day, after, before if window is Window.LIVE else 0)
    midnight = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
    if window is Window.HISTORICAL:
        specs: list[tuple[tuple[AnomalyType, ...], int]] = [((), config.historical_visitors)]
    else:
        specs = [(b.kinds, b.visitors) for b in config.schedule_for(day)]
    # Integer microseconds keep spacing exact for any batch count (24h / 7 is not whole seconds).
    step_us = 86_400_000_000 // len(specs)
    plans = []
    for index, (kinds, visitors) in enumerate(specs):
        start = midnight + dt.timedelta(microseconds=index * step_us)
        plans.append(
            BatchPlan(
                batch_id=make_batch_id(window, start),
                window=window,
                day=day,
                index=index,
                start=start,
                anomaly=kinds[0] if kinds else None,
                visitors=scaled(visitors, config.scale),
                anomalies=kinds,
            )
        )
    return plans


def previous_batch(config: ScenarioConfig, plan: BatchPlan) -> BatchPlan | None:
    """The batch landed just before ``plan``: the one before it that day, or for a live day's
    first batch the previous day's last when that day is live too.

    Args:
        config: The scenario.
        plan: A batch.

    Returns:
        The previous batch, or None when there is none in the same window.
    """
    if plan.index > 0:
        return plan_day(config, plan.day, plan.window)[plan.index - 1]
    before = plan.day - DAY
    if plan.window is Window.LIVE and before >= config.live_start:
        return plan_day(config, before, Window.LIVE)[-1]
    return None


def due_batches(
    config: ScenarioConfig, day: dt.date, now: dt.datetime, window: Window | str | None = None
) -> list[BatchPlan]:
    """The batches of one day that should have landed by ``now``: those whose landing time
    (:attr:`BatchPlan.ingested_at`, batch start + 100 s) is at or before it.

    Args:
        config: The scenario.
        day: A UTC day.
        now: The time asked about (timezone-aware).
        window: The day's window; inferred from the day when None.

    Returns:
        The due batches in arrival order (all of them for a past day, none before the first
        batch's landing time).

    Raises:
        ValueError: If ``now`` has no timezone, or as :func:`plan_day`.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"now={now.isoformat()} has no timezone: give an aware UTC time")
    return [p for p in plan_day(config, day, window) if p.ingested_at <= now]
