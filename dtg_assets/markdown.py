"""Small markdown renderers for Dagster metadata (no ``tabulate`` dependency).

Asset materializations and the gatekeeper's evaluation show tables in the Dagster UI as
markdown; these helpers render a pyarrow table or a list of row dicts compactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pyarrow as pa


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value).replace("|", "\\|").replace("\n", " ")


def markdown_rows(rows: Sequence[dict[str, Any]], columns: Sequence[str] | None = None) -> str:
    """Render row dicts as a markdown table.

    Args:
        rows: Rows; missing keys render empty.
        columns: Column order; the first row's keys when None.

    Returns:
        A markdown table (header only when there are no rows).
    """
    columns = list(columns if columns is not None else (rows[0].keys() if rows else []))
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_cell(r.get(c)) for c in columns) + " |" for r in rows]
    return "\n".join(lines)


def markdown_table(table: pa.Table, max_rows: int = 5) -> str:
    """Render the first rows of an Arrow table as markdown.

    Args:
        table: The table.
        max_rows: Rows to show.

    Returns:
        A markdown table.
    """
    return markdown_rows(table.slice(0, max_rows).to_pylist(), table.column_names)
