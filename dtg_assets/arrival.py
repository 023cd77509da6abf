"""Live arrival: which micro-batches of a live day are due, landed or pending, and when is now.

Shared by the live arrival sensor, the daily schedule, the live landing asset, the gatekeeper's
findings and the Dagster replay. A batch is *due* once its landing time (batch start + 100 s,
``BatchPlan.ingested_at``) has passed and *pending* while it is due but not yet in the day's
manifest. Runs name their batches by index in the day (0-based), in run config
(:class:`ArrivalConfig`) and in tags (``dtg/live_batches``), and say which "now" they judge
due batches by (``as_of``; the wall clock when unset), so a test or a replay can move time.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable

import dagster as dg
from pydantic import Field

from dtg_assets.simulation.config import ScenarioConfig
from dtg_assets.simulation.landing import LandingZone
from dtg_assets.simulation.plan import BatchPlan, Window, due_batches, plan_day

DAY_TAG = "dtg/live_day"
BATCHES_TAG = "dtg/live_batches"

Clock = Callable[[], dt.datetime]


def wall_clock() -> dt.datetime:
    """The current UTC time (the default clock of the sensor and the assets)."""
    return dt.datetime.now(dt.UTC)


class ArrivalConfig(dg.Config):
    """Which batches of the partition's day a run lands or checks, and by which clock."""

    batches: list[int] | None = Field(
        default=None,
        description="Indices (0-based, in arrival order) of the day's batches to land and find; "
        "null = every batch due by `as_of` (the whole day for a past day).",
    )
    as_of: str | None = Field(
        default=None,
        description="ISO-8601 UTC time that decides which batches are due (and what a partial "
        "day's checks expect); null = now.",
    )

    def now(self) -> dt.datetime:
        """``as_of`` as an aware UTC datetime, or the wall clock.

        Raises:
            dagster.Failure: One line naming ``as_of`` if it is not an ISO-8601 time.
        """
        if self.as_of is None:
            return wall_clock()
        try:
            moment = dt.datetime.fromisoformat(self.as_of)
        except ValueError:
            raise dg.Failure(
                description=f"as_of={self.as_of!r} is not an ISO-8601 time "
                "(e.g. 2026-11-20T09:05:00+00:00)"
            ) from None
        return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def due_indices(config: ScenarioConfig, day: dt.date, now: dt.datetime) -> list[int]:
    """Indices of the live day's batches due by ``now``."""
    return [p.index for p in due_batches(config, day, now, Window.LIVE)]


def target_plans(
    config: ScenarioConfig, day: dt.date, batches: Iterable[int] | None, now: dt.datetime
) -> list[BatchPlan]:
    """The plans a run acts on: the requested batches, or every batch due by ``now``.

    Args:
        config: The scenario.
        day: A live day.
        batches: Requested indices, or None for every due batch.
        now: The run's "now".

    Returns:
        The plans, in arrival order.

    Raises:
        dagster.Failure: One line naming an index outside the day's schedule.
    """
    if batches is None:
        return due_batches(config, day, now, Window.LIVE)
    plans = plan_day(config, day, Window.LIVE)
    wanted = sorted(set(batches))
    bad = [i for i in wanted if not 0 <= i < len(plans)]
    if bad:
        raise dg.Failure(
            description=f"batches={bad}: {day} has {len(plans)} live batches, "
            f"indices 0..{len(plans) - 1}"
        )
    return [plans[i] for i in wanted]


def pending_indices(
    zone: LandingZone, config: ScenarioConfig, day: dt.date, now: dt.datetime
) -> list[int]:
    """Indices of the day's batches due by ``now`` and not yet in its manifest.

    Args:
        zone: The landing zone.
        config: The scenario.
        day: A live day.
        now: The time to judge by.

    Returns:
        The pending indices, in arrival order.
    """
    landed = set(zone.landed_batches(Window.LIVE, day))
    return [p.index for p in due_batches(config, day, now, Window.LIVE) if p.batch_id not in landed]


def live_day_of(config: ScenarioConfig, now: dt.datetime) -> dt.date | None:
    """The live day whose batches are arriving at ``now``: today (UTC), if it is a live day.

    Args:
        config: The scenario (its live window starts at ``config.live_start`` and is open-ended).
        now: The time to judge by.

    Returns:
        Today's UTC date, or None before the live window starts.
    """
    today = now.astimezone(dt.UTC).date()
    return today if today >= config.live_start else None


def run_key(day: dt.date, indices: Iterable[int], attempt: int = 0) -> str:
    """The run key of landing some batches of a day: the same batches, the same key.

    Args:
        day: The live day.
        indices: The batches' indices.
        attempt: How many runs of exactly these batches failed before (a retry after a failed
            run needs a new key; a retried tick of the same state gets the same one).

    Returns:
        E.g. ``live-2026-11-20-b3-4`` or ``live-2026-11-20-b3-4-retry1``.
    """
    key = f"live-{day.isoformat()}-b{'-'.join(str(i) for i in sorted(indices))}"
    return f"{key}-retry{attempt}" if attempt else key


def batches_tag(indices: Iterable[int]) -> str:
    """The ``dtg/live_batches`` tag of a run: indices joined by commas."""
    return ",".join(str(i) for i in sorted(indices))


def parse_batches_tag(value: str) -> list[int]:
    """The indices of a ``dtg/live_batches`` tag (empty for an empty tag)."""
    return [int(v) for v in value.split(",") if v.strip()]
