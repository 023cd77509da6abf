"""Shared fixtures of the test suite: scenarios sized for tight statistics, generated once.

The engine fixtures build a few big batches once per session (about 200,000 visitors each, a
fraction of a second apiece) so that SPEC.md's rates can be pinned within a few standard errors,
plus a small scenario for landing-zone tests. Helpers that several test modules share (standard
errors, diffing a batch against its twin) live here too.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import math

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from dtg_assets.simulation.config import AnomalyType, ScenarioConfig
from dtg_assets.simulation.generate import BatchOutput, generate_batch
from dtg_assets.simulation.plan import BatchPlan, plan_day
from dtg_assets.simulation.schemas import PRIMARY_KEY, TABLES

START = dt.date(2026, 1, 5)
# Tolerance of every statistical assertion, in standard errors.
SIGMAS = 5.0
BIG = 200_000
# Traffic spike planned so the spiked batch has BIG visitors: int(80,000 * 2.5 + 0.5).
SPIKE_PLANNED = 80_000

# One normal batch, then every anomaly type once (including conversion_drop, which the default
# schedule does not use).
ANOMALY_SCHEDULE = [{"anomaly": None, "visitors": BIG}] + [
    {"anomaly": a.value, "visitors": SPIKE_PLANNED if a is AnomalyType.TRAFFIC_SPIKE else BIG}
    for a in AnomalyType
]


def assert_share(count: int, n: int, p: float, label: str = "") -> None:
    """Assert ``count / n`` is within SIGMAS binomial standard errors of ``p``."""
    assert n > 0, f"{label}: no trials"
    se = math.sqrt(p * (1 - p) / n)
    share = count / n
    assert abs(share - p) <= SIGMAS * se + 1e-12, (
        f"{label}: share {share:.5f} of {n} is not {p} +- {SIGMAS} x {se:.5f}"
    )


def assert_mean(values: np.ndarray, mean: float, sd: float, label: str = "") -> None:
    """Assert the sample mean is within SIGMAS standard errors (``sd / sqrt(n)``) of ``mean``."""
    values = np.asarray(values, dtype=np.float64)
    se = sd / math.sqrt(values.size)
    assert abs(values.mean() - mean) <= SIGMAS * se, (
        f"{label}: mean {values.mean():.5f} of {values.size} is not {mean} +- {SIGMAS * se:.5f}"
    )


def assert_uniform_ints(values: np.ndarray, low: int, high: int, label: str = "") -> None:
    """Assert integers cover exactly ``low..high`` (both ends reached), each with share 1/k."""
    values = np.asarray(values)
    assert np.array_equal(values, np.round(values)), f"{label}: not integral"
    values = values.astype(np.int64)
    k = high - low + 1
    assert values.size >= 20 * k, f"{label}: too few values to check {k} categories"
    assert values.min() == low and values.max() == high, (
        f"{label}: range {values.min()}..{values.max()} is not {low}..{high}"
    )
    counts = np.bincount(values - low, minlength=k)
    for offset, count in enumerate(counts):
        assert_share(int(count), values.size, 1 / k, f"{label}={low + offset}")
    assert_mean(values, (low + high) / 2, math.sqrt((k * k - 1) / 12), label)


def assert_uniform_categories(values: list, categories: list, label: str = "") -> None:
    """Assert values are exactly the categories, each with share 1/len(categories)."""
    assert set(values) == set(categories), f"{label}: {set(values)} != {set(categories)}"
    for cat in categories:
        assert_share(values.count(cat), len(values), 1 / len(categories), f"{label}={cat}")


def column(table: pa.Table, name: str) -> np.ndarray:
    """A column as numpy (timestamps as int64 microseconds since the epoch)."""
    col = table.column(name)
    if pa.types.is_timestamp(col.type):
        col = col.cast(pa.int64())
    return col.to_numpy()


def twin_plan(plan: BatchPlan) -> BatchPlan:
    """The normal twin of a batch: same plan without its anomaly."""
    return dataclasses.replace(plan, anomaly=None)


def _canonical(columns: pa.Array) -> pa.Array:
    """Sorted comma-joined column names per row, from ``"a,b"`` strings in any order."""
    uniq = pc.unique(columns).to_pylist()
    canon = [",".join(sorted(u.split(","))) if u else "" for u in uniq]
    return pa.array(canon, pa.string()).take(pc.index_in(columns, pa.array(uniq)))


LABEL_KEY = ["table", "record_id", "effect", "columns"]


def diff_against_twin(out: BatchOutput, twin: BatchOutput) -> pa.Table:
    """Recompute, from the data alone, the labels a batch should carry.

    Records are matched by primary key (a full outer join). A record in both whose columns
    differ is ``modified`` with exactly those columns; one only in the batch is ``added`` and one
    only in the twin is ``removed`` (the affected columns of those two are not derivable from a
    diff: null).

    Returns:
        A table of ``LABEL_KEY`` columns, ``columns`` being sorted comma-joined names, sorted by
        table and record id.
    """
    parts = []
    for table in TABLES:
        pk = PRIMARY_KEY[table]
        a, t = out.tables[table], twin.tables[table]
        for side in (a, t):
            assert pc.count_distinct(side.column(pk)).as_py() == side.num_rows, f"{table}: dup ids"
        a = a.append_column("_in_a", pa.array(np.ones(a.num_rows, bool)))
        t = t.append_column("_in_t", pa.array(np.ones(t.num_rows, bool)))
        j = a.join(t, pk, join_type="full outer", left_suffix="@a", right_suffix="@t")
        in_a = pc.fill_null(j.column("_in_a"), False).to_numpy(zero_copy_only=False)
        in_t = pc.fill_null(j.column("_in_t"), False).to_numpy(zero_copy_only=False)
        names = [c for c in out.tables[table].column_names if c != pk]
        code = np.zeros(j.num_rows, np.int64)
        for bit, name in enumerate(names):
            x, y = j.column(f"{name}@a"), j.column(f"{name}@t")
            neq = pc.fill_null(pc.not_equal(x, y), False).to_numpy(zero_copy_only=False)
            null_x = pc.is_null(x).to_numpy(zero_copy_only=False)
            null_y = pc.is_null(y).to_numpy(zero_copy_only=False)
            code |= (neq | (null_x != null_y)).astype(np.int64) << bit
        code[~(in_a & in_t)] = 0
        effect = np.full(j.num_rows, "", object)
        effect[in_a & ~in_t] = "added"
        effect[~in_a & in_t] = "removed"
        effect[code != 0] = "modified"
        rows = np.flatnonzero(effect != "")
        uniq, inverse = np.unique(code[rows], return_inverse=True)
        canon = [",".join(sorted(n for b, n in enumerate(names) if c >> b & 1)) for c in uniq]
        cols = pa.array(canon, pa.string()).take(pa.array(inverse))
        cols = pc.if_else(pa.array(code[rows] != 0), cols, pa.scalar(None, pa.string()))
        n = rows.size
        parts.append(
            pa.table(
                {
                    "table": pa.array([table] * n, pa.string()),
                    "record_id": j.column(pk).take(pa.array(rows)),
                    "effect": pa.array(effect[rows].tolist(), pa.string()),
                    "columns": cols,
                }
            )
        )
    return pa.concat_tables(parts).sort_by([("table", "ascending"), ("record_id", "ascending")])


def label_key(labels: pa.Table, columns_of_added: bool = False) -> pa.Table:
    """Engine labels shaped like :func:`diff_against_twin` (added columns null unless asked)."""
    cols = _canonical(pc.binary_join(labels.column("affected_columns"), ","))
    if not columns_of_added:
        keep = pc.equal(labels.column("effect"), "modified")
        cols = pc.if_else(keep, cols, pa.scalar(None, pa.string()))
    table = pa.table(
        {
            "table": labels.column("table"),
            "record_id": labels.column("record_id"),
            "effect": labels.column("effect"),
            "columns": cols,
        }
    )
    return table.sort_by([("table", "ascending"), ("record_id", "ascending")])


def assert_same_labels(got: pa.Table, expected: pa.Table) -> None:
    """Assert two label-key tables are equal, showing a few differing rows if not."""
    if got.equals(expected):
        return
    g = {tuple(r.values()) for r in got.to_pylist()}
    e = {tuple(r.values()) for r in expected.to_pylist()}
    raise AssertionError(
        f"labels differ from the twin diff: {len(got)} labelled vs {len(expected)} expected; "
        f"unexpected {sorted(g - e, key=str)[:5]}; missing {sorted(e - g, key=str)[:5]}"
    )


@pytest.fixture(scope="session")
def big_config() -> ScenarioConfig:
    """SPEC defaults, one 200k-visitor historical day, one live day with every anomaly."""
    return ScenarioConfig(
        start_date=START,
        historical_days=1,
        live_days=1,
        historical_visitors=BIG,
        seed=20260105,
        live_schedule=ANOMALY_SCHEDULE,
    )


@pytest.fixture(scope="session")
def normal_batch(big_config: ScenarioConfig) -> BatchOutput:
    """A normal 200k-visitor batch with SPEC's default funnel."""
    return generate_batch(big_config, plan_day(big_config, START)[0])


@pytest.fixture(scope="session")
def dense_batch() -> BatchOutput:
    """Every visitor applies, is approved and transacts: many rows for downstream ranges."""
    config = ScenarioConfig(
        start_date=START,
        historical_days=1,
        live_days=0,
        historical_visitors=60_000,
        seed=7,
        funnel={"apply_rate": 1.0, "approve_rate": 1.0, "transact_rate": 1.0},
    )
    return generate_batch(config, plan_day(config, START)[0])


@pytest.fixture(scope="session")
def anomaly_batch(big_config: ScenarioConfig):
    """``anomaly -> (plan, batch, twin)`` for the live batch carrying that anomaly, cached."""
    plans = {p.anomaly: p for p in plan_day(big_config, START + dt.timedelta(days=1))}

    @functools.cache
    def get(anomaly: AnomalyType) -> tuple[BatchPlan, BatchOutput, BatchOutput]:
        plan = plans[anomaly]
        return plan, generate_batch(big_config, plan), generate_batch(big_config, twin_plan(plan))

    return get


@pytest.fixture(scope="session")
def small_config() -> ScenarioConfig:
    """A small four-day scenario (two historical, two live days) for landing-zone tests."""
    return ScenarioConfig(start_date=START, historical_days=2, live_days=2, seed=99, scale=0.05)
