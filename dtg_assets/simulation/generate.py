"""Vectorised generation of one micro-batch of the funnel, with its ground-truth labels.

Each table is drawn over a fixed *candidate space* that does not depend on the anomaly: one
application, one account and one transaction count per visitor, and
``transactions_per_account.high`` transaction slots per potentially transacting visitor.
Every column, including the ones only an anomaly uses, is always drawn, so a batch and its
normal *twin* (same plan, ``anomaly=None``) share every record but those the anomaly edits.
The engine computes both the twin's and the anomalous existence masks and column values, and
labels exactly the records that differ: ``modified`` (same id, some columns changed),
``added`` (only in the anomalous batch) or ``removed`` (only in the twin). A batch with several
value anomalies is compared once per anomaly, against the twin applying the others, so each
label names the anomaly that changed its record; the structural anomalies then act on the
generated tables (:mod:`dtg_assets.simulation.structural`), and a ``missing_batch`` lands
nothing but its one batch-level label.

The tables are drawn by :mod:`dtg_assets.simulation.funnel` (one module per table) and the
labels computed by :mod:`dtg_assets.simulation.labels`; this module cuts a batch into chunks
and runs the stages over each.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, replace

import pyarrow as pa

from dtg_assets.simulation import structural
from dtg_assets.simulation.config import AnomalyType, ScenarioConfig
from dtg_assets.simulation.funnel.accounts import generate_accounts
from dtg_assets.simulation.funnel.applications import generate_applications
from dtg_assets.simulation.funnel.context import US_PER_DAY, VALUE_KINDS, ChunkContext
from dtg_assets.simulation.funnel.transactions import generate_transactions
from dtg_assets.simulation.funnel.visitors import generate_visitors
from dtg_assets.simulation.labels import label_table, record_labels
from dtg_assets.simulation.plan import BatchPlan, previous_batch
from dtg_assets.simulation.pools import value_pools
from dtg_assets.simulation.schemas import LABEL_SCHEMA, TABLE_SCHEMAS, TABLES

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
    "missing_output",
    "spiked_visitors",
]


@dataclass(frozen=True)
class BatchOutput:
    """Generated records of a batch (or of one chunk of it).

    Attributes:
        plan: The batch.
        tables: Landing table name -> records, in the schema the batch's files are written
            with (the landing schema, or a ``schema_drift``'s drifted one; no ``date`` column).
        labels: Ground-truth label rows (``LABEL_SCHEMA``).
        replay: ``duplicate_records`` copies to replay in the next batch (landing schema),
            or None.
    """

    plan: BatchPlan
    tables: dict[str, pa.Table]
    labels: pa.Table
    replay: dict[str, pa.Table] | None = None


def spiked_visitors(config: ScenarioConfig, plan: BatchPlan) -> int:
    """Visitors the batch generates: planned, times the spike multiplier for a traffic spike.

    Args:
        config: The scenario.
        plan: The batch.

    Returns:
        The batch's visitor count (before orphans are dropped and duplicates added).
    """
    if plan.has(AnomalyType.TRAFFIC_SPIKE):
        multiplier = config.anomalies.traffic_spike.visitor_multiplier
        return int(plan.visitors * multiplier + 0.5)
    return plan.visitors


def _own_chunks(
    config: ScenarioConfig, plan: BatchPlan, chunk_visitors: int
) -> Iterator[BatchOutput]:
    pools = value_pools(config.seed)
    extra = spiked_visitors(config, plan) - plan.visitors
    for segment, total in ((0, plan.visitors), (1, extra)):
        for chunk in range(math.ceil(total / chunk_visitors)):
            n = min(chunk_visitors, total - chunk * chunk_visitors)
            yield generate_chunk(ChunkContext(config, plan, pools, segment, chunk, n))


def missing_output(plan: BatchPlan) -> BatchOutput:
    """What a ``missing_batch`` lands: no record, one batch-level ``removed`` label."""
    label = record_labels(
        "batch", pa.array([plan.batch_id]), plan.batch_id, AnomalyType.MISSING_BATCH.value,
        "removed", [],
    )  # fmt: skip
    tables = {t: TABLE_SCHEMAS[t].empty_table() for t in TABLES}
    return BatchOutput(plan=plan, tables=tables, labels=label)


def replay_part(
    config: ScenarioConfig, plan: BatchPlan, chunk_visitors: int = CHUNK_VISITORS
) -> BatchOutput | None:
    """The previous batch's ``duplicate_records`` copies, replayed in ``plan``'s batch.

    The previous batch is generated again (the same streams give the same copies), so any
    batch can be landed alone.

    Args:
        config: The scenario.
        plan: The receiving batch.
        chunk_visitors: Visitors per chunk.

    Returns:
        The copies as this batch lands them (its drift applied) and their labels, or None
        when the previous batch replays nothing.
    """
    prev = previous_batch(config, plan)
    dup = config.anomalies.duplicate_records
    if prev is None or not prev.has(AnomalyType.DUPLICATE_RECORDS) or dup.next_batch_share == 0:
        return None
    if prev.has(AnomalyType.MISSING_BATCH):
        return None
    copies = [p.replay for p in _own_chunks(config, prev, chunk_visitors) if p.replay]
    tables = {t: pa.concat_tables([c[t] for c in copies]) for t in TABLES}
    tables, labels = structural.replayed_labels(plan, tables)
    if plan.has(AnomalyType.SCHEMA_DRIFT):
        drift = config.anomalies.schema_drift
        labels = structural.schema_drift(drift, plan.batch_id, tables, labels)
    return BatchOutput(plan=plan, tables=tables, labels=labels)


def iter_batch_chunks(
    config: ScenarioConfig, plan: BatchPlan, chunk_visitors: int = CHUNK_VISITORS
) -> Iterator[BatchOutput]:
    """Generate a batch chunk by chunk (planned visitors, any spike extra, then any copies
    replayed from the previous batch).

    Args:
        config: The scenario.
        plan: The batch.
        chunk_visitors: Visitors per chunk; changing it changes the data.

    Yields:
        One output per chunk (one, without records, for a missing batch).
    """
    if plan.has(AnomalyType.MISSING_BATCH):
        yield missing_output(plan)
        return
    yield from _own_chunks(config, plan, chunk_visitors)
    replayed = replay_part(config, plan, chunk_visitors)
    if replayed is not None:
        yield replayed


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


def _value_stages(ctx: ChunkContext) -> tuple[dict[str, pa.Table], list]:
    visitors = generate_visitors(ctx)
    apps = generate_applications(ctx, visitors)
    accounts = generate_accounts(ctx, apps)
    transactions = generate_transactions(ctx, accounts)
    stages = (visitors, apps, accounts, transactions)
    tables = {name: stage.table for name, stage in zip(TABLES, stages, strict=True)}
    return tables, [stage.diff for stage in stages if stage.diff is not None]


def generate_chunk(ctx: ChunkContext) -> BatchOutput:
    """Generate one chunk: every table in funnel order, the labels of what differs from the
    twin, then the structural anomalies.

    ``ctx.base`` and ``ctx.labelled`` are ignored: the chunk is compared with as many twins as
    it has value anomalies.

    Args:
        ctx: The chunk.

    Returns:
        The chunk's records and labels.
    """
    plan = ctx.plan
    values = [k for k in plan.anomalies if k in VALUE_KINDS]
    # A normal batch is its own twin: its stages compare nothing and it has no labels.
    first = values[0] if len(values) == 1 else None
    tables, diffs = _value_stages(replace(ctx, base=frozenset(), labelled=first))
    parts = [label_table(diffs, plan.batch_id, first.value)] if first else []
    if len(values) > 1:
        for kind in values:
            others = replace(ctx, base=frozenset(values) - {kind}, labelled=kind)
            parts.append(label_table(_value_stages(others)[1], plan.batch_id, kind.value))
    labels = pa.concat_tables(parts) if parts else LABEL_SCHEMA.empty_table()
    replay = None
    if plan.has(AnomalyType.ORPHAN_RECORDS):
        labels = structural.orphan_records(ctx, tables, labels)
    if plan.has(AnomalyType.DUPLICATE_RECORDS):
        labels, replay = structural.duplicate_records(ctx, tables, labels)
    if plan.has(AnomalyType.SCHEMA_DRIFT):
        drift = ctx.anomalies.schema_drift
        labels = structural.schema_drift(drift, plan.batch_id, tables, labels)
    return BatchOutput(plan=plan, tables=tables, labels=labels, replay=replay)
