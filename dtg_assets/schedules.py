"""Schedules: land the newest complete live day every morning.

Built with ``build_schedule_from_partitioned_job``: each tick at 01:00 UTC requests the live
partition of the day that just ended, which the open-ended live partitions have just added.
"""

import dagster as dg

from dtg_assets.jobs import live_job

live_daily_schedule = dg.build_schedule_from_partitioned_job(
    live_job,
    name="live_daily_schedule",
    hour_of_day=1,
    minute_of_hour=0,
    description="Every day at 01:00 UTC, land the live day that just ended.",
)
