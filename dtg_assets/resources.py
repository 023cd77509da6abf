"""Dagster resources: the simulation settings, the live anomaly schedule and the gatekeeper.

Each is a ``ConfigurableResource`` with a typed config schema (see
:mod:`dtg_assets.resource_config`), so the launchpad autocompletes every setting and refuses a
wrong type, an unknown key or an unknown anomaly before the run is launched. Values out of range
are judged by the engine's strict models, the authority, when the resource is built: at
code-location load for the values in ``definitions.py``, and at run start for launchpad
overrides. Either way the problems are reported as one :class:`dagster.Failure` line naming each
setting, its value and what is allowed, before anything is written.

A partial run-config override of a ``ConfigurableResource`` resets every field it does not name
to the *class* default, not to the value given in ``Definitions``. So every default lives in the
class, and the environment-driven settings (seed, data root) default to ``None``, meaning "read
``DTG_SEED`` / ``DTG_DATA_ROOT`` at run time": overriding ``scale`` alone keeps your seed and
data root.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Self, TypeVar

import dagster as dg
from pydantic import Field, ValidationError, model_validator

from dtg_assets.gatekeeper import BaselineConfig, Rules
from dtg_assets.partitions import HISTORICAL_DAYS, scenario_start_date
from dtg_assets.resource_config import (
    Anomaly,
    AnomalyParamsConfig,
    BaselineSettingsConfig,
    FunnelConfig,
    LiveBatch,
    RulesConfig,
    Scenario,
    engine_model,
)
from dtg_assets.settings import (
    DEFAULT_SEED,
    SettingError,
    check_seed,
    env_data_root,
    env_seed,
)
from dtg_assets.simulation.config import (
    DEFAULT_LIVE_SCHEDULE,
    MAX_BATCHES_PER_DAY,
    AnomalyParams,
    BatchSpec,
    FunnelParams,
    ScenarioConfig,
)
from dtg_assets.simulation.errors import format_validation_error
from dtg_assets.simulation.landing import LandingZone

__all__ = [
    "AnomalyScheduleResource",
    "GatekeeperResource",
    "LiveBatch",
    "SimulationResource",
    "build_scenario",
]


R = TypeVar("R", bound=type)


def _described(cls: R) -> R:
    """Dedent the class docstring, which Dagster shows as the resource's markdown description.

    Dagster passes a resource class's ``__doc__`` through as is; its indented lines would render
    as a code block.
    """
    cls.__doc__ = inspect.cleandoc(cls.__doc__ or "")
    return cls


def _config_failure(resource: str, problems: list[str]) -> dg.Failure:
    # A Failure, not a ValueError: pydantic would wrap a ValueError into its multi-line
    # ValidationError; a Failure reaches Dagster as itself, with this one line as its message.
    return dg.Failure(description=f"invalid {resource} config: {'; '.join(problems)}")


def _check(resource: str, *checks: Callable[[], object]) -> None:
    """Run the engine's validations; raise one Failure listing every problem found."""
    problems = []
    for check in checks:
        try:
            check()
        except ValidationError as exc:
            problems.append(format_validation_error(exc, names={}))
        except SettingError as exc:
            problems.append(str(exc))
    if problems:
        raise _config_failure(resource, problems)


def _default_batches() -> list[LiveBatch]:
    return [
        LiveBatch(anomaly=b.anomaly.value if b.anomaly else None, visitors=b.visitors)
        for b in DEFAULT_LIVE_SCHEDULE
    ]


@_described
class AnomalyScheduleResource(dg.ConfigurableResource):
    """The live day's schedule of micro-batches, and the parameters of every anomaly.

    The batches are spaced evenly over the UTC day from 00:00 (24 h divided by the number of
    batches); each is normal (`anomaly: null`), injects one anomaly, or several (`anomalies`).
    The default is eight batches with six anomalies. `scenario` picks a preset instead:
    `extended` spreads all thirteen anomaly types over a week of different days, `quiet` has no
    anomaly; with a preset other than `default`, `batches` must stay the default.
    `anomaly_params` tunes each anomaly type; its defaults are the shipped ones.
    """

    scenario: Scenario = Field(
        default=Scenario.default,
        description="Scenario preset: `default` (the batches below), `extended` (all thirteen "
        "anomaly types over a week) or `quiet` (no anomaly).",
    )
    batches: list[LiveBatch] = Field(
        default_factory=_default_batches,
        description=f"The live day's batches, in order: 1 to {MAX_BATCHES_PER_DAY} batches.",
    )
    anomaly_params: AnomalyParamsConfig = Field(
        default_factory=AnomalyParamsConfig,
        description="Parameters of each anomaly type, used by every batch injecting it.",
    )

    @model_validator(mode="after")
    def _validate_with_engine(self) -> Self:
        _check("anomaly_schedule", self.live_schedule, self.anomalies, self._preset_alone)
        return self

    def _preset_alone(self) -> None:
        # A preset writes the schedule itself: batches given beside it would be ignored.
        preset = Scenario(self.scenario).value
        if preset != "default" and self.batches != _default_batches():
            raise SettingError(
                f"scenario={preset}: the preset sets the live schedule itself; give either "
                "scenario or batches (scenario default keeps the batches you give)"
            )

    @property
    def preset(self) -> str:
        """The scenario preset's name."""
        return Scenario(self.scenario).value

    def live_schedule(self) -> tuple[BatchSpec, ...]:
        """The schedule as engine batch specs.

        Raises:
            SettingError: If the schedule is empty, or naming every bad batch by its index
                (``batches.2.visitors=-5: ...``); a ``ValueError``.
        """
        if not self.batches:
            raise SettingError("batches: the live schedule is empty; give at least one batch")
        specs, problems = [], []
        for i, batch in enumerate(self.batches):
            anomaly = batch.anomaly.value if batch.anomaly else None
            anomalies = [Anomaly(a).value for a in batch.anomalies]
            try:
                specs.append(
                    BatchSpec(anomaly=anomaly, anomalies=anomalies, visitors=batch.visitors)
                )
            except ValidationError as exc:
                problems.append(format_validation_error(exc, f"batches.{i}"))
        if problems:
            # Every bad batch at once, so a launchpad edit is not fixed one error per launch.
            raise SettingError("; ".join(problems))
        return tuple(specs)

    def anomalies(self) -> AnomalyParams:
        """The anomaly parameters as the engine's model.

        Raises:
            SettingError: On out-of-range values, named ``anomaly_params.<type>.<field>``.
        """
        try:
            return engine_model(AnomalyParams, self.anomaly_params)
        except ValidationError as exc:
            raise SettingError(format_validation_error(exc, "anomaly_params")) from None


@_described
class SimulationResource(dg.ConfigurableResource):
    """Seed, data root, volume scale and funnel of the simulation.

    `seed` and `data_root` left empty (null) are read when the run starts from the environment
    variables `DTG_SEED` (default 42) and `DTG_DATA_ROOT` (default `./data`, relative to where
    Dagster runs; any fsspec URI such as `s3://bucket/prefix` works). `funnel` sets the rates
    and distributions of the normal funnel; its defaults are the shipped ones.
    """

    seed: int | None = Field(
        default=None,
        description=f"Scenario seed: same seed and settings, same data. Null reads `DTG_SEED` "
        f"(default {DEFAULT_SEED}). Allowed: 0 to 2^63-1.",
    )
    data_root: str | None = Field(
        default=None,
        description="Landing zone root: a local path or an fsspec URI such as "
        "`s3://bucket/prefix`. Null reads `DTG_DATA_ROOT` (default `./data`).",
    )
    scale: float = Field(
        default=1.0,
        description="Multiplies every batch's visitors. Allowed: > 0 and ≤ 1000, with no batch "
        "over 50,000,000 visitors.",
    )
    funnel: FunnelConfig = Field(
        default_factory=FunnelConfig,
        description="Rates and distributions of the normal funnel.",
    )

    @model_validator(mode="after")
    def _validate_with_engine(self) -> Self:
        _check("simulation", self.resolved_seed, self.funnel_params, self._scenario_scale)
        return self

    def _scenario_scale(self) -> None:
        try:
            ScenarioConfig(scale=self.scale)
        except ValidationError as exc:
            raise SettingError(format_validation_error(exc, names={})) from None

    def resolved_seed(self) -> int:
        """The seed: the configured one, else ``DTG_SEED``, else 42.

        Raises:
            SettingError: If the seed or ``DTG_SEED`` is not in 0..2**63-1 (a ``ValueError``).
        """
        return env_seed() if self.seed is None else check_seed(self.seed)

    def resolved_data_root(self) -> str:
        """The data root: the configured one, else ``DTG_DATA_ROOT``, else ``./data``."""
        return self.data_root or env_data_root()

    def funnel_params(self) -> FunnelParams:
        """The funnel parameters as the engine's model.

        Raises:
            SettingError: On out-of-range values, named ``funnel.<field>``.
        """
        try:
            return engine_model(FunnelParams, self.funnel)
        except ValidationError as exc:
            raise SettingError(format_validation_error(exc, "funnel")) from None

    def zone(self) -> LandingZone:
        """The landing zone at the resolved data root."""
        return LandingZone(self.resolved_data_root())


@_described
class GatekeeperResource(dg.ConfigurableResource):
    """The gatekeeper's detector rules, and what its baseline measures.

    Each rule can be switched off (`enabled: false`) and holds margins, never absolute
    thresholds: every threshold is derived from the baseline learned from the historical window
    plus these margins. The defaults are the shipped configuration.
    """

    rules: RulesConfig = Field(
        default_factory=RulesConfig, description="The detectors' rules, by detector."
    )
    baseline: BaselineSettingsConfig = Field(
        default_factory=BaselineSettingsConfig,
        description="What the baseline measures from the historical window.",
    )

    @model_validator(mode="after")
    def _validate_with_engine(self) -> Self:
        _check("gatekeeper", self.rules_model, self.baseline_config)
        return self

    def rules_model(self) -> Rules:
        """The detector rules as the gatekeeper's model.

        Raises:
            SettingError: On out-of-range values, named ``rules.<rule>.<field>``.
        """
        try:
            return engine_model(Rules, self.rules)
        except ValidationError as exc:
            raise SettingError(format_validation_error(exc, "rules")) from None

    def baseline_config(self) -> BaselineConfig:
        """What the baseline measures, as the gatekeeper's model.

        Raises:
            SettingError: On out-of-range values, named ``baseline.<field>``.
        """
        try:
            return engine_model(BaselineConfig, self.baseline)
        except ValidationError as exc:
            raise SettingError(format_validation_error(exc, "baseline")) from None


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
        dagster.Failure: One line, if the combination is invalid (e.g. a scaled batch over 50M
            visitors) or ``DTG_SEED`` / ``DTG_START_DATE`` changed to a bad value.
    """
    try:
        # A preset brings its own schedules; the default takes the configured batches.
        preset = schedule.preset
        batches = {"live_schedule": schedule.live_schedule()} if preset == "default" else {}
        return ScenarioConfig(
            start_date=scenario_start_date(),
            historical_days=HISTORICAL_DAYS,
            seed=simulation.resolved_seed(),
            scale=simulation.scale,
            funnel=simulation.funnel_params(),
            anomalies=schedule.anomalies(),
            scenario=preset,
            **batches,
        )
    except ValidationError as exc:
        raise dg.Failure(
            description=f"invalid scenario: {format_validation_error(exc, names={})}"
        ) from None
    except SettingError as exc:
        raise dg.Failure(description=f"invalid scenario: {exc}") from None
