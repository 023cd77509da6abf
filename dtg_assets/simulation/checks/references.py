"""Reference checks: children point at parents of their own batch, labels at what landed.

References are checked within a batch (``batch_id|id`` keys), across event dates: an account
may land a day after its application, but both belong to the same micro-batch.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from dtg_assets.simulation.checks.counts import counts, differences, manifest_counts
from dtg_assets.simulation.checks.model import CheckFunction, CheckSpec, LandedDay, Verdict
from dtg_assets.simulation.schemas import PRIMARY_KEY, TABLES


def _batch_keys(frame: pd.DataFrame, column: str) -> pa.Array:
    return pc.binary_join_element_wise(
        pa.array(frame["batch_id"], pa.string()), pa.array(frame[column], pa.string()), "|"
    )


def in_batches(child: pd.DataFrame, parent: pd.DataFrame, key: str) -> np.ndarray:
    """Whether each child row's ``key`` exists among the parent's rows of the same batch."""
    found = pc.is_in(_batch_keys(child, key), value_set=_batch_keys(parent, key))
    return found.to_numpy(zero_copy_only=False)


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
        meta = {"rows": len(children), "orphans": len(orphans)}
        if len(orphans):
            meta["sample"] = orphans[key].head(5).tolist()
            why = f"{len(orphans)} {child} rows reference no {parent} in their batch"
            return Verdict(False, why, meta)
        why = f"all {len(children)} {child} rows reference their batch's {parent}"
        return Verdict(True, why, meta)

    return decide


def labels_consistent(spec: CheckSpec, day: LandedDay) -> Verdict:
    """Labels name their batch's anomaly, match what landed, and count as the manifest says."""
    labels, manifest = day.frames["ground_truth_labels"], day.frames["batch_manifest"]
    problems = []
    anomaly_of = dict(zip(manifest["batch_id"], manifest["anomaly"], strict=True))
    wrong = labels[labels["anomaly"] != labels["batch_id"].map(anomaly_of)]
    if len(wrong):
        problems.append(f"{len(wrong)} labels name another anomaly than their batch's")
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
