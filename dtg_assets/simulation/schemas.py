"""Arrow schemas of the landing tables, the ground-truth labels and the batch manifest.

The landing schemas follow the funnel model (README, "What is generated") column for column,
plus the lineage columns ``batch_id`` and ``ingested_at`` every landing row carries. The hive
partition column ``date`` is not stored in the files: readers get it from the
``date=YYYY-MM-DD`` directory. :func:`schema_text` is the canonical text of a file's Arrow schema
that the manifest records per landing file (so a file written with a drifted schema on purpose
records that schema), and :func:`schema_differences` says in words how two such texts differ.
"""

from __future__ import annotations

import json

import pyarrow as pa

TS = pa.timestamp("us", tz="UTC")

TABLES: tuple[str, ...] = ("visitor_events", "applications", "accounts", "transactions")

# The column that decides a record's landing date, and its primary key.
EVENT_TIME = {
    "visitor_events": "timestamp",
    "applications": "timestamp",
    "accounts": "account_open_timestamp",
    "transactions": "timestamp",
}
PRIMARY_KEY = {
    "visitor_events": "visitor_id",
    "applications": "app_id",
    "accounts": "account_id",
    "transactions": "txn_id",
}

_LINEAGE = [
    pa.field("batch_id", pa.string(), nullable=False),
    pa.field("ingested_at", TS, nullable=False),
]

TABLE_SCHEMAS: dict[str, pa.Schema] = {
    "visitor_events": pa.schema(
        [
            pa.field("visitor_id", pa.string(), nullable=False),
            pa.field("event_type", pa.string(), nullable=False),
            pa.field("campaign_id", pa.string()),
            pa.field("device_type", pa.string(), nullable=False),
            pa.field("geo", pa.string(), nullable=False),
            pa.field("timestamp", TS, nullable=False),
            pa.field("session_duration", pa.float64(), nullable=False),
            *_LINEAGE,
        ]
    ),
    "applications": pa.schema(
        [
            pa.field("app_id", pa.string(), nullable=False),
            pa.field("visitor_id", pa.string(), nullable=False),
            pa.field("applicant_age", pa.int64(), nullable=False),
            pa.field("annual_income", pa.float64(), nullable=False),
            pa.field("employment_status", pa.string(), nullable=False),
            pa.field("req_credit_limit", pa.int64(), nullable=False),
            pa.field("timestamp", TS, nullable=False),
            pa.field("application_status", pa.string(), nullable=False),
            *_LINEAGE,
        ]
    ),
    "accounts": pa.schema(
        [
            pa.field("account_id", pa.string(), nullable=False),
            pa.field("app_id", pa.string(), nullable=False),
            pa.field("approved_limit", pa.int64(), nullable=False),
            pa.field("interest_rate", pa.float64(), nullable=False),
            pa.field("account_open_timestamp", TS, nullable=False),
            pa.field("account_status", pa.string(), nullable=False),
            *_LINEAGE,
        ]
    ),
    "transactions": pa.schema(
        [
            pa.field("txn_id", pa.string(), nullable=False),
            pa.field("account_id", pa.string(), nullable=False),
            pa.field("amount", pa.float64(), nullable=False),
            pa.field("merchant_cat_code", pa.string(), nullable=False),
            pa.field("location", pa.string(), nullable=False),
            pa.field("state", pa.string(), nullable=False),
            pa.field("merchant_city", pa.string(), nullable=False),
            pa.field("timestamp", TS, nullable=False),
            *_LINEAGE,
        ]
    ),
}

LABEL_SCHEMA = pa.schema(
    [
        pa.field("table", pa.string(), nullable=False),
        pa.field("record_id", pa.string(), nullable=False),
        pa.field("batch_id", pa.string(), nullable=False),
        pa.field("anomaly", pa.string(), nullable=False),
        # modified: same id, columns changed; added: only in the anomalous batch;
        # removed: only in the normal twin (so never in the landing zone).
        pa.field("effect", pa.string(), nullable=False),
        pa.field("affected_columns", pa.list_(pa.string()), nullable=False),
    ]
)

# One file a batch's write committed: path relative to the data root, landing table, rows, bytes
# and the exact Arrow schema it was written with (schema_text).
MANIFEST_FILE = pa.struct(
    [
        pa.field("path", pa.string(), nullable=False),
        pa.field("table", pa.string(), nullable=False),
        pa.field("rows", pa.int64(), nullable=False),
        pa.field("bytes", pa.int64(), nullable=False),
        pa.field("schema", pa.string(), nullable=False),
    ]
)

MANIFEST_SCHEMA = pa.schema(
    [
        pa.field("batch_id", pa.string(), nullable=False),
        pa.field("window", pa.string(), nullable=False),
        pa.field("day", pa.date32(), nullable=False),
        pa.field("batch_index", pa.int32(), nullable=False),
        pa.field("batch_start", TS, nullable=False),
        # None, the batch's one anomaly, or its anomalies joined with "+".
        pa.field("anomaly", pa.string()),
        # Every anomaly of the batch, in schedule order (empty for a normal batch).
        pa.field(
            "anomalies", pa.list_(pa.field("element", pa.string(), nullable=False)), nullable=False
        ),
        pa.field("planned_visitors", pa.int64(), nullable=False),
        pa.field("seed", pa.int64(), nullable=False),
        *[pa.field(f"rows_{t}", pa.int64(), nullable=False) for t in TABLES],
        *[pa.field(f"labelled_{t}", pa.int64(), nullable=False) for t in TABLES],
        # sha256 of the configuration that determines the day's bytes (layout.config_hash), and
        # that configuration itself (layout.config_json): the configuration of record.
        pa.field("config_hash", pa.string(), nullable=False),
        pa.field("config", pa.string(), nullable=False),
        # The day's labels file (relative path), shared by its batches.
        pa.field("labels_file", pa.string(), nullable=False),
        # Exactly the landing files of this batch's write: readers read these and no others.
        pa.field(
            "files", pa.list_(pa.field("element", MANIFEST_FILE, nullable=False)), nullable=False
        ),
    ]
)


def schema_text(schema: pa.Schema) -> str:
    """The canonical text of an Arrow schema: a JSON list of ``[name, type, nullable]``.

    Field order, names, Arrow types (``str(type)``, e.g. ``timestamp[us, tz=UTC]``) and
    nullability are what a reader depends on; schema metadata is left out.

    Args:
        schema: The schema.

    Returns:
        Compact JSON text; equal schemas give equal text.
    """
    fields = [[f.name, str(f.type), f.nullable] for f in schema]
    return json.dumps(fields, separators=(",", ":"))


def schema_differences(expected: str, actual: str) -> list[str]:
    """How a schema differs from the expected one, in words (empty when they are equal).

    Args:
        expected: :func:`schema_text` of the expected schema.
        actual: :func:`schema_text` of the actual one.

    Returns:
        One phrase per difference: missing and unexpected columns, changed types and
        nullability, and the order if only that differs.

    Raises:
        ValueError: If ``expected`` is not a schema text.
    """
    try:
        want = {name: (kind, nullable) for name, kind, nullable in json.loads(expected)}
    except (ValueError, TypeError) as exc:
        raise ValueError(f"not a schema text: {expected[:80]!r} ({exc})") from None
    have = {name: (kind, nullable) for name, kind, nullable in json.loads(actual)}
    found = []
    missing = [n for n in want if n not in have]
    extra = [n for n in have if n not in want]
    if missing:
        found.append(f"missing column(s) {missing}")
    if extra:
        found.append(f"unexpected column(s) {extra}")
    for name in (n for n in want if n in have):
        (kind, nullable), (got, got_nullable) = want[name], have[name]
        if kind != got:
            found.append(f"{name} is {got}, not {kind}")
        if nullable != got_nullable:
            found.append(f"{name} is {'nullable' if got_nullable else 'not nullable'}")
    if not found and expected != actual:
        found.append(f"columns in another order: {list(have)}")
    return found
