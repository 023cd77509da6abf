"""Markdown tables for Dagster metadata and terminal summaries (no ``tabulate`` dependency).

Asset materializations, the gatekeeper's evaluation and ``dtg-run``'s summary show tables as
markdown; :func:`markdown_table` renders an Arrow table, a pandas frame or row dicts with one
set of rules: a missing value (None, NaN, NA) is a dash, and a float column is printed with a
fixed number of decimals when asked (the same for every row, so magnitudes line up), else as
stored.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
import pyarrow as pa

MISSING = "—"
Rows = pa.Table | pd.DataFrame | Sequence[Mapping[str, Any]]


def _missing(value: Any) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, float) and math.isnan(value)


def _cell(value: Any, decimals: int | None) -> str:
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        value = value.item()  # numpy scalars format like Python numbers
    if _missing(value):
        return MISSING
    if isinstance(value, float) and decimals is not None:
        return f"{value:,.{decimals}f}"
    return str(value).replace("|", "\\|").replace("\n", " ")


def markdown_table(
    data: Rows,
    columns: Sequence[str] | None = None,
    *,
    max_rows: int | None = None,
    decimals: int | Mapping[str, int] | None = None,
) -> str:
    """Render a table as GitHub markdown.

    Args:
        data: An Arrow table, a pandas frame or row dicts (missing keys render as a dash).
        columns: Column order; the table's columns (or the first row's keys) when None.
        max_rows: Show only the first rows; all when None.
        decimals: Decimals of every float column, or per column name (floats of columns not
            named render as stored); floats render as stored when None.

    Returns:
        The markdown table (header only when there are no rows).
    """
    if isinstance(data, pa.Table):
        names = data.column_names
        rows = data.slice(0, max_rows).to_pylist()
    elif isinstance(data, pd.DataFrame):
        names = [str(c) for c in data.columns]
        rows = (data if max_rows is None else data.head(max_rows)).to_dict("records")
    else:
        names = list(data[0].keys()) if data else []
        rows = list(data[:max_rows])
    columns = list(columns if columns is not None else names)
    places = decimals if isinstance(decimals, Mapping) else dict.fromkeys(columns, decimals)
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += [
        "| " + " | ".join(_cell(r.get(c), places.get(c)) for c in columns) + " |" for r in rows
    ]
    return "\n".join(lines)


def markdown_rows(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None) -> str:
    """Row dicts as a markdown table: :func:`markdown_table` of a list, kept for callers.

    Args:
        rows: Rows; missing keys render as a dash.
        columns: Column order; the first row's keys when None.

    Returns:
        The markdown table.
    """
    return markdown_table(rows, columns)
