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

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

# Public name -> defining module. Imported on first use (PEP 562), so ``python -m
# dtg_assets.simulation`` and light users load only the modules they need.
_EXPORTS = {
    "ANOMALY_TYPES": "dtg_assets.simulation.config",
    "AnomalyParams": "dtg_assets.simulation.config",
    "AnomalyType": "dtg_assets.simulation.config",
    "BatchSpec": "dtg_assets.simulation.config",
    "FunnelParams": "dtg_assets.simulation.config",
    "ScenarioConfig": "dtg_assets.simulation.config",
    "BatchOutput": "dtg_assets.simulation.generate",
    "CHUNK_VISITORS": "dtg_assets.simulation.generate",
    "generate_batch": "dtg_assets.simulation.generate",
    "iter_batch_chunks": "dtg_assets.simulation.generate",
    "DayResult": "dtg_assets.simulation.landing",
    "LandingZone": "dtg_assets.simulation.landing",
    "BatchPlan": "dtg_assets.simulation.plan",
    "Window": "dtg_assets.simulation.plan",
    "plan_day": "dtg_assets.simulation.plan",
    "scenario_days": "dtg_assets.simulation.plan",
    "ScenarioSummary": "dtg_assets.simulation.scenario",
    "TableSummary": "dtg_assets.simulation.scenario",
    "format_summary": "dtg_assets.simulation.scenario",
    "run_scenario": "dtg_assets.simulation.scenario",
    "summarize": "dtg_assets.simulation.scenario",
    "EVENT_TIME": "dtg_assets.simulation.schemas",
    "LABEL_SCHEMA": "dtg_assets.simulation.schemas",
    "MANIFEST_SCHEMA": "dtg_assets.simulation.schemas",
    "PRIMARY_KEY": "dtg_assets.simulation.schemas",
    "TABLES": "dtg_assets.simulation.schemas",
    "TABLE_SCHEMAS": "dtg_assets.simulation.schemas",
}


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])


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
