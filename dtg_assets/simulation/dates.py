"""The calendar a scenario may occupy: every date it lands on must have a four-digit year.

Batch ids, file names and partition directories carry dates as ``YYYYMMDD`` or
``YYYY-MM-DD``, and Python dates end on 9999-12-31, so every date a scenario touches must lie
in :data:`FIRST_DATE` .. :data:`LAST_DATE`. A scenario touches more than its own days: events
of a day's batches land on later dates (transactions up to the funnel's summed lags after the
visit) and ``stale_data`` moves a live batch's events back by its delay. :func:`event_span`
bounds both from the configuration; the scenario validates it up front and :func:`check_day`
guards a day of the open-ended live window.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dtg_assets.simulation.config import AnomalyParams, FunnelParams

FIRST_DATE = dt.date(1000, 1, 1)
LAST_DATE = dt.date(9999, 12, 31)
ALLOWED = f"{FIRST_DATE.isoformat()}..{LAST_DATE.isoformat()}"
_S_PER_DAY = 86_400


def days_after(
    funnel: FunnelParams,
    anomalies: AnomalyParams | None = None,
    anomalies_scheduled: Iterable[str] = (),
) -> int:
    """Whole days after a batch's day that its events can land on.

    A batch starts before the end of its day; its latest event is a transaction made after the
    longest visit offset, application, account and transaction lags, moved later by a
    ``timezone_shift`` of positive hours when one is scheduled.

    Args:
        funnel: The funnel's lags.
        anomalies: Anomaly parameters (None: no shift counted).
        anomalies_scheduled: Anomaly types of the live schedule.

    Returns:
        The number of later dates events may fall on (0: only the batch's own day).
    """
    spill_s = (
        _S_PER_DAY  # the batch may start at any time of its day
        + funnel.visitor_offset_seconds.high
        + funnel.application_lag_minutes.high * 60
        + funnel.account_lag_hours.high * 3600
        + funnel.transaction_lag_days.high * _S_PER_DAY
        + funnel.transaction_lag_minutes.high * 60
    )
    if anomalies is not None and "timezone_shift" in set(anomalies_scheduled):
        spill_s += max(0.0, anomalies.timezone_shift.hours) * 3600
    return max(0, math.ceil(spill_s / _S_PER_DAY) - 1)


def days_before(anomalies: AnomalyParams, anomalies_scheduled: Iterable[str]) -> int:
    """Whole days before a batch's day its events can land on.

    ``stale_data`` moves a batch's events back by its delay and a ``timezone_shift`` of negative
    hours by those; ``duplicate_records`` replaying copies into the next batch lands the events
    of the day's last batch (as shifted) with the next day's first, one more day back.

    Args:
        anomalies: Anomaly parameters.
        anomalies_scheduled: Anomaly types of the live schedule.

    Returns:
        0 unless one of those is scheduled.
    """
    scheduled = set(anomalies_scheduled)
    back_h = 0.0
    if "stale_data" in scheduled:
        back_h += anomalies.stale_data.delay_hours
    if "timezone_shift" in scheduled:
        back_h += max(0.0, -anomalies.timezone_shift.hours)
    replay = "duplicate_records" in scheduled and anomalies.duplicate_records.next_batch_share > 0
    return math.ceil(back_h / 24) + (1 if replay else 0)


def allowed_range(before: int, days: int, after: int) -> tuple[int, int]:
    """Ordinals of the earliest and latest first day of a scenario that fits the calendar.

    Args:
        before: Days events may land before the first day.
        days: The scenario's days.
        after: Days events may land after the last day.

    Returns:
        ``(lowest, highest)`` ordinals (lowest > highest when no start fits).
    """
    return FIRST_DATE.toordinal() + before, LAST_DATE.toordinal() - max(days, 1) + 1 - after


def describe(ordinal: int) -> str:
    """An ordinal as an ISO date, or a plain description when outside Python's dates."""
    if dt.date.min.toordinal() <= ordinal <= dt.date.max.toordinal():
        return dt.date.fromordinal(ordinal).isoformat()
    return "beyond 9999-12-31" if ordinal > 0 else "before 0001-01-01"


def check_day(day: dt.date, after: int, before: int = 0) -> None:
    """Check that the events of one day's batches stay within the calendar.

    Args:
        day: A batch day.
        after: :func:`days_after` of the scenario.
        before: :func:`days_before` of the scenario (for live days).

    Raises:
        ValueError: If an event of the day could land outside ``FIRST_DATE .. LAST_DATE``.
    """
    lowest, highest = allowed_range(before, 1, after)
    if not lowest <= day.toordinal() <= highest:
        raise ValueError(
            f"day {day.isoformat()}: its events could land on "
            f"{describe(day.toordinal() - before)}..{describe(day.toordinal() + after)}, "
            f"outside the dates with four-digit years ({ALLOWED}); days from "
            f"{describe(lowest)} to {describe(highest)} are allowed"
        )
