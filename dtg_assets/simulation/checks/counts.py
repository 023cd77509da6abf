"""Exact count checks: rows against the manifest, keys, visitors and batches against the plan.

Each function compares what landed with a number that is known exactly (the manifest's rows per
batch, the schedule's visitors per batch, the batches the schedule plans, the duplicates, orphans
and missing batches the writer planned: :mod:`.planned`) and names the batches that differ.
"""

from __future__ import annotations

import pandas as pd

from dtg_assets.simulation.checks.model import CheckSpec, LandedDay, Verdict
from dtg_assets.simulation.checks.planned import (
    DUPLICATE,
    ORPHAN,
    batch_record_counts,
    expected_key_counts,
    missing_batches,
)
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
    if manifest.empty and not day.plans:
        return Verdict(True, "nothing landed, and no batch of this day is due yet")
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
    """No primary key appears twice, but for the planned ``duplicate_records`` copies, which
    appear exactly as planned."""
    key = PRIMARY_KEY[spec.asset]
    keys = day.frames[spec.asset][key]
    landed = keys.value_counts()
    planned = expected_key_counts(day, spec.asset)
    wrong = {
        str(k): {"expected": planned.get(str(k), 1), "landed": int(n)}
        for k, n in landed[landed > 1].items()
        if planned.get(str(k), 1) != n
    }
    wrong.update(
        {k: {"expected": n, "landed": int(landed.get(k, 0))}
         for k, n in planned.items() if int(landed.get(k, 0)) != n}
    )  # fmt: skip
    dupes = int((landed - 1).clip(lower=0).sum())
    meta = {"rows": len(keys), "duplicate_keys": dupes, "planned_duplicates": len(planned)}
    if wrong:
        meta["sample"] = dict(sorted(wrong.items())[:5])
        return Verdict(False, f"{len(wrong)} {key} values appear other than planned", meta)
    if planned:
        why = f"{len(landed)} distinct {key} values, duplicated exactly as planned ({dupes} copies)"
        return Verdict(True, why, meta)
    return Verdict(True, f"{len(keys)} unique {key} values", meta)


def expected_visitors(day: LandedDay) -> dict[str, int]:
    """Visitors each batch should land: its scheduled volume (spike multiplier included), none
    for a missing batch, plus its planned copies, minus its visitors dropped as orphans'."""
    added = batch_record_counts(day, "visitor_events", DUPLICATE, "added")
    dropped = batch_record_counts(day, "visitor_events", ORPHAN, "removed")
    missing = set(missing_batches(day))
    return {
        p.batch_id: 0 if p.batch_id in missing else spiked_visitors(day.config, p)
        + added.get(p.batch_id, 0) - dropped.get(p.batch_id, 0)
        for p in day.plans
    }  # fmt: skip


def visitors_match_schedule(spec: CheckSpec, day: LandedDay) -> Verdict:
    """Visitors per batch equal the schedule's volume (spike multiplier, planned copies and
    orphans' dropped visitors included; none for a missing batch)."""
    landed = counts(day.frames["visitor_events"])
    expected = expected_visitors(day)
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
    """One account per approved application, per batch (a duplicated application's copy has
    its account's copy)."""
    apps, accounts = day.frames["applications"], day.frames["accounts"]
    approved_apps = apps[approved(apps)]
    expected = counts(approved_apps)
    opened = counts(accounts)
    per_app = accounts.groupby(["batch_id", "app_id"]).size()
    per_approved = approved_apps.groupby(["batch_id", "app_id"]).size()
    # Several accounts of one application: more than one, and more than its approved copies.
    several = (per_app > 1) & (per_app > per_approved.reindex(per_app.index, fill_value=0))
    bad = differences(expected, opened, ("approved", "accounts"))
    meta = {"approved_applications": sum(expected.values()), "accounts": sum(opened.values())}
    if bad or several.any():
        meta.update(mismatched_batches=bad, apps_with_several_accounts=int(several.sum()))
        return Verdict(False, f"accounts differ from approved applications: {bad}", meta)
    return Verdict(
        True, f"{meta['accounts']} accounts for {meta['approved_applications']} approvals", meta
    )


def all_batches_present(spec: CheckSpec, day: LandedDay) -> Verdict:
    """Every scheduled batch is in the manifest and the landing zone, and no other; a batch
    scheduled to go missing is in the manifest only."""
    scheduled = [p.batch_id for p in day.plans]
    gone = set(missing_batches(day))
    manifest = day.frames["batch_manifest"]
    in_manifest = set(manifest["batch_id"].unique())
    landed = set(day.frames["visitor_events"]["batch_id"].unique())
    missing = [b for b in scheduled if b not in in_manifest or (b not in landed and b not in gone)]
    with_files = set(manifest.loc[manifest["files"].map(len) > 0, "batch_id"])
    landed_anyway = sorted((landed | with_files) & gone)
    extra = sorted(in_manifest - set(scheduled))
    meta = {
        "scheduled_batches": len(scheduled),
        "missing": missing,
        "unscheduled": extra,
        "planned_missing": sorted(gone),
        "planned_missing_but_landed": landed_anyway,
    }
    if missing or extra or landed_anyway:
        why = f"missing batches {missing}, unscheduled batches {extra}"
        if landed_anyway:
            why += f", batches planned missing that landed {landed_anyway}"
        return Verdict(False, why, meta)
    if gone:
        landing = len(scheduled) - len(gone)
        why = f"all {landing} landing batches present, {len(gone)} missing as planned"
        return Verdict(True, why, meta)
    return Verdict(True, f"all {len(scheduled)} scheduled batches present", meta)
