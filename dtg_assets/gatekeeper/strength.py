"""Anomaly strength for the detection curves: one factor per scenario scales every anomaly type.

Each type's *strength parameters* are its rates or magnitudes (:data:`STRENGTH_PARAMS`). Each
has a *neutral* value at which the anomaly changes nothing (a rate of 0, a multiplier of 1, the
funnel's own apply rate, the uniform device mix's mobile third) and a default (the configured
:class:`~dtg_assets.simulation.config.AnomalyParams`). Strength ``s`` in (0, 1] puts every
strength parameter the fraction ``s`` of the way from neutral to default:
``neutral + s * (default - neutral)``; ``s = 1`` is the default itself. Two types have no
magnitude (:data:`FLAT_TYPES`): a schema drift changes one column's kind and a missing batch is
absent whole, so their strength changes nothing and their curves are flat by construction.
"""

from __future__ import annotations

from collections.abc import Callable

from dtg_assets.simulation.config import AnomalyParams, FunnelParams
from dtg_assets.simulation.funnel.visitors import DEVICE_TYPES

Neutral = float | Callable[[FunnelParams], float]

# Anomaly type -> (parameter, its neutral value); the parameters not listed keep their default
# (e.g. the fraud spike's share of the limit: what a fraud looks like, not how often).
STRENGTH_PARAMS: dict[str, tuple[tuple[str, Neutral], ...]] = {
    "null_burst": (("null_rate", 0.0),),
    "age_error": (("rate", 0.0),),
    "traffic_spike": (("visitor_multiplier", 1.0), ("bot_rate", 0.0)),
    "fraud_spike": (("rate", 0.0),),
    "limit_spike": (("rate", 0.0),),
    "stale_data": (("delay_hours", 0.0),),
    "conversion_drop": (("apply_rate", lambda funnel: funnel.apply_rate),),
    "duplicate_records": (("share", 0.0),),
    "orphan_records": (("share", 0.0),),
    "timezone_shift": (("hours", 0.0),),
    "distribution_shift": (
        ("mobile_share", 1.0 / len(DEVICE_TYPES)),
        ("income_multiplier", 1.0),
    ),
}
FLAT_TYPES: dict[str, str] = {
    "schema_drift": "one column of one table changes kind: there is no magnitude to scale",
    "missing_batch": "the batch is absent whole: there is no magnitude to scale",
}


def check_strength(value: float) -> float:
    """Check one strength.

    Args:
        value: The fraction of the default.

    Returns:
        The strength.

    Raises:
        ValueError: Unless ``0 < value <= 1``.
    """
    if not 0.0 < value <= 1.0:
        raise ValueError(f"strength={value!r} is out of range; allowed: 0 < strength <= 1")
    return value


def scaled_anomalies(
    defaults: AnomalyParams, funnel: FunnelParams, strength: float
) -> AnomalyParams:
    """Every anomaly type's parameters at one strength.

    Args:
        defaults: The parameters at strength 1.
        funnel: The normal funnel (the neutral apply rate of a conversion drop).
        strength: Fraction of the way from neutral to default, ``0 < strength <= 1``.

    Returns:
        The scaled parameters (validated like any configuration).

    Raises:
        ValueError: For a strength out of range.
    """
    check_strength(strength)
    data = defaults.model_dump()
    for anomaly, params in STRENGTH_PARAMS.items():
        for name, neutral in params:
            zero = neutral(funnel) if callable(neutral) else neutral
            # Written so that strength 1 gives the default exactly, not to a rounding error.
            data[anomaly][name] = strength * data[anomaly][name] + (1.0 - strength) * zero
    return AnomalyParams.model_validate(data)


def describe_strengths() -> list[tuple[str, str]]:
    """What strength means, per anomaly type (for reports).

    Returns:
        ``(anomaly type, meaning)`` pairs: the scaled parameters with their neutral values,
        or why the type's curve is flat.
    """
    out = []
    for anomaly, params in STRENGTH_PARAMS.items():
        parts = [
            f"{name} (neutral {'the funnel apply_rate' if callable(z) else f'{z:.4g}'})"
            for name, z in params
        ]
        out.append((anomaly, ", ".join(parts)))
    out.extend((anomaly, f"flat: {why}") for anomaly, why in FLAT_TYPES.items())
    return out
