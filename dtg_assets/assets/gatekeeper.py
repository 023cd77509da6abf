"""The data-trust gatekeeper as Dagster assets: baseline, findings per live day, evaluation.

``gatekeeper/baseline`` learns robust statistics from the historical landing tables only;
``gatekeeper/findings`` (partitioned like ``live``) runs every detector on each live batch from
the landing zone alone and records one WARN check per detector family and partition (batch by
batch on a live day that is still arriving: the run's batches get new rows stamped with when
they were recorded, earlier batches keep theirs, see :mod:`dtg_assets.gatekeeper.recording`);
``gatekeeper/evaluation`` joins all findings with the ground truth and scores them. The logic
lives in :mod:`dtg_assets.gatekeeper`; these are thin wrappers that read and write
``<data root>/gatekeeper/``.
"""

import datetime as dt
import json
from typing import Any

import dagster as dg
import pyarrow as pa

from dtg_assets.arrival import ArrivalConfig, target_plans, wall_clock
from dtg_assets.assets.landing import asset_key, store_failures_fail_the_step
from dtg_assets.checks import CheckRecorder, asset_check_spec
from dtg_assets.gatekeeper import detect_day, learn_baseline
from dtg_assets.gatekeeper.findings import flagged
from dtg_assets.gatekeeper.recording import record_batches
from dtg_assets.gatekeeper.score import score
from dtg_assets.gatekeeper.store import GatekeeperStore
from dtg_assets.gatekeeper.verdicts import FAMILIES
from dtg_assets.markdown import markdown_rows
from dtg_assets.partitions import historical_partitions, live_partitions
from dtg_assets.resources import (
    AnomalyScheduleResource,
    GatekeeperResource,
    SimulationResource,
    build_scenario,
)
from dtg_assets.simulation.checks import CheckOutcome, CheckSpec
from dtg_assets.simulation.plan import Window, plan_day
from dtg_assets.simulation.schemas import TABLES

BASELINE = dg.AssetKey(["gatekeeper", "baseline"])
FINDINGS = dg.AssetKey(["gatekeeper", "findings"])
EVALUATION = dg.AssetKey(["gatekeeper", "evaluation"])
GROUP = "gatekeeper"
OWNERS = ["team:dtg"]


def _days(keys: list[str]) -> list[dt.date]:
    return [dt.date.fromisoformat(k) for k in keys]


@dg.asset(
    key=BASELINE,
    group_name=GROUP,
    deps=[asset_key("historical", t) for t in TABLES],
    kinds={"json"},
    owners=OWNERS,
    description="What normal landing data looks like, learned from the 14 historical days only "
    "(never live data or ground truth): null rates, visitors per batch, session durations, "
    "application/approval/transaction rates, limit/income, amount and amount/limit "
    "distributions, ingestion lag and child-parent time offsets, categorical domains, binned "
    "input distributions and the arrival cadence, as robust statistics (median, MAD, "
    "quantiles). Stored at `gatekeeper/baseline.json`.",
)
def gatekeeper_baseline(
    context: dg.AssetExecutionContext,
    simulation: SimulationResource,
    gatekeeper: GatekeeperResource,
) -> dg.MaterializeResult:
    """Learn the baseline from every historical partition."""
    store = GatekeeperStore(simulation.zone())
    days = _days(historical_partitions.get_partition_keys())
    try:
        baseline = learn_baseline(store.zone, days, gatekeeper.baseline_config())
    except ValueError as exc:
        raise dg.Failure(
            description=f"{exc}; materialize the historical partitions "
            f"({days[0]}...{days[-1]}) first"
        ) from exc
    with store_failures_fail_the_step("gatekeeper/baseline"):
        path = store.write_baseline(baseline)
    context.log.info(f"baseline learned from {len(baseline.batches)} historical batches")
    return dg.MaterializeResult(
        metadata={
            **{k: v for k, v in baseline.summary().items() if v is not None},
            "path": path,
            "summary": dg.MetadataValue.json(baseline.summary()),
        }
    )


def _flag_rows(flags: Any) -> list[dict[str, Any]]:
    return [
        {
            "batch_id": r.batch_id,
            "family": r.family,
            "detector": r.detector,
            "metric": f"{r.metric_name}={r.metric:.4g}" if r.metric == r.metric else r.metric_name,
            "threshold": f"{r.comparison} {r.threshold:.4g}" if r.threshold == r.threshold else "",
            "flagged_records": len(r.flagged_ids),
        }
        for r in flags.itertuples()
    ]


# One WARN check per detector family: a flag is news about the data, never a reason to stop.
FAMILY_CHECKS = {
    family: CheckSpec(
        "findings",
        f"{family}_detectors_pass",
        "WARN",
        f"No live batch of the day is flagged by a {family} detector; metadata names the batch, "
        "detector, metric and threshold of every flag.",
    )
    for family in FAMILIES
}


def _family_outcomes(day: dt.date, findings: pa.Table) -> list[CheckOutcome]:
    flags = flagged(findings)
    outcomes = []
    for family, spec in FAMILY_CHECKS.items():
        rows = _flag_rows(flags[flags["family"] == family])
        batches = sorted({r["batch_id"] for r in rows})
        description = (
            f"{len(batches)} batch(es) flagged by {family} detectors: {', '.join(batches)}"
            if rows
            else f"no batch flagged by {family} detectors"
        )
        meta = {"flagged_batches": batches, "flags": dg.MetadataValue.md(markdown_rows(rows))}
        outcomes.append(CheckOutcome(spec, day, not rows, description, meta))
    return outcomes


@dg.multi_asset(
    name="gatekeeper_findings",
    specs=[
        dg.AssetSpec(
            FINDINGS,
            group_name=GROUP,
            deps=[BASELINE, *(asset_key("live", t) for t in TABLES)],
            kinds={"parquet"},
            owners=OWNERS,
            description="One row per (live batch, detector): family, metric, threshold, verdict "
            "and the flagged record ids of record-level detectors; a batch that never landed "
            "gets a `cadence` row under the id it would have had. Detectors read the landing "
            "zone (each file with its own schema) and the baseline only. Run config `batches` "
            "checks only those batches of the day (null: every batch due), keeping the other "
            "batches' rows; `flagged_at` is when each finding was first recorded. Stored at "
            "`gatekeeper/findings/<YYYYMMDD>.parquet`.",
        )
    ],
    check_specs=[asset_check_spec(spec, FINDINGS) for spec in FAMILY_CHECKS.values()],
    partitions_def=live_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    can_subset=True,
)
def gatekeeper_findings(
    context: dg.AssetExecutionContext,
    config: ArrivalConfig,
    simulation: SimulationResource,
    anomaly_schedule: AnomalyScheduleResource,
    gatekeeper: GatekeeperResource,
):
    """Run every detector on each live day of the run and record per-family checks."""
    store = GatekeeperStore(simulation.zone())
    baseline = store.read_baseline()
    rules = gatekeeper.rules_model()
    scenario = build_scenario(simulation, anomaly_schedule)
    recorder = CheckRecorder(context, lambda _: FINDINGS)
    for day in _days(context.partition_keys):
        targets = [p.batch_id for p in target_plans(scenario, day, config.batches, config.now())]
        planned = [p.batch_id for p in plan_day(scenario, day, Window.LIVE)]
        with store_failures_fail_the_step(f"gatekeeper/findings {day}"):
            findings, path = record_batches(
                store, day, baseline, rules, targets, planned, wall_clock()
            )
        flags = flagged(findings)
        context.add_asset_metadata(
            {
                "dagster/row_count": findings.num_rows,
                "flagged_batches": int(flags["batch_id"].nunique()),
                "batches_checked": f"{len(set(findings['batch_id'].to_pylist()))} of "
                f"{len(planned)}",
                "checked_by_this_run": dg.MetadataValue.json(targets),
                "flags": dg.MetadataValue.md(markdown_rows(_flag_rows(flags))),
                "path": path,
            },
            asset_key=FINDINGS,
            partition_key=day.isoformat(),
        )
        yield from recorder.record(_family_outcomes(day, findings))
    yield dg.MaterializeResult(asset_key=FINDINGS)


@dg.asset(
    key=EVALUATION,
    group_name=GROUP,
    deps=[
        FINDINGS,
        asset_key("live", "ground_truth_labels"),
        asset_key("live", "batch_manifest"),
        asset_key("historical", "batch_manifest"),
    ],
    kinds={"parquet"},
    owners=OWNERS,
    description="The gatekeeper scored against the ground truth: per anomaly type (all "
    "thirteen), batch-level recall over the batches the anomaly had an effect on (`no_effect` "
    "batches apart) and false positives (historical and normal live batches included), "
    "record-level precision and recall for every type with record labels, and detection "
    "delays (measured from each batch's landing to its findings, and in event time), scored "
    "by the same code as `dtg-score`. Stored at `gatekeeper/evaluation/`.",
)
def gatekeeper_evaluation(
    context: dg.AssetExecutionContext,
    simulation: SimulationResource,
    gatekeeper: GatekeeperResource,
) -> dg.MaterializeResult:
    """Score every available finding (live partitions, plus the historical batches)."""
    store = GatekeeperStore(simulation.zone())
    baseline = store.read_baseline()
    live_days = store.findings_days()
    if not live_days:
        raise dg.Failure(description="no gatekeeper findings yet: materialize gatekeeper/findings")
    history = _days(historical_partitions.get_partition_keys())
    # Historical batches are scored too: a detector that flags its own training data is broken.
    rules = gatekeeper.rules_model()
    parts = [detect_day(store.zone, d, baseline, rules, "historical") for d in history]
    findings = pa.concat_tables([*parts, *(store.read_findings(d) for d in live_days)])
    pairs = [(d, "historical") for d in history] + [(d, "live") for d in live_days]
    # The same scoring as dtg-score's, with the gatekeeper's detector attribution; records no
    # learned range tells from normal ones are reported, not scored as misses.
    evaluation = score(store.zone, findings, days=pairs, baseline=baseline, rules=rules)
    with store_failures_fail_the_step("gatekeeper/evaluation"):
        paths = store.write_evaluation(evaluation.to_tables())
    summary = evaluation.summary()
    context.log.info(f"gatekeeper evaluation: {json.dumps(summary)}")
    return dg.MaterializeResult(
        metadata={
            **summary,
            "live_days": len(live_days),
            "evaluation": dg.MetadataValue.md(evaluation.to_markdown()),
            "paths": dg.MetadataValue.json(paths),
        }
    )
