"""Findings of an external detector, read and put in the gatekeeper's findings schema.

An external detector's findings file has one row per flag: ``batch_id`` and ``detector``
(required), ``table`` and ``record_id`` (optional, for record-level flags), ``flagged_at``
(optional). :func:`read_flags` reads it (Parquet, CSV, or JSON lines by extension) and
:func:`external_findings` groups the flags per (batch, detector, table) into ``FINDINGS_SCHEMA``
rows, so that the gatekeeper's evaluation scores them alike; every record flag of an external
detector counts as a prediction of the record-level anomaly whose labels are in its table.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq

from dtg_assets.gatekeeper.findings import FINDINGS_SCHEMA
from dtg_assets.gatekeeper.targets import RECORD_TARGETS, RecordTarget

REQUIRED = ("batch_id", "detector")
FAMILY = "external"


def read_flags(path: Path) -> pa.Table:
    """Read a findings file.

    Args:
        path: A ``.parquet``, ``.csv`` or ``.jsonl`` file.

    Returns:
        Its rows, with ``table`` and ``record_id`` (null when absent) as strings.

    Raises:
        ValueError: For another extension or a missing required column.
    """
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        table = pq.read_table(path)
    elif suffix == ".csv":
        table = pacsv.read_csv(path)
    elif suffix in (".jsonl", ".json"):
        table = pajson.read_json(path)
    else:
        raise ValueError(
            f"findings file {path.name!r}: allowed extensions are .parquet, .csv, .jsonl"
        )
    missing = [c for c in REQUIRED if c not in table.column_names]
    if missing:
        raise ValueError(f"findings file {path.name!r} lacks the column(s) {', '.join(missing)}")
    columns = {}
    for name in ("batch_id", "detector", "table", "record_id"):
        col = table[name] if name in table.column_names else pa.nulls(table.num_rows)
        columns[name] = col.cast(pa.string())
    return pa.table(columns)


def external_findings(flags: pa.Table, manifest: pa.Table) -> tuple[pa.Table, dict]:
    """Flag rows as ``FINDINGS_SCHEMA`` findings, with the record targets that score them.

    Args:
        flags: :func:`read_flags` rows.
        manifest: The scored days' manifest (unused batch ids are the evaluation's to ignore).

    Returns:
        ``(findings, record_targets)``.
    """
    del manifest  # the evaluation joins on the manifest's batches itself
    flags = flags.set_column(
        flags.schema.get_field_index("table"), "table", pc.fill_null(flags["table"], "batch")
    )
    grouped = flags.group_by(["batch_id", "detector", "table"], use_threads=False).aggregate(
        [("record_id", "list")]
    )
    ids = [[i for i in row if i is not None] for row in grouped["record_id_list"].to_pylist()]
    n = grouped.num_rows
    findings = pa.table(
        {
            "day": pa.nulls(n, pa.date32()),
            "window": pa.nulls(n, pa.string()),
            "batch_id": grouped["batch_id"],
            "family": [FAMILY] * n,
            "detector": grouped["detector"],
            "table": grouped["table"],
            "metric_name": ["external"] * n,
            **{c: pa.nulls(n, pa.float64()) for c in ("metric", "expected", "threshold")},
            "comparison": [">"] * n,
            **{c: pa.nulls(n, pa.float64()) for c in ("lower", "upper", "record_threshold")},
            "n": [len(i) for i in ids],
            "count": [len(i) for i in ids],
            "verdict": ["flag"] * n,
            "flagged_ids": pa.array(ids, pa.list_(pa.string())),
            "evidence_at": pa.nulls(n, FINDINGS_SCHEMA.field("evidence_at").type),
            "detail": [""] * n,
        }
    ).cast(FINDINGS_SCHEMA)
    targets = {
        name: RecordTarget(t.anomaly, t.table, t.column, ("*",))
        for name, t in RECORD_TARGETS.items()
    }
    return findings, targets
