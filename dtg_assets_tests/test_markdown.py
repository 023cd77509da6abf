"""The one markdown renderer: the same rules for Arrow tables, pandas frames and row dicts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from dtg_assets.markdown import markdown_rows, markdown_table

EXPECTED = "| a | b | c |\n|---|---|---|\n| 1 | 0.500 | x\\|y |\n| 2 | — | — |"


def test_arrow_frame_and_rows_render_alike():
    rows = [{"a": 1, "b": 0.5, "c": "x|y"}, {"a": 2, "b": None, "c": None}]
    table = pa.Table.from_pylist(rows)
    frame = pd.DataFrame({"a": [1, 2], "b": [0.5, np.nan], "c": ["x|y", None]})
    for data in (table, frame, rows):
        assert markdown_table(data, decimals=3) == EXPECTED


def test_decimals_per_column_and_floats_as_stored_otherwise():
    frame = pd.DataFrame({"minutes": [2736.8333, 1.6667], "amount": [1234.56, 7.5]})
    assert markdown_table(frame, decimals={"minutes": 1}).splitlines()[2:] == [
        "| 2,736.8 | 1234.56 |",
        "| 1.7 | 7.5 |",
    ]


def test_max_rows_columns_and_missing_keys():
    table = pa.table({"n": np.arange(10), "s": [str(i) for i in range(10)]})
    assert markdown_table(table, max_rows=2).splitlines()[2:] == ["| 0 | 0 |", "| 1 | 1 |"]
    assert markdown_rows([{"a": 1}], ["b", "a"]) == "| b | a |\n|---|---|\n| — | 1 |"
    assert markdown_table(pa.table({"a": pa.array([], pa.int64())})) == "| a |\n|---|"
