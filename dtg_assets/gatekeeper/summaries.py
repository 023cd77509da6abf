"""The baseline's building blocks: robust distributions, rates and column/table profiles.

Strict, immutable pydantic models (unknown keys are errors) that :class:`~dtg_assets.gatekeeper.
baseline.Baseline` is made of: :class:`Distribution` (median, MAD, extremes and a quantile grid
dense in the tails), :class:`Rate` (pooled counts and the spread of per-batch rates), the
profiles of landing columns and tables, binned histograms and the arrival cadence. They hold
what history showed, never a threshold: detectors derive those from them.
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from dtg_assets.gatekeeper.stats import MAD_TO_SD, robust_summary

# Dense in the tails, where thresholds and exceedance rates are read off.
DEFAULT_PROBS = (
    0.0,
    0.001,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    0.75,
    0.9,
    0.95,
    0.975,
    0.99,
    0.995,
    0.999,
    1.0,
)


class Model(BaseModel):
    """Strict, immutable base of the baseline's models."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class BaselineConfig(Model):
    """What the baseline measures (definitions, not thresholds)."""

    quantile_probs: tuple[float, ...] = DEFAULT_PROBS
    short_session_seconds: float = Field(1.0, gt=0)
    max_domain_values: int = Field(
        500, ge=1, description="Columns with more distinct values get a shape check instead."
    )
    closed_domain_support: int = Field(
        30, ge=1, description="Rows per distinct value above which a domain counts as complete."
    )


class Distribution(Model):
    """Robust summary of a numeric distribution."""

    count: int = 0
    mean: float | None = None
    sd: float | None = None
    min: float | None = None
    max: float | None = None
    median: float | None = None
    mad: float | None = None
    probs: list[float] = []
    values: list[float] = []

    @classmethod
    def of(cls, values: np.ndarray, probs: tuple[float, ...]) -> Distribution:
        """Summarise observations (NaNs ignored)."""
        return cls(**robust_summary(np.asarray(values, dtype=np.float64), probs))

    def quantile(self, p: float) -> float:
        """Interpolated quantile (NaN for an empty distribution)."""
        return float(np.interp(p, self.probs, self.values)) if self.count else float("nan")

    @property
    def robust_sd(self) -> float:
        """``1.4826 * MAD``: the standard deviation a normal with this MAD would have."""
        return MAD_TO_SD * (self.mad or 0.0)

    def fraction_above(self, x: float) -> float:
        """Share of the history above ``x`` (exactly 0 beyond the maximum)."""
        if not self.count or x >= self.max:
            return 0.0
        if x < self.min:
            return 1.0
        return float(1.0 - np.interp(x, self.values, self.probs))

    def fraction_below(self, x: float) -> float:
        """Share of the history below ``x`` (exactly 0 under the minimum)."""
        if not self.count or x <= self.min:
            return 0.0
        if x > self.max:
            return 1.0
        return float(np.interp(x, self.values, self.probs))

    def learned_range(self, tail: float, k: float, tail_records: int = 0) -> tuple[float, float]:
        """The range of values history makes normal: its extremes, each pushed out by ``k``
        times the width of its outermost ``tail`` of history.

        No shape is assumed: a bounded column (a uniform draw) has thin outer tails and gets
        a tight range just beyond what history showed, a long-tailed one a wide margin. A
        column that was constant in history (both widths 0) gets exactly its value. A short
        history's extremes are themselves uncertain (a new value beats the largest of ``n``
        with probability ``1 / (n + 1)``), so each tail holds at least ``tail_records``
        values: the fewer the values, the wider the margin.

        Args:
            tail: Share of history in each outer tail (e.g. 0.01: from the 1 % quantile to
                the minimum, from the 99 % quantile to the maximum).
            k: Widths added beyond each extreme.
            tail_records: Fewest historical values each tail holds (at most half of them).

        Returns:
            ``(low, high)``; ``(nan, nan)`` without history.
        """
        if not self.count:
            return float("nan"), float("nan")
        tail = min(0.5, max(tail, tail_records / self.count))
        low_width = self.quantile(tail) - self.min
        high_width = self.max - self.quantile(1.0 - tail)
        return self.min - k * low_width, self.max + k * high_width

    def upper_fence(self, quantile: float, k: float, spread_floor: float) -> float:
        """A value beyond which a record is an outlier: a high quantile plus ``k`` spreads.

        The spread is the robust standard deviation, floored at ``spread_floor * |median|`` so
        an almost constant history (MAD near 0) still gets a margin.
        """
        spread = max(self.robust_sd, spread_floor * abs(self.median or 0.0))
        return self.quantile(quantile) + k * spread


class Rate(Model):
    """A rate: pooled historical counts and the spread of its per-batch values."""

    successes: int = 0
    trials: int = 0
    per_batch: Distribution = Distribution()

    @property
    def rate(self) -> float:
        """Pooled rate (0 without history)."""
        return self.successes / self.trials if self.trials else 0.0


class ColumnProfile(Model):
    """One landing column in history."""

    kind: str
    rows: int
    nulls: int
    distinct: int
    singletons: int
    domain: dict[str, int] | None = None
    shapes: dict[str, int] | None = None
    shape_singletons: int = 0


class TableProfile(Model):
    """One landing table in history."""

    rows: int
    columns: dict[str, ColumnProfile]
    duplicate_keys: int
    ingestion_lag_seconds: Distribution
    replayed_keys: int = 0
    orphans: int = 0
    parent_offset_seconds: Distribution | None = None


class Histogram(Model):
    """A column's history in bins: numeric ``edges`` or categorical ``values`` (plus other)."""

    edges: list[float] = []
    values: list[str] = []
    counts: list[int] = []


HISTOGRAM = ("edges", "values", "counts")


class Cadence(Model):
    """When historical batches started, as learned from their ids and ingestion times."""

    offsets_seconds: list[float] = Field([], description="Distinct start offsets in the day.")
    batches_per_day: float = 0.0
    ingestion_delay_seconds: float | None = None
