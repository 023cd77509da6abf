"""Jobs: land the historical or the live window, and learn or score the gatekeeper.

The window jobs are partitioned like their window (inferred from their assets), so a
launchpad or CLI run picks a day or a range of days; with ``BackfillPolicy.single_run()`` a
backfill of a range runs as one run. ``live_job`` also runs the gatekeeper's findings for the
same days, so whatever lands is checked by the gatekeeper in the same run: the live arrival
sensor's runs (today's batches as they arrive, run config ``batches``) and the daily
schedule's (the rest of yesterday). ``gatekeeper/baseline`` must exist: run ``gatekeeper_job``
with the baseline selected after the historical window. ``live_replay_job`` (in
:mod:`dtg_assets.replay`) replays the live window batch by batch at a speed.
``gatekeeper_job`` learns the baseline and scores the findings.
"""

import dagster as dg

from dtg_assets.assets.gatekeeper import BASELINE, EVALUATION, FINDINGS

historical_job = dg.define_asset_job(
    name="historical_job",
    selection=dg.AssetSelection.groups("historical"),
    description="Land the 14 normal historical days (the baseline detectors train on).",
)

live_job = dg.define_asset_job(
    name="live_job",
    selection=dg.AssetSelection.groups("live") | dg.AssetSelection.assets(FINDINGS),
    description="Land live days of micro-batches with the configured anomaly schedule, then run "
    "the gatekeeper's detectors on them.",
)

gatekeeper_job = dg.define_asset_job(
    name="gatekeeper_job",
    selection=dg.AssetSelection.assets(BASELINE, EVALUATION),
    description="Learn the gatekeeper baseline from history and score the live findings "
    "against the ground truth.",
)
