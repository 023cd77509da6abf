"""Typed Dagster config of the resources, mirrored from the engine's pydantic models.

The launchpad validates and autocompletes run config against a resource's config schema, which
Dagster derives from typed ``dg.Config`` fields: nested classes become nested shapes, a Python
``Enum`` becomes a config enum, ``int``/``float``/``bool``/``str`` become scalars. So the funnel,
anomaly and gatekeeper settings are ``dg.Config`` classes here, generated field by field from
the engine's models (same names, types and defaults, so they cannot drift apart) with a
description for the UI on every field. Dagster's schema carries no numeric bounds (pydantic
``ge``/``le`` are not part of it), so a type, an unknown key or an unknown anomaly is refused by
the launchpad, while a value out of range is refused by the engine's models when the run starts
(see :mod:`dtg_assets.resources`); every description states the allowed range.
"""

from __future__ import annotations

import enum
import types
import typing
from collections.abc import Mapping
from typing import Any

import annotated_types
import dagster as dg
from pydantic import BaseModel, ConfigDict, Field, create_model

from dtg_assets.descriptions import FIELD_DESCRIPTIONS
from dtg_assets.gatekeeper import BaselineConfig, Rules
from dtg_assets.simulation.config import (
    ANOMALY_TYPES,
    MAX_BATCH_VISITORS,
    PRESETS,
    AnomalyParams,
    FunnelParams,
)

# The config enum of the launchpad: member names are what users type, so they are the engine's
# lower-case anomaly names rather than Python's usual upper case.
Anomaly = enum.Enum("Anomaly", {name: name for name in ANOMALY_TYPES}, type=str)
# The scenario presets, a config enum too.
Scenario = enum.Enum("Scenario", {name: name for name in PRESETS}, type=str)


class StrictConfig(dg.Config):
    """A ``dg.Config`` refusing unknown keys in Python too (Dagster's schema already does)."""

    model_config = ConfigDict(extra="forbid")


def _bounds(info: Any) -> str:
    words = []
    for item in info.metadata:
        for attr, word in (("ge", "≥"), ("gt", ">"), ("le", "≤"), ("lt", "<")):
            value = getattr(item, attr, None)
            if value is not None and isinstance(item, annotated_types.BaseMetadata):
                words.append(f"{word} {value:g}")
    return f" Allowed: {' and '.join(words)}." if words else ""


def _config_type(annotation: Any, mirrored: dict[type, type]) -> Any:
    """The ``dg.Config`` field type for an engine annotation (tuples become lists)."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        inner = [_config_type(a, mirrored) for a in args if a is not type(None)]
        return inner[0] | None if len(args) > len(inner) else typing.Union[tuple(inner)]  # noqa: UP007
    if origin is tuple:
        return list[_config_type(args[0], mirrored)]
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return mirror(annotation, mirrored)
    return annotation


def _default(value: Any, config_type: Any) -> Any:
    if isinstance(value, BaseModel):
        return config_type(**{k: _default(v, None) for k, v in value.model_dump().items()})
    if isinstance(value, tuple):
        return list(value)
    return value


def _description(model: type[BaseModel], name: str, info: Any) -> str:
    text = info.description or FIELD_DESCRIPTIONS.get(f"{model.__name__}.{name}")
    text = text or FIELD_DESCRIPTIONS.get(name)
    if text is None:
        # Every field must explain itself in the UI: a new engine field needs a description.
        raise KeyError(f"no description for {model.__name__}.{name}; add it to descriptions.py")
    return text + _bounds(info)


def mirror(model: type[BaseModel], mirrored: dict[type, type] | None = None) -> type[dg.Config]:
    """Generate the ``dg.Config`` class mirroring an engine model, nested models included.

    Args:
        model: The engine's pydantic model.
        mirrored: Classes generated so far (a model used by several fields is generated once).

    Returns:
        A ``StrictConfig`` subclass named ``<Model>Config`` with the model's fields, types and
        defaults, and a description on every field.

    Raises:
        KeyError: If a field has no description.
    """
    mirrored = {} if mirrored is None else mirrored
    if model in mirrored:
        return mirrored[model]
    fields: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        config_type = _config_type(info.annotation, mirrored)
        description = _description(model, name, info)
        if info.is_required():
            fields[name] = (config_type, Field(description=description))
        else:
            default = _default(info.get_default(call_default_factory=True), config_type)
            fields[name] = (config_type, Field(default=default, description=description))
    doc = (model.__doc__ or "").strip().splitlines()[0].replace("``", "`")
    config = create_model(f"{model.__name__}Config", __base__=StrictConfig, __doc__=doc, **fields)
    mirrored[model] = config
    return config


_MIRRORED: dict[type, type] = {}
FunnelConfig = mirror(FunnelParams, _MIRRORED)
AnomalyParamsConfig = mirror(AnomalyParams, _MIRRORED)
RulesConfig = mirror(Rules, _MIRRORED)
BaselineSettingsConfig = mirror(BaselineConfig, _MIRRORED)


class LiveBatch(StrictConfig):
    """One micro-batch of the live intra-day schedule."""

    anomaly: Anomaly | None = Field(
        default=None,
        description="The anomaly injected into this batch, or null for a normal batch.",
    )
    anomalies: list[Anomaly] = Field(
        default_factory=list,
        description="Several anomalies injected into this batch, in order (instead of "
        "`anomaly`, or with `anomaly` equal to the first); empty for one or none.",
    )
    visitors: int = Field(
        description=f"Planned visitors of the batch, before `scale`. Allowed: 1 to "
        f"{MAX_BATCH_VISITORS:,}."
    )


def engine_model(model: type[BaseModel], config: BaseModel | Mapping[str, Any]) -> BaseModel:
    """Validate a mirrored config (or a plain dict) with the engine's model.

    Args:
        model: The engine's model.
        config: The ``dg.Config`` value or a dict of overrides.

    Returns:
        The engine model (raises pydantic's ``ValidationError`` when invalid).
    """
    data = config.model_dump(mode="json") if isinstance(config, BaseModel) else config
    return model.model_validate(data)
