"""Schedules: complete and check the live day that just ended, every morning.

Today's live partition exists while its batches arrive (the live arrival sensor lands them), so
the newest partition is no longer the day to complete: each tick at 01:00 UTC requests the
partition of the day before its scheduled time, if that is a live day. Its run lands whatever
batches of that day are still missing (none if the sensor kept up; batches already landed are
left untouched), runs every check on the whole day, and finds the whole day again: a finding
recorded as its batch arrived, with the same verdict, keeps the time it was first recorded.
"""

import datetime as dt

import dagster as dg

from dtg_assets.jobs import live_job
from dtg_assets.partitions import live_start_date


@dg.schedule(
    name="live_daily_schedule",
    cron_schedule="0 1 * * *",
    execution_timezone="UTC",
    job=live_job,
    description="Every day at 01:00 UTC, complete and check the live day that just ended.",
)
def live_daily_schedule(context: dg.ScheduleEvaluationContext):
    """Request yesterday's live partition (relative to the tick), or skip before the live window.

    Args:
        context: The tick's context (its scheduled time decides "yesterday").

    Returns:
        A run request for the partition, or a skip reason.
    """
    tick = context.scheduled_execution_time or dt.datetime.now(dt.UTC)
    day = tick.astimezone(dt.UTC).date() - dt.timedelta(days=1)
    if day < live_start_date():
        return dg.SkipReason(f"{day} is before the live window (from {live_start_date()})")
    return dg.RunRequest(
        run_key=f"live-daily-{day.isoformat()}",
        partition_key=day.isoformat(),
        job_name=live_job.name,
    )
