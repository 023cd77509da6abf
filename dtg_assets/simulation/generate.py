"""Vectorised generation of one micro-batch of the funnel, with its ground-truth labels.

Each table is drawn over a fixed *candidate space* that does not depend on the anomaly: one
application, one account and one transaction count per visitor, and
``transactions_per_account.high`` transaction slots per potentially transacting visitor.
Every column, including the ones only an anomaly uses, is always drawn, so a batch and its
normal *twin* (same plan, ``anomaly=None``) share every record but those the anomaly edits.
The engine computes both the twin's and the anomalous existence masks and column values, and
labels exactly the records that differ: ``modified`` (same id, some columns changed),
``added`` (only in the anomalous batch) or ``removed`` (only in the twin).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dtg_assets.simulation.config import AnomalyType, ScenarioConfig
from dtg_assets.simulation.plan import BatchPlan
from dtg_assets.simulation.pools import ValuePools, value_pools
from dtg_assets.simulation.schemas import LABEL_SCHEMA, TABLE_SCHEMAS, TABLES
from dtg_assets.simulation.streams import constant_strings, random_bytes, stream, uuid4_strings

# Batches above this many visitors are generated chunk by chunk so memory stays flat. It is part
# of the data's identity: chunks draw from their own streams.
CHUNK_VISITORS = 250_000

EVENT_TYPES = pa.array(["landing", "scroll", "apply_click", "view_pricing"])
DEVICE_TYPES = pa.array(["mobile", "desktop", "tablet"])
GEOS = pa.array(["USA", "UK", "IND", "CA"])
EMPLOYMENT = pa.array(["salaried", "self-employed", "unemployed"])
MERCHANT_CATS = pa.array(["5411", "5812", "5999", "7999", "5541"])
STATUS_APPROVED, STATUS_REJECTED, STATUS_SUBMITTED, STATUS_UNDER_AGE = 0, 1, 2, 3
STATUSES = pa.array(["approved", "rejected", "submitted", "rejected - under age"])

US_PER_S = 1_000_000
US_PER_MIN = 60 * US_PER_S
US_PER_H = 60 * US_PER_MIN
US_PER_DAY = 24 * US_PER_H


@dataclass(frozen=True)
class BatchOutput:
    """Generated records of a batch (or of one chunk of it).

    Attributes:
        plan: The batch.
        tables: Landing table name -> records, in the landing schema (no ``date`` column).
        labels: Ground-truth label rows (``LABEL_SCHEMA``).
    """

    plan: BatchPlan
    tables: dict[str, pa.Table]
    labels: pa.Table


def spiked_visitors(config: ScenarioConfig, plan: BatchPlan) -> int:
    """Visitors the batch actually has: planned, times the spike multiplier for a traffic spike.

    Args:
        config: The scenario.
        plan: The batch.

    Returns:
        The batch's visitor count.
    """
    if plan.anomaly is AnomalyType.TRAFFIC_SPIKE:
        multiplier = config.anomalies.traffic_spike.visitor_multiplier
        return int(plan.visitors * multiplier + 0.5)
    return plan.visitors


def iter_batch_chunks(
    config: ScenarioConfig, plan: BatchPlan, chunk_visitors: int = CHUNK_VISITORS
) -> Iterator[BatchOutput]:
    """Generate a batch chunk by chunk (planned visitors first, then any spike extra).

    Args:
        config: The scenario.
        plan: The batch.
        chunk_visitors: Visitors per chunk; changing it changes the data.

    Yields:
        One output per chunk.
    """
    pools = value_pools(config.seed)
    extra = spiked_visitors(config, plan) - plan.visitors
    for segment, total in ((0, plan.visitors), (1, extra)):
        for chunk in range(math.ceil(total / chunk_visitors)):
            n = min(chunk_visitors, total - chunk * chunk_visitors)
            yield _Chunk(config, plan, pools, segment, chunk, n).build()


def generate_batch(
    config: ScenarioConfig, plan: BatchPlan, chunk_visitors: int = CHUNK_VISITORS
) -> BatchOutput:
    """Generate a whole batch in memory.

    Args:
        config: The scenario.
        plan: The batch.
        chunk_visitors: Visitors per chunk.

    Returns:
        All of the batch's records and labels.
    """
    parts = list(iter_batch_chunks(config, plan, chunk_visitors))
    tables = {t: pa.concat_tables([p.tables[t] for p in parts]) for t in TABLES}
    labels = pa.concat_tables([p.labels for p in parts])
    return BatchOutput(plan=plan, tables=tables, labels=labels)


def _take(pool: pa.Array, idx: np.ndarray) -> pa.Array:
    return pool.take(idx)


def _ts(values_us: np.ndarray) -> pa.Array:
    return pa.array(values_us, pa.timestamp("us", tz="UTC"))


class _Chunk:
    """One chunk: draws every stream, applies the anomaly, builds tables and labels."""

    def __init__(
        self,
        config: ScenarioConfig,
        plan: BatchPlan,
        pools: ValuePools,
        segment: int,
        chunk: int,
        n: int,
    ) -> None:
        self.config, self.plan, self.pools, self.n = config, plan, pools, n
        self.segment, self.chunk = segment, chunk
        self.f = config.funnel
        self.a = config.anomalies
        self.anomaly = plan.anomaly
        # Spike extra visitors have no twin: nothing of theirs exists in the normal batch.
        self.has_twin = segment == 0
        self.start_us = int(plan.start.timestamp()) * US_PER_S + plan.start.microsecond
        self.labels: list[pa.Table] = []

    def _rng(self, table: str) -> np.random.Generator:
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

    def build(self) -> BatchOutput:
        visitors, v_ts = self._visitors()
        apps, app = self._applications(visitors, v_ts)
        accounts, acc = self._accounts(app)
        transactions = self._transactions(acc)
        labels = pa.concat_tables(self.labels) if self.labels else LABEL_SCHEMA.empty_table()
        tables = {
            "visitor_events": visitors,
            "applications": apps,
            "accounts": accounts,
            "transactions": transactions,
        }
        return BatchOutput(plan=self.plan, tables=tables, labels=labels)

    # -- visitors -----------------------------------------------------------------------------
    def _visitors(self) -> tuple[pa.Table, np.ndarray]:
        f, n, rng = self.f, self.n, self._rng("visitor_events")
        raw_id = random_bytes(rng, n)
        event = rng.integers(0, len(EVENT_TYPES), n)
        word = rng.integers(0, len(self.pools.words), n)
        number = rng.integers(f.campaign_number.low, f.campaign_number.high + 1, n)
        device = rng.integers(0, len(DEVICE_TYPES), n)
        geo = rng.integers(0, len(GEOS), n)
        offset_s = rng.integers(f.visitor_offset_seconds.low, f.visitor_offset_seconds.high + 1, n)
        duration = np.maximum(
            f.session_min_seconds, rng.normal(f.session_mean_seconds, f.session_sd_seconds, n)
        )
        null_u = rng.random(n)
        bot_u = rng.random(n)
        spike = self.a.traffic_spike
        bot_duration = rng.uniform(spike.bot_session_seconds.low, spike.bot_session_seconds.high, n)

        twin_ts = self.start_us + offset_s * US_PER_S
        ts = self._stale(twin_ts)
        null_mask = np.zeros(n, bool)
        if self.anomaly is AnomalyType.NULL_BURST:
            null_mask = null_u < self.a.null_burst.null_rate
        twin_duration = duration
        if self.anomaly is AnomalyType.TRAFFIC_SPIKE:
            duration = np.where(bot_u < spike.bot_rate, bot_duration, duration)

        ids = uuid4_strings(raw_id)
        campaign = pc.binary_join_element_wise(
            _take(self.pools.words, word), pa.array(number).cast(pa.string()), ""
        )
        if null_mask.any():
            campaign = pc.if_else(pa.array(null_mask), pa.scalar(None, pa.string()), campaign)
        table = self._table(
            "visitor_events",
            {
                "visitor_id": ids,
                "event_type": _take(EVENT_TYPES, event),
                "campaign_id": campaign,
                "device_type": _take(DEVICE_TYPES, device),
                "geo": _take(GEOS, geo),
                "timestamp": _ts(ts),
                "session_duration": pa.array(duration, pa.float64()),
            },
        )
        exists = np.ones(n, bool)
        # A normal batch is its own twin: no labels, no masks to compute.
        if self.anomaly is not None:
            self._label(
                "visitor_events",
                ids,
                twin_exists=exists & self.has_twin,
                exists=exists,
                modified={
                    "campaign_id": null_mask,
                    "timestamp": ts != twin_ts,
                    "session_duration": duration != twin_duration,
                },
            )
        return table, ts

    # -- applications -------------------------------------------------------------------------
    def _applications(self, visitors: pa.Table, v_ts: np.ndarray) -> tuple[pa.Table, dict]:
        f, n, rng, a = self.f, self.n, self._rng("applications"), self.a
        apply_u = rng.random(n)
        raw_id = random_bytes(rng, n)
        age = rng.integers(f.applicant_age.low, f.applicant_age.high + 1, n)
        income = rng.integers(f.annual_income.low, f.annual_income.high + 1, n)
        employment = rng.integers(0, len(EMPLOYMENT), n)
        lag_min = rng.integers(f.application_lag_minutes.low, f.application_lag_minutes.high + 1, n)
        approve_u = rng.random(n)
        reject_u = rng.random(n)
        under_u = rng.random(n)
        under_age = rng.integers(a.age_error.age.low, a.age_error.age.high + 1, n)
        limit_u = rng.random(n)
        limit_share = rng.uniform(
            a.limit_spike.income_share.low, a.limit_spike.income_share.high, n
        )

        twin_exists = (apply_u < f.apply_rate) & self.has_twin
        rate = f.apply_rate
        if self.anomaly is AnomalyType.CONVERSION_DROP:
            rate = a.conversion_drop.apply_rate
        exists = apply_u < rate
        twin_age = age
        if self.anomaly is AnomalyType.AGE_ERROR:
            age = np.where(under_u < a.age_error.rate, under_age, age)
        twin_status = self._status(twin_age, approve_u, reject_u)
        status = twin_status if age is twin_age else self._status(age, approve_u, reject_u)
        twin_limit = income // 10
        limit = twin_limit
        if self.anomaly is AnomalyType.LIMIT_SPIKE:
            spiked = (income * limit_share).astype(np.int64)
            limit = np.where(limit_u < a.limit_spike.rate, spiked, twin_limit)
        # v_ts is already stale-shifted, so this shifts with it; the twin's is unshifted.
        ts = v_ts + lag_min * US_PER_MIN
        twin_ts = self._unstale(ts)

        ids_all = uuid4_strings(raw_id[exists | twin_exists])
        keep = np.flatnonzero(exists | twin_exists)
        pick = exists[keep]
        visitor_ids = visitors.column("visitor_id")
        # The table was built from one array: use it as is (combining would copy every id).
        if visitor_ids.num_chunks == 1:
            visitor_ids = visitor_ids.chunk(0)
        else:
            visitor_ids = visitor_ids.combine_chunks()
        table = self._table(
            "applications",
            {
                "app_id": ids_all.filter(pa.array(pick)),
                "visitor_id": _take(visitor_ids, np.flatnonzero(exists)),
                "applicant_age": pa.array(age[exists], pa.int64()),
                "annual_income": pa.array(income[exists].astype(np.float64)),
                "employment_status": _take(EMPLOYMENT, employment[exists]),
                "req_credit_limit": pa.array(limit[exists], pa.int64()),
                "timestamp": _ts(ts[exists]),
                "application_status": _take(STATUSES, status[exists]),
            },
        )
        if self.anomaly is not None:
            self._label(
                "applications",
                ids_all,
                twin_exists=twin_exists[keep],
                exists=pick,
                modified={
                    "applicant_age": (age != twin_age)[keep],
                    "req_credit_limit": (limit != twin_limit)[keep],
                    "timestamp": (ts != twin_ts)[keep],
                    "application_status": (status != twin_status)[keep],
                },
            )
        state = {
            "ids": ids_all,
            "keep": keep,
            "exists": exists,
            "twin_exists": twin_exists,
            "approved": exists & (status == STATUS_APPROVED),
            "twin_approved": twin_exists & (twin_status == STATUS_APPROVED),
            "income": income,
            "ts": ts,
        }
        return table, state

    def _status(self, age: np.ndarray, approve_u: np.ndarray, reject_u: np.ndarray) -> np.ndarray:
        f = self.f
        not_approved = np.where(reject_u < f.reject_share, STATUS_REJECTED, STATUS_SUBMITTED)
        status = np.where(approve_u < f.approve_rate, STATUS_APPROVED, not_approved)
        return np.where(age < f.minimum_age, STATUS_UNDER_AGE, status)

    # -- accounts -----------------------------------------------------------------------------
    def _accounts(self, app: dict) -> tuple[pa.Table, dict]:
        f, n, rng = self.f, self.n, self._rng("accounts")
        raw_id = random_bytes(rng, n)
        factor = rng.uniform(f.limit_factor.low, f.limit_factor.high, n)
        rate = rng.uniform(f.interest_rate.low, f.interest_rate.high, n)
        lag_h = rng.integers(f.account_lag_hours.low, f.account_lag_hours.high + 1, n)

        exists, twin_exists = app["approved"], app["twin_approved"]
        approved_limit = ((app["income"] // 10) * factor).astype(np.int64)
        ts = app["ts"] + lag_h * US_PER_H
        either = exists | twin_exists
        keep = np.flatnonzero(either)
        ids_all = uuid4_strings(raw_id[either])
        # app ids are formatted only for applications in either version; map visitor -> position.
        app_pos = np.full(n, -1, np.int64)
        app_pos[app["keep"]] = np.arange(app["keep"].size)
        table = self._table(
            "accounts",
            {
                "account_id": ids_all.filter(pa.array(exists[keep])),
                "app_id": _take(app["ids"], app_pos[exists]),
                "approved_limit": pa.array(approved_limit[exists], pa.int64()),
                "interest_rate": pa.array(rate[exists], pa.float64()),
                "account_open_timestamp": _ts(ts[exists]),
                "account_status": constant_strings("active", int(exists.sum())),
            },
        )
        stale = self._unstale(ts) != ts
        if self.anomaly is not None:
            self._label(
                "accounts",
                ids_all,
                twin_exists=twin_exists[keep],
                exists=exists[keep],
                modified={"account_open_timestamp": stale[keep]},
            )
        return table, {
            "ids": ids_all,
            "keep": keep,
            "exists": exists,
            "twin_exists": twin_exists,
            "limit": approved_limit,
            "ts": ts,
        }

    # -- transactions -------------------------------------------------------------------------
    def _transactions(self, acc: dict) -> pa.Table:
        f, n, rng, fraud = self.f, self.n, self._rng("transactions"), self.a.fraud_spike
        transact_u = rng.random(n)
        # Only visitors that would transact if they had an account get transaction slots: the
        # set is anomaly-free (it depends on this stream alone), so slots line up with the twin.
        cand = np.flatnonzero(transact_u < f.transact_rate)
        m, k = cand.size, f.transactions_per_account.high
        count = rng.integers(f.transactions_per_account.low, k + 1, m)
        raw_id = random_bytes(rng, m * k)
        amount = np.round(rng.uniform(f.amount.low, f.amount.high, m * k), 2)
        mcc = rng.integers(0, len(MERCHANT_CATS), m * k)
        location = rng.integers(0, len(self.pools.countries), m * k)
        state = rng.integers(0, len(self.pools.states), m * k)
        city = rng.integers(0, len(self.pools.cities), m * k)
        lag_d = rng.integers(f.transaction_lag_days.low, f.transaction_lag_days.high + 1, m * k)
        lag_m = rng.integers(
            f.transaction_lag_minutes.low, f.transaction_lag_minutes.high + 1, m * k
        )
        fraud_u = rng.random(m * k)
        fraud_share = rng.uniform(fraud.limit_share.low, fraud.limit_share.high, m * k)

        owner = np.repeat(cand, k)  # visitor index of each slot
        slot_used = (np.arange(m * k) % k) < np.repeat(count, k)
        exists = slot_used & acc["exists"][owner]
        twin_exists = slot_used & acc["twin_exists"][owner]
        twin_amount = amount
        if self.anomaly is AnomalyType.FRAUD_SPIKE:
            spiked = np.round(fraud_share * acc["limit"][owner], 2)
            amount = np.where(fraud_u < fraud.rate, spiked, amount)
        ts = acc["ts"][owner] + lag_d * US_PER_DAY + lag_m * US_PER_MIN

        either = exists | twin_exists
        keep = np.flatnonzero(either)
        ids_all = uuid4_strings(raw_id[either])
        acc_pos = np.full(n, -1, np.int64)
        acc_pos[acc["keep"]] = np.arange(acc["keep"].size)
        table = self._table(
            "transactions",
            {
                "txn_id": ids_all.filter(pa.array(exists[keep])),
                "account_id": _take(acc["ids"], acc_pos[owner[exists]]),
                "amount": pa.array(amount[exists], pa.float64()),
                "merchant_cat_code": _take(MERCHANT_CATS, mcc[exists]),
                "location": _take(self.pools.countries, location[exists]),
                "state": _take(self.pools.states, state[exists]),
                "merchant_city": _take(self.pools.cities, city[exists]),
                "timestamp": _ts(ts[exists]),
            },
        )
        if self.anomaly is not None:
            self._label(
                "transactions",
                ids_all,
                twin_exists=twin_exists[keep],
                exists=exists[keep],
                modified={
                    "amount": (amount != twin_amount)[keep],
                    "timestamp": (self._unstale(ts) != ts)[keep],
                },
            )
        return table

    # -- helpers ------------------------------------------------------------------------------
    def _stale_us(self) -> int:
        if self.anomaly is AnomalyType.STALE_DATA:
            return round(self.a.stale_data.delay_hours * US_PER_H)
        return 0

    def _stale(self, ts: np.ndarray) -> np.ndarray:
        shift = self._stale_us()
        return ts - shift if shift else ts

    def _unstale(self, ts: np.ndarray) -> np.ndarray:
        shift = self._stale_us()
        return ts + shift if shift else ts

    def _table(self, name: str, columns: dict[str, pa.Array]) -> pa.Table:
        rows = len(next(iter(columns.values())))
        columns = dict(columns)
        columns["batch_id"] = constant_strings(self.plan.batch_id, rows)
        ingested = int(self.plan.ingested_at.timestamp()) * US_PER_S
        columns["ingested_at"] = _ts(np.full(rows, ingested, np.int64))
        return pa.Table.from_pydict(columns, schema=TABLE_SCHEMAS[name])

    def _label(
        self,
        table: str,
        ids: pa.StringArray,
        *,
        twin_exists: np.ndarray,
        exists: np.ndarray,
        modified: dict[str, np.ndarray],
    ) -> None:
        """Record label rows for records that differ from the twin.

        ``ids`` and every mask are aligned over the records that exist in either version.
        """
        if self.anomaly is None:
            return  # a normal batch is its own twin
        # Removed records changed no column: they are gone.
        masks = [np.broadcast_to(m, exists.shape) & exists for m in modified.values()]
        effect = np.full(exists.shape, -1, np.int8)
        effect[exists & twin_exists & np.logical_or.reduce(masks)] = 0
        effect[exists & ~twin_exists] = 1
        effect[~exists & twin_exists] = 2
        rows = np.flatnonzero(effect >= 0)
        if rows.size == 0:
            return
        # Only the labelled rows' column matrix is built: it is small next to the batch.
        sub = np.stack([m[rows] for m in masks], axis=1)
        offsets = np.zeros(rows.size + 1, np.int32)
        np.cumsum(sub.sum(axis=1), out=offsets[1:])
        values = pa.array(list(modified), pa.string()).take(np.nonzero(sub)[1])
        count = rows.size
        self.labels.append(
            pa.Table.from_pydict(
                {
                    "table": constant_strings(table, count),
                    "record_id": ids.take(rows),
                    "batch_id": constant_strings(self.plan.batch_id, count),
                    "anomaly": constant_strings(self.anomaly.value, count),
                    "effect": _take(EFFECTS, effect[rows]),
                    "affected_columns": pa.ListArray.from_arrays(pa.array(offsets), values),
                },
                schema=LABEL_SCHEMA,
            )
        )


EFFECTS = pa.array(["modified", "added", "removed"])
