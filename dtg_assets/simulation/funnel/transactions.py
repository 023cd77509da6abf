"""Transactions of a chunk: up to ``transactions_per_account.high`` slots per candidate visitor.

Only visitors that would transact if they had an account get slots, and that set depends on
this table's stream alone, so slots line up between the twin and the anomalous batch; a slot is
used when the visitor's account exists in that version and the slot is below the visitor's
transaction count. ``fraud_spike`` moves some amounts close to the account's limit, and
``stale_data`` and ``timezone_shift`` shift times with the account's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from dtg_assets.simulation.config import AnomalyType
from dtg_assets.simulation.funnel.accounts import Accounts, positions
from dtg_assets.simulation.funnel.context import US_PER_DAY, US_PER_MIN, ChunkContext, timestamps
from dtg_assets.simulation.labels import TableDiff
from dtg_assets.simulation.streams import random_bytes, string_array, uuid4_strings

MERCHANT_CATS = string_array(["5411", "5812", "5999", "7999", "5541"])


@dataclass(frozen=True)
class Transactions:
    """A chunk's transactions.

    Attributes:
        table: The landing rows.
        diff: Comparison with the twin (None for a normal batch).
    """

    table: pa.Table
    diff: TableDiff | None


def generate_transactions(ctx: ChunkContext, acc: Accounts) -> Transactions:
    """Draw the chunk's transactions.

    Args:
        ctx: The chunk.
        acc: The chunk's accounts.

    Returns:
        The transactions and their comparison with the twin.
    """
    f, n, rng = ctx.funnel, ctx.n, ctx.rng("transactions")
    fraud, pools = ctx.anomalies.fraud_spike, ctx.pools
    transact_u = rng.random(n)
    cand = np.flatnonzero(transact_u < f.transact_rate)
    m, k = cand.size, f.transactions_per_account.high
    count = rng.integers(f.transactions_per_account.low, k + 1, m)
    raw_id = random_bytes(rng, m * k)
    amount = np.round(rng.uniform(f.amount.low, f.amount.high, m * k), 2)
    mcc = rng.integers(0, len(MERCHANT_CATS), m * k)
    location = rng.integers(0, len(pools.countries), m * k)
    state = rng.integers(0, len(pools.states), m * k)
    city = rng.integers(0, len(pools.cities), m * k)
    lag_d = rng.integers(f.transaction_lag_days.low, f.transaction_lag_days.high + 1, m * k)
    lag_m = rng.integers(f.transaction_lag_minutes.low, f.transaction_lag_minutes.high + 1, m * k)
    fraud_u = rng.random(m * k)
    fraud_share = rng.uniform(fraud.limit_share.low, fraud.limit_share.high, m * k)

    owner = np.repeat(cand, k)  # visitor index of each slot
    slot_used = (np.arange(m * k) % k) < np.repeat(count, k)
    exists = slot_used & acc.exists[owner]
    twin_exists = slot_used & acc.twin_exists[owner]

    def amounts(has: bool, limit: np.ndarray) -> np.ndarray:
        if not has:
            return drawn
        return np.where(fraud_u < fraud.rate, np.round(fraud_share * limit[owner], 2), drawn)

    drawn = amount
    amount = amounts(ctx.has(AnomalyType.FRAUD_SPIKE), acc.limit)
    twin_amount = amounts(ctx.twin_has(AnomalyType.FRAUD_SPIKE), acc.twin_limit)
    ts = acc.ts[owner] + lag_d * US_PER_DAY + lag_m * US_PER_MIN

    either = exists | twin_exists
    keep = np.flatnonzero(either)
    ids = uuid4_strings(raw_id[either])
    acc_pos = positions(n, acc.keep)
    table = ctx.table(
        "transactions",
        {
            "txn_id": ids.filter(pa.array(exists[keep])),
            "account_id": acc.ids.take(acc_pos[owner[exists]]),
            "amount": pa.array(amount[exists], pa.float64()),
            "merchant_cat_code": MERCHANT_CATS.take(mcc[exists]),
            "location": pools.countries.take(location[exists]),
            "state": pools.states.take(state[exists]),
            "merchant_city": pools.cities.take(city[exists]),
            "timestamp": timestamps(ts[exists]),
        },
    )
    diff = None
    if ctx.compare:
        diff = TableDiff(
            "transactions",
            ids,
            twin_exists=twin_exists[keep],
            exists=exists[keep],
            modified={
                "amount": (amount != twin_amount)[keep],
                "timestamp": (ctx.unstale(ts) != ts)[keep],
            },
        )
    return Transactions(table=table, diff=diff)
