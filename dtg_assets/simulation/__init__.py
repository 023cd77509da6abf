"""Dagster-free simulation engine of the DTG credit-card acquisition funnel.

Pure functions over numpy and pyarrow, driven by strict pydantic models: plan a scenario's
batches, generate a batch with its ground-truth labels, and land whole days as hive-partitioned
Parquet. The Dagster assets in :mod:`dtg_assets.assets` are thin wrappers around this package;
``python -m dtg_assets.simulation generate`` runs a whole scenario without Dagster.

Typical use::

    from dtg_assets.simulation import ScenarioConfig, run_scenario, summarize

    results = run_scenario(ScenarioConfig(start_date="2026-11-01"), "./data")
    print(summarize(results).tables["applications"].rows)
"""

from dtg_assets.simulation.config import (
    ANOMALY_TYPES,
    AnomalyParams,
    AnomalyType,
    BatchSpec,
    FunnelParams,
    ScenarioConfig,
)
from dtg_assets.simulation.generate import (
    CHUNK_VISITORS,
    BatchOutput,
    generate_batch,
    iter_batch_chunks,
)
from dtg_assets.simulation.landing import DayResult, LandingZone
from dtg_assets.simulation.plan import BatchPlan, Window, plan_day, scenario_days
from dtg_assets.simulation.scenario import (
    ScenarioSummary,
    TableSummary,
    format_summary,
    run_scenario,
    summarize,
)
from dtg_assets.simulation.schemas import (
    EVENT_TIME,
    LABEL_SCHEMA,
    MANIFEST_SCHEMA,
    PRIMARY_KEY,
    TABLE_SCHEMAS,
    TABLES,
)

__all__ = [
    "ANOMALY_TYPES",
    "CHUNK_VISITORS",
    "EVENT_TIME",
    "LABEL_SCHEMA",
    "MANIFEST_SCHEMA",
    "PRIMARY_KEY",
    "TABLES",
    "TABLE_SCHEMAS",
    "AnomalyParams",
    "AnomalyType",
    "BatchOutput",
    "BatchPlan",
    "BatchSpec",
    "DayResult",
    "FunnelParams",
    "LandingZone",
    "ScenarioConfig",
    "ScenarioSummary",
    "TableSummary",
    "Window",
    "format_summary",
    "generate_batch",
    "iter_batch_chunks",
    "plan_day",
    "run_scenario",
    "scenario_days",
    "summarize",
]
