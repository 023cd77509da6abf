"""The structural anomalies: what a producer does to a batch's records after they exist.

They act on a chunk's generated tables, after the value anomalies, in this order, each labelling
exactly what it changed (given the value anomalies before it):

- ``orphan_records`` drops the visitor events of an exact share of the chunk's applications
  (rounded), so those applications reference visitors that never land: the visitors are
  ``removed`` (and lose any value anomaly's labels, as they never land), the applications
  ``modified`` in ``visitor_id``.
- ``duplicate_records`` sends an exact share of the chunk's landed visitors twice, with their
  applications, accounts and transactions: the copies keep their primary keys; a share of them
  is appended to the batch itself, the rest replayed in the next batch (:func:`replay_part`),
  stamped with that batch's ``batch_id`` and ``ingested_at``. Each copy is one ``added`` label in
  the batch it lands in, with ``affected_columns`` the columns in which it differs from the
  record it repeats (none in the same batch; ``batch_id`` and ``ingested_at`` when replayed).
- ``schema_drift`` writes one table's files with another schema (:func:`drift_table`): every
  record of that table in the batch is ``modified`` in the drifted column.

``missing_batch`` is handled by the generator: the batch lands nothing. Orphans and duplicates
are chosen with streams of their own, so the batch's other records are its twin's.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dtg_assets.simulation.config import AnomalyType, SchemaDriftParams
from dtg_assets.simulation.funnel.context import ChunkContext, epoch_us, timestamps
from dtg_assets.simulation.labels import record_labels
from dtg_assets.simulation.plan import BatchPlan
from dtg_assets.simulation.schemas import PRIMARY_KEY, TABLES
from dtg_assets.simulation.streams import constant_strings

Tables = dict[str, pa.Table]
ORPHAN, DUPLICATE, DRIFT = (
    AnomalyType.ORPHAN_RECORDS.value,
    AnomalyType.DUPLICATE_RECORDS.value,
    AnomalyType.SCHEMA_DRIFT.value,
)
# The value a drifted file's added column holds.
ADDED_VALUE = "unexpected"


def orphan_records(ctx: ChunkContext, tables: Tables, labels: pa.Table) -> pa.Table:
    """Drop the visitors of an exact share of the chunk's applications (in place).

    Args:
        ctx: The chunk.
        tables: Its tables; ``visitor_events`` is replaced.
        labels: The value anomalies' labels so far.

    Returns:
        The labels: those of the dropped visitors removed, the orphan labels appended.
    """
    apps, visitors = tables["applications"], tables["visitor_events"]
    rng = ctx.rng(ORPHAN)
    count = round(ctx.anomalies.orphan_records.share * apps.num_rows)
    picked = np.sort(rng.permutation(apps.num_rows)[:count])
    orphans = apps.take(picked)
    lost = pc.is_in(visitors["visitor_id"], value_set=orphans["visitor_id"].combine_chunks())
    removed = visitors.filter(lost)["visitor_id"]
    tables["visitor_events"] = visitors.filter(pc.invert(lost))
    batch = ctx.plan.batch_id
    gone = pc.and_(
        pc.equal(labels["table"], "visitor_events"),
        pc.is_in(labels["record_id"], value_set=removed.combine_chunks()),
    )
    return pa.concat_tables(
        [
            labels.filter(pc.invert(gone)),
            record_labels("visitor_events", removed, batch, ORPHAN, "removed", []),
            record_labels("applications", orphans["app_id"], batch, ORPHAN, "modified",
                          ["visitor_id"]),
        ]
    )  # fmt: skip


def with_descendants(tables: Tables, visitor_rows: np.ndarray) -> Tables:
    """Some visitors' rows and every row downstream of them, table by table.

    Args:
        tables: A chunk's tables.
        visitor_rows: Row positions in ``visitor_events``.

    Returns:
        The selected rows of each table, in the tables' order.
    """
    out = {"visitor_events": tables["visitor_events"].take(visitor_rows)}
    parent = "visitor_events"
    for table in TABLES[1:]:
        key = PRIMARY_KEY[parent]
        rows = tables[table]
        found = pc.is_in(rows[key], value_set=out[parent][key].combine_chunks())
        out[table] = rows.filter(found)
        parent = table
    return out


def duplicate_records(
    ctx: ChunkContext, tables: Tables, labels: pa.Table
) -> tuple[pa.Table, Tables]:
    """Send an exact share of the chunk's visitors, with their descendants, twice (in place).

    Args:
        ctx: The chunk.
        tables: Its tables; the same-batch copies are appended.
        labels: The labels so far.

    Returns:
        The labels with one ``added`` label per same-batch copy, and the copies to replay in
        the next batch.
    """
    params = ctx.anomalies.duplicate_records
    visitors = tables["visitor_events"].num_rows
    chosen = ctx.rng(DUPLICATE).permutation(visitors)[: round(params.share * visitors)]
    replayed = round(params.next_batch_share * chosen.size)
    copies = with_descendants(tables, np.sort(chosen[replayed:]))
    parts = [labels]
    for table in TABLES:
        tables[table] = pa.concat_tables([tables[table], copies[table]])
        ids = copies[table][PRIMARY_KEY[table]]
        parts.append(record_labels(table, ids, ctx.plan.batch_id, DUPLICATE, "added", []))
    return pa.concat_tables(parts), with_descendants(tables, np.sort(chosen[:replayed]))


def replayed_labels(plan: BatchPlan, copies: Tables) -> tuple[Tables, pa.Table]:
    """Copies replayed from the previous batch, as landed in ``plan``'s batch, and their labels.

    Args:
        plan: The batch the copies land in.
        copies: The previous batch's copies to replay (landing schema).

    Returns:
        The copies stamped with ``plan``'s ``batch_id`` and ``ingested_at``, and one ``added``
        label per copy.
    """
    stamped, parts = {}, []
    ingested = epoch_us(plan.ingested_at)
    for table in TABLES:
        rows = copies[table]
        n = rows.num_rows
        rows = rows.set_column(
            rows.schema.get_field_index("batch_id"),
            rows.schema.field("batch_id"),
            constant_strings(plan.batch_id, n),
        )
        stamped[table] = rows.set_column(
            rows.schema.get_field_index("ingested_at"),
            rows.schema.field("ingested_at"),
            timestamps(np.full(n, ingested, np.int64)),
        )
        parts.append(
            record_labels(table, rows[PRIMARY_KEY[table]], plan.batch_id, DUPLICATE, "added",
                          ["batch_id", "ingested_at"])
        )  # fmt: skip
    return stamped, pa.concat_tables(parts)


def _retyped(column: pa.ChunkedArray) -> tuple[pa.DataType, pa.Array]:
    values = column.combine_chunks()
    if pa.types.is_timestamp(values.type):
        # Epoch microseconds, as a producer writing raw integers would.
        return pa.int64(), values.cast(pa.int64())
    if pa.types.is_floating(values.type):
        text = [None if v is None else f"{v:,.2f}" for v in values.to_pylist()]
        return pa.string(), pa.array(text, pa.string())
    return pa.string(), values.cast(pa.string())


def drift_table(params: SchemaDriftParams, table: pa.Table) -> pa.Table:
    """A table of ``params.table`` as the drifted producer writes it.

    Args:
        params: The drift.
        table: Rows in the table's landing schema.

    Returns:
        The rows in the drifted schema (:func:`drifted_schema`).
    """
    column = params.column
    if params.kind == "drop_column":
        return table.drop_columns([column])
    if params.kind == "rename_column":
        return table.rename_columns(
            [params.renamed if n == column else n for n in table.schema.names]
        )
    if params.kind == "add_column":
        return table.append_column(
            pa.field(column, pa.string()), constant_strings(ADDED_VALUE, table.num_rows)
        )
    index = table.schema.get_field_index(column)
    old = table.schema.field(column)
    new_type, values = _retyped(table.column(column))
    return table.set_column(index, pa.field(column, new_type, old.nullable), values)


def drifted_schema(params: SchemaDriftParams, schema: pa.Schema) -> pa.Schema:
    """The schema the drifted producer writes ``params.table`` with."""
    return drift_table(params, schema.empty_table()).schema


def schema_drift(
    params: SchemaDriftParams, batch_id: str, tables: Tables, labels: pa.Table
) -> pa.Table:
    """Write the drifting table in its drifted schema (in place); label every record of it.

    Args:
        params: The drift.
        batch_id: The batch.
        tables: A chunk's (or a replay's) tables; the drifting one is replaced.
        labels: The labels so far.

    Returns:
        The labels with one ``modified`` label per distinct record of the drifting table.
    """
    rows = tables[params.table]
    tables[params.table] = drift_table(params, rows)
    ids = pc.unique(rows[PRIMARY_KEY[params.table]].combine_chunks())
    drifted = record_labels(params.table, ids, batch_id, DRIFT, "modified", [params.column])
    return pa.concat_tables([labels, drifted])
