"""Base pydantic models of the simulator's configuration: strict, immutable, with ranges.

Every configuration model derives from :class:`StrictModel` (unknown keys are errors, instances
are frozen); :class:`IntRange` and :class:`FloatRange` are the uniform ranges of the funnel and
the anomalies, and :data:`Probability` a float in [0, 1].
"""

from __future__ import annotations

from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

Probability = Annotated[float, Field(ge=0.0, le=1.0)]


class StrictModel(BaseModel):
    """Base model: unknown keys are errors and instances are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class IntRange(StrictModel):
    """Inclusive integer range ``U{low..high}``."""

    low: int
    high: int

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.low > self.high:
            raise ValueError(f"low={self.low} must be <= high={self.high}")
        return self


class FloatRange(StrictModel):
    """Continuous uniform range ``U(low, high)``."""

    low: float
    high: float

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.low > self.high:
            raise ValueError(f"low={self.low} must be <= high={self.high}")
        return self
