"""Verify one landed day against its manifest, its schedule and the funnel model.

Pure functions behind the Dagster asset checks: they read a window's day back from storage
(every date directory its batches wrote to) and test exact properties (row counts per batch
against the manifest, visitors against the schedule, scheduled batches present, unique primary
keys, referential integrity by batch, one account per approved application, labels consistent
with what landed) and statistical ones (funnel ratios within ``Z_BOUND`` standard errors of the
configured rates, accounting for each batch's anomaly). An unreadable file fails the checks of
its table with a message naming it, instead of crashing; so does a foreign file (a stray CSV,
another tool's Parquet) in a date directory the day landed in, which these checks never read
but a directory reader downstream would.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from dtg_assets.simulation.config import AnomalyType, IntRange, ScenarioConfig
from dtg_assets.simulation.generate import spiked_visitors
from dtg_assets.simulation.landing import LandingZone
from dtg_assets.simulation.plan import BatchPlan, Window, plan_day
from dtg_assets.simulation.schemas import PRIMARY_KEY, TABLES

Z_BOUND = 5.0
# Only what the checks use is read back: the other columns cost decoding time for nothing.
_COLUMNS = {
    "visitor_events": ["batch_id", "visitor_id"],
    "applications": ["batch_id", "app_id", "visitor_id", "application_status"],
    "accounts": ["batch_id", "account_id", "app_id"],
    "transactions": ["batch_id", "txn_id", "account_id"],
}
Severity = Literal["ERROR", "WARN"]


@dataclass(frozen=True)
class CheckSpec:
    """A named property of one asset of a window."""

    asset: str
    name: str
    severity: Severity
    description: str


CHECK_SPECS: tuple[CheckSpec, ...] = (
    *(
        CheckSpec(t, "rows_match_manifest", "ERROR", f"{t} rows landed per batch, read back "
                  "from storage, equal the batch manifest exactly.")
        for t in TABLES
    ),
    *(
        CheckSpec(t, "primary_key_unique", "ERROR", f"No {PRIMARY_KEY[t]} appears twice.")
        for t in TABLES
    ),
    CheckSpec("visitor_events", "visitors_match_schedule", "ERROR",
              "Visitors per batch equal the schedule's planned volume (traffic-spike multiplier "
              "included)."),
    CheckSpec("applications", "applications_reference_visitors", "ERROR",
              "Every application's visitor landed in the same batch."),
    CheckSpec("accounts", "accounts_reference_approved_applications", "ERROR",
              "Every account's application landed in the same batch and was approved."),
    CheckSpec("accounts", "accounts_equal_approved_applications", "ERROR",
              "Each batch has exactly one account per approved application."),
    CheckSpec("transactions", "transactions_reference_accounts", "ERROR",
              "Every transaction's account landed in the same batch."),
    CheckSpec("batch_manifest", "all_scheduled_batches_present", "ERROR",
              "Every batch the schedule plans for the day is in the manifest and the landing "
              "zone."),
    CheckSpec("batch_manifest", "funnel_ratios_within_bounds", "WARN",
              f"Per batch, application, approval and transaction rates are within {Z_BOUND:g} "
              "standard errors of the configured rates (given the batch's anomaly)."),
    CheckSpec("ground_truth_labels", "labels_consistent_with_landing", "ERROR",
              "Modified/added label ids landed in their batch, removed ones did not, and label "
              "counts equal the manifest."),
)  # fmt: skip


@dataclass(frozen=True)
class CheckOutcome:
    """Result of one check on one day."""

    spec: CheckSpec
    passed: bool
    description: str
    metadata: dict[str, Any] = field(default_factory=dict)


class _Day:
    """One window's day read back: tables, manifest, labels, and per-table read errors."""

    def __init__(self, zone: LandingZone, window: Window, day: dt.date) -> None:
        self.frames: dict[str, pd.DataFrame] = {}
        self.errors: dict[str, str] = {}
        readers = {t: (lambda t=t: zone.read_day(t, window, day, _COLUMNS[t])) for t in TABLES}
        readers["batch_manifest"] = lambda: zone.read_manifest(window, day)
        readers["ground_truth_labels"] = lambda: zone.read_labels(window, day)
        for name, read in readers.items():
            try:
                self.frames[name] = read().to_pandas()
            except ValueError as exc:
                self.errors[name] = str(exc)
        for table in TABLES:
            # Never read by these checks, but directory readers downstream would read them.
            foreign = zone.foreign_files(table, window, day)
            if foreign:
                shown = ", ".join(foreign[:5]) + (
                    f" and {len(foreign) - 5} more" if len(foreign) > 5 else ""
                )
                problem = f"foreign file(s) among {table}'s landing files: {shown}"
                self.errors[table] = "; ".join(filter(None, (self.errors.get(table), problem)))


def verify_day(
    zone: LandingZone, config: ScenarioConfig, day: dt.date, window: Window | str
) -> list[CheckOutcome]:
    """Run every check of ``CHECK_SPECS`` on one landed day.

    Args:
        zone: The data root.
        config: The scenario the day was (supposedly) written with.
        day: The UTC day.
        window: Historical or live.

    Returns:
        One outcome per check spec, in ``CHECK_SPECS`` order.
    """
    window = Window(window)
    plans = plan_day(config, day, window)
    data = _Day(zone, window, day)
    outcomes = []
    for spec in CHECK_SPECS:
        needed = (*_NEEDS.get(spec.name, (spec.asset,)), "batch_manifest")
        broken = [data.errors[n] for n in needed if n in data.errors]
        if broken:
            outcomes.append(CheckOutcome(spec, False, "; ".join(dict.fromkeys(broken))))
            continue
        check = _CHECKS[spec.name]
        passed, description, metadata = check(spec, data.frames, config, plans)
        outcomes.append(CheckOutcome(spec, bool(passed), description, _plain(metadata)))
    return outcomes


def _plain(value: Any) -> Any:
    """Metadata as plain JSON-able Python values (numpy scalars become int/float)."""
    return json.loads(
        json.dumps(value, default=lambda v: v.item() if hasattr(v, "item") else str(v))
    )


def _counts(frame: pd.DataFrame) -> dict[str, int]:
    return {str(k): int(v) for k, v in frame["batch_id"].value_counts().items()}


def _differences(
    expected: dict[str, int], actual: dict[str, int], names: tuple[str, str]
) -> dict[str, dict[str, int]]:
    """Batches whose two counts differ, with both counts under the given names."""
    batches = sorted(set(expected) | set(actual))
    return {
        b: {names[0]: expected.get(b, 0), names[1]: actual.get(b, 0)}
        for b in batches
        if expected.get(b, 0) != actual.get(b, 0)
    }


def _manifest_counts(manifest: pd.DataFrame, column: str) -> dict[str, int]:
    """A per-batch count column of the manifest, by batch id."""
    return dict(zip(manifest["batch_id"], manifest[column].astype(int), strict=True))


def _rows_match_manifest(spec, frames, config, plans):
    manifest = frames["batch_manifest"]
    if manifest.empty:
        return False, "no batch manifest for this day: it was never written", {}
    expected = _manifest_counts(manifest, f"rows_{spec.asset}")
    landed = _counts(frames[spec.asset])
    bad = _differences(expected, landed, ("manifest", "landed"))
    meta = {"rows_landed": sum(landed.values()), "rows_in_manifest": sum(expected.values())}
    if bad:
        meta["mismatched_batches"] = bad
        return False, f"{len(bad)} batch(es) differ from the manifest: {bad}", meta
    return True, f"{meta['rows_landed']} rows in {len(expected)} batches match the manifest", meta


def _primary_key_unique(spec, frames, config, plans):
    keys = frames[spec.asset][PRIMARY_KEY[spec.asset]]
    dupes = keys[keys.duplicated()]
    meta = {"rows": len(keys), "duplicate_keys": len(dupes)}
    if len(dupes):
        meta["sample"] = sorted(set(dupes))[:5]
        return False, f"{len(dupes)} duplicate {PRIMARY_KEY[spec.asset]} values", meta
    return True, f"{len(keys)} unique {PRIMARY_KEY[spec.asset]} values", meta


def _visitors_match_schedule(spec, frames, config, plans):
    landed = _counts(frames["visitor_events"])
    expected = {p.batch_id: spiked_visitors(config, p) for p in plans}
    bad = {b: {"scheduled": n, "landed": landed.get(b, 0)}
           for b, n in expected.items() if landed.get(b, 0) != n}  # fmt: skip
    extra = sorted(set(landed) - set(expected))
    meta = {"scheduled_visitors": sum(expected.values()), "landed_visitors": sum(landed.values())}
    if bad or extra:
        meta.update(mismatched_batches=bad, unscheduled_batches=extra)
        return False, f"visitors differ from the schedule: {bad or ''} {extra or ''}".strip(), meta
    return True, f"{meta['landed_visitors']} visitors as scheduled", meta


def _batch_keys(frame: pd.DataFrame, column: str) -> pa.Array:
    """``batch_id|id`` keys: references are checked within a batch, across event dates."""
    return pc.binary_join_element_wise(
        pa.array(frame["batch_id"], pa.string()), pa.array(frame[column], pa.string()), "|"
    )


def _in_batches(child: pd.DataFrame, parent: pd.DataFrame, key: str) -> np.ndarray:
    """Whether each child row's ``key`` exists among the parent's rows of the same batch."""
    found = pc.is_in(_batch_keys(child, key), value_set=_batch_keys(parent, key))
    return found.to_numpy(zero_copy_only=False)


def _orphans(child: pd.DataFrame, parent: pd.DataFrame, key: str) -> pd.DataFrame:
    return child[~_in_batches(child, parent, key)]


def _reference_check(child: str, parent: str, key: str, parent_filter=None):
    def run(spec, frames, config, plans):
        parents = frames[parent]
        if parent_filter is not None:
            parents = parents[parent_filter(parents)]
        orphans = _orphans(frames[child], parents, key)
        meta = {"rows": len(frames[child]), "orphans": len(orphans)}
        if len(orphans):
            meta["sample"] = orphans[key].head(5).tolist()
            return False, f"{len(orphans)} {child} rows reference no {parent} in their batch", meta
        return True, f"all {len(frames[child])} {child} rows reference their batch's {parent}", meta

    return run


def _approved(apps: pd.DataFrame) -> pd.Series:
    return apps["application_status"] == "approved"


def _accounts_equal_approved(spec, frames, config, plans):
    apps, accounts = frames["applications"], frames["accounts"]
    approved = _counts(apps[_approved(apps)])
    opened = _counts(accounts)
    per_app = accounts["app_id"].value_counts()
    bad = _differences(approved, opened, ("approved", "accounts"))
    meta = {"approved_applications": sum(approved.values()), "accounts": sum(opened.values())}
    if bad or (per_app > 1).any():
        meta.update(mismatched_batches=bad, apps_with_several_accounts=int((per_app > 1).sum()))
        return False, f"accounts differ from approved applications: {bad}", meta
    return True, f"{meta['accounts']} accounts for {meta['approved_applications']} approvals", meta


def _all_batches_present(spec, frames, config, plans):
    scheduled = [p.batch_id for p in plans]
    in_manifest = set(frames["batch_manifest"]["batch_id"].unique())
    landed = set(frames["visitor_events"]["batch_id"].unique())
    missing = [b for b in scheduled if b not in in_manifest or b not in landed]
    extra = sorted(in_manifest - set(scheduled))
    meta = {"scheduled_batches": len(scheduled), "missing": missing, "unscheduled": extra}
    if missing or extra:
        return False, f"missing batches {missing}, unscheduled batches {extra}", meta
    return True, f"all {len(scheduled)} scheduled batches present", meta


def _share_below(r: IntRange, limit: int) -> float:
    return min(max(limit - r.low, 0), r.high - r.low + 1) / (r.high - r.low + 1)


def _expected_rates(config: ScenarioConfig, plan: BatchPlan) -> dict[str, float]:
    f, a = config.funnel, config.anomalies
    apply = (
        a.conversion_drop.apply_rate
        if plan.anomaly is AnomalyType.CONVERSION_DROP
        else f.apply_rate
    )
    under = _share_below(f.applicant_age, f.minimum_age)
    if plan.anomaly is AnomalyType.AGE_ERROR:
        under_err = _share_below(a.age_error.age, f.minimum_age)
        under = a.age_error.rate * under_err + (1 - a.age_error.rate) * under
    return {"apply_rate": apply, "approval_rate": f.approve_rate * (1 - under),
            "transact_rate": f.transact_rate}  # fmt: skip


def _z(k: float, n: int, p: float) -> float:
    if n == 0:
        return 0.0
    sd = math.sqrt(n * p * (1 - p))
    return abs(k - n * p) / sd if sd > 0 else (0.0 if k == n * p else math.inf)


def _funnel_ratios(spec, frames, config, plans):
    vis, apps = frames["visitor_events"], frames["applications"]
    accounts, txns = frames["accounts"], frames["transactions"]
    r = config.funnel.transactions_per_account
    mean = (r.low + r.high) / 2
    var = ((r.high - r.low + 1) ** 2 - 1) / 12
    per_batch, worst = {}, 0.0
    for plan in plans:
        b, rates = plan.batch_id, _expected_rates(config, plan)
        n_vis = int((vis["batch_id"] == b).sum())
        b_apps = apps[apps["batch_id"] == b]
        n_acc = int((accounts["batch_id"] == b).sum())
        per_account = txns.loc[txns["batch_id"] == b, "account_id"].value_counts()
        zs = {
            "apply_rate": _z(len(b_apps), n_vis, rates["apply_rate"]),
            "approval_rate": _z(int(_approved(b_apps).sum()), len(b_apps), rates["approval_rate"]),
            "transact_rate": _z(len(per_account), n_acc, rates["transact_rate"]),
        }
        if len(per_account):
            in_range = per_account.between(r.low, r.high).all()
            se = math.sqrt(var / len(per_account))
            zs["transactions_per_account"] = (
                abs(per_account.mean() - mean) / se if se > 0 else 0.0
            ) if in_range else math.inf  # fmt: skip
        per_batch[b] = {k: round(v, 2) for k, v in zs.items()}
        worst = max(worst, *zs.values())
    meta = {"z_bound": Z_BOUND, "worst_z": round(worst, 2), "z_by_batch": per_batch}
    if worst > Z_BOUND:
        return (
            False,
            f"a funnel ratio is {worst:.1f} standard errors from its configured rate",
            meta,
        )
    return True, f"all funnel ratios within {Z_BOUND:g} standard errors (worst {worst:.2f})", meta


def _labels_consistent(spec, frames, config, plans):
    labels, manifest = frames["ground_truth_labels"], frames["batch_manifest"]
    problems = []
    anomaly_of = dict(zip(manifest["batch_id"], manifest["anomaly"], strict=True))
    wrong = labels[labels["anomaly"] != labels["batch_id"].map(anomaly_of)]
    if len(wrong):
        problems.append(f"{len(wrong)} labels name another anomaly than their batch's")
    for table in TABLES:
        rows = labels[labels["table"] == table]
        landed = frames[table][["batch_id", PRIMARY_KEY[table]]].rename(
            columns={PRIMARY_KEY[table]: "record_id"}
        )
        is_landed = _in_batches(rows, landed, "record_id")
        should_land = (rows["effect"] != "removed").to_numpy()
        if (is_landed != should_land).any():
            problems.append(
                f"{int((is_landed != should_land).sum())} {table} labels disagree with landing"
            )
        bad = _differences(
            _manifest_counts(manifest, f"labelled_{table}"), _counts(rows), ("manifest", "labels")
        )
        if bad:
            problems.append(f"{table} label counts differ from the manifest in {sorted(bad)}")
    by_anomaly = {str(k): int(v) for k, v in labels["anomaly"].value_counts().items()}
    meta = {"labels": len(labels), "labels_by_anomaly": by_anomaly}
    if problems:
        meta["problems"] = problems
        return False, "; ".join(problems), meta
    return True, f"{len(labels)} labels consistent with the landing zone", meta


_CHECKS = {
    "rows_match_manifest": _rows_match_manifest,
    "primary_key_unique": _primary_key_unique,
    "visitors_match_schedule": _visitors_match_schedule,
    "applications_reference_visitors": _reference_check(
        "applications", "visitor_events", "visitor_id"
    ),
    "accounts_reference_approved_applications": _reference_check(
        "accounts", "applications", "app_id", _approved
    ),
    "accounts_equal_approved_applications": _accounts_equal_approved,
    "transactions_reference_accounts": _reference_check("transactions", "accounts", "account_id"),
    "all_scheduled_batches_present": _all_batches_present,
    "funnel_ratios_within_bounds": _funnel_ratios,
    "labels_consistent_with_landing": _labels_consistent,
}

# Tables a check reads besides its own asset (an unreadable one fails the check, naming it).
_NEEDS: dict[str, tuple[str, ...]] = {
    "applications_reference_visitors": ("applications", "visitor_events"),
    "accounts_reference_approved_applications": ("accounts", "applications"),
    "accounts_equal_approved_applications": ("accounts", "applications"),
    "transactions_reference_accounts": ("transactions", "accounts"),
    "all_scheduled_batches_present": ("visitor_events",),
    "funnel_ratios_within_bounds": TABLES,
    "labels_consistent_with_landing": ("ground_truth_labels", *TABLES),
}
