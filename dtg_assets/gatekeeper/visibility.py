"""Which labelled anomalous records a gate could see at all: the visibility assessment.

An anomaly is *visible* in a configuration when its records differ from the normal ones the
baseline learned; it is *invisible* when they fall inside the learned normal range. A fraud of
70-90 % of the limit is invisible on a funnel whose ordinary amounts already reach several
times the limit and whose largest frauds stay below the largest ordinary amount: no rule can
flag those records without flagging normal ones as well. The evaluation says so instead of
counting them as misses (:func:`split` and :func:`annotate`, called by
:func:`~dtg_assets.gatekeeper.evaluation.evaluate`).

For every record-level type (:data:`~dtg_assets.gatekeeper.targets.RECORD_TARGETS`) whose
detectors judge records against a learned range (their ``Detector.outside``: value ranges,
ratio fences, the age floor), a labelled record that landed is visible when at least one of
those criteria puts it outside; the others are invisible. The criteria are the detectors'
own, from the baseline alone: no label is read to decide them. Types without such a criterion
(nulls, clocks, schemas, duplicates, rates) are not assessed: their records always count.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import fnmatch
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from dtg_assets.gatekeeper.baseline import Baseline
from dtg_assets.gatekeeper.detector import Detector
from dtg_assets.gatekeeper.detectors import build_detectors
from dtg_assets.gatekeeper.frames import PARENTS, Frames, prepare
from dtg_assets.gatekeeper.reading import read_day
from dtg_assets.gatekeeper.rows import bools
from dtg_assets.gatekeeper.rules import Rules
from dtg_assets.gatekeeper.targets import RECORD_TARGETS, RecordTarget
from dtg_assets.simulation.landing import LandingZone
from dtg_assets.simulation.layout import batch_prefix
from dtg_assets.simulation.schemas import PRIMARY_KEY, TABLES

if TYPE_CHECKING:  # the evaluation calls this module
    from dtg_assets.gatekeeper.evaluation import Evaluation

# The labelled records no learned range separates from normal ones, by anomaly.
INVISIBLE_SCHEMA = pa.schema(
    [
        pa.field("anomaly", pa.string(), nullable=False),
        pa.field("table", pa.string(), nullable=False),
        pa.field("record_id", pa.string(), nullable=False),
        pa.field("batch_id", pa.string(), nullable=False),
    ]
)
BATCH_COLUMNS = ["record_type", "anomaly", "batch_id", "labelled", "invisible", "visibility"]


@dataclass(frozen=True)
class Visibility:
    """The assessment.

    Attributes:
        invisible: ``INVISIBLE_SCHEMA`` rows: each labelled record inside the learned range.
        batches: Per assessed record type and batch with labelled records that landed:
            ``labelled``, ``invisible`` and ``visibility`` (``visible``, ``partly visible``
            or ``invisible``).
    """

    invisible: pa.Table
    batches: pd.DataFrame


def _truth(labels: pa.Table, t: RecordTarget) -> pa.Table:
    """The labels of a record type that landed (removed records never did)."""
    keep = pc.equal(labels["anomaly"], t.anomaly)
    keep = pc.and_(keep, pc.not_equal(labels["effect"], "removed"))
    keep = pc.and_(keep, pc.is_in(labels["table"], value_set=pa.array(t.tables or ())))
    if t.column is not None:
        cols = labels["affected_columns"].combine_chunks()
        listed = pc.equal(pc.list_flatten(cols), t.column).fill_null(False)
        has = np.zeros(labels.num_rows, dtype=bool)
        has[pc.list_parent_indices(cols).filter(listed).to_numpy()] = True
        keep = pc.and_(keep, pa.array(has))
    return labels.filter(keep)


def _status(labelled: int, invisible: int) -> str:
    if invisible == 0:
        return "visible"
    return "invisible" if invisible == labelled else "partly visible"


def assess(
    frames: Frames,
    baseline: Baseline,
    labels: pa.Table,
    rules: Rules | None = None,
    targets: Mapping[str, RecordTarget] | None = None,
) -> Visibility:
    """Assess the labelled records of some prepared batches against the learned ranges.

    Args:
        frames: The batches' prepared landing rows.
        baseline: What history showed.
        labels: ``LABEL_SCHEMA`` rows (those of other batches are ignored).
        rules: The detectors' rules (their margins shape the ranges); defaults to ``Rules``.
        targets: Record-level types; defaults to ``RECORD_TARGETS``.

    Returns:
        The assessment.
    """
    labels = labels.filter(pc.is_in(labels["batch_id"], value_set=pa.array(frames.batches)))
    parts, rows = [], []
    # Types without a learned range judging their records are not assessed.
    for name, (t, mine) in _assessed(baseline, rules, targets).items():
        truth = _truth(labels, t)
        for table in t.tables:
            own = truth.filter(pc.equal(truth["table"], table))
            if not own.num_rows:
                continue
            keys = frames[table].column(PRIMARY_KEY[table]).cast(pa.string())
            outside = np.zeros(len(frames[table]), dtype=bool)
            for d in (d for d in mine if d.target.table == table):
                outside |= d.outside(frames)
            landed = bools(pc.is_in(own["record_id"], value_set=keys))
            seen = bools(pc.is_in(own["record_id"], value_set=keys.filter(pa.array(outside))))
            own = own.filter(pa.array(landed))
            hidden = own.filter(pa.array(~seen[landed]))
            parts.append(hidden.select(INVISIBLE_SCHEMA.names).cast(INVISIBLE_SCHEMA))
            per_batch = pd.DataFrame(
                {"batch_id": own["batch_id"].to_pylist(), "hidden": ~seen[landed]}
            ).groupby("batch_id")["hidden"]
            for batch, n in per_batch.size().items():
                k = int(per_batch.sum()[batch])
                rows.append([name, t.anomaly, batch, int(n), k, _status(int(n), k)])
    invisible = pa.concat_tables(parts) if parts else INVISIBLE_SCHEMA.empty_table()
    return Visibility(invisible, pd.DataFrame(rows, columns=BATCH_COLUMNS))


def _tables_read(assessed: Mapping[str, tuple[RecordTarget, list[Detector]]]) -> list[str]:
    """The tables the assessed criteria read: their own and their parents (a transaction's
    amount is judged against its account's limit), but visitor events only when assessed
    themselves (the biggest table, and no criterion of their children reads them)."""
    own = {d.target.table for _, mine in assessed.values() for d in mine}
    parents = {p for child, _, p in PARENTS if child in own and p != "visitor_events"}
    return [t for t in TABLES if t in own | parents]


def _assessed(
    baseline: Baseline, rules: Rules | None, targets: Mapping[str, RecordTarget] | None
) -> dict[str, tuple[RecordTarget, list[Detector]]]:
    """Record type -> (its target, its detectors that judge records against a learned range),
    for the types that have such detectors."""
    detectors = [d for d in build_detectors(baseline, rules) if d.outside is not None]
    out = {}
    for name, t in (targets or RECORD_TARGETS).items():
        mine = [d for d in detectors if any(fnmatch.fnmatchcase(d.name, p) for p in t.detectors)]
        if t.tables is not None and mine:
            out[name] = t, [d for d in mine if d.target.table in t.tables]
    return out


def assess_days(
    zone: LandingZone,
    days: Iterable[tuple[dt.date, str]],
    baseline: Baseline,
    labels: pa.Table,
    rules: Rules | None = None,
) -> Visibility:
    """:func:`assess` over some ``(day, window)`` pairs of the landing zone.

    Only days with labels of an assessed type are read, one at a time, and only the tables
    the criteria need.

    Args:
        zone: The data root.
        days: ``(day, window)`` pairs.
        baseline: What history showed.
        labels: ``LABEL_SCHEMA`` rows of those days.
        rules: The detectors' rules.

    Returns:
        The assessment of every such day, concatenated.
    """
    assessed = _assessed(baseline, rules, None)
    anomalies = sorted({t.anomaly for t, _ in assessed.values()})
    labels = labels.filter(pc.is_in(labels["anomaly"], value_set=pa.array(anomalies)))
    batch_ids = pc.unique(labels["batch_id"]).to_pylist()
    tables = _tables_read(assessed)
    found = []
    for day, window in days:
        prefix = batch_prefix(window, day)
        if any(b.startswith(prefix) for b in batch_ids):
            rows = {t: read_day(zone, t, str(window), day) for t in tables}
            found.append(assess(prepare(rows), baseline, labels, rules))
    if not found:
        return Visibility(INVISIBLE_SCHEMA.empty_table(), pd.DataFrame(columns=BATCH_COLUMNS))
    return Visibility(
        pa.concat_tables([v.invisible for v in found]),
        pd.concat([v.batches for v in found], ignore_index=True),
    )


def split(labels: pa.Table, invisible: pa.Table | None) -> pa.Table:
    """The labels the gate could see: without the invisible records' labels of their anomaly.

    Args:
        labels: ``LABEL_SCHEMA`` rows.
        invisible: ``INVISIBLE_SCHEMA`` rows, or None (every record counts).

    Returns:
        The visible labels.
    """
    if invisible is None or not invisible.num_rows:
        return labels
    key = [labels[c].combine_chunks() for c in ("anomaly", "table", "record_id")]
    hidden = [invisible[c].combine_chunks() for c in ("anomaly", "table", "record_id")]
    joined = pc.binary_join_element_wise(*key, "\x1f")
    drop = pc.is_in(joined, value_set=pc.binary_join_element_wise(*hidden, "\x1f"))
    return labels.filter(pc.invert(drop))


def annotate(evaluation: Evaluation, invisible: pa.Table | None) -> Evaluation:
    """Say in an evaluation (scored on :func:`split`'s labels) what was invisible.

    A batch whose anomaly left only invisible records gets the status ``invisible`` (it had
    nothing a gate could find: neither caught nor missed); the batch table gains the list of
    such anomalies per batch (``invisible``), the per-type table the number of those batches,
    the record table the number of invisible records of each type (its ``labelled``,
    precision and recall count the visible ones).

    Args:
        evaluation: Scores of the visible labels.
        invisible: ``INVISIBLE_SCHEMA`` rows, or None (the evaluation is returned as it is).

    Returns:
        The annotated evaluation.
    """
    if invisible is None:
        return evaluation
    by_batch: dict[str, set[str]] = {}
    for anomaly, batch in zip(
        invisible["anomaly"].to_pylist(), invisible["batch_id"].to_pylist(), strict=True
    ):
        by_batch.setdefault(batch, set()).add(anomaly)
    b = evaluation.batches.copy()
    b["invisible"] = [
        sorted(by_batch.get(batch, set()) - set(e))
        for batch, e in zip(b["batch_id"], b["effective"], strict=True)
    ]
    hidden = b["invisible"].map(bool) & (b["status"] == "no_effect")
    b.loc[hidden, "status"] = "invisible"
    a = evaluation.by_anomaly.copy()
    counts = [int(b["invisible"].map(lambda i, x=x: x in i).sum()) for x in a["anomaly"]]
    a.insert(a.columns.get_loc("no_effect") + 1, "invisible", pd.array(counts, "Int64"))
    # The rows of normal batches have no anomaly to be invisible.
    a.loc[a["no_effect"].isna(), "invisible"] = pd.NA
    a["no_effect"] = a["no_effect"] - a["invisible"]
    r = evaluation.records.copy()
    r.insert(r.columns.get_loc("labelled") + 1, "invisible", 0)
    for i, row in r.iterrows():
        t = RECORD_TARGETS.get(row["record_type"])
        if t is not None and t.tables is not None:
            mine = pc.and_(
                pc.equal(invisible["anomaly"], t.anomaly),
                pc.is_in(invisible["table"], value_set=pa.array(t.tables)),
            )
            r.loc[i, "invisible"] = int(pc.sum(mine).as_py() or 0)
    return dataclasses.replace(evaluation, batches=b, by_anomaly=a, records=r)
