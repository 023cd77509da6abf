"""Visitor events of a chunk: one event per visitor, the root of the funnel.

Every column is drawn for every visitor whatever the anomaly, so the anomalous batch and its
twin share every visitor: ``null_burst`` blanks campaign ids, ``traffic_spike`` turns most
sessions into sub-second bot sessions (and adds visitors in a segment of their own),
``stale_data`` and ``timezone_shift`` move every timestamp, and ``distribution_shift`` moves
devices to mobile (drawn from a stream of its own, so the other columns stay the twin's).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dtg_assets.simulation.config import AnomalyType
from dtg_assets.simulation.funnel.context import US_PER_S, ChunkContext, timestamps
from dtg_assets.simulation.labels import TableDiff
from dtg_assets.simulation.streams import random_bytes, string_array, uuid4_strings

EVENT_TYPES = string_array(["landing", "scroll", "apply_click", "view_pricing"])
DEVICE_TYPES = string_array(["mobile", "desktop", "tablet"])
GEOS = string_array(["USA", "UK", "IND", "CA"])


@dataclass(frozen=True)
class Visitors:
    """A chunk's visitor events and what applications need of them.

    Attributes:
        table: The landing rows.
        ids: Visitor ids, one per visitor of the chunk.
        ts: Event times (microseconds, as landed: shifted by ``stale_data`` and
            ``timezone_shift``).
        diff: Comparison with the twin (None for a normal batch).
    """

    table: pa.Table
    ids: pa.StringArray
    ts: np.ndarray
    diff: TableDiff | None


MOBILE = 0


def shifted_devices(ctx: ChunkContext, device: np.ndarray) -> np.ndarray:
    """Device codes moved to the ``distribution_shift`` mobile share, changing as few as possible.

    Devices are uniform over three values; to reach a mobile share ``m`` above a third, each
    non-mobile visitor turns mobile with probability ``(m - 1/3) / (2/3)``; below a third, each
    mobile visitor turns desktop or tablet (evenly) with probability ``1 - 3m``.

    Args:
        ctx: The chunk.
        device: The drawn device codes.

    Returns:
        The shifted codes.
    """
    rng = ctx.rng("distribution_shift")
    switch_u, other_u = rng.random(ctx.n), rng.random(ctx.n)
    share = ctx.anomalies.distribution_shift.mobile_share
    third = 1 / len(DEVICE_TYPES)
    if share >= third:
        turn = (device != MOBILE) & (switch_u < (share - third) / (1 - third))
        return np.where(turn, MOBILE, device)
    turn = (device == MOBILE) & (switch_u < 1 - share / third)
    return np.where(turn, np.where(other_u < 0.5, 1, 2), device)


def generate_visitors(ctx: ChunkContext) -> Visitors:
    """Draw the chunk's visitor events.

    Args:
        ctx: The chunk.

    Returns:
        The events, their ids and times, and their comparison with the twin.
    """
    f, n, rng = ctx.funnel, ctx.n, ctx.rng("visitor_events")
    raw_id = random_bytes(rng, n)
    event = rng.integers(0, len(EVENT_TYPES), n)
    word = rng.integers(0, len(ctx.pools.words), n)
    number = rng.integers(f.campaign_number.low, f.campaign_number.high + 1, n)
    device = rng.integers(0, len(DEVICE_TYPES), n)
    geo = rng.integers(0, len(GEOS), n)
    offset_s = rng.integers(f.visitor_offset_seconds.low, f.visitor_offset_seconds.high + 1, n)
    duration = np.maximum(
        f.session_min_seconds, rng.normal(f.session_mean_seconds, f.session_sd_seconds, n)
    )
    null_u = rng.random(n)
    bot_u = rng.random(n)
    spike = ctx.anomalies.traffic_spike
    bot_duration = rng.uniform(spike.bot_session_seconds.low, spike.bot_session_seconds.high, n)

    raw_ts = ctx.start_us + offset_s * US_PER_S
    ts, twin_ts = ctx.shifted(raw_ts), ctx.twin_shifted(raw_ts)
    burst = ctx.anomalies.null_burst.null_rate
    null_mask = null_u < burst if ctx.has(AnomalyType.NULL_BURST) else np.zeros(n, bool)
    twin_null = null_u < burst if ctx.twin_has(AnomalyType.NULL_BURST) else np.zeros(n, bool)
    twin_duration = duration
    if ctx.has(AnomalyType.TRAFFIC_SPIKE) or ctx.twin_has(AnomalyType.TRAFFIC_SPIKE):
        bots = np.where(bot_u < spike.bot_rate, bot_duration, duration)
        twin_duration = bots if ctx.twin_has(AnomalyType.TRAFFIC_SPIKE) else duration
        duration = bots if ctx.has(AnomalyType.TRAFFIC_SPIKE) else duration
    twin_device = device
    if ctx.has(AnomalyType.DISTRIBUTION_SHIFT) or ctx.twin_has(AnomalyType.DISTRIBUTION_SHIFT):
        shifted = shifted_devices(ctx, device)
        twin_device = shifted if ctx.twin_has(AnomalyType.DISTRIBUTION_SHIFT) else device
        device = shifted if ctx.has(AnomalyType.DISTRIBUTION_SHIFT) else device

    ids = uuid4_strings(raw_id)
    campaign = pc.binary_join_element_wise(
        ctx.pools.words.take(word), pa.array(number).cast(pa.string()), ""
    )
    if null_mask.any():
        campaign = pc.if_else(pa.array(null_mask), pa.scalar(None, pa.string()), campaign)
    table = ctx.table(
        "visitor_events",
        {
            "visitor_id": ids,
            "event_type": EVENT_TYPES.take(event),
            "campaign_id": campaign,
            "device_type": DEVICE_TYPES.take(device),
            "geo": GEOS.take(geo),
            "timestamp": timestamps(ts),
            "session_duration": pa.array(duration, pa.float64()),
        },
    )
    diff = None
    # A normal batch is its own twin: no labels, no masks to compute.
    if ctx.compare:
        exists = np.ones(n, bool)
        diff = TableDiff(
            "visitor_events",
            ids,
            twin_exists=exists & ctx.has_twin,
            exists=exists,
            modified={
                "campaign_id": null_mask != twin_null,
                "device_type": device != twin_device,
                "timestamp": ts != twin_ts,
                "session_duration": duration != twin_duration,
            },
        )
    return Visitors(table=table, ids=ids, ts=ts, diff=diff)
