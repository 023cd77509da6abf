"""Accounts of a chunk: one candidate account per visitor, opened for approved applications.

No anomaly edits accounts directly: an account exists in a version when its application is
approved there (so ``age_error`` and ``conversion_drop`` remove accounts), ``distribution_shift``
lowers its limit with the income, and ``stale_data`` and ``timezone_shift`` shift its opening
time with the application's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from dtg_assets.simulation.funnel.applications import Applications
from dtg_assets.simulation.funnel.context import US_PER_H, ChunkContext, timestamps
from dtg_assets.simulation.labels import TableDiff
from dtg_assets.simulation.streams import constant_strings, random_bytes, uuid4_strings


@dataclass(frozen=True)
class Accounts:
    """A chunk's accounts and what transactions need of them; arrays are per visitor unless
    said otherwise.

    Attributes:
        table: The landing rows.
        ids: Account ids of the visitors in ``keep``.
        keep: Visitors with an account in either version.
        exists: The visitor has an account in this batch.
        twin_exists: The visitor has an account in the twin.
        limit: Approved limit of the visitor's account.
        twin_limit: The same in the twin.
        ts: Account opening time (microseconds, as landed).
        diff: Comparison with the twin (None for a normal batch).
    """

    table: pa.Table
    ids: pa.StringArray
    keep: np.ndarray
    exists: np.ndarray
    twin_exists: np.ndarray
    limit: np.ndarray
    twin_limit: np.ndarray
    ts: np.ndarray
    diff: TableDiff | None


def positions(n: int, keep: np.ndarray) -> np.ndarray:
    """Per visitor, the position of its record among the ``keep`` visitors (-1 if none)."""
    pos = np.full(n, -1, np.int64)
    pos[keep] = np.arange(keep.size)
    return pos


def generate_accounts(ctx: ChunkContext, apps: Applications) -> Accounts:
    """Draw the chunk's accounts.

    Args:
        ctx: The chunk.
        apps: The chunk's applications.

    Returns:
        The accounts and their comparison with the twin.
    """
    f, n, rng = ctx.funnel, ctx.n, ctx.rng("accounts")
    raw_id = random_bytes(rng, n)
    factor = rng.uniform(f.limit_factor.low, f.limit_factor.high, n)
    rate = rng.uniform(f.interest_rate.low, f.interest_rate.high, n)
    lag_h = rng.integers(f.account_lag_hours.low, f.account_lag_hours.high + 1, n)

    exists, twin_exists = apps.approved, apps.twin_approved
    approved_limit = ((apps.income // 10) * factor).astype(np.int64)
    twin_limit = approved_limit
    if apps.twin_income is not apps.income:
        twin_limit = ((apps.twin_income // 10) * factor).astype(np.int64)
    ts = apps.ts + lag_h * US_PER_H
    either = exists | twin_exists
    keep = np.flatnonzero(either)
    ids = uuid4_strings(raw_id[either])
    # App ids are formatted only for applications in either version: map visitor -> position.
    app_pos = positions(n, apps.keep)
    table = ctx.table(
        "accounts",
        {
            "account_id": ids.filter(pa.array(exists[keep])),
            "app_id": apps.ids.take(app_pos[exists]),
            "approved_limit": pa.array(approved_limit[exists], pa.int64()),
            "interest_rate": pa.array(rate[exists], pa.float64()),
            "account_open_timestamp": timestamps(ts[exists]),
            "account_status": constant_strings("active", int(exists.sum())),
        },
    )
    diff = None
    if ctx.compare:
        shifted = ctx.unstale(ts) != ts
        diff = TableDiff(
            "accounts",
            ids,
            twin_exists=twin_exists[keep],
            exists=exists[keep],
            modified={
                "approved_limit": (approved_limit != twin_limit)[keep],
                "account_open_timestamp": shifted[keep],
            },
        )
    return Accounts(
        table=table,
        ids=ids,
        keep=keep,
        exists=exists,
        twin_exists=twin_exists,
        limit=approved_limit,
        twin_limit=twin_limit,
        ts=ts,
        diff=diff,
    )
