"""Shared fixtures of the test suite: scenarios sized for tight statistics, generated once.

The engine fixtures build a few big batches once per session (about 200,000 visitors each, a
fraction of a second apiece) so that SPEC.md's rates can be pinned within a few standard errors,
plus a small scenario for landing-zone tests. Helpers that several test modules share (standard
errors, diffing a batch against its twin) live here too. For the Dagster layer it pins
``DTG_START_DATE`` before the definitions are imported and builds small in-process resources.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import hashlib
import importlib.util
import math
import os
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from dtg_assets.simulation.config import STRUCTURAL_TYPES, AnomalyType, ScenarioConfig
from dtg_assets.simulation.generate import BatchOutput, generate_batch
from dtg_assets.simulation.plan import BatchPlan, plan_day
from dtg_assets.simulation.schemas import PRIMARY_KEY, TABLES

START = dt.date(2026, 1, 5)
# Tolerance of every statistical assertion, in standard errors.
SIGMAS = 5.0
BIG = 200_000
# Traffic spike planned so the spiked batch has BIG visitors: int(80,000 * 2.5 + 0.5).
SPIKE_PLANNED = 80_000

# The seven value anomalies of the original model (the structural ones are tested on smaller
# batches in test_structural.py).
ORIGINAL_ANOMALIES = [a for a in AnomalyType if a.value not in STRUCTURAL_TYPES]
# One normal batch, then every original anomaly type once (including conversion_drop, which the
# default schedule does not use).
ANOMALY_SCHEDULE = [{"anomaly": None, "visitors": BIG}] + [
    {"anomaly": a.value, "visitors": SPIKE_PLANNED if a is AnomalyType.TRAFFIC_SPIKE else BIG}
    for a in ORIGINAL_ANOMALIES
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
    """The normal twin of a batch: same plan without its anomalies."""
    return dataclasses.replace(plan, anomaly=None, anomalies=())


def _canonical(columns: pa.Array) -> pa.Array:
    """Sorted comma-joined column names per row, from ``"a,b"`` strings in any order."""
    uniq = pc.unique(columns).to_pylist()
    canon = [",".join(sorted(u.split(","))) if u else "" for u in uniq]
    return pa.array(canon, pa.string()).take(pc.index_in(columns, pa.array(uniq)))


LABEL_KEY = ["table", "record_id", "effect", "columns"]


def diff_against_twin(out: BatchOutput, twin: BatchOutput) -> pa.Table:
    """Recompute, from the data alone, the labels a batch should carry.

    Records are matched by primary key. A record in both whose columns differ is ``modified``
    with exactly those columns; one only in the batch is ``added`` and one only in the twin is
    ``removed`` (the affected columns of those two are not derivable from a diff: null).

    Returns:
        A table of ``LABEL_KEY`` columns, ``columns`` being sorted comma-joined names.
    """
    parts = []
    for table in TABLES:
        pk = PRIMARY_KEY[table]
        a, t = out.tables[table], twin.tables[table]
        a_ids, t_ids = a.column(pk).combine_chunks(), t.column(pk).combine_chunks()
        for ids in (a_ids, t_ids):
            assert pc.count_distinct(ids).as_py() == len(ids), f"{table}: duplicate ids"
        # Position in the batch of each twin record (null: removed by the anomaly).
        pos = pc.index_in(t_ids, value_set=a_ids)
        in_a = pc.is_valid(pos).to_numpy(zero_copy_only=False)
        ai = pos.filter(pc.is_valid(pos))
        ti = np.flatnonzero(in_a)
        added = np.ones(a.num_rows, bool)
        added[ai.to_numpy()] = False
        names = [c for c in a.column_names if c != pk]
        code = np.zeros(ti.size, np.int64)
        for bit, name in enumerate(names):
            x, y = a.column(name).take(ai), t.column(name).take(pa.array(ti))
            neq = pc.fill_null(pc.not_equal(x, y), False).to_numpy(zero_copy_only=False)
            null_x = pc.is_null(x).to_numpy(zero_copy_only=False)
            null_y = pc.is_null(y).to_numpy(zero_copy_only=False)
            code |= (neq | (null_x != null_y)).astype(np.int64) << bit
        uniq, inverse = np.unique(code, return_inverse=True)
        canon = [",".join(sorted(n for b, n in enumerate(names) if c >> b & 1)) for c in uniq]
        modified = code != 0
        pieces = [
            (a_ids.filter(pa.array(added)), "added", None),
            (t_ids.filter(pa.array(~in_a)), "removed", None),
            (
                t_ids.take(pa.array(ti[modified])),
                "modified",
                pa.array(canon, pa.string()).take(pa.array(inverse[modified])),
            ),
        ]
        for ids, effect, cols in pieces:
            n = len(ids)
            parts.append(
                pa.table(
                    {
                        "table": pa.array([table] * n, pa.string()),
                        "record_id": ids,
                        "effect": pa.array([effect] * n, pa.string()),
                        "columns": cols if cols is not None else pa.nulls(n, pa.string()),
                    }
                )
            )
    return pa.concat_tables(parts)


def label_key(labels: pa.Table, columns_of_added: bool = False) -> pa.Table:
    """Engine labels shaped like :func:`diff_against_twin` (added columns null unless asked)."""
    cols = _canonical(pc.binary_join(labels.column("affected_columns"), ","))
    if not columns_of_added:
        keep = pc.equal(labels.column("effect"), "modified")
        cols = pc.if_else(keep, cols, pa.scalar(None, pa.string()))
    return pa.table(
        {
            "table": labels.column("table"),
            "record_id": labels.column("record_id"),
            "effect": labels.column("effect"),
            "columns": cols,
        }
    )


def assert_same_labels(got: pa.Table, expected: pa.Table) -> None:
    """Assert two label-key tables hold the same rows (in any order), showing a few if not."""
    got_ids = got.column("record_id").combine_chunks()
    # Record ids are random UUIDs, unique across tables: a bijection on them matches rows.
    unique = pc.count_distinct(got_ids).as_py() == got.num_rows
    idx = pc.index_in(expected.column("record_id"), value_set=got_ids)
    same_size = unique and len(got) == len(expected) and idx.null_count == 0
    if same_size and got.take(idx).equals(expected):
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


# --- Dagster layer -------------------------------------------------------------------------
# Partitions read DTG_START_DATE when dtg_assets.partitions is first imported, so it is pinned
# here, before any test module imports the definitions; the seed and data root are cleared so
# that a developer's environment cannot leak into a run (tests set them explicitly).
DAGSTER_START = dt.date(2026, 11, 1)
os.environ["DTG_START_DATE"] = DAGSTER_START.isoformat()
for _name in ("DTG_SEED", "DTG_DATA_ROOT"):
    os.environ.pop(_name, None)
# One day of each window, inside the pinned partitions.
HISTORICAL_DAY = DAGSTER_START + dt.timedelta(days=2)
LIVE_DAY = DAGSTER_START + dt.timedelta(days=15)


def dagster_resources(data_root, scale: float = 0.05, **simulation) -> dict:
    """Resources for an in-process run: small volume into ``data_root``, SPEC's schedule."""
    from dtg_assets.resources import AnomalyScheduleResource, SimulationResource

    return {
        "simulation": SimulationResource(data_root=str(data_root), scale=scale, **simulation),
        "anomaly_schedule": AnomalyScheduleResource(),
    }


def run_checks_only(job_name: str, day, run_config: dict | None = None, instance=None):
    """Run only a window's asset checks on one landed day, as "Execute checks" does in the UI.

    ``dg.materialize`` cannot take a partition for a checks-only selection (it looks for the
    partitions of the selected assets, of which there are none), so the window's job is subset
    to its checks instead: the job carries the partitions.

    Args:
        job_name: ``historical_job`` or ``live_job``.
        day: The partition.
        run_config: Run config of the resources.
        instance: The Dagster instance (an ephemeral one when None), to read the run's logs.

    Returns:
        The in-process result (not raised on failure).
    """
    from dtg_assets.definitions import defs

    job = defs.resolve_job_def(job_name)
    graph = defs.resolve_asset_graph()
    window = job_name.removesuffix("_job")
    checks = {k for k in graph.asset_check_keys if k.asset_key.path[0] == window}
    subset = job.get_subset(asset_selection=set(), asset_check_selection=checks)
    return subset.execute_in_process(
        partition_key=day.isoformat(),
        run_config=run_config,
        instance=instance,
        raise_on_error=False,
    )


# --- the structural anomalies ---------------------------------------------------------------
MID = 40_000
# A live day with every new anomaly once (a normal batch after the duplicates receives their
# replayed copies), then two batches with two anomalies each.
NEW_SCHEDULE = [
    {"anomaly": None, "visitors": MID},
    {"anomaly": "schema_drift", "visitors": MID},
    {"anomaly": "duplicate_records", "visitors": MID},
    {"anomaly": None, "visitors": MID},
    {"anomaly": "orphan_records", "visitors": MID},
    {"anomaly": "timezone_shift", "visitors": MID},
    {"anomaly": "distribution_shift", "visitors": MID},
    {"anomaly": "missing_batch", "visitors": MID},
    {"anomalies": ["fraud_spike", "timezone_shift"], "visitors": MID},
    {"anomalies": ["null_burst", "schema_drift"], "visitors": MID},
]


@pytest.fixture(scope="session")
def new_config() -> ScenarioConfig:
    """One live day of ``NEW_SCHEDULE`` (40,000 visitors a batch), SPEC funnel defaults."""
    return ScenarioConfig(
        start_date=START, historical_days=1, live_days=1, seed=424242, live_schedule=NEW_SCHEDULE
    )


@pytest.fixture(scope="session")
def new_batch(new_config: ScenarioConfig):
    """``index -> (plan, batch, twin)`` of ``NEW_SCHEDULE``'s batches, cached."""
    plans = plan_day(new_config, START + dt.timedelta(days=1))

    @functools.cache
    def get(index: int) -> tuple[BatchPlan, BatchOutput, BatchOutput]:
        plan = plans[index]
        twin = generate_batch(new_config, twin_plan(plan))
        return plan, generate_batch(new_config, plan), twin

    return get


# --- Parallel runs (pytest-xdist) -----------------------------------------------------------
# pyproject's addopts run the suite as `-n auto --dist loadfile`: each test module runs whole in
# one worker process (module fixtures built once; the distributed module keeps its one cluster).
# One worker more than the CPUs: many tests mostly wait on other processes (Dagster CLI runs,
# the cluster's services), and the spare worker uses the CPU they leave. More than 8 only
# multiply Dagster start-ups. `-n 0` runs everything in this process.
MAX_TEST_WORKERS = 8


def pytest_xdist_auto_num_workers(config) -> int:
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return min((cpus or 1) + 1, MAX_TEST_WORKERS)


# --- Distributed deployment (deploy/) -------------------------------------------------------
# Tests marked `distributed` start PostgreSQL, Redis and Celery workers (the `distributed` extra,
# which .ci/run installs with the OS services). Where that extra is not installed and CI is
# unset (the README's `pip install -e '.[dev]' && pytest`), they are deselected, and pytest's
# header says so; in CI, or with the extra, they run, and services that cannot start fail them.
REPO = Path(__file__).resolve().parent.parent


def _distributed_extra() -> bool:
    return all(importlib.util.find_spec(m) for m in ("dagster_celery", "dagster_postgres"))


def _run_distributed() -> bool:
    return bool(os.environ.get("CI")) or _distributed_extra()


def pytest_report_header(config) -> str:
    if _run_distributed():
        return "distributed tests: run (PostgreSQL, Redis and Celery workers on 127.0.0.1)"
    return (
        "distributed tests: deselected (the `distributed` extra is not installed: "
        "pip install -e '.[dev,distributed]' plus redis-server and PostgreSQL to run them)"
    )


def pytest_collection_modifyitems(config, items) -> None:
    if _run_distributed():
        return
    deselected = [item for item in items if item.get_closest_marker("distributed")]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = [item for item in items if not item.get_closest_marker("distributed")]


def tree_hashes(root: Path) -> dict[str, str]:
    """``relative path -> sha256`` of every landing and ground-truth file under a data root."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for top in ("landing", "ground_truth")
        for p in sorted((root / top).rglob("*"))
        if p.is_file()
    }


def load_cluster_module():
    """``deploy/cluster.py``, the script that brings a local cluster up (not a package)."""
    spec = importlib.util.spec_from_file_location("dtg_deploy_cluster", REPO / "deploy/cluster.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it executes
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A local cluster of deploy/: PostgreSQL, Redis, two Celery workers and the webserver on
    free loopback ports (the daemon is started by the tests that need it), all stopped after
    (killed: nothing of a test cluster needs a clean shutdown)."""
    deploy = load_cluster_module()
    root = tmp_path_factory.mktemp("cluster")
    env = {
        "DTG_START_DATE": DAGSTER_START.isoformat(),
        "DTG_DATA_ROOT": str(root / "data"),
        "DTG_SEED": "42",
        "DTG_BACKFILL_MAX_PARTITIONS_PER_RUN": "4",
    }
    services = deploy.Cluster(root, workers=2, env=env, durable=False)
    try:
        services.up(daemon=False)
    except deploy.ClusterError as exc:
        pytest.fail(f"the distributed test services could not start: {exc}", pytrace=False)
    try:
        yield services
    finally:
        services.down(graceful=False)
