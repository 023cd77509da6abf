"""Reference checks: children point at parents of their own batch, labels at what landed.

References are checked within a batch (``batch_id|id`` keys), across event dates: an account
may land a day after its application, but both belong to the same micro-batch. The orphans an
``orphan_records`` batch lands on purpose are expected exactly (:mod:`.planned`), and every label
must name an anomaly of its batch (or, for a copy replayed from the previous batch, that batch's
``duplicate_records``).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from dtg_assets.simulation.checks.counts import counts, differences, manifest_counts
from dtg_assets.simulation.checks.model import CheckFunction, CheckSpec, LandedDay, Verdict
from dtg_assets.simulation.checks.planned import DUPLICATE, MISSING, planned_orphans
from dtg_assets.simulation.plan import previous_batch
from dtg_assets.simulation.schemas import PRIMARY_KEY, TABLES


def _batch_keys(frame: pd.DataFrame, column: str) -> pa.Array:
    return pc.binary_join_element_wise(
        pa.array(frame["batch_id"], pa.string()), pa.array(frame[column], pa.string()), "|"
    )


def in_batches(child: pd.DataFrame, parent: pd.DataFrame, key: str) -> np.ndarray:
    """Whether each child row's ``key`` exists among the parent's rows of the same batch."""
    found = pc.is_in(_batch_keys(child, key), value_set=_batch_keys(parent, key))
    return found.to_numpy(zero_copy_only=False)


def found_keys(rows: pd.DataFrame, table: str) -> list[str]:
    """``batch_id|primary key`` of each row."""
    return (rows["batch_id"] + "|" + rows[PRIMARY_KEY[table]]).tolist()


def references(
    child: str,
    parent: str,
    key: str,
    parent_filter: Callable[[pd.DataFrame], pd.Series] | None = None,
) -> CheckFunction:
    """A check that every ``child`` row's ``key`` is a (filtered) ``parent`` row of its batch.

    Args:
        child: The referencing table.
        parent: The referenced table.
        key: The column both share.
        parent_filter: Which parent rows may be referenced (all when None).

    Returns:
        The check function.
    """

    def decide(spec: CheckSpec, day: LandedDay) -> Verdict:
        children, parents = day.frames[child], day.frames[parent]
        if parent_filter is not None:
            parents = parents[parent_filter(parents)]
        orphans = children[~in_batches(children, parents, key)]
        planned = planned_orphans(day, child)
        found = set(orphans["batch_id"] + "|" + orphans[PRIMARY_KEY[child]])
        unplanned = orphans[np.array([k not in planned for k in found_keys(orphans, child)], bool)]
        not_orphaned = planned - found
        meta = {"rows": len(children), "orphans": len(orphans), "planned_orphans": len(planned)}
        if len(unplanned) or not_orphaned:
            meta["sample"] = unplanned[key].head(5).tolist()
            meta["planned_but_referenced"] = sorted(not_orphaned)[:5]
            why = f"{len(unplanned)} {child} rows reference no {parent} in their batch"
            if not_orphaned:
                why += f"; {len(not_orphaned)} planned orphans reference one"
            return Verdict(False, why, meta)
        why = f"all {len(children)} {child} rows reference their batch's {parent}"
        if planned:
            why = f"{why}, but the {len(planned)} orphans planned"
        return Verdict(True, why, meta)

    return decide


def labels_consistent(spec: CheckSpec, day: LandedDay) -> Verdict:
    """Labels name their batch's anomaly, match what landed, and count as the manifest says."""
    labels, manifest = day.frames["ground_truth_labels"], day.frames["batch_manifest"]
    problems = []
    allowed = {
        (p.batch_id, k.value) for p in day.plans for k in p.anomalies
    } | {
        (p.batch_id, DUPLICATE) for p in day.plans
        if (prev := previous_batch(day.config, p)) is not None and prev.has_name(DUPLICATE)
    }  # fmt: skip
    named = list(zip(labels["batch_id"], labels["anomaly"], strict=True))
    wrong = sum(pair not in allowed for pair in named)
    if wrong:
        problems.append(f"{wrong} labels name another anomaly than their batch's")
    gone = labels[labels["table"] == "batch"]
    expected_gone = sorted(p.batch_id for p in day.plans if p.has_name(MISSING))
    if sorted(gone["record_id"]) != expected_gone or (gone["batch_id"] != gone["record_id"]).any():
        problems.append(
            f"batch-level labels {sorted(gone['record_id'])} differ from the missing batches "
            f"planned {expected_gone}"
        )
    for table in TABLES:
        rows = labels[labels["table"] == table]
        landed = day.frames[table][["batch_id", PRIMARY_KEY[table]]].rename(
            columns={PRIMARY_KEY[table]: "record_id"}
        )
        is_landed = in_batches(rows, landed, "record_id")
        should_land = (rows["effect"] != "removed").to_numpy()
        if (is_landed != should_land).any():
            problems.append(
                f"{int((is_landed != should_land).sum())} {table} labels disagree with landing"
            )
        bad = differences(
            manifest_counts(manifest, f"labelled_{table}"), counts(rows), ("manifest", "labels")
        )
        if bad:
            problems.append(f"{table} label counts differ from the manifest in {sorted(bad)}")
    by_anomaly = {str(k): int(v) for k, v in labels["anomaly"].value_counts().items()}
    meta = {"labels": len(labels), "labels_by_anomaly": by_anomaly}
    if problems:
        meta["problems"] = problems
        return Verdict(False, "; ".join(problems), meta)
    return Verdict(True, f"{len(labels)} labels consistent with the landing zone", meta)
