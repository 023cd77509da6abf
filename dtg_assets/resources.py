"""Dagster resources: the simulation settings and the live anomaly schedule.

Both are ``ConfigurableResource``s editable in the launchpad, and both validate with the
engine's strict models when they are built: at code-location load for the values in
``definitions.py`` and at run start for launchpad overrides, so a bad schedule fails with the
engine's message before anything is written.

A partial run-config override of a ConfigurableResource resets every field it does not name to
the *class* default, not to the value given in ``Definitions``. So every default lives in the
class, and the environment-driven settings (seed, data root) default to ``None``, meaning "read
``DTG_SEED`` / ``DTG_DATA_ROOT`` at run time": overriding ``scale`` alone keeps your seed and
data root.
"""

from __future__ import annotations

import os
from typing import Any, Self, TypeVar

import dagster as dg
from pydantic import BaseModel, Field, ValidationError, model_validator

from dtg_assets.gatekeeper import BaselineConfig, Rules
from dtg_assets.partitions import HISTORICAL_DAYS, scenario_start_date
from dtg_assets.simulation.config import (
    DEFAULT_LIVE_SCHEDULE,
    AnomalyParams,
    BatchSpec,
    FunnelParams,
    ScenarioConfig,
)
from dtg_assets.simulation.landing import LandingZone

M = TypeVar("M", bound=BaseModel)

SEED_ENV = "DTG_SEED"
DATA_ROOT_ENV = "DTG_DATA_ROOT"
DEFAULT_SEED = 42
DEFAULT_DATA_ROOT = "./data"


def format_validation_error(exc: ValidationError, prefix: str = "") -> str:
    """One line per problem: ``field.path: message (got value)``.

    Args:
        exc: A pydantic validation error.
        prefix: Prepended to every field path (e.g. the resource field it came from).

    Returns:
        A readable multi-line message.
    """
    lines = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in (prefix, *err["loc"]) if p != "")
        msg = err["msg"].removeprefix("Value error, ")
        lines.append(f"{loc or '<root>'}: {msg} (got {err.get('input')!r})")
    return "\n".join(lines)


def validated(model: type[M], data: dict[str, Any], field: str) -> M:
    """Validate a launchpad dict with an engine model, errors named under the resource field.

    Args:
        model: The strict pydantic model.
        data: The overrides (unnamed fields keep the model's defaults).
        field: The resource field the dict came from, prefixed to every error's path.

    Returns:
        The model instance.

    Raises:
        ValueError: One line per invalid or unknown key.
    """
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ValueError(format_validation_error(exc, field)) from None


class LiveBatch(dg.Config):
    """One micro-batch of the live intra-day schedule."""

    anomaly: str | None = Field(
        default=None,
        description="null for a normal batch, or one of: null_burst, age_error, traffic_spike, "
        "fraud_spike, limit_spike, stale_data, conversion_drop.",
    )
    visitors: int = Field(description="Planned visitors (1 to 50,000,000).")


def _default_batches() -> list[LiveBatch]:
    return [
        LiveBatch(anomaly=b.anomaly.value if b.anomaly else None, visitors=b.visitors)
        for b in DEFAULT_LIVE_SCHEDULE
    ]


class AnomalyScheduleResource(dg.ConfigurableResource):
    """The live intra-day schedule of micro-batches and the parameters of every anomaly.

    Batches are spaced evenly over the UTC day from 00:00 (24h / number of batches). The default
    is SPEC.md's eight batches. ``anomaly_params`` overrides anomaly parameters by type, e.g.
    ``{"null_burst": {"null_rate": 0.4}}``; unnamed parameters keep SPEC.md's defaults.
    """

    batches: list[LiveBatch] = Field(
        default_factory=_default_batches, description="Ordered live batches of one day."
    )
    anomaly_params: dict[str, Any] = Field(
        default_factory=dict, description="Per-anomaly parameter overrides (see README)."
    )

    @model_validator(mode="after")
    def _validate_with_engine(self) -> Self:
        self.live_schedule()
        self.anomalies()
        return self

    def live_schedule(self) -> tuple[BatchSpec, ...]:
        """The schedule as engine batch specs.

        Raises:
            ValueError: With every invalid field named (unknown anomaly, bad visitors, empty).
        """
        if not self.batches:
            raise ValueError("batches: the live schedule is empty; give at least one batch")
        specs, problems = [], []
        for i, batch in enumerate(self.batches):
            try:
                specs.append(BatchSpec(anomaly=batch.anomaly, visitors=batch.visitors))
            except ValidationError as exc:
                problems.append(format_validation_error(exc, f"batches.{i}"))
        if problems:
            # Every bad batch at once, so a launchpad edit is not fixed one error per launch.
            raise ValueError("\n".join(problems))
        return tuple(specs)

    def anomalies(self) -> AnomalyParams:
        """The anomaly parameters, SPEC.md defaults where not overridden.

        Raises:
            ValueError: On unknown anomaly types or parameters, or out-of-range values.
        """
        return validated(AnomalyParams, self.anomaly_params, "anomaly_params")


class SimulationResource(dg.ConfigurableResource):
    """Seed, data root, volume scale and funnel rates of the simulation.

    ``seed`` and ``data_root`` default to ``None``: read ``DTG_SEED`` (default 42) and
    ``DTG_DATA_ROOT`` (default ``./data`` relative to where Dagster runs; any fsspec URI such as
    ``s3://bucket/prefix`` works) when the run starts. ``funnel`` overrides funnel parameters,
    e.g. ``{"apply_rate": 0.25}``.
    """

    seed: int | None = Field(default=None, description="Scenario seed; None reads DTG_SEED.")
    data_root: str | None = Field(
        default=None, description="Local path or fsspec URI; None reads DTG_DATA_ROOT."
    )
    scale: float = Field(default=1.0, description="Multiplies every batch's visitors.")
    funnel: dict[str, Any] = Field(
        default_factory=dict, description="Funnel parameter overrides (SPEC.md defaults)."
    )

    @model_validator(mode="after")
    def _validate_with_engine(self) -> Self:
        self.resolved_seed()
        self.funnel_params()
        if not self.scale > 0:
            raise ValueError(f"scale: must be > 0 (got {self.scale!r})")
        return self

    def resolved_seed(self) -> int:
        """The seed: the configured one, else ``DTG_SEED``, else 42.

        Raises:
            ValueError: If ``DTG_SEED`` is not a non-negative integer.
        """
        if self.seed is not None:
            if self.seed < 0:
                raise ValueError(f"seed: must be >= 0 (got {self.seed})")
            return self.seed
        raw = os.environ.get(SEED_ENV, "").strip()
        if not raw:
            return DEFAULT_SEED
        if not raw.isdigit():
            raise ValueError(f"{SEED_ENV}={raw!r} is not a non-negative integer")
        return int(raw)

    def resolved_data_root(self) -> str:
        """The data root: the configured one, else ``DTG_DATA_ROOT``, else ``./data``."""
        return self.data_root or os.environ.get(DATA_ROOT_ENV, "").strip() or DEFAULT_DATA_ROOT

    def funnel_params(self) -> FunnelParams:
        """Funnel parameters, SPEC.md defaults where not overridden.

        Raises:
            ValueError: On unknown or out-of-range parameters.
        """
        return validated(FunnelParams, self.funnel, "funnel")

    def zone(self) -> LandingZone:
        """The landing zone at the resolved data root."""
        return LandingZone(self.resolved_data_root())


class GatekeeperResource(dg.ConfigurableResource):
    """Configuration of the gatekeeper: detector rules and what the baseline measures.

    ``rules`` overrides detector rules by name, e.g. ``{"volume": {"tolerance": 0.3},
    "short_sessions": {"enabled": false}}``; ``baseline`` overrides the baseline's settings.
    Every threshold is derived from the baseline plus these margins.
    """

    rules: dict[str, Any] = Field(
        default_factory=dict, description="Detector rule overrides by rule name."
    )
    baseline: dict[str, Any] = Field(
        default_factory=dict, description="Baseline settings overrides."
    )

    @model_validator(mode="after")
    def _validate_with_engine(self) -> Self:
        self.rules_model()
        self.baseline_config()
        return self

    def rules_model(self) -> Rules:
        """The detector rules, shipped defaults where not overridden.

        Raises:
            ValueError: On unknown rules or parameters, or out-of-range values.
        """
        return validated(Rules, self.rules, "rules")

    def baseline_config(self) -> BaselineConfig:
        """What the baseline measures, defaults where not overridden.

        Raises:
            ValueError: On unknown or out-of-range settings.
        """
        return validated(BaselineConfig, self.baseline, "baseline")


def build_scenario(
    simulation: SimulationResource, schedule: AnomalyScheduleResource
) -> ScenarioConfig:
    """Combine both resources and the partitions' start date into the engine's scenario.

    Args:
        simulation: Seed, scale and funnel.
        schedule: Live schedule and anomaly parameters.

    Returns:
        The validated scenario.

    Raises:
        dagster.Failure: If the combination is invalid (e.g. a scaled batch over 50M visitors).
    """
    try:
        return ScenarioConfig(
            start_date=scenario_start_date(),
            historical_days=HISTORICAL_DAYS,
            seed=simulation.resolved_seed(),
            scale=simulation.scale,
            funnel=simulation.funnel_params(),
            anomalies=schedule.anomalies(),
            live_schedule=schedule.live_schedule(),
        )
    except ValidationError as exc:
        raise dg.Failure(description=f"invalid scenario:\n{format_validation_error(exc)}") from None
