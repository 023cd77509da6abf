"""Vectorised generation of one micro-batch of the funnel, with its ground-truth labels.

Each table is drawn over a fixed *candidate space* that does not depend on the anomaly: one
application, one account and one transaction count per visitor, and
``transactions_per_account.high`` transaction slots per potentially transacting visitor.
Every column, including the ones only an anomaly uses, is always drawn, so a batch and its
normal *twin* (same plan, ``anomaly=None``) share every record but those the anomaly edits.
The engine computes both the twin's and the anomalous existence masks and column values, and
labels exactly the records that differ: ``modified`` (same id, some columns changed),
``added`` (only in the anomalous batch) or ``removed`` (only in the twin).

The tables are drawn by :mod:`dtg_assets.simulation.funnel` (one module per table) and the
labels computed by :mod:`dtg_assets.simulation.labels`; this module cuts a batch into chunks
and runs the stages over each.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import pyarrow as pa

from dtg_assets.simulation.config import AnomalyType, ScenarioConfig
from dtg_assets.simulation.funnel.accounts import generate_accounts
from dtg_assets.simulation.funnel.applications import generate_applications
from dtg_assets.simulation.funnel.context import US_PER_DAY, ChunkContext
from dtg_assets.simulation.funnel.transactions import generate_transactions
from dtg_assets.simulation.funnel.visitors import generate_visitors
from dtg_assets.simulation.labels import label_table
from dtg_assets.simulation.plan import BatchPlan
from dtg_assets.simulation.pools import value_pools
from dtg_assets.simulation.schemas import TABLES

# Batches above this many visitors are generated chunk by chunk so memory stays flat. It is part
# of the data's identity: chunks draw from their own streams.
CHUNK_VISITORS = 250_000

__all__ = [
    "CHUNK_VISITORS",
    "US_PER_DAY",
    "BatchOutput",
    "generate_batch",
    "generate_chunk",
    "iter_batch_chunks",
    "spiked_visitors",
]


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
            yield generate_chunk(ChunkContext(config, plan, pools, segment, chunk, n))


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


def generate_chunk(ctx: ChunkContext) -> BatchOutput:
    """Generate one chunk: every table in funnel order, then the labels of what differs.

    Args:
        ctx: The chunk.

    Returns:
        The chunk's records and labels.
    """
    visitors = generate_visitors(ctx)
    apps = generate_applications(ctx, visitors)
    accounts = generate_accounts(ctx, apps)
    transactions = generate_transactions(ctx, accounts)
    stages = (visitors, apps, accounts, transactions)
    tables = {name: stage.table for name, stage in zip(TABLES, stages, strict=True)}
    # A normal batch is its own twin: its stages compare nothing and it has no labels.
    diffs = [stage.diff for stage in stages if stage.diff is not None]
    anomaly = ctx.anomaly.value if ctx.anomaly is not None else ""
    labels = label_table(diffs, ctx.plan.batch_id, anomaly)
    return BatchOutput(plan=ctx.plan, tables=tables, labels=labels)
