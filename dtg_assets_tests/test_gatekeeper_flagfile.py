"""The findings format (v1) read from files and tables: every malformed input is one line
naming the file, the row (1-based, as the user counts) and the field; good ones of every
flavour (CSV from a spreadsheet, typed Parquet, in-memory tables) read alike.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dtg_assets.gatekeeper.flagfile import read_flags, validate_table
from dtg_assets.gatekeeper.flags import VERSION_KEY, FlagsError


def _write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_csv_from_a_spreadsheet_with_a_byte_order_mark(tmp_path):
    path = tmp_path / "excel.csv"
    path.write_bytes(b"\xef\xbb\xbfbatch_id,detector\r\nlive-20260310-0900,manual\r\n")
    flags = read_flags(str(path))
    assert flags["batch_id"].to_pylist() == ["live-20260310-0900"]
    assert flags["detector"].to_pylist() == ["manual"]


BAD = [  # file name, content, the message's expected part
    ("a.csv", "detector,table\nx,\n", "missing required column batch_id (found: detector, table)"),
    ("a.csv", "batch_id\nlive-20260310-0000\n  \n", "row 2, field batch_id: empty"),
    (
        "a.csv",
        "batch_id,flagged_at\nlive-20260310-0000,2026-03-10T00:00Z\nlive-20260310-0000,yesterday\n",
        "row 2, field flagged_at: 'yesterday' is not an ISO 8601 timestamp",
    ),
    (
        "a.csv",
        "batch_id,evidence_at\nlive-20260310-0000,2026-13-01\n",
        "row 1, field evidence_at: '2026-13-01' is not an ISO 8601 timestamp",
    ),
    (
        "a.csv",
        "batch_id,table,record_id\nlive-20260310-0000,applications,a1\nlive-20260310-0000,"
        "applications,\n",
        "row 2, field record_id: missing for table 'applications'",
    ),
    (
        "a.csv",
        "batch_id,table,record_id\nlive-20260310-0000,,a1\n",
        "row 1, field table: missing for record_id 'a1'",
    ),
    (
        "a.csv",
        "batch_id,table,record_id\nlive-20260310-0000,payments,p1\n",
        "row 1, field table: 'payments' is not a landing table (allowed: visitor_events, "
        "applications, accounts, transactions)",
    ),
    ("a.csv", "batch_id\nlive-20260310-0000,extra\n", "row 1: 2 fields but the header names 1"),
    (
        "a.csv",
        "batch_id,format_version\nlive-20260310-0000,2\n",
        "row 1, field format_version: '2' is not supported (this version reads format 1)",
    ),
    (
        "a.jsonl",
        '{"batch_id": "live-20260310-0000", "table": "accounts", "record_id": 42}\n',
        "row 1, field record_id: 42 is not a string",
    ),
    ("a.jsonl", '{"batch_id": "x"}\n{"batch_id": \n', "row 2: not JSON"),
    ("a.jsonl", '["live-20260310-0000"]\n', "row 1: a JSON object is required"),
    ("a.jsonl", '{"batch_id": null}\n', "row 1, field batch_id: empty"),
    ("a.txt", "batch_id\n", "unknown extension '.txt' (allowed: .parquet, .csv, .jsonl, .ndjson)"),
]


@pytest.mark.parametrize(("name", "content", "message"), BAD)
def test_malformed_text_files_name_the_row_and_field(tmp_path, name, content, message):
    path = _write(tmp_path, name, content)
    with pytest.raises(FlagsError) as caught:
        read_flags(path)
    assert str(caught.value) == f"{path}: {message}" or str(caught.value).startswith(
        f"{path}: {message}"
    )
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("columns", "metadata", "message"),
    [
        ({"batch_id": pa.array([1, 2])}, None, "field batch_id: column type int64; strings"),
        (
            {"batch_id": pa.array(["a", "b"]), "flagged_at": pa.array([1.5, 2.0])},
            None,
            "field flagged_at: column type double; a timestamp (UTC) or ISO 8601 strings",
        ),
        ({"batch_id": pa.array(["a", None])}, None, "row 2, field batch_id: empty"),
        ({"batch_id": pa.array(["a"])}, {VERSION_KEY: b"2"}, "findings format '2' in the"),
    ],
)
def test_malformed_parquet_files(tmp_path, columns, metadata, message):
    path = tmp_path / "bad.parquet"
    pq.write_table(pa.table(columns).replace_schema_metadata(metadata), path)
    with pytest.raises(FlagsError, match=re.escape(message)):
        read_flags(str(path))


def test_missing_file_is_one_line(tmp_path):
    with pytest.raises(FlagsError, match=r"nope\.csv: no such file$"):
        read_flags(str(tmp_path / "nope.csv"))


def test_in_memory_tables_are_validated_like_parquet_files():
    paris = pa.array([1_700_000_000_123_456_789], pa.timestamp("ns", tz="Europe/Paris"))
    flags = validate_table(pa.table({"batch_id": ["b"], "evidence_at": paris}))
    # Converted to UTC, nanoseconds truncated to microseconds.
    assert flags["evidence_at"][0].as_py() == dt.datetime(
        2023, 11, 14, 22, 13, 20, 123456, tzinfo=dt.UTC
    )
    with pytest.raises(FlagsError, match=r"^findings: missing required column batch_id "
                       r"\(found: batchid, x\)$"):  # fmt: skip
        validate_table(pa.table({"batchid": ["b"], "x": [1]}))
    with pytest.raises(FlagsError, match=r"^findings: row 1, field table: missing for"):
        validate_table(pa.table({"batch_id": ["b"], "record_id": ["r"]}))
