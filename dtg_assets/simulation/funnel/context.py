"""What every table of a chunk shares: its streams, the batch's clock and the lineage columns.

A chunk is the unit of generation: ``n`` visitors of one segment (planned visitors, or the
extra visitors of a traffic spike) of one batch, with one random stream per table derived from
``(seed, table, window, day, batch, segment, chunk)``. Times are integer microseconds since the
Unix epoch, computed exactly (no float seconds), so sub-second batch spacing survives.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from dtg_assets.simulation.config import AnomalyParams, AnomalyType, FunnelParams, ScenarioConfig
from dtg_assets.simulation.plan import BatchPlan
from dtg_assets.simulation.pools import ValuePools
from dtg_assets.simulation.schemas import TABLE_SCHEMAS
from dtg_assets.simulation.streams import constant_strings, stream

US_PER_S = 1_000_000
US_PER_MIN = 60 * US_PER_S
US_PER_H = 60 * US_PER_MIN
US_PER_DAY = 24 * US_PER_H
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_ONE_US = dt.timedelta(microseconds=1)


def epoch_us(moment: dt.datetime) -> int:
    """Exact microseconds since the Unix epoch of an aware datetime (any year)."""
    return (moment - _EPOCH) // _ONE_US


def timestamps(values_us: np.ndarray) -> pa.Array:
    """UTC microsecond timestamps from integer microseconds since the epoch."""
    return pa.array(values_us, pa.timestamp("us", tz="UTC"))


# Value anomalies act inside the per-table draws; the structural ones (schema drift, duplicates,
# orphans, a missing batch) act on the generated tables afterwards (:mod:`..structural`).
VALUE_KINDS = frozenset(
    {
        AnomalyType.NULL_BURST,
        AnomalyType.AGE_ERROR,
        AnomalyType.TRAFFIC_SPIKE,
        AnomalyType.FRAUD_SPIKE,
        AnomalyType.LIMIT_SPIKE,
        AnomalyType.STALE_DATA,
        AnomalyType.CONVERSION_DROP,
        AnomalyType.TIMEZONE_SHIFT,
        AnomalyType.DISTRIBUTION_SHIFT,
    }
)


@dataclass(frozen=True)
class ChunkContext:
    """One chunk of a batch, and the twin it is compared with.

    The batch applies every value anomaly of its plan; the twin applies those of ``base`` (none
    for a batch with one anomaly: the twin is the normal batch). With several anomalies, the
    chunk is compared once per anomaly ``labelled``, with ``base`` the others, so that each
    anomaly's labels are exactly what it changed given the others.

    Attributes:
        config: The scenario.
        plan: The batch.
        pools: Faker value pools of the scenario's seed.
        segment: 0 for planned visitors, 1 for a traffic spike's extra visitors.
        chunk: Index of the chunk within its segment.
        n: Visitors in the chunk.
        base: Value anomalies the twin applies.
        labelled: The anomaly whose changes are labelled (None: nothing is compared).
    """

    config: ScenarioConfig
    plan: BatchPlan
    pools: ValuePools
    segment: int
    chunk: int
    n: int
    base: frozenset[AnomalyType] = frozenset()
    labelled: AnomalyType | None = None

    @property
    def funnel(self) -> FunnelParams:
        """The funnel's rates and distributions."""
        return self.config.funnel

    @property
    def anomalies(self) -> AnomalyParams:
        """Every anomaly's parameters."""
        return self.config.anomalies

    def has(self, kind: AnomalyType) -> bool:
        """Whether the batch applies ``kind``."""
        return kind in self.plan.anomalies

    def twin_has(self, kind: AnomalyType) -> bool:
        """Whether the twin applies ``kind``."""
        return kind in self.base

    @property
    def compare(self) -> bool:
        """Whether the chunk is compared with its twin (labels are computed)."""
        return self.labelled is not None

    @property
    def has_twin(self) -> bool:
        """Spike extra visitors have no twin unless the twin spikes too."""
        return self.segment == 0 or AnomalyType.TRAFFIC_SPIKE in self.base

    @property
    def start_us(self) -> int:
        """The batch's start, microseconds since the epoch."""
        return epoch_us(self.plan.start)

    def rng(self, table: str) -> np.random.Generator:
        """The chunk's random stream of one table (or of an anomaly's own draws)."""
        p = self.plan
        return stream(
            self.config.seed,
            table,
            p.window.value,
            p.day.toordinal(),
            p.index,
            self.segment,
            self.chunk,
        )

    def _shift_us(self, kinds: frozenset[AnomalyType] | tuple[AnomalyType, ...]) -> int:
        shift = 0
        if AnomalyType.STALE_DATA in kinds:
            shift -= round(self.anomalies.stale_data.delay_hours * US_PER_H)
        if AnomalyType.TIMEZONE_SHIFT in kinds:
            shift += round(self.anomalies.timezone_shift.hours * US_PER_H)
        return shift

    def shifted(self, ts: np.ndarray) -> np.ndarray:
        """Unshifted event times as the batch records them (``stale_data``, ``timezone_shift``)."""
        shift = self._shift_us(self.plan.anomalies)
        return ts + shift if shift else ts

    def twin_shifted(self, ts: np.ndarray) -> np.ndarray:
        """Unshifted event times as the twin records them."""
        shift = self._shift_us(self.base)
        return ts + shift if shift else ts

    def unstale(self, ts: np.ndarray) -> np.ndarray:
        """The batch's times as the twin has them."""
        shift = self._shift_us(self.base) - self._shift_us(self.plan.anomalies)
        return ts + shift if shift else ts

    def table(self, name: str, columns: dict[str, pa.Array]) -> pa.Table:
        """A landing table from its columns, with the lineage columns appended.

        Args:
            name: Landing table name.
            columns: Its columns but ``batch_id`` and ``ingested_at``, in schema order.

        Returns:
            The table in ``TABLE_SCHEMAS[name]``.
        """
        rows = len(next(iter(columns.values())))
        columns = dict(columns)
        columns["batch_id"] = constant_strings(self.plan.batch_id, rows)
        ingested = epoch_us(self.plan.ingested_at)
        columns["ingested_at"] = timestamps(np.full(rows, ingested, np.int64))
        return pa.Table.from_pydict(columns, schema=TABLE_SCHEMAS[name])
