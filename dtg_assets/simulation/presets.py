"""Named scenario presets: the live schedules behind ``scenario: default | extended | quiet``.

``default`` is the shipped day (eight batches, six of them anomalous) repeated every live day.
``quiet`` keeps its volumes with no anomaly at all. ``extended`` is a week of seven different
days that spreads all thirteen anomaly types over the 56 live batches: each day opens with a
normal batch and has a second one at 09:00, every type appears three or four times, and two
batches carry two anomalies each (``null_burst`` with ``schema_drift``, and ``fraud_spike`` with
``timezone_shift``, whose transactions are labelled once per anomaly). Batch volumes follow the
default day's slot volumes; a traffic spike keeps its 2,000 planned visitors.
"""

from __future__ import annotations

from dtg_assets.simulation.config import DEFAULT_LIVE_SCHEDULE, BatchSpec

# Planned visitors per slot of the default day, the traffic spike's slot at a normal volume.
_SLOT_VISITORS = (4500, 5000, 5500, 4800, 5000, 5200, 5300, 4800)
_SPIKE_VISITORS = 2000

# One row per live day; "" is a normal batch, "a+b" a batch with two anomalies.
EXTENDED_WEEK: tuple[tuple[str, ...], ...] = (
    ("", "null_burst", "age_error", "", "traffic_spike", "fraud_spike", "limit_spike",
     "stale_data"),
    ("", "schema_drift", "duplicate_records", "", "orphan_records", "timezone_shift",
     "distribution_shift", "missing_batch"),
    ("", "conversion_drop", "missing_batch", "", "null_burst+schema_drift", "age_error",
     "orphan_records", "duplicate_records"),
    ("", "traffic_spike", "distribution_shift", "", "fraud_spike+timezone_shift", "stale_data",
     "limit_spike", "schema_drift"),
    ("", "orphan_records", "timezone_shift", "", "duplicate_records", "conversion_drop",
     "missing_batch", "null_burst"),
    ("", "distribution_shift", "fraud_spike", "", "schema_drift", "age_error",
     "timezone_shift", "traffic_spike"),
    ("", "limit_spike", "stale_data", "", "conversion_drop", "orphan_records",
     "duplicate_records", "distribution_shift"),
)  # fmt: skip


def _batch(slot: int, text: str) -> BatchSpec:
    kinds = [k for k in text.split("+") if k]
    visitors = _SPIKE_VISITORS if "traffic_spike" in kinds else _SLOT_VISITORS[slot]
    return BatchSpec(anomalies=kinds, visitors=visitors)


def extended_week() -> tuple[tuple[BatchSpec, ...], ...]:
    """The ``extended`` preset's seven live-day schedules."""
    return tuple(tuple(_batch(i, text) for i, text in enumerate(day)) for day in EXTENDED_WEEK)


def quiet_schedule() -> tuple[BatchSpec, ...]:
    """The ``quiet`` preset's live day: the default volumes, no anomaly."""
    return tuple(BatchSpec(visitors=b.visitors) for b in DEFAULT_LIVE_SCHEDULE)


def preset_schedules(
    name: str,
) -> tuple[tuple[BatchSpec, ...], tuple[tuple[BatchSpec, ...], ...]]:
    """The ``(live_schedule, live_week)`` a preset sets.

    Args:
        name: ``default``, ``extended`` or ``quiet``.

    Returns:
        The intra-day schedule and the per-day schedules (empty: every day the same).

    Raises:
        ValueError: For another name.
    """
    if name == "default":
        return DEFAULT_LIVE_SCHEDULE, ()
    if name == "quiet":
        return quiet_schedule(), ()
    if name == "extended":
        week = extended_week()
        return week[0], week
    raise ValueError(f"unknown scenario {name!r}; allowed: default, extended, quiet")
