"""Join format-v1 flags with the ground truth: the arithmetic every evaluation goes through.

A batch counts as *caught* when any flag names it and some anomaly had an effect on it (a label
names it); a batch whose planned anomalies changed nothing is ``no_effect``, neither caught nor
missed; a *false alarm* is a flag on a batch with no anomaly planned and none in effect. Per
anomaly type the scores are batch-level recall, the detections by the detectors meant for that
type (:class:`~dtg_assets.gatekeeper.targets.Targets`), the false alarms those detectors raised
on normal batches, and the detection delays: measured (landing to the first ``flagged_at``) and
event-time (batch start to the first ``evidence_at``). For the record-level types it reports
precision and recall of the flagged ``(table, record_id)`` pairs against the labelled records
that exist in the landing zone (``removed`` labels never landed).
"""

from __future__ import annotations

import datetime as dt
import fnmatch
from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from dtg_assets.gatekeeper.flags import FLAGS_SCHEMA
from dtg_assets.gatekeeper.report import Evaluation
from dtg_assets.gatekeeper.rows import bools
from dtg_assets.gatekeeper.targets import ALL_TYPES, ANY_DETECTOR, RecordTarget, Targets


def _matches(name: str, patterns: Iterable[str]) -> bool:
    return any(fnmatch.fnmatchcase(name, p) for p in patterns)


def _planned(manifest: pd.DataFrame) -> list[list[str]]:
    """Each manifest row's planned anomalies: its ``anomalies`` list, or else (a manifest
    written before the list existed) its ``anomaly`` split at ``+``."""
    listed = manifest["anomalies"] if "anomalies" in manifest else [None] * len(manifest)
    return [
        list(many) if many is not None and len(many) else (one.split("+") if one else [])
        for many, one in zip(listed, manifest["anomaly"].fillna(""), strict=True)
    ]


def _effects(labels: pa.Table) -> dict[str, set[str]]:
    """Batch id -> anomalies some label of the batch names (any effect, removed included)."""
    if labels.num_rows == 0:
        return {}
    pairs = labels.select(["batch_id", "anomaly"]).group_by(["batch_id", "anomaly"]).aggregate([])
    out: dict[str, set[str]] = {}
    for batch, anomaly in zip(
        *(pairs[c].to_pylist() for c in ("batch_id", "anomaly")), strict=True
    ):
        out.setdefault(batch, set()).add(anomaly)
    return out


def _minutes(later: pd.Series, earlier: pd.Series) -> pd.Series:
    return (later - earlier).dt.total_seconds() / 60.0


def _batches(
    flags: pd.DataFrame,
    manifest: pd.DataFrame,
    labels: pa.Table,
    landed: Mapping[str, dt.datetime],
) -> pd.DataFrame:
    by_batch = flags.groupby("batch_id")
    # One row per (batch, detector) first: record-level flags repeat them by the thousand.
    pairs = flags.drop_duplicates(["batch_id", "detector"])
    detectors = pairs.groupby("batch_id")["detector"].agg(sorted)
    effects = _effects(labels)
    out = manifest[["batch_id", "window", "day", "batch_start"]].copy()
    planned = _planned(manifest)
    out["anomaly"] = ["+".join(p) if p else "none" for p in planned]
    out["anomalies"] = planned
    # Planned anomalies that changed something, then any other anomaly whose records landed
    # in the batch (a replayed copy), in type order.
    out["effective"] = [
        [a for a in ALL_TYPES if a in effects.get(b, set())]
        + sorted(effects.get(b, set()) - set(ALL_TYPES))
        for b in out["batch_id"]
    ]
    out["detectors"] = [detectors.get(b, []) for b in out["batch_id"]]
    out["flagged"] = out["detectors"].map(bool)
    out["status"] = [
        ("caught" if f else "missed")
        if e
        else ("no_effect" if p else ("false_alarm" if f else "normal"))
        for p, e, f in zip(planned, out["effective"], out["flagged"], strict=True)
    ]
    # Series.map through a dict, never through an empty datetime series (pandas fails there).
    first = {c: by_batch[c].min().dropna().to_dict() for c in ("flagged_at", "evidence_at")}
    when = {name: pd.to_datetime(out["batch_id"].map(first[name]), utc=True) for name in first}
    out["landed_at"] = pd.to_datetime(out["batch_id"].map(dict(landed)), utc=True)
    out["flagged_at"] = when["flagged_at"]
    out["measured_delay_minutes"] = _minutes(out["flagged_at"], out["landed_at"])
    out["delay_minutes"] = _minutes(when["evidence_at"], out["batch_start"])
    return out.sort_values("batch_id").reset_index(drop=True)


def _hits(detectors: pd.Series, patterns: tuple[str, ...]) -> pd.Series:
    return detectors.map(lambda ds: any(_matches(d, patterns) for d in ds))


def _spread(values: pd.Series, prefix: str) -> dict[str, float]:
    values = values.dropna()
    return {
        f"{prefix}_median_min": values.median() if len(values) else np.nan,
        f"{prefix}_max_min": values.max() if len(values) else np.nan,
    }


def _by_anomaly(batches: pd.DataFrame, targets: Mapping[str, tuple[str, ...]]) -> pd.DataFrame:
    normal = batches[batches["status"].isin(["normal", "false_alarm"])]
    present = {a for e in batches["effective"] for a in e} | {
        a for p in batches["anomalies"] for a in p
    }
    rows = []
    for anomaly in [*ALL_TYPES, *sorted(present - set(ALL_TYPES))]:
        effective = batches[batches["effective"].map(lambda e, a=anomaly: a in e)]
        idle = batches[
            batches["anomalies"].map(lambda p, a=anomaly: a in p)
            & ~batches["effective"].map(lambda e, a=anomaly: a in e)
        ]
        patterns = targets.get(anomaly, ())
        caught = effective[effective["flagged"]]
        rows.append(
            {
                "anomaly": anomaly,
                "batches": len(effective) + len(idle),
                "no_effect": len(idle),
                "flagged": int(effective["flagged"].sum()),
                "recall": effective["flagged"].mean() if len(effective) else np.nan,
                "by_its_detectors": int(_hits(effective["detectors"], patterns).sum()),
                "false_positives": int(_hits(normal["detectors"], patterns).sum()),
                **_spread(caught["measured_delay_minutes"], "measured_delay"),
                **_spread(caught["delay_minutes"], "delay"),
            }
        )
    for window in sorted(set(normal["window"])):
        own = normal[normal["window"] == window]
        flagged = int(own["flagged"].sum())
        rows.append({"anomaly": f"none ({window})", "batches": len(own), "flagged": flagged})
    out = pd.DataFrame(rows, columns=list(rows[0]) if rows else ["anomaly"])
    for col in ("batches", "no_effect", "flagged", "by_its_detectors", "false_positives"):
        if col in out:
            out[col] = out[col].astype("Int64")
    return out


def _keyed(tables: pa.Array | pa.ChunkedArray, ids: pa.Array | pa.ChunkedArray) -> pa.Array:
    """``<table>/<id>`` strings: record ids are compared within their table."""
    return pc.binary_join_element_wise(tables, ids, "/")


def _labelled(labels: pa.Table, rows: np.ndarray, column: str | None) -> pa.Array:
    """Distinct table-keyed ids of some label rows (whose affected columns include
    ``column``, unless None)."""
    sub = labels.take(pa.array(rows, pa.int64()))
    if column is not None:
        columns = sub["affected_columns"].combine_chunks()
        listed = pc.equal(pc.list_flatten(columns), column).fill_null(False)
        sub = sub.take(pc.list_parent_indices(columns).filter(listed))
    return pc.unique(_keyed(sub["table"], sub["record_id"]).combine_chunks())


def _records(
    flags: pa.Table,
    labels: pa.Table,
    batches: pd.DataFrame,
    targets: Mapping[str, RecordTarget],
) -> pd.DataFrame:
    # Label rows as masks computed once per value: the labels table is the big input here.
    landed = pc.and_(
        pc.invert(pc.equal(labels["effect"], "removed")), pc.not_equal(labels["table"], "batch")
    )
    present = bools(landed.fill_null(True))
    masks: dict[tuple[str, str], np.ndarray] = {}

    def equal(column: str, value: str) -> np.ndarray:
        if (column, value) not in masks:
            masks[column, value] = bools(pc.equal(labels[column], value))
        return masks[column, value]

    record_flags = flags.filter(pc.is_valid(flags["record_id"]))
    names = pc.unique(record_flags["detector"]).to_pylist()
    effective = dict(zip(batches["batch_id"], batches["effective"], strict=True))
    rows = []
    for name, t in targets.items():
        mine = present & equal("anomaly", t.anomaly)
        if t.tables is not None:
            mine &= np.logical_or.reduce([equal("table", table) for table in t.tables])
        truth = _labelled(labels, np.flatnonzero(mine), t.column)
        meant = [d for d in names if _matches(d, t.detectors)]
        # A flag on a batch whose effect is another anomaly's belongs to that anomaly.
        own = [b for b, e in effective.items() if not e or t.anomaly in e]
        chosen = record_flags.filter(
            pc.and_(
                pc.is_in(record_flags["detector"], value_set=pa.array(meant, pa.string())),
                pc.is_in(record_flags["batch_id"], value_set=pa.array(own, pa.string())),
            )
        )
        if t.tables is not None:
            chosen = chosen.filter(pc.is_in(chosen["table"], value_set=pa.array(t.tables)))
        predicted = pc.unique(_keyed(chosen["table"], chosen["record_id"]).combine_chunks())
        tp = int(pc.sum(pc.is_in(truth, value_set=predicted)).as_py() or 0)
        rows.append(
            {
                "record_type": name,
                "anomaly": t.anomaly,
                "table": "+".join(t.tables) if t.tables else "all",
                "labelled": len(truth),
                "flagged": len(predicted),
                "true_positives": tp,
                "precision": tp / len(predicted) if len(predicted) else np.nan,
                "recall": tp / len(truth) if len(truth) else np.nan,
            }
        )
    return pd.DataFrame(rows)


def score_flags(
    flags: pa.Table,
    labels: pa.Table,
    manifest: pa.Table,
    landed: Mapping[str, dt.datetime] | None = None,
    targets: Targets = ANY_DETECTOR,
) -> Evaluation:
    """Join format-v1 flags with the ground truth and score them.

    Args:
        flags: ``FLAGS_SCHEMA`` rows (any days).
        labels: ``LABEL_SCHEMA`` rows of the scored days.
        manifest: ``MANIFEST_SCHEMA`` rows of the scored days: the batches that are scored;
            flags on any other batch id are counted as unknown, not scored.
        landed: Batch id -> landing time (for the measured delay); none when omitted.
        targets: Which detectors count for which type (default: any for every type).

    Returns:
        The evaluation.
    """
    flags = flags.cast(FLAGS_SCHEMA)
    known = pc.is_in(flags["batch_id"], value_set=manifest["batch_id"].combine_chunks())
    strays = flags.filter(pc.invert(known))
    flags = flags.filter(known)
    columns = ["batch_id", "detector", "flagged_at", "evidence_at"]
    batches = _batches(
        flags.select(columns).to_pandas(), manifest.to_pandas(), labels, landed or {}
    )
    return Evaluation(
        batches=batches,
        by_anomaly=_by_anomaly(batches, targets.batch),
        records=_records(flags, labels, batches, targets.records),
        unknown_batches=tuple(sorted(set(strays["batch_id"].to_pylist()))),
        unknown_flags=strays.num_rows,
    )
