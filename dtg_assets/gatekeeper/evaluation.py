"""Score the gatekeeper's findings against the simulator's ground truth.

This is the only gatekeeper module that reads the ground truth (labels and manifest). A batch
counts as *caught* when any detector flags it; a *false alarm* is a flag on a batch the manifest
says is normal. Per anomaly type the evaluation reports batch-level recall, the detections
by the detectors meant for that type (``DEFAULT_TARGETS``), the false alarms those detectors
raised on normal batches, and the detection delay: from the batch's start to the earliest
``evidence_at`` of its flags (when enough records had happened and landed to decide). For the
record-level anomalies it reports precision and recall of the flagged record ids against the
labelled records that exist in the landing zone (``removed`` labels never landed).
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

from dtg_assets.gatekeeper.frames import read_local
from dtg_assets.gatekeeper.rows import bools
from dtg_assets.markdown import markdown_table
from dtg_assets.simulation.landing import LandingZone
from dtg_assets.simulation.schemas import LABEL_SCHEMA, MANIFEST_SCHEMA

# Anomaly type -> detector-name patterns built to catch it (for attribution, not for recall).
DEFAULT_TARGETS: dict[str, tuple[str, ...]] = {
    "null_burst": ("completeness:*",),
    "age_error": ("min_age", "status_domain", "domain:applications.application_status"),
    "traffic_spike": ("short_sessions", "volume"),
    "fraud_spike": ("amount_to_limit",),
    "limit_spike": ("limit_share_of_income",),
    "stale_data": ("ingestion_lag:*",),
    "conversion_drop": ("conversion_rate",),
}


@dataclass(frozen=True)
class RecordTarget:
    """A record-level anomaly: which labels are the truth and which detectors predict it."""

    anomaly: str
    table: str
    column: str
    detectors: tuple[str, ...]


RECORD_TARGETS: dict[str, RecordTarget] = {
    "under_age_applications": RecordTarget(
        "age_error", "applications", "applicant_age", ("min_age",)
    ),
    "limit_spikes": RecordTarget(
        "limit_spike", "applications", "req_credit_limit", ("limit_share_of_income",)
    ),
    "fraud_transactions": RecordTarget(
        "fraud_spike", "transactions", "amount", ("amount_to_limit",)
    ),
    "null_campaigns": RecordTarget(
        "null_burst", "visitor_events", "campaign_id", ("completeness:visitor_events.campaign_id",)
    ),
    "bot_sessions": RecordTarget(
        "traffic_spike", "visitor_events", "session_duration", ("short_sessions",)
    ),
}


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
        batches: One row per manifest batch: anomaly (``none`` if normal), whether and by which
            detectors it was flagged, and its detection delay in minutes.
        by_anomaly: One row per anomaly type in the manifest, then one per window's normal
            batches (their ``flagged`` count is the false alarms).
        records: One row per record-level anomaly type: truth, flagged, precision, recall.
    """

    batches: pd.DataFrame
    by_anomaly: pd.DataFrame
    records: pd.DataFrame

    @property
    def false_alarms(self) -> int:
        """Normal batches flagged by any detector."""
        normal = self.batches[self.batches["anomaly"] == "none"]
        return int(normal["flagged"].sum())

    @property
    def missed(self) -> list[str]:
        """Anomalous batches no detector flagged."""
        b = self.batches
        return b.loc[(b["anomaly"] != "none") & ~b["flagged"], "batch_id"].tolist()

    def summary(self) -> dict[str, float | int]:
        """Headline scores, flat and JSON-friendly (e.g. for asset metadata).

        Returns:
            Anomalous batches and how many were caught, normal batches and false alarms, and
            the worst record-level precision and recall over the types that have labels.
        """
        anomalous = self.batches["anomaly"] != "none"
        scored = self.records[self.records["labelled"] > 0]
        return {
            "anomalous_batches": int(anomalous.sum()),
            "caught_batches": int(self.batches.loc[anomalous, "flagged"].sum()),
            "normal_batches": int((~anomalous).sum()),
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
        anomalous = self.batches["anomaly"] != "none"
        caught = int(self.batches.loc[anomalous, "flagged"].sum())
        delays = {"delay_median_min": "median delay (min)", "delay_max_min": "max delay (min)"}
        lines = [
            "#### Batches",
            "",
            f"{caught}/{int(anomalous.sum())} anomalous batches caught, "
            f"{self.false_alarms} false alarms on {int((~anomalous).sum())} normal batches.",
            "",
            "#### By anomaly type",
            "",
            "Recall is the share of the type's batches flagged by any detector; delays run from "
            "the batch start to the first flag's evidence.",
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


def _batches(flags: pd.DataFrame, manifest: pd.DataFrame) -> pd.DataFrame:
    by_batch = flags.groupby("batch_id")
    detectors = by_batch["detector"].agg(lambda s: sorted(set(s)))
    first = by_batch["evidence_at"].min()
    out = manifest[["batch_id", "window", "day", "batch_start", "anomaly"]].copy()
    out["anomaly"] = out["anomaly"].fillna("none")
    out["detectors"] = [detectors.get(b, []) for b in out["batch_id"]]
    out["flagged"] = out["detectors"].map(bool)
    if flags.empty:
        # Mapping through an empty datetime series fails in pandas: no flag, no delay.
        out["delay_minutes"] = np.nan
    else:
        evidence = pd.to_datetime(out["batch_id"].map(first), utc=True)
        out["delay_minutes"] = (evidence - out["batch_start"]).dt.total_seconds() / 60.0
    return out.sort_values("batch_id").reset_index(drop=True)


def _by_anomaly(batches: pd.DataFrame, targets: Mapping[str, tuple[str, ...]]) -> pd.DataFrame:
    normal = batches[batches["anomaly"] == "none"]
    rows = []
    for anomaly in sorted(set(batches["anomaly"]) - {"none"}):
        own = batches[batches["anomaly"] == anomaly]
        patterns = targets.get(anomaly, ())
        by_target = own["detectors"].map(lambda ds, p=patterns: any(_matches(d, p) for d in ds))
        false_pos = normal["detectors"].map(lambda ds, p=patterns: any(_matches(d, p) for d in ds))
        delays = own.loc[own["flagged"], "delay_minutes"].dropna()
        rows.append(
            {
                "anomaly": anomaly,
                "batches": len(own),
                "flagged": int(own["flagged"].sum()),
                "recall": own["flagged"].mean(),
                "by_its_detectors": int(by_target.sum()),
                "false_positives": int(false_pos.sum()),
                "delay_median_min": delays.median() if len(delays) else np.nan,
                "delay_max_min": delays.max() if len(delays) else np.nan,
            }
        )
    for window in sorted(set(normal["window"])):
        own = normal[normal["window"] == window]
        flagged = int(own["flagged"].sum())
        rows.append({"anomaly": f"none ({window})", "batches": len(own), "flagged": flagged})
    out = pd.DataFrame(rows, columns=list(rows[0]) if rows else ["anomaly"])
    for col in ("batches", "flagged", "by_its_detectors", "false_positives"):
        if col in out:
            out[col] = out[col].astype("Int64")
    return out


def _labelled(labels: pa.Table, rows: np.ndarray, column: str) -> pa.Array:
    """Distinct ids of some label rows whose affected columns include ``column``."""
    columns = labels["affected_columns"].take(rows).combine_chunks()
    listed = pc.equal(pc.list_flatten(columns), column).fill_null(False)
    parents = pc.list_parent_indices(columns).filter(listed)
    return pc.unique(labels["record_id"].take(rows).take(parents).combine_chunks())


def _records(
    flags: pa.Table, labels: pa.Table, targets: Mapping[str, RecordTarget]
) -> pd.DataFrame:
    # Label rows as masks computed once per value: the labels table is the big input here.
    present = bools(pc.invert(pc.equal(labels["effect"], "removed")).fill_null(True))
    masks: dict[tuple[str, str], np.ndarray] = {}

    def equal(column: str, value: str) -> np.ndarray:
        if (column, value) not in masks:
            masks[column, value] = bools(pc.equal(labels[column], value))
        return masks[column, value]

    names = pc.unique(flags["detector"]).to_pylist()
    rows = []
    for name, t in targets.items():
        mine = present & equal("anomaly", t.anomaly) & equal("table", t.table)
        truth = _labelled(labels, np.flatnonzero(mine), t.column)
        meant = [d for d in names if _matches(d, t.detectors)]
        chosen = flags.filter(pc.is_in(flags["detector"], value_set=pa.array(meant, pa.string())))
        predicted = pc.unique(pc.list_flatten(chosen["flagged_ids"].combine_chunks()))
        tp = int(pc.sum(pc.is_in(truth, value_set=predicted)).as_py() or 0)
        rows.append(
            {
                "record_type": name,
                "anomaly": t.anomaly,
                "table": t.table,
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
) -> Evaluation:
    """Join findings with the ground truth and score them.

    Args:
        findings: ``FINDINGS_SCHEMA`` rows (any days).
        labels: ``LABEL_SCHEMA`` rows of the same days.
        manifest: ``MANIFEST_SCHEMA`` rows of the same days: the batches that are scored.
        targets: Anomaly type -> patterns of the detectors meant for it.
        record_targets: Record-level anomaly types to score.

    Returns:
        The evaluation.
    """
    # Only flags matter, and they are few: convert those, not every finding and label.
    flags = findings.filter(pc.equal(findings["verdict"], "flag"))
    columns = ["batch_id", "detector", "evidence_at"]
    batches = _batches(flags.select(columns).to_pandas(), manifest.to_pandas())
    return Evaluation(
        batches=batches,
        by_anomaly=_by_anomaly(batches, DEFAULT_TARGETS if targets is None else targets),
        records=_records(flags, labels, record_targets or RECORD_TARGETS),
    )
