"""Score the gatekeeper's findings against the simulator's ground truth.

Together with :mod:`~dtg_assets.gatekeeper.score` this is where the gatekeeper reads the ground
truth (labels and manifest). The gatekeeper's findings are turned into the findings format
(:func:`~dtg_assets.gatekeeper.flags.from_findings`) and scored by the same function as any
other detector's (:func:`~dtg_assets.gatekeeper.scoring.score_flags`), with the gatekeeper's own
detector attribution (:data:`~dtg_assets.gatekeeper.targets.GATEKEEPER_TARGETS`): per anomaly
type (all of :data:`~dtg_assets.gatekeeper.targets.ALL_TYPES`) batch-level recall, the
detections by the detectors meant for that type, their false alarms on normal batches and the
detection delays (measured from landing when the findings carry ``flagged_at``, and in event
time); per record-level type precision and recall of the flagged record ids.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping

import pyarrow as pa

from dtg_assets.gatekeeper.flags import from_findings
from dtg_assets.gatekeeper.frames import read_local
from dtg_assets.gatekeeper.report import Evaluation
from dtg_assets.gatekeeper.scoring import score_flags
from dtg_assets.gatekeeper.targets import (
    ALL_TYPES,
    DEFAULT_TARGETS,
    RECORD_TARGETS,
    STRUCTURAL_TYPES,
    RecordTarget,
    Targets,
)
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


def evaluate(
    findings: pa.Table,
    labels: pa.Table,
    manifest: pa.Table,
    targets: Mapping[str, tuple[str, ...]] | None = None,
    record_targets: Mapping[str, RecordTarget] | None = None,
    landed: Mapping[str, dt.datetime] | None = None,
) -> Evaluation:
    """Score the gatekeeper's findings: convert them to the findings format and score that.

    Args:
        findings: ``FINDINGS_SCHEMA`` rows (any days).
        labels: ``LABEL_SCHEMA`` rows of the same days.
        manifest: ``MANIFEST_SCHEMA`` rows of the same days: the batches that are scored.
        targets: Anomaly type -> patterns of the detectors meant for it (the gatekeeper's).
        record_targets: Record-level anomaly types to score (the gatekeeper's).
        landed: Batch id -> landing time, for the measured delay (none when omitted).

    Returns:
        The evaluation.
    """
    chosen = Targets(
        DEFAULT_TARGETS if targets is None else targets,
        RECORD_TARGETS if record_targets is None else record_targets,
    )
    return score_flags(from_findings(findings), labels, manifest, landed, chosen)
