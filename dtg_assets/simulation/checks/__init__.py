"""The landing checks of a window's day, each one :class:`Check` value: spec, function, inputs.

``CHECKS`` is the one catalog: every check names its asset (a window's table), severity and
description for the UI, the function that decides it (see :mod:`.counts`, :mod:`.references`,
:mod:`.funnel`) and the tables it reads besides the manifest, so that an unreadable table fails
exactly the checks that read it. :func:`dtg_assets.simulation.verify.verify_day` runs them.
"""

from __future__ import annotations

from dtg_assets.simulation.checks.counts import (
    accounts_equal_approved,
    all_batches_present,
    approved,
    primary_key_unique,
    rows_match_manifest,
    visitors_match_schedule,
)
from dtg_assets.simulation.checks.funnel import Z_BOUND, funnel_ratios
from dtg_assets.simulation.checks.model import (
    Check,
    CheckFunction,
    CheckOutcome,
    CheckSpec,
    LandedDay,
    Severity,
    Verdict,
)
from dtg_assets.simulation.checks.references import labels_consistent, references
from dtg_assets.simulation.schemas import PRIMARY_KEY, TABLES


def _check(
    asset: str,
    name: str,
    severity: Severity,
    description: str,
    decide: CheckFunction,
    reads: tuple[str, ...] | None = None,
) -> Check:
    """A check reading its own asset only, unless ``reads`` says otherwise."""
    return Check(CheckSpec(asset, name, severity, description), decide, reads or (asset,))


CHECKS: tuple[Check, ...] = (
    *(
        _check(t, "rows_match_manifest", "ERROR", f"{t} rows landed per batch, read back from "
               "storage, equal the batch manifest exactly.", rows_match_manifest)
        for t in TABLES
    ),
    *(
        _check(t, "primary_key_unique", "ERROR", f"No {PRIMARY_KEY[t]} appears twice, but the "
               "duplicate_records copies, exactly as planned.", primary_key_unique,
               (t, "ground_truth_labels"))
        for t in TABLES
    ),
    _check("visitor_events", "visitors_match_schedule", "ERROR",
           "Visitors per batch equal the schedule's planned volume (traffic-spike multiplier, "
           "planned copies and orphans' lost visitors included; none for a missing batch).",
           visitors_match_schedule, ("visitor_events", "ground_truth_labels")),
    _check("applications", "applications_reference_visitors", "ERROR",
           "Every application's visitor landed in the same batch, but the orphans planned.",
           references("applications", "visitor_events", "visitor_id"),
           ("applications", "visitor_events", "ground_truth_labels")),
    _check("accounts", "accounts_reference_approved_applications", "ERROR",
           "Every account's application landed in the same batch and was approved.",
           references("accounts", "applications", "app_id", approved),
           ("accounts", "applications", "ground_truth_labels")),
    _check("accounts", "accounts_equal_approved_applications", "ERROR",
           "Each batch has exactly one account per approved application.",
           accounts_equal_approved, ("accounts", "applications")),
    _check("transactions", "transactions_reference_accounts", "ERROR",
           "Every transaction's account landed in the same batch.",
           references("transactions", "accounts", "account_id"),
           ("transactions", "accounts", "ground_truth_labels")),
    _check("batch_manifest", "all_scheduled_batches_present", "ERROR",
           "Every batch the schedule plans for the day is in the manifest and the landing "
           "zone (a batch planned missing: in the manifest only, without files).",
           all_batches_present, ("visitor_events",)),
    _check("batch_manifest", "funnel_ratios_within_bounds", "WARN",
           f"Per batch, application, approval and transaction rates are within {Z_BOUND:g} "
           "standard errors of the configured rates (given the batch's anomalies).",
           funnel_ratios, TABLES),
    _check("ground_truth_labels", "labels_consistent_with_landing", "ERROR",
           "Modified/added label ids landed in their batch, removed ones did not, labels name "
           "their batch's anomalies, and label counts equal the manifest.", labels_consistent,
           ("ground_truth_labels", *TABLES)),
)  # fmt: skip

# The specs alone, in catalog order: what the Dagster layer declares.
CHECK_SPECS: tuple[CheckSpec, ...] = tuple(c.spec for c in CHECKS)

__all__ = [
    "CHECKS",
    "CHECK_SPECS",
    "Z_BOUND",
    "Check",
    "CheckOutcome",
    "CheckSpec",
    "LandedDay",
    "Severity",
    "Verdict",
]
