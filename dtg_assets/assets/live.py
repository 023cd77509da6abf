"""How the live landing asset lands a partial day: the requested (or due) batches only.

The live arrival sensor materializes today's live partition once per arriving micro-batch
(run config :class:`~dtg_assets.arrival.ArrivalConfig`: the batches, and the time they are due
by); the daily schedule and a backfill leave ``batches`` unset, which lands every batch due by
now, i.e. the whole day once it is over. Batches already committed under the same configuration
are left untouched (``skip_landed``), so each lands once however many runs ask for it. The
partition's metadata then says how far the day has arrived, and its checks expect exactly the
batches due by then.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import Counter

import dagster as dg

from dtg_assets.arrival import ArrivalConfig, due_indices, target_plans
from dtg_assets.simulation.config import ScenarioConfig
from dtg_assets.simulation.landing import DayResult, LandingZone
from dtg_assets.simulation.plan import Window


def land_live_day(
    zone: LandingZone, config: ScenarioConfig, day: dt.date, arrival: ArrivalConfig
) -> DayResult:
    """Land a live day's requested batches (or those due), each batch committed on its own.

    Args:
        zone: The landing zone.
        config: The scenario.
        day: The live day (the partition).
        arrival: Which batches, and the time that decides which are due.

    Returns:
        The engine's result: the batches this call wrote, the day's whole manifest, and the
        label rows per anomaly type of every batch landed so far.

    Raises:
        dagster.Failure: One line, on a batch index outside the day's schedule or a write the
            engine refuses (nothing written).
    """
    plans = target_plans(config, day, arrival.batches, arrival.now())
    try:
        result = zone.write_batches(
            config, day, batches=[p.index for p in plans], window=Window.LIVE, skip_landed=True
        )
    except ValueError as exc:
        # E.g. the day holds another configuration's batches: refused before writing anything.
        raise dg.Failure(description=f"live {day}: {exc}") from None
    if len(result.landed) == result.manifest.num_rows:
        return result
    # Earlier runs landed some of the day: the labels' metadata describes the whole partition.
    labels = zone.read_labels(Window.LIVE, day)
    by_anomaly = Counter(labels.column("anomaly").to_pylist())
    return dataclasses.replace(result, labels_by_anomaly=dict(sorted(by_anomaly.items())))


def expected_batches(config: ScenarioConfig, day: dt.date, arrival: ArrivalConfig) -> list[int]:
    """The batches a day's checks expect to have landed: those due by the run's "now"."""
    return due_indices(config, day, arrival.now())


def arrival_metadata(result: DayResult) -> dict[str, object]:
    """How far a day has arrived, for every landing asset's materialization.

    Args:
        result: The landing call's result.

    Returns:
        ``batches_landed`` (e.g. ``3 of 8``), ``complete`` and the batch ids this run wrote.
    """
    return {
        "batches_landed": f"{result.manifest.num_rows} of {result.planned}",
        "complete": result.complete,
        "landed_by_this_run": dg.MetadataValue.json(list(result.landed)),
    }
