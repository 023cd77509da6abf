"""Business-rule detectors: the age floor, the status domain, ratio fences, approved accounts.

- ``min_age``: applicants younger than the legal minimum *and* than the range of ages history
  showed (so a funnel whose normal applicants start younger is not a stream of findings);
- ``status_domain``: application statuses outside the valid ones (history's, unless given);
- ``limit_share_of_income`` and ``amount_to_limit`` (:func:`fence`): a ratio above the upper
  fence of its historical distribution;
- ``accounts_approved``: accounts without an approved application in their batch.

Every threshold comes from the baseline (a learned distribution, rate or domain) plus the
rule's generic margins. The record-level ones also expose their record criterion alone
(``Detector.outside``) for the visibility assessment.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pyarrow as pa

from dtg_assets.gatekeeper.baseline import Baseline
from dtg_assets.gatekeeper.detector import Detector, make
from dtg_assets.gatekeeper.frames import Frames
from dtg_assets.gatekeeper.rules import CountRule, FenceRule, Rules
from dtg_assets.gatekeeper.summaries import Distribution
from dtg_assets.gatekeeper.verdicts import Finding, count_tests


def less(values: np.ndarray, cut: float) -> np.ndarray:
    """``values < cut``, false where missing."""
    with np.errstate(invalid="ignore"):
        return values < cut


def age_floor(b: Baseline, rules: Rules) -> float:
    """The age under which an applicant is a finding: the legal minimum or, if lower, the
    bottom of history's range of ages."""
    rule, dist = rules.min_age, b.applicant_age
    low, _ = dist.learned_range(rule.tail, rule.k, rule.tail_records)
    return float(rule.minimum_age) if np.isnan(low) else min(float(rule.minimum_age), low)


def min_age(b: Baseline, rules: Rules) -> Detector:
    """``min_age``: applicants under :func:`age_floor`, against history's rate of them."""
    rule, dist = rules.min_age, b.applicant_age
    cut = age_floor(b, rules)
    base = (round(dist.fraction_below(cut) * dist.count), dist.count)

    def outside(f: Frames) -> np.ndarray:
        return less(f["applications"].floats("applicant_age"), cut)

    def check(f: Frames, _: Mapping[str, pa.Schema]) -> list[Finding]:
        return count_tests(
            d.target, f.batches, f["applications"], outside(f), "app_id", base, rule.z,
            rule.min_count, record_threshold=cut, detail=f"applicant_age < {cut:g}",
        )  # fmt: skip

    d = make("min_age", "business", "applications", "under_age_rate", check, outside)
    return d


def status_domain(b: Baseline, rules: Rules) -> Detector:
    """``status_domain``: application statuses outside the valid domain."""
    rule = rules.status_domain
    history = b.tables["applications"].columns["application_status"]
    valid = set(rule.valid_statuses or history.domain or ())
    invalid = sum(c for v, c in (history.domain or {}).items() if v not in valid)

    def check(f: Frames, _: Mapping[str, pa.Schema]) -> list[Finding]:
        apps = f["applications"]
        bad = ~apps.isin("application_status", sorted(valid))
        return count_tests(
            d.target, f.batches, apps, bad, "app_id", (invalid, history.rows), rule.z,
            rule.min_count, detail=f"application_status not in {sorted(valid)}",
        )  # fmt: skip

    d = make("status_domain", "business", "applications", "invalid_status_rate", check)
    return d


def fence(
    name: str,
    family: str,
    table: str,
    column: str,
    key: str,
    dist: Distribution,
    rule: FenceRule,
    what: str,
) -> Detector:
    """A ratio's records above the upper fence of its historical distribution.

    Args:
        name: Detector name.
        family: Its family.
        table: The table of the ratio.
        column: The (derived) column holding it.
        key: Id column listed for flagged records.
        dist: Its historical distribution.
        rule: The fence's margins.
        what: The ratio as the detail names it.

    Returns:
        The detector.
    """
    upper = dist.upper_fence(rule.upper_quantile, rule.fence_k, rule.spread_floor)
    base = (round(dist.fraction_above(upper) * dist.count), dist.count)

    def outside(f: Frames) -> np.ndarray:
        with np.errstate(invalid="ignore"):
            return f[table].floats(column) > upper

    def check(f: Frames, _: Mapping[str, pa.Schema]) -> list[Finding]:
        rows = f[table]
        return count_tests(
            d.target, f.batches, rows, outside(f), key, base, rule.z, rule.min_count,
            record_threshold=upper, detail=f"{what} > {upper:.4g}",
            scope=~np.isnan(rows.floats(column)),
        )  # fmt: skip

    d = make(name, family, table, f"{name}_outlier_rate", check, outside)
    return d


def accounts_approved(b: Baseline, rule: CountRule) -> Detector:
    """``accounts_approved``: accounts without an approved application in their batch."""
    base = (b.unapproved_accounts.successes, b.unapproved_accounts.trials)

    def check(f: Frames, _: Mapping[str, pa.Schema]) -> list[Finding]:
        acc = f["accounts"]
        return count_tests(
            d.target, f.batches, acc, ~acc.derived["_approved"], "account_id", base, rule.z,
            rule.min_count, detail="account without an approved application in its batch",
        )  # fmt: skip

    d = make("accounts_approved", "business", "accounts", "unapproved_account_rate", check)
    return d
