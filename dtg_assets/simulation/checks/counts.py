"""Exact count checks: rows against the manifest, keys, visitors and batches against the plan.

Each function compares what landed with a number that is known exactly (the manifest's rows per
batch, the schedule's visitors per batch, the batches the schedule plans) and names the batches
that differ.
"""

from __future__ import annotations

import pandas as pd

from dtg_assets.simulation.checks.model import CheckSpec, LandedDay, Verdict
from dtg_assets.simulation.generate import spiked_visitors
from dtg_assets.simulation.schemas import PRIMARY_KEY


def counts(frame: pd.DataFrame) -> dict[str, int]:
    """Rows per batch id of a frame."""
    return {str(k): int(v) for k, v in frame["batch_id"].value_counts().items()}


def differences(
    expected: dict[str, int], actual: dict[str, int], names: tuple[str, str]
) -> dict[str, dict[str, int]]:
    """Batches whose two counts differ, with both counts under the given names."""
    batches = sorted(set(expected) | set(actual))
    return {
        b: {names[0]: expected.get(b, 0), names[1]: actual.get(b, 0)}
        for b in batches
        if expected.get(b, 0) != actual.get(b, 0)
    }


def manifest_counts(manifest: pd.DataFrame, column: str) -> dict[str, int]:
    """A per-batch count column of the manifest, by batch id."""
    return dict(zip(manifest["batch_id"], manifest[column].astype(int), strict=True))


def approved(apps: pd.DataFrame) -> pd.Series:
    """Which applications were approved."""
    return apps["application_status"] == "approved"


def rows_match_manifest(spec: CheckSpec, day: LandedDay) -> Verdict:
    """Rows landed per batch equal the manifest's."""
    manifest = day.frames["batch_manifest"]
    if manifest.empty:
        return Verdict(False, "no batch manifest for this day: it was never written")
    expected = manifest_counts(manifest, f"rows_{spec.asset}")
    landed = counts(day.frames[spec.asset])
    bad = differences(expected, landed, ("manifest", "landed"))
    meta = {"rows_landed": sum(landed.values()), "rows_in_manifest": sum(expected.values())}
    if bad:
        meta["mismatched_batches"] = bad
        return Verdict(False, f"{len(bad)} batch(es) differ from the manifest: {bad}", meta)
    return Verdict(
        True, f"{meta['rows_landed']} rows in {len(expected)} batches match the manifest", meta
    )


def primary_key_unique(spec: CheckSpec, day: LandedDay) -> Verdict:
    """No primary key appears twice."""
    key = PRIMARY_KEY[spec.asset]
    keys = day.frames[spec.asset][key]
    dupes = keys[keys.duplicated()]
    meta = {"rows": len(keys), "duplicate_keys": len(dupes)}
    if len(dupes):
        meta["sample"] = sorted(set(dupes))[:5]
        return Verdict(False, f"{len(dupes)} duplicate {key} values", meta)
    return Verdict(True, f"{len(keys)} unique {key} values", meta)


def visitors_match_schedule(spec: CheckSpec, day: LandedDay) -> Verdict:
    """Visitors per batch equal the schedule's volume (spike multiplier included)."""
    landed = counts(day.frames["visitor_events"])
    expected = {p.batch_id: spiked_visitors(day.config, p) for p in day.plans}
    bad = {b: {"scheduled": n, "landed": landed.get(b, 0)}
           for b, n in expected.items() if landed.get(b, 0) != n}  # fmt: skip
    extra = sorted(set(landed) - set(expected))
    meta = {"scheduled_visitors": sum(expected.values()), "landed_visitors": sum(landed.values())}
    if bad or extra:
        meta.update(mismatched_batches=bad, unscheduled_batches=extra)
        why = f"visitors differ from the schedule: {bad or ''} {extra or ''}".strip()
        return Verdict(False, why, meta)
    return Verdict(True, f"{meta['landed_visitors']} visitors as scheduled", meta)


def accounts_equal_approved(spec: CheckSpec, day: LandedDay) -> Verdict:
    """One account per approved application, per batch."""
    apps, accounts = day.frames["applications"], day.frames["accounts"]
    expected = counts(apps[approved(apps)])
    opened = counts(accounts)
    per_app = accounts["app_id"].value_counts()
    bad = differences(expected, opened, ("approved", "accounts"))
    meta = {"approved_applications": sum(expected.values()), "accounts": sum(opened.values())}
    if bad or (per_app > 1).any():
        meta.update(mismatched_batches=bad, apps_with_several_accounts=int((per_app > 1).sum()))
        return Verdict(False, f"accounts differ from approved applications: {bad}", meta)
    return Verdict(
        True, f"{meta['accounts']} accounts for {meta['approved_applications']} approvals", meta
    )


def all_batches_present(spec: CheckSpec, day: LandedDay) -> Verdict:
    """Every scheduled batch is in the manifest and the landing zone, and no other."""
    scheduled = [p.batch_id for p in day.plans]
    in_manifest = set(day.frames["batch_manifest"]["batch_id"].unique())
    landed = set(day.frames["visitor_events"]["batch_id"].unique())
    missing = [b for b in scheduled if b not in in_manifest or b not in landed]
    extra = sorted(in_manifest - set(scheduled))
    meta = {"scheduled_batches": len(scheduled), "missing": missing, "unscheduled": extra}
    if missing or extra:
        return Verdict(False, f"missing batches {missing}, unscheduled batches {extra}", meta)
    return Verdict(True, f"all {len(scheduled)} scheduled batches present", meta)
