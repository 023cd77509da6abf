"""Daily-partitioned landing assets of the historical and live windows.

One ``multi_asset`` per window materializes a day's four landing tables plus its ground-truth
labels and batch manifest in one engine call (they come from the same random streams), then reads
the day back from storage and records the window's asset checks per partition. It is a thin
wrapper: generation, writing and verification live in :mod:`dtg_assets.simulation`.

A run may cover a range of days (``BackfillPolicy.single_run()``); metadata and check results are
still recorded per partition (see :mod:`dtg_assets.checks`). Selecting only checks (for example
"Execute checks" in the UI) verifies what already landed without writing anything. A live day
may be partial: the asset lands the batches its run config names, or those due by now, each
batch committed on its own (see :mod:`dtg_assets.assets.live`), and checks what should have
landed by then. Within a
window the specs declare the funnel's lineage (visitor_events -> applications -> accounts ->
transactions, all four -> labels -> manifest), though one engine call writes them together.
"""

import contextlib
import datetime as dt
import json
import time
from collections.abc import Iterator

import dagster as dg
import pyarrow as pa

from dtg_assets.arrival import ArrivalConfig
from dtg_assets.assets.columns import column_schema
from dtg_assets.assets.live import arrival_metadata, expected_batches, land_live_day
from dtg_assets.checks import CheckRecorder, asset_check_spec
from dtg_assets.markdown import markdown_table
from dtg_assets.partitions import landing_backfill_policy
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


# Each asset's upstream assets within its window: the funnel, then what describes it.
_DEPS = {
    "visitor_events": (),
    "applications": ("visitor_events",),
    "accounts": ("applications",),
    "transactions": ("accounts",),
    "ground_truth_labels": TABLES,
    "batch_manifest": (*TABLES, "ground_truth_labels"),
}


def _schema(name: str) -> pa.Schema:
    return {"ground_truth_labels": LABEL_SCHEMA, "batch_manifest": MANIFEST_SCHEMA}.get(
        name, TABLE_SCHEMAS.get(name)
    )


@contextlib.contextmanager
def store_failures_fail_the_step(what: str) -> Iterator[None]:
    """Turn an expected data-root failure (unreachable or hanging store, full disk) into a
    one-line ``dg.Failure`` naming what was being done; anything else keeps its traceback.

    Args:
        what: What the step was doing, e.g. ``live 2026-11-20``.

    Raises:
        dg.Failure: On a :class:`DataRootError`.
    """
    try:
        yield
    except DataRootError as exc:
        raise dg.Failure(description=f"{what}: {exc}") from None


def asset_key(window: Window | str, name: str) -> dg.AssetKey:
    """Key of one of a window's landing assets, e.g. ``live/visitor_events``."""
    return dg.AssetKey([Window(window).value, name])


def _description(window: Window, name: str) -> str:
    where = (
        f"landing/{name}/date=YYYY-MM-DD/<batch_id>.<config token>.parquet"
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
            "preview": dg.MetadataValue.md(markdown_table(preview, max_rows=5)),
            "dagster/column_schema": column_schema(name, TABLE_SCHEMAS[name]),
            "data_root": zone_uri,
        }
    if name == "ground_truth_labels":
        return {
            "dagster/row_count": sum(result.labels_by_anomaly.values()),
            "labelled_rows_by_anomaly": dg.MetadataValue.json(result.labels_by_anomaly),
            "dagster/column_schema": column_schema(name, LABEL_SCHEMA),
            "data_root": zone_uri,
        }
    # The configuration of record (kilobytes of JSON per row) is left out of the preview.
    preview = result.manifest.drop_columns(["config"])
    return {
        "dagster/row_count": result.manifest.num_rows,
        "preview": dg.MetadataValue.md(markdown_table(preview, max_rows=50)),
        # What the day's checks verify it against, whatever the resources configure later (a
        # live day none of whose batches is due yet has none).
        "config_of_record": dg.MetadataValue.json(
            json.loads(result.manifest["config"][0].as_py()) if result.manifest.num_rows else {}
        ),
        "dagster/column_schema": column_schema(name, MANIFEST_SCHEMA),
        "data_root": zone_uri,
    }


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
            deps=[asset_key(window, d) for d in _DEPS[name]],
            metadata={"dagster/column_schema": column_schema(name, _schema(name))},
        )
        for name in names
    ]
    check_specs = [asset_check_spec(spec, asset_key(window, spec.asset)) for spec in CHECK_SPECS]

    @dg.multi_asset(
        name=f"{window.value}_landing",
        specs=specs,
        check_specs=check_specs,
        partitions_def=partitions_def,
        backfill_policy=landing_backfill_policy(),
        can_subset=True,
    )
    def _landing(
        context: dg.AssetExecutionContext,
        config: ArrivalConfig,
        simulation: SimulationResource,
        anomaly_schedule: AnomalyScheduleResource,
    ):
        arrival = config
        if window is Window.HISTORICAL and arrival.batches is not None:
            raise dg.Failure(description="batches: only live days land batch by batch")
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
                # Days committed before a store failure stay, this day's earlier version too.
                with store_failures_fail_the_step(f"{window.value} {day}"):
                    if window is Window.LIVE:
                        result = land_live_day(zone, config, day, arrival)
                    else:
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
                            {**_metadata(name, result, zone.uri), **arrival_metadata(result)},
                            asset_key=key,
                            partition_key=day.isoformat(),
                        )
            for name in names:
                if asset_key(window, name) in selected:
                    yield dg.MaterializeResult(asset_key=asset_key(window, name))
        recorder = CheckRecorder(context, lambda name: asset_key(window, name))
        for day in days if context.selected_asset_check_keys else ():
            # A live day is checked for the batches due by the run's "now" (all, once it is over).
            due = expected_batches(config, day, arrival) if window is Window.LIVE else None
            yield from recorder.record(verify_day(zone, config, day, window, due=due))
        # A failed blocking check then fails the step (Dagster's own gating on ERROR checks
        # declared blocking): the gatekeeper downstream does not run on bad landing data.
        recorder.log_blocking_failures()

    return _landing
