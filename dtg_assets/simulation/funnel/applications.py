"""Applications of a chunk: one candidate application per visitor, most never submitted.

Whether a visitor applies, and every field of the application, is drawn for every visitor, so
the twin and the anomalous batch differ only where the anomaly acts: ``conversion_drop``
removes applications (a lower apply rate over the same uniforms), ``age_error`` gives
under-age ages (and with them the ``rejected - under age`` status), ``limit_spike`` raises
requested limits, ``distribution_shift`` shrinks incomes (requested limits follow, so the
tenth-of-income rule holds), and ``stale_data`` and ``timezone_shift`` shift times with the
visitor events they follow.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from dtg_assets.simulation.config import AnomalyType, FunnelParams
from dtg_assets.simulation.funnel.context import US_PER_MIN, ChunkContext, timestamps
from dtg_assets.simulation.funnel.visitors import Visitors
from dtg_assets.simulation.labels import TableDiff
from dtg_assets.simulation.streams import random_bytes, string_array, uuid4_strings

EMPLOYMENT = string_array(["salaried", "self-employed", "unemployed"])
STATUS_APPROVED, STATUS_REJECTED, STATUS_SUBMITTED, STATUS_UNDER_AGE = 0, 1, 2, 3
STATUSES = string_array(["approved", "rejected", "submitted", "rejected - under age"])


@dataclass(frozen=True)
class Applications:
    """A chunk's applications and what accounts need of them; arrays are per visitor unless
    said otherwise.

    Attributes:
        table: The landing rows.
        ids: Application ids of the visitors in ``keep`` (one per either-version application).
        keep: Visitors with an application in either version.
        exists: The visitor has an application in this batch.
        twin_exists: The visitor has an application in the twin.
        approved: The application is approved in this batch.
        twin_approved: The application is approved in the twin.
        income: Annual income of the visitor's application.
        twin_income: The same in the twin.
        ts: Application time (microseconds, as landed).
        diff: Comparison with the twin (None for a normal batch).
    """

    table: pa.Table
    ids: pa.StringArray
    keep: np.ndarray
    exists: np.ndarray
    twin_exists: np.ndarray
    approved: np.ndarray
    twin_approved: np.ndarray
    income: np.ndarray
    twin_income: np.ndarray
    ts: np.ndarray
    diff: TableDiff | None


def application_status(
    f: FunnelParams, age: np.ndarray, approve_u: np.ndarray, reject_u: np.ndarray
) -> np.ndarray:
    """Status codes (``STATUS_*``) from the applicant's age and two uniforms.

    Args:
        f: Funnel parameters.
        age: Applicant ages.
        approve_u: Uniforms deciding approval.
        reject_u: Uniforms deciding rejected vs submitted among the not approved.

    Returns:
        One status code per applicant.
    """
    not_approved = np.where(reject_u < f.reject_share, STATUS_REJECTED, STATUS_SUBMITTED)
    status = np.where(approve_u < f.approve_rate, STATUS_APPROVED, not_approved)
    return np.where(age < f.minimum_age, STATUS_UNDER_AGE, status)


def generate_applications(ctx: ChunkContext, visitors: Visitors) -> Applications:
    """Draw the chunk's applications.

    Args:
        ctx: The chunk.
        visitors: The chunk's visitor events.

    Returns:
        The applications and their comparison with the twin.
    """
    f, n, rng, a = ctx.funnel, ctx.n, ctx.rng("applications"), ctx.anomalies
    apply_u = rng.random(n)
    raw_id = random_bytes(rng, n)
    drawn_age = rng.integers(f.applicant_age.low, f.applicant_age.high + 1, n)
    drawn_income = rng.integers(f.annual_income.low, f.annual_income.high + 1, n)
    employment = rng.integers(0, len(EMPLOYMENT), n)
    lag_min = rng.integers(f.application_lag_minutes.low, f.application_lag_minutes.high + 1, n)
    approve_u = rng.random(n)
    reject_u = rng.random(n)
    under_u = rng.random(n)
    under_age = rng.integers(a.age_error.age.low, a.age_error.age.high + 1, n)
    limit_u = rng.random(n)
    limit_share = rng.uniform(a.limit_spike.income_share.low, a.limit_spike.income_share.high, n)

    def rate(has: Callable[[AnomalyType], bool]) -> float:
        return a.conversion_drop.apply_rate if has(AnomalyType.CONVERSION_DROP) else f.apply_rate

    def incomes(has: Callable[[AnomalyType], bool]) -> np.ndarray:
        if not has(AnomalyType.DISTRIBUTION_SHIFT):
            return drawn_income
        multiplier = a.distribution_shift.income_multiplier
        return np.floor(drawn_income * multiplier).astype(np.int64)

    def ages(has: Callable[[AnomalyType], bool]) -> np.ndarray:
        if not has(AnomalyType.AGE_ERROR):
            return drawn_age
        return np.where(under_u < a.age_error.rate, under_age, drawn_age)

    def limits(has: Callable[[AnomalyType], bool], inc: np.ndarray) -> np.ndarray:
        if not has(AnomalyType.LIMIT_SPIKE):
            return inc // 10
        spiked = (inc * limit_share).astype(np.int64)
        return np.where(limit_u < a.limit_spike.rate, spiked, inc // 10)

    twin_exists = (apply_u < rate(ctx.twin_has)) & ctx.has_twin
    exists = apply_u < rate(ctx.has)
    income, twin_income = incomes(ctx.has), incomes(ctx.twin_has)
    age, twin_age = ages(ctx.has), ages(ctx.twin_has)
    twin_status = application_status(f, twin_age, approve_u, reject_u)
    status = twin_status if age is twin_age else application_status(f, age, approve_u, reject_u)
    limit, twin_limit = limits(ctx.has, income), limits(ctx.twin_has, twin_income)
    # visitors.ts is already shifted as the batch records it; the twin's is shifted as the twin's.
    ts = visitors.ts + lag_min * US_PER_MIN
    twin_ts = ctx.unstale(ts)

    ids = uuid4_strings(raw_id[exists | twin_exists])
    keep = np.flatnonzero(exists | twin_exists)
    pick = exists[keep]
    table = ctx.table(
        "applications",
        {
            "app_id": ids.filter(pa.array(pick)),
            "visitor_id": visitors.ids.take(np.flatnonzero(exists)),
            "applicant_age": pa.array(age[exists], pa.int64()),
            "annual_income": pa.array(income[exists].astype(np.float64)),
            "employment_status": EMPLOYMENT.take(employment[exists]),
            "req_credit_limit": pa.array(limit[exists], pa.int64()),
            "timestamp": timestamps(ts[exists]),
            "application_status": STATUSES.take(status[exists]),
        },
    )
    diff = None
    if ctx.compare:
        diff = TableDiff(
            "applications",
            ids,
            twin_exists=twin_exists[keep],
            exists=pick,
            modified={
                "applicant_age": (age != twin_age)[keep],
                "annual_income": (income != twin_income)[keep],
                "req_credit_limit": (limit != twin_limit)[keep],
                "timestamp": (ts != twin_ts)[keep],
                "application_status": (status != twin_status)[keep],
            },
        )
    return Applications(
        table=table,
        ids=ids,
        keep=keep,
        exists=exists,
        twin_exists=twin_exists,
        approved=exists & (status == STATUS_APPROVED),
        twin_approved=twin_exists & (twin_status == STATUS_APPROVED),
        income=income,
        twin_income=twin_income,
        ts=ts,
        diff=diff,
    )
