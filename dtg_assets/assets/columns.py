"""Column descriptions of the landing tables, labels and manifest, as the UI shows them.

``COLUMNS`` describes every column of every schema in :mod:`dtg_assets.simulation.schemas`;
:func:`column_schema` turns a schema into the ``dagster/column_schema`` metadata of its asset,
one described column per field. A column added to a schema without a description here is
rendered without one and fails ``test_every_landing_column_is_described``.
"""

from __future__ import annotations

import dagster as dg
import pyarrow as pa

from dtg_assets.simulation.schemas import TABLES

_LINEAGE = {
    "batch_id": "The micro-batch that produced the row (window, day and batch index).",
    "ingested_at": "When the row's micro-batch landed (UTC): 100 s after the batch start, the "
    "same for every row of the batch.",
}

COLUMNS: dict[str, dict[str, str]] = {
    "visitor_events": {
        "visitor_id": "Primary key: a random UUID4 per visitor.",
        "event_type": "One of landing, scroll, apply_click, view_pricing.",
        "campaign_id": "Marketing campaign, an upper-case word and a 3-digit number (e.g. "
        "ARTICLE482); null when the visit came from no campaign.",
        "device_type": "One of mobile, desktop, tablet.",
        "geo": "Visitor's country: USA, UK, IND or CA.",
        "timestamp": "Visit time (UTC), 1-99 s after the batch start; it decides the row's "
        "date partition.",
        "session_duration": "Session length in seconds (at least 0.1).",
        **_LINEAGE,
    },
    "applications": {
        "app_id": "Primary key: a UUID4 per application.",
        "visitor_id": "The applying visitor (visitor_events.visitor_id, same batch).",
        "applicant_age": "Applicant's age in years.",
        "annual_income": "Applicant's annual income.",
        "employment_status": "One of salaried, self-employed, unemployed.",
        "req_credit_limit": "Requested credit limit (a tenth of the income, normally).",
        "timestamp": "Application time (UTC), 1-14 minutes after the visit; it decides the "
        "row's date partition.",
        "application_status": "submitted, approved or rejected; 'rejected - under age' for "
        "an applicant under 18.",
        **_LINEAGE,
    },
    "accounts": {
        "account_id": "Primary key: a UUID4 per account.",
        "app_id": "The approved application (applications.app_id, same batch).",
        "approved_limit": "Approved credit limit (the requested limit times 0.8-1.2).",
        "interest_rate": "Annual interest rate in percent (14.99-29.99).",
        "account_open_timestamp": "Opening time (UTC), 2-23 hours after the application; it "
        "decides the row's date partition.",
        "account_status": "Always active.",
        **_LINEAGE,
    },
    "transactions": {
        "txn_id": "Primary key: a UUID4 per transaction.",
        "account_id": "The card account (accounts.account_id, same batch).",
        "amount": "Amount in currency units, to the cent.",
        "merchant_cat_code": "Merchant category code: 5411, 5812, 5999, 7999 or 5541.",
        "location": "Country name of the merchant.",
        "state": "US state abbreviation of the merchant.",
        "merchant_city": "City name of the merchant.",
        "timestamp": "Transaction time (UTC), 1-5 days after the account opened; it decides "
        "the row's date partition.",
        **_LINEAGE,
    },
    "ground_truth_labels": {
        "table": "The landing table of the labelled record (batch for a missing batch's "
        "batch-level label).",
        "record_id": "The record's primary key in that table.",
        "batch_id": "The batch the record belongs to.",
        "anomaly": "The anomaly that made the record differ (one row per anomaly that changed it).",
        "effect": "modified (same id, columns changed), added (only in the anomalous batch) or "
        "removed (only in its normal twin, so never landed).",
        "affected_columns": "The columns the anomaly set on the record: for a modified record "
        "exactly those that differ from its normal twin; empty for a removed one.",
    },
    "batch_manifest": {
        "batch_id": "The batch: window, day and batch index.",
        "window": "historical or live.",
        "day": "The UTC day the batch belongs to (its partition).",
        "batch_index": "Position of the batch in its day, from 0.",
        "batch_start": "When the batch starts (UTC).",
        "anomaly": "The batch's injected anomaly; null for a normal batch, the names joined "
        "with + for several.",
        "anomalies": "Every anomaly injected into the batch, in schedule order; empty for a "
        "normal batch.",
        "planned_visitors": "Visitors the schedule plans before any traffic-spike multiplier.",
        "seed": "The scenario seed the batch's random streams derive from.",
        "config_hash": "sha256 of the configuration that determines the day's bytes (seed, "
        "scale, funnel, anomaly parameters, schedule); its first 8 hex digits are the token in "
        "the file names.",
        "labels_file": "The ground-truth labels file written with this batch, relative to the "
        "data root.",
        "files": "Exactly the landing files of this batch's write (path relative to the data "
        "root, table, rows, bytes): readers and checks read these and no others.",
        **{f"rows_{t}": f"Rows of {t} the batch landed (any date partition)." for t in TABLES},
        **{f"labelled_{t}": f"Ground-truth labels of the batch on {t}." for t in TABLES},
    },
}


def column_schema(name: str, schema: pa.Schema) -> dg.TableSchema:
    """The ``dagster/column_schema`` of an asset: every field, typed and described.

    Args:
        name: The asset's name (a landing table, ``ground_truth_labels`` or
            ``batch_manifest``).
        schema: Its Arrow schema.

    Returns:
        The column schema shown in the UI.
    """
    described = COLUMNS.get(name, {})
    return dg.TableSchema(
        columns=[
            dg.TableColumn(
                f.name,
                str(f.type),
                description=described.get(f.name),
                constraints=dg.TableColumnConstraints(nullable=f.nullable),
            )
            for f in schema
        ]
    )
