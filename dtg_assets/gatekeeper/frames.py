"""Landing rows as per-batch pandas frames, with the derived columns the gatekeeper needs.

Both the baseline and the detectors see the data through :func:`prepare`, so a statistic is
computed the same way when it is learned and when it is checked. Derived columns:

- ``_lag_s``: ingestion lag ``ingested_at - <event time>`` in seconds (every table);
- ``_available``: when the record could first be seen, ``max(event time, ingested_at)`` (a
  record cannot be observed before it happens), used to time detections;
- applications ``_limit_share``: ``req_credit_limit / annual_income``;
- accounts ``_app_status``: status of its application in the same batch (null if none) and
  ``_transacts``: whether the batch has a transaction on the account;
- transactions ``_limit`` and ``_amount_to_limit``: the account's approved limit and the
  amount's share of it (NaN when the account is not in the batch).

Records are matched within a batch (``batch_id``): a batch's downstream records carry its id
whatever event date they land on.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd
import pyarrow as pa

from dtg_assets.simulation.landing import LandingZone
from dtg_assets.simulation.schemas import EVENT_TIME, TABLE_SCHEMAS, TABLES

Frames = dict[str, pd.DataFrame]


def read_days(
    zone: LandingZone, window: str, days: Iterable[dt.date]
) -> tuple[dict[str, pa.Table], dict[str, pa.Schema]]:
    """Read every landing table of some days of a window (all event dates, by batch-id prefix).

    Args:
        zone: The data root.
        window: ``historical`` or ``live``.
        days: The batches' days.

    Returns:
        ``(tables, schemas)``: the rows per table and the schema they were read with.
    """
    days = list(days)
    tables = {
        t: pa.concat_tables([zone.read_day(t, window, d) for d in days])
        if days
        else TABLE_SCHEMAS[t].empty_table()
        for t in TABLES
    }
    return tables, {t: tables[t].schema for t in TABLES}


def conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """Bring a table to a landing schema so detectors can run on data that drifted from it.

    Columns are cast to their landing type; a missing column, or one whose values cannot be
    cast, becomes all-null (which the completeness detectors then report); extra columns are
    dropped. The schema detector sees the table as it came, before this.

    Args:
        table: Rows as they arrived.
        schema: The landing schema.

    Returns:
        The rows in ``schema``'s column order and types.
    """
    columns = []
    for field in schema:
        if field.name not in table.column_names:
            columns.append(pa.nulls(table.num_rows, field.type))
            continue
        try:
            columns.append(table.column(field.name).cast(field.type))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
            columns.append(pa.nulls(table.num_rows, field.type))
    return pa.Table.from_arrays(columns, names=schema.names)


def _to_frame(table: pa.Table | pd.DataFrame | None, name: str) -> pd.DataFrame:
    if table is None:
        table = TABLE_SCHEMAS[name].empty_table()
    if isinstance(table, pa.Table):
        return table.to_pandas()
    return table.reset_index(drop=True).copy()


def _seconds(delta: pd.Series) -> pd.Series:
    return delta.dt.total_seconds().astype("float64")


def prepare(tables: Mapping[str, pa.Table | pd.DataFrame | None]) -> Frames:
    """Convert landing tables to frames and add the derived columns.

    Args:
        tables: Table name -> rows (a missing table counts as empty).

    Returns:
        Table name -> frame with the derived columns.
    """
    f = {t: _to_frame(tables.get(t), t) for t in TABLES}
    for t in TABLES:
        frame, ts = f[t], f[t][EVENT_TIME[t]]
        frame["_lag_s"] = _seconds(frame["ingested_at"] - ts)
        frame["_available"] = ts.where(ts > frame["ingested_at"], frame["ingested_at"])
    apps, acc, txn = f["applications"], f["accounts"], f["transactions"]
    income = apps["annual_income"].astype("float64")
    apps["_limit_share"] = apps["req_credit_limit"].astype("float64") / income.where(income > 0)
    status = apps.drop_duplicates(["batch_id", "app_id"]).set_index(["batch_id", "app_id"])
    key = pd.MultiIndex.from_frame(acc[["batch_id", "app_id"]])
    acc["_app_status"] = status["application_status"].reindex(key).to_numpy()
    txn_keys = pd.MultiIndex.from_frame(txn[["batch_id", "account_id"]])
    acc_keys = pd.MultiIndex.from_frame(acc[["batch_id", "account_id"]])
    acc["_transacts"] = acc_keys.isin(txn_keys)
    limits = acc.drop_duplicates(["batch_id", "account_id"]).set_index(["batch_id", "account_id"])
    txn["_limit"] = limits["approved_limit"].reindex(txn_keys).to_numpy(dtype="float64")
    limit = txn["_limit"].where(txn["_limit"] > 0)
    txn["_amount_to_limit"] = txn["amount"].astype("float64") / limit
    return f


def split(frames: Frames) -> dict[str, Frames]:
    """Group prepared frames by batch.

    Args:
        frames: Output of :func:`prepare`.

    Returns:
        Batch id -> table name -> that batch's rows, batches in id order. Every batch that has
        a row in any table is present, with empty frames for the tables it has no rows in.
    """
    ids = sorted(set().union(*(set(frames[t]["batch_id"].unique()) for t in TABLES)))
    groups = {t: dict(iter(frames[t].groupby("batch_id", sort=False))) for t in TABLES}
    return {
        b: {t: groups[t].get(b, frames[t].iloc[0:0]).reset_index(drop=True) for t in TABLES}
        for b in ids
    }


def pk_ids(frame: pd.DataFrame, key: str, mask: np.ndarray | pd.Series) -> list[str]:
    """Primary keys of the rows selected by a mask, as strings (nulls dropped)."""
    values = frame.loc[np.asarray(mask, dtype=bool), key]
    return [str(v) for v in values.dropna()]
