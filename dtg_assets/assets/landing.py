"""Daily-partitioned landing assets of the historical and live windows.

One ``multi_asset`` per window materializes a day's four landing tables plus its ground-truth
labels and batch manifest in one engine call (they come from the same random streams), then reads
the day back from storage and records the window's asset checks per partition. It is a thin
wrapper: generation, writing and verification live in :mod:`dtg_assets.simulation`.

A run may cover a range of days (``BackfillPolicy.single_run()``); metadata and check results are
still recorded per partition. Selecting only checks (for example "Execute checks" in the UI)
verifies what already landed without writing anything.
"""

import datetime as dt
import time
from typing import Any

import dagster as dg
import pyarrow as pa
from dagster._core.definitions.asset_checks.asset_check_evaluation import AssetCheckEvaluation

from dtg_assets.markdown import markdown_table
from dtg_assets.resources import AnomalyScheduleResource, SimulationResource, build_scenario
from dtg_assets.simulation.landing import DayResult
from dtg_assets.simulation.plan import Window
from dtg_assets.simulation.roots import DataRootError
from dtg_assets.simulation.schemas import LABEL_SCHEMA, MANIFEST_SCHEMA, TABLE_SCHEMAS, TABLES
from dtg_assets.simulation.verify import CHECK_SPECS, verify_day

GROUND_TRUTH = ("ground_truth_labels", "batch_manifest")
OWNERS = ["team:dtg"]

_DESCRIPTIONS = {
    "visitor_events": "One row per visitor of each micro-batch: event type, campaign, device, "
    "geo, event time and session duration.",
    "applications": "Credit-card applications (about 20% of visitors) with age, income, "
    "employment, requested limit and status.",
    "accounts": "One account per approved application, with approved limit and interest rate.",
    "transactions": "Card transactions of about 10% of accounts (1-4 each), up to five days "
    "after the account opened.",
    "ground_truth_labels": "Ground truth: one row per record an anomaly made differ from its "
    "normal twin (modified, added or removed), outside the landing zone.",
    "batch_manifest": "Ground truth: one row per batch with its window, start, anomaly, planned "
    "visitors, rows written and rows labelled per table.",
}


def _schema(name: str) -> pa.Schema:
    return {"ground_truth_labels": LABEL_SCHEMA, "batch_manifest": MANIFEST_SCHEMA}.get(
        name, TABLE_SCHEMAS.get(name)
    )


def column_schema(schema: pa.Schema) -> dg.TableSchema:
    """A Dagster table schema from an Arrow schema.

    Args:
        schema: Arrow schema.

    Returns:
        The column schema shown in the UI.
    """
    return dg.TableSchema(
        columns=[
            dg.TableColumn(f.name, str(f.type), constraints=dg.TableColumnConstraints(
                nullable=f.nullable))
            for f in schema
        ]
    )  # fmt: skip


def asset_key(window: Window | str, name: str) -> dg.AssetKey:
    """Key of one of a window's landing assets, e.g. ``live/visitor_events``."""
    return dg.AssetKey([Window(window).value, name])


def _description(window: Window, name: str) -> str:
    where = (
        f"landing/{name}/date=YYYY-MM-DD/<batch_id>.parquet"
        if name in TABLES
        else f"ground_truth/{'labels' if name == 'ground_truth_labels' else 'manifest'}/"
    )
    when = (
        "the 14 normal historical days detectors train on"
        if window is Window.HISTORICAL
        else "live days of micro-batches with injected anomalies"
    )
    return f"{_DESCRIPTIONS[name]} Partition = batch day ({when}). Stored at `{where}`."


def _metadata(name: str, result: DayResult, zone_uri: str) -> dict[str, object]:
    if name in TABLES:
        anomalies = result.manifest["anomaly"].to_pylist()
        labelled = result.manifest[f"labelled_{name}"].to_pylist()
        preview = result.preview.get(name, TABLE_SCHEMAS[name].empty_table())
        by_anomaly: dict[str, int] = {}
        for anomaly, n in zip(anomalies, labelled, strict=True):
            if anomaly and n:
                by_anomaly[anomaly] = by_anomaly.get(anomaly, 0) + n
        return {
            "dagster/row_count": result.rows(name),
            "paths": dg.MetadataValue.json(result.paths[name]),
            "files": len(result.paths[name]),
            "labelled_rows_by_anomaly": dg.MetadataValue.json(by_anomaly),
            "preview": dg.MetadataValue.md(markdown_table(preview)),
            "dagster/column_schema": column_schema(TABLE_SCHEMAS[name]),
            "data_root": zone_uri,
        }
    if name == "ground_truth_labels":
        return {
            "dagster/row_count": sum(result.labels_by_anomaly.values()),
            "labelled_rows_by_anomaly": dg.MetadataValue.json(result.labels_by_anomaly),
            "dagster/column_schema": column_schema(LABEL_SCHEMA),
            "data_root": zone_uri,
        }
    return {
        "dagster/row_count": result.manifest.num_rows,
        "preview": dg.MetadataValue.md(markdown_table(result.manifest, max_rows=50)),
        "dagster/column_schema": column_schema(MANIFEST_SCHEMA),
        "data_root": zone_uri,
    }


def check_evaluations(
    context: dg.AssetExecutionContext,
    key: dg.AssetKey,
    partition: str,
    outcomes: list[tuple[str, bool, str, dict[str, Any], str]],
) -> list[AssetCheckEvaluation]:
    """Check results for one partition of an asset, to be yielded by the asset's body.

    A ``single_run`` backfill executes many partitions in one step, where a returned
    ``AssetCheckResult`` could not say which partition it is about; an evaluation carrying its
    partition keeps one result per partition in the UI. They are yielded rather than passed to
    ``context.log_event``, whose events are buffered until the next yield and would be lost if
    the step then fails on a blocking check.

    Args:
        context: The executing asset's context.
        key: The checked asset.
        partition: The partition key the results are about.
        outcomes: ``(check name, passed, description, metadata, severity)`` tuples; checks
            not selected in this run are skipped.

    Returns:
        The evaluations of the selected checks.
    """
    return [
        AssetCheckEvaluation(
            asset_key=key,
            check_name=name,
            passed=passed,
            metadata={"partition": partition, "result": description, **metadata},
            severity=dg.AssetCheckSeverity(severity),
            description=description,
            partition=partition,
        )
        for name, passed, description, metadata, severity in outcomes
        if dg.AssetCheckKey(key, name) in context.selected_asset_check_keys
    ]


def blocking_failures(evaluations: list[AssetCheckEvaluation]) -> list[str]:
    """``partition asset:check - description`` of every failed ERROR evaluation."""
    return [
        f"{e.partition} {e.asset_key.to_user_string()}:{e.check_name} - {e.description}"
        for e in evaluations
        if not e.passed and e.severity == dg.AssetCheckSeverity.ERROR
    ]


def _check_description(severity: str, description: str) -> str:
    consequence = (
        " A failure fails the run, so nothing downstream runs." if severity == "ERROR" else ""
    )
    return f"[{severity}] {description}{consequence}"


def build_landing_asset(
    window: Window, partitions_def: dg.PartitionsDefinition
) -> dg.AssetsDefinition:
    """The multi_asset of one window: four landing tables, labels, manifest and their checks.

    Args:
        window: Historical or live.
        partitions_def: The window's daily partitions.

    Returns:
        The assets definition.
    """
    names = (*TABLES, *GROUND_TRUTH)
    specs = [
        dg.AssetSpec(
            asset_key(window, name),
            description=_description(window, name),
            group_name=window.value,
            kinds={"parquet"},
            owners=OWNERS,
            tags={"layer": "ground_truth" if name in GROUND_TRUTH else "landing"},
            metadata={"dagster/column_schema": column_schema(_schema(name))},
        )
        for name in names
    ]
    check_specs = [
        dg.AssetCheckSpec(
            spec.name,
            asset=asset_key(window, spec.asset),
            description=_check_description(spec.severity, spec.description),
        )
        # Not `blocking=True`: Dagster gates on returned AssetCheckResults, which a range run
        # cannot attribute to partitions; the asset fails its own step on an ERROR instead.
        for spec in CHECK_SPECS
    ]

    @dg.multi_asset(
        name=f"{window.value}_landing",
        specs=specs,
        check_specs=check_specs,
        partitions_def=partitions_def,
        backfill_policy=dg.BackfillPolicy.single_run(),
        can_subset=True,
    )
    def _landing(
        context: dg.AssetExecutionContext,
        simulation: SimulationResource,
        anomaly_schedule: AnomalyScheduleResource,
    ):
        config = build_scenario(simulation, anomaly_schedule)
        days = [dt.date.fromisoformat(k) for k in context.partition_keys]
        selected = context.selected_asset_keys
        try:
            zone = simulation.zone()
            if selected:
                zone.preflight()  # a bad data root fails the run before anything is generated
        except DataRootError as exc:
            raise dg.Failure(description=f"{exc}; nothing was written") from None
        if selected:
            for i, day in enumerate(days, 1):
                started = time.perf_counter()
                result = zone.write_day(config, day, window)
                elapsed = time.perf_counter() - started
                rows = ", ".join(f"{result.rows(t)} {t}" for t in TABLES)
                total = sum(result.rows(t) for t in TABLES)
                labels = sum(result.labels_by_anomaly.values())
                # One line per day: the progress of a long range run, with its throughput.
                context.log.info(
                    f"{window.value} {day} (day {i}/{len(days)}): landed {rows} in "
                    f"{len(result.manifest)} batches; {labels} labels; {elapsed:.2f} s, "
                    f"{total / max(elapsed, 1e-9):,.0f} rows/s"
                )
                for name in names:
                    key = asset_key(window, name)
                    if key in selected:
                        context.add_asset_metadata(
                            _metadata(name, result, zone.uri),
                            asset_key=key,
                            partition_key=day.isoformat(),
                        )
            for name in names:
                if asset_key(window, name) in selected:
                    yield dg.MaterializeResult(asset_key=asset_key(window, name))
        failed = []
        for day in days if context.selected_asset_check_keys else ():
            by_asset: dict[str, list] = {}
            for o in verify_day(zone, config, day, window):
                by_asset.setdefault(o.spec.asset, []).append(
                    (o.spec.name, o.passed, o.description, o.metadata, o.spec.severity)
                )
            for name, outcomes in by_asset.items():
                evaluations = check_evaluations(
                    context, asset_key(window, name), day.isoformat(), outcomes
                )
                yield from evaluations
                failed += blocking_failures(evaluations)
        if failed:
            # Blocking ERROR checks: fail the step so nothing downstream consumes bad landing data.
            raise dg.Failure(
                description=f"{len(failed)} blocking check(s) failed:\n" + "\n".join(failed[:20])
            )

    return _landing
