"""Jobs: materialize the historical or the live window (landing tables, ground truth, checks).

Both jobs are partitioned like their window, so a launchpad or CLI run picks a day or a range of
days; with ``BackfillPolicy.single_run()`` a backfill of a range runs as one run.
"""

import dagster as dg

from dtg_assets.partitions import historical_partitions, live_partitions

historical_job = dg.define_asset_job(
    name="historical_job",
    selection=dg.AssetSelection.groups("historical"),
    partitions_def=historical_partitions,
    description="Land the 14 normal historical days (the baseline detectors train on).",
)

live_job = dg.define_asset_job(
    name="live_job",
    selection=dg.AssetSelection.groups("live"),
    partitions_def=live_partitions,
    description="Land live days of micro-batches with the configured anomaly schedule.",
)
