"""Dagster-free data-trust gatekeeper: baseline, detectors and scoring against ground truth.

The gatekeeper learns what normal landing data looks like from the historical window
(:func:`learn_baseline`), checks each live micro-batch with named rules in four families —
technical, business, freshness, statistical — (:func:`detect_day`), structural failures
included (drifted files, replays, orphans, clock shifts, distribution drift, missing batches),
and is scored against the simulator's ground-truth labels and manifest (:func:`evaluate`); any
detector's findings, in the findings format, are scored by the same code (:func:`score`,
``dtg-score``).
Detectors read the landing zone only, each file with its own schema; the ground truth is read by
the evaluation alone.
"""

from dtg_assets.gatekeeper.baseline import Baseline, BaselineConfig, learn_baseline
from dtg_assets.gatekeeper.evaluation import Evaluation, evaluate, load_ground_truth
from dtg_assets.gatekeeper.findings import (
    FINDINGS_SCHEMA,
    detect_batches,
    detect_day,
    detect_days,
)
from dtg_assets.gatekeeper.rules import Rules
from dtg_assets.gatekeeper.score import landed_at, score

__all__ = [
    "FINDINGS_SCHEMA",
    "Baseline",
    "BaselineConfig",
    "Evaluation",
    "Rules",
    "detect_batches",
    "detect_day",
    "detect_days",
    "evaluate",
    "landed_at",
    "learn_baseline",
    "load_ground_truth",
    "score",
]
