"""Score the gatekeeper's findings against the simulator's ground truth.

This is the only gatekeeper module that reads the ground truth (labels and manifest). A batch
counts as *caught* when any detector flags it and some anomaly had an effect on it (a label
names it); a batch whose planned anomalies changed nothing is ``no_effect``, neither caught nor
missed; a *false alarm* is a flag on a batch with no anomaly planned and none in effect. Per
anomaly type (all of :data:`~dtg_assets.gatekeeper.targets.ALL_TYPES`) the evaluation reports
batch-level recall, the detections by the detectors meant for that type (``DEFAULT_TARGETS``),
the false alarms those detectors raised on normal batches, and the detection delay: from the
batch's start to the earliest ``evidence_at`` of its flags (when enough records had happened
and landed to decide). For the record-level types it reports precision and recall of the
flagged record ids (by table) against the labelled records that exist in the landing zone
(``removed`` labels never landed).
"""

from __future__ import annotations

import datetime as dt
import fnmatch
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from dtg_assets.gatekeeper import visibility
from dtg_assets.gatekeeper.frames import read_local
from dtg_assets.gatekeeper.rows import bools
from dtg_assets.gatekeeper.targets import (
    ALL_TYPES,
    DEFAULT_TARGETS,
    RECORD_TARGETS,
    STRUCTURAL_TYPES,
    RecordTarget,
)
from dtg_assets.markdown import markdown_table
from dtg_assets.simulation.landing import LandingZone
from dtg_assets.simulation.schemas import LABEL_SCHEMA, MANIFEST_SCHEMA

__all__ = [
    "ALL_TYPES",
    "DEFAULT_TARGETS",
    "RECORD_TARGETS",
    "STRUCTURAL_TYPES",
    "Evaluation",
    "RecordTarget",
    "evaluate",
    "load_ground_truth",
]


def _matches(name: str, patterns: Iterable[str]) -> bool:
    return any(fnmatch.fnmatchcase(name, p) for p in patterns)


def _ground_truth(zone: LandingZone, day: dt.date, window: str) -> tuple[pa.Table, pa.Table]:
    labels = read_local(zone, [zone.labels_path(window, day)], LABEL_SCHEMA)
    manifest = read_local(zone, [zone.manifest_path(window, day)], MANIFEST_SCHEMA)
    # A missing or unexpected file is the zone's to handle (empty, or a named error).
    return (
        labels if labels is not None else zone.read_labels(window, day),
        manifest if manifest is not None else zone.read_manifest(window, day),
    )


def load_ground_truth(
    zone: LandingZone, days: Iterable[tuple[dt.date, str]]
) -> tuple[pa.Table, pa.Table]:
    """Read the labels and manifests of some ``(day, window)`` pairs.

    Args:
        zone: The data root.
        days: ``(day, window)`` pairs.

    Returns:
        ``(labels, manifest)``, concatenated.
    """
    parts = [_ground_truth(zone, d, w) for d, w in days]
    labels, manifests = [lab for lab, _ in parts], [man for _, man in parts]
    return (
        pa.concat_tables(labels) if labels else LABEL_SCHEMA.empty_table(),
        pa.concat_tables(manifests) if manifests else MANIFEST_SCHEMA.empty_table(),
    )


@dataclass(frozen=True)
class Evaluation:
    """The scores.

    Attributes:
        batches: One row per manifest batch: its planned anomalies (``anomaly``: ``none``, a
            name, or names joined by ``+``), those that had an effect on it (``effective``:
            some label names the batch; a replayed copy makes the batch it landed in carry
            its anomaly too), whether and by which detectors it was flagged, its ``status``
            (``normal``, ``caught``, ``missed``, ``no_effect`` or ``false_alarm``) and its
            detection delay in minutes.
        by_anomaly: One row per anomaly type (all thirteen, absent ones with zero batches),
            then one per window's normal batches (their ``flagged`` count is the false alarms).
            A batch with several effective anomalies counts for each.
        records: One row per record-level anomaly type: truth, flagged, precision, recall.
    """

    batches: pd.DataFrame
    by_anomaly: pd.DataFrame
    records: pd.DataFrame

    @property
    def false_alarms(self) -> int:
        """Normal batches (no anomaly planned, none had an effect) flagged by any detector."""
        return int((self.batches["status"] == "false_alarm").sum())

    @property
    def missed(self) -> list[str]:
        """Batches with an effective anomaly that no detector flagged."""
        b = self.batches
        return b.loc[b["status"] == "missed", "batch_id"].tolist()

    def summary(self) -> dict[str, float | int]:
        """Headline scores, flat and JSON-friendly (e.g. for asset metadata).

        Returns:
            Batches with an effective anomaly and how many were caught, anomalous batches
            without effect, normal batches and false alarms, and the worst record-level
            precision and recall over the types that have labels.
        """
        status = self.batches["status"]
        scored = self.records[self.records["labelled"] > 0]
        return {
            "anomalous_batches": int(status.isin(["caught", "missed"]).sum()),
            "caught_batches": int((status == "caught").sum()),
            "no_effect_batches": int((status == "no_effect").sum()),
            "normal_batches": int(status.isin(["normal", "false_alarm"]).sum()),
            "false_alarms": self.false_alarms,
            "min_record_precision": float(scored["precision"].min()) if len(scored) else 1.0,
            "min_record_recall": float(scored["recall"].min()) if len(scored) else 1.0,
        }

    def to_tables(self) -> dict[str, pa.Table]:
        """The three frames as Arrow tables (for Parquet)."""
        return {
            "batches": pa.Table.from_pandas(self.batches, preserve_index=False),
            "by_anomaly": pa.Table.from_pandas(self.by_anomaly, preserve_index=False),
            "records": pa.Table.from_pandas(self.records, preserve_index=False),
        }

    def to_markdown(self) -> str:
        """Render the scores as markdown: a headline, then the batch and record tables.

        Every delay is in minutes with one decimal, every ratio with three decimals, so the
        columns read alike whatever the magnitude.
        """
        s = self.summary()
        delays = {"delay_median_min": "median delay (min)", "delay_max_min": "max delay (min)"}
        lines = [
            "#### Batches",
            "",
            f"{s['caught_batches']}/{s['anomalous_batches']} anomalous batches caught, "
            f"{s['false_alarms']} false alarms on {s['normal_batches']} normal batches"
            + (
                f", {s['no_effect_batches']} anomalous batches without effect."
                if s["no_effect_batches"]
                else "."
            ),
            "",
            "#### By anomaly type",
            "",
            "Recall is the share of the type's effective batches (some record labelled) flagged "
            "by any detector; `no_effect` batches had nothing to find. Delays run from the "
            "batch start to the first flag's evidence.",
            "",
            markdown_table(
                self.by_anomaly.rename(columns=delays),
                decimals={"recall": 3, **dict.fromkeys(delays.values(), 1)},
            ),
            "",
            "#### Record level",
            "",
            "Flagged record ids of each record-level anomaly against its labelled records "
            "that landed.",
            "",
            markdown_table(self.records, decimals={"precision": 3, "recall": 3}),
        ]
        return "\n".join(lines)


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


def _batches(flags: pd.DataFrame, manifest: pd.DataFrame, labels: pa.Table) -> pd.DataFrame:
    by_batch = flags.groupby("batch_id")
    detectors = by_batch["detector"].agg(lambda s: sorted(set(s)))
    first = by_batch["evidence_at"].min()
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
    if flags.empty:
        # Mapping through an empty datetime series fails in pandas: no flag, no delay.
        out["delay_minutes"] = np.nan
    else:
        evidence = pd.to_datetime(out["batch_id"].map(first), utc=True)
        out["delay_minutes"] = (evidence - out["batch_start"]).dt.total_seconds() / 60.0
    return out.sort_values("batch_id").reset_index(drop=True)


def _hits(detectors: pd.Series, patterns: tuple[str, ...]) -> pd.Series:
    return detectors.map(lambda ds: any(_matches(d, patterns) for d in ds))


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
        delays = effective.loc[effective["flagged"], "delay_minutes"].dropna()
        rows.append(
            {
                "anomaly": anomaly,
                "batches": len(effective) + len(idle),
                "no_effect": len(idle),
                "flagged": int(effective["flagged"].sum()),
                "recall": effective["flagged"].mean() if len(effective) else np.nan,
                "by_its_detectors": int(_hits(effective["detectors"], patterns).sum()),
                "false_positives": int(_hits(normal["detectors"], patterns).sum()),
                "delay_median_min": delays.median() if len(delays) else np.nan,
                "delay_max_min": delays.max() if len(delays) else np.nan,
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

    names = pc.unique(flags["detector"]).to_pylist()
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
        chosen = flags.filter(
            pc.and_(
                pc.is_in(flags["detector"], value_set=pa.array(meant, pa.string())),
                pc.is_in(flags["batch_id"], value_set=pa.array(own, pa.string())),
            )
        )
        if t.tables is not None:
            chosen = chosen.filter(pc.is_in(chosen["table"], value_set=pa.array(t.tables)))
        ids = chosen["flagged_ids"].combine_chunks()
        tables = pc.take(chosen["table"].combine_chunks(), pc.list_parent_indices(ids))
        predicted = pc.unique(_keyed(tables, pc.list_flatten(ids)))
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


def evaluate(
    findings: pa.Table,
    labels: pa.Table,
    manifest: pa.Table,
    targets: Mapping[str, tuple[str, ...]] | None = None,
    record_targets: Mapping[str, RecordTarget] | None = None,
    invisible: pa.Table | None = None,
) -> Evaluation:
    """Join findings with the ground truth and score them.

    Args:
        findings: ``FINDINGS_SCHEMA`` rows (any days).
        labels: ``LABEL_SCHEMA`` rows of the same days.
        manifest: ``MANIFEST_SCHEMA`` rows of the same days: the batches that are scored.
        targets: Anomaly type -> patterns of the detectors meant for it.
        record_targets: Record-level anomaly types to score.
        invisible: Labelled records no learned range tells from normal ones
            (:func:`~dtg_assets.gatekeeper.visibility.assess`): scored apart as invisible.

    Returns:
        The evaluation.
    """
    # Only flags matter, and they are few: convert those, not every finding and label.
    flags = findings.filter(pc.equal(findings["verdict"], "flag"))
    labels = visibility.split(labels, invisible)
    columns = ["batch_id", "detector", "evidence_at"]
    batches = _batches(flags.select(columns).to_pandas(), manifest.to_pandas(), labels)
    evaluation = Evaluation(
        batches=batches,
        by_anomaly=_by_anomaly(batches, DEFAULT_TARGETS if targets is None else targets),
        records=_records(flags, labels, batches, record_targets or RECORD_TARGETS),
    )
    return visibility.annotate(evaluation, invisible)
