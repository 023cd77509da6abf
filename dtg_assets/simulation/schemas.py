"""Arrow schemas of the landing tables, the ground-truth labels and the batch manifest.

The landing schemas follow SPEC.md column for column, plus the lineage columns ``batch_id`` and
``ingested_at`` every landing row carries. The hive partition column ``date`` is not stored in
the files: readers get it from the ``date=YYYY-MM-DD`` directory.
"""

from __future__ import annotations

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

# One file a batch's write committed: path relative to the data root, landing table, rows, bytes.
MANIFEST_FILE = pa.struct(
    [
        pa.field("path", pa.string(), nullable=False),
        pa.field("table", pa.string(), nullable=False),
        pa.field("rows", pa.int64(), nullable=False),
        pa.field("bytes", pa.int64(), nullable=False),
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
        # sha256 of the configuration that determines the day's bytes (layout.config_hash).
        pa.field("config_hash", pa.string(), nullable=False),
        # The day's labels file (relative path), shared by its batches.
        pa.field("labels_file", pa.string(), nullable=False),
        # Exactly the landing files of this batch's write: readers read these and no others.
        pa.field(
            "files", pa.list_(pa.field("element", MANIFEST_FILE, nullable=False)), nullable=False
        ),
    ]
)
