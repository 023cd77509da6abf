"""The scores of a detector against the ground truth, and their markdown and JSON renderings.

:class:`Evaluation` holds three frames — per batch, per anomaly type, per record-level type —
and the flags whose batch ids no manifest of the scored days lists. Its renderings are what
``dtg-score`` prints and what the ``gatekeeper/evaluation`` asset shows, so the two read alike.
Delays are in minutes: *measured* from a batch's landing (its files' store time) to the first
flag's ``flagged_at``, and *event-time* from the batch's start to the first flag's
``evidence_at``; a delay column nobody filled is left out of the markdown.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import pyarrow as pa

from dtg_assets.markdown import markdown_table

REPORT_VERSION = 1
# by_anomaly delay columns -> markdown headings, measured first.
DELAYS = {
    "measured_delay_median_min": "measured median (min)",
    "measured_delay_max_min": "measured max (min)",
    "delay_median_min": "event-time median (min)",
    "delay_max_min": "event-time max (min)",
}
EXAMPLES = 5


@dataclass(frozen=True)
class Evaluation:
    """The scores.

    Attributes:
        batches: One row per manifest batch: its planned anomalies (``anomaly``: ``none``, a
            name, or names joined by ``+``), those that had an effect on it (``effective``:
            some label names the batch; a replayed copy makes the batch it landed in carry
            its anomaly too), whether and by which detectors it was flagged, its ``status``
            (``normal``, ``caught``, ``missed``, ``no_effect`` or ``false_alarm``), its
            ``landed_at`` and first ``flagged_at``, and its detection delays in minutes
            (``measured_delay_minutes``: landing to flag; ``delay_minutes``: batch start to
            the flag's evidence).
        by_anomaly: One row per anomaly type (all thirteen, absent ones with zero batches),
            then one per window's normal batches (their ``flagged`` count is the false alarms).
            A batch with several effective anomalies counts for each.
        records: One row per record-level anomaly type: truth, flagged, precision, recall.
        unknown_batches: Flagged batch ids no scored manifest lists, sorted.
        unknown_flags: How many flags (rows) name them.
    """

    batches: pd.DataFrame
    by_anomaly: pd.DataFrame
    records: pd.DataFrame
    unknown_batches: tuple[str, ...] = field(default=())
    unknown_flags: int = 0

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

    def delays(self) -> dict[str, dict[str, float | int | None]]:
        """The distribution of detection delays over the caught batches, in minutes.

        Returns:
            ``measured`` (landing to first ``flagged_at``) and ``event_time`` (batch start to
            first ``evidence_at``): each the number of caught batches with such a delay and
            its median, 90th percentile and maximum (None when there is none).
        """
        caught = self.batches[self.batches["status"] == "caught"]
        out = {}
        columns = {"measured": "measured_delay_minutes", "event_time": "delay_minutes"}
        for name, column in columns.items():
            values = caught[column].dropna()
            some = bool(len(values))
            out[name] = {
                "batches": len(values),
                "median_min": float(values.median()) if some else None,
                "p90_min": float(values.quantile(0.9)) if some else None,
                "max_min": float(values.max()) if some else None,
            }
        return out

    def to_tables(self) -> dict[str, pa.Table]:
        """The three frames as Arrow tables (for Parquet)."""
        return {
            "batches": pa.Table.from_pandas(self.batches, preserve_index=False),
            "by_anomaly": pa.Table.from_pandas(self.by_anomaly, preserve_index=False),
            "records": pa.Table.from_pandas(self.records, preserve_index=False),
        }

    def to_json(self) -> dict[str, Any]:
        """Everything as plain JSON values (missing numbers are null, times ISO 8601 UTC).

        Returns:
            ``report_version``, ``summary``, ``delays`` (:meth:`delays`),
            ``unknown_batches`` (``count`` of ids, ``flags`` naming them, the first
            ``examples``), then ``by_anomaly``, ``records`` and ``batches`` as lists of row
            objects.
        """
        return {
            "report_version": REPORT_VERSION,
            "summary": self.summary(),
            "delays": self.delays(),
            "unknown_batches": {
                "count": len(self.unknown_batches),
                "flags": self.unknown_flags,
                "examples": list(self.unknown_batches[:EXAMPLES]),
            },
            **{
                name: _rows(frame)
                for name, frame in (
                    ("by_anomaly", self.by_anomaly),
                    ("records", self.records),
                    ("batches", self.batches),
                )
            },
        }

    def to_markdown(self) -> str:
        """Render the scores as markdown: a headline, then the batch and record tables.

        Every delay is in minutes with one decimal, every ratio with three decimals, so the
        columns read alike whatever the magnitude.
        """
        s = self.summary()
        shown = [c for c in DELAYS if c in self.by_anomaly and self.by_anomaly[c].notna().any()]
        hidden = [c for c in DELAYS if c in self.by_anomaly and c not in shown]
        by_anomaly = self.by_anomaly.drop(columns=hidden).rename(columns=DELAYS)
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
        ]
        measured = self.delays()["measured"]
        if measured["batches"]:
            lines += [
                "",
                f"Measured detection delay over {measured['batches']} caught batches: median "
                f"{measured['median_min']:,.1f} min, 90th percentile {measured['p90_min']:,.1f}, "
                f"max {measured['max_min']:,.1f}.",
            ]
        if self.unknown_batches:
            examples = ", ".join(self.unknown_batches[:EXAMPLES])
            lines += [
                "",
                f"{self.unknown_flags} flags name {len(self.unknown_batches)} batch ids that no "
                f"manifest of the data root lists (not scored), e.g. {examples}.",
            ]
        lines += [
            "",
            "#### By anomaly type",
            "",
            "Recall is the share of the type's effective batches (some record labelled) flagged "
            "by any detector; `no_effect` batches had nothing to find. Measured delays run from "
            "the batch's landing to the first flag, event-time delays from the batch start to "
            "the first flag's evidence.",
            "",
            markdown_table(
                by_anomaly,
                decimals={"recall": 3, **{DELAYS[c]: 1 for c in shown}},
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


def _value(value: Any) -> Any:
    if isinstance(value, pd.Timestamp | pd.Timedelta) or value is pd.NaT:
        return None if pd.isna(value) else value.isoformat().replace("+00:00", "Z")
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        value = value.tolist()
    if isinstance(value, list):
        return [_value(v) for v in value]
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def _rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [
        {k: _value(v) for k, v in row.items()}
        for row in frame.astype(object).to_dict(orient="records")
    ]
