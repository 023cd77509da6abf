"""The statistical check: each batch's funnel rates against the configured ones.

Per batch, the application, approval and transaction rates and the mean number of transactions
per transacting account must lie within ``Z_BOUND`` standard errors of what the scenario
configures, given the batch's anomalies (a conversion drop lowers the apply rate; an age error
rejects some applicants as under age). Records are counted once however often they landed
(``duplicate_records`` copies are the same records), and an ``orphan_records`` batch's visitors
include those whose events were lost (one per application without its visitor).
"""

from __future__ import annotations

import math

from dtg_assets.simulation.checks.counts import approved
from dtg_assets.simulation.checks.model import CheckSpec, LandedDay, Verdict
from dtg_assets.simulation.checks.references import in_batches
from dtg_assets.simulation.config import AnomalyType, IntRange, ScenarioConfig
from dtg_assets.simulation.plan import BatchPlan
from dtg_assets.simulation.schemas import PRIMARY_KEY, TABLES

Z_BOUND = 5.0


def _share_below(r: IntRange, limit: int) -> float:
    return min(max(limit - r.low, 0), r.high - r.low + 1) / (r.high - r.low + 1)


def expected_rates(config: ScenarioConfig, plan: BatchPlan) -> dict[str, float]:
    """The funnel rates a batch should show, given its anomaly."""
    f, a = config.funnel, config.anomalies
    apply = a.conversion_drop.apply_rate if plan.has(AnomalyType.CONVERSION_DROP) else f.apply_rate
    under = _share_below(f.applicant_age, f.minimum_age)
    if plan.has(AnomalyType.AGE_ERROR):
        under_err = _share_below(a.age_error.age, f.minimum_age)
        under = a.age_error.rate * under_err + (1 - a.age_error.rate) * under
    return {"apply_rate": apply, "approval_rate": f.approve_rate * (1 - under),
            "transact_rate": f.transact_rate}  # fmt: skip


def _z(k: float, n: int, p: float) -> float:
    if n == 0:
        return 0.0
    sd = math.sqrt(n * p * (1 - p))
    return abs(k - n * p) / sd if sd > 0 else (0.0 if k == n * p else math.inf)


def funnel_ratios(spec: CheckSpec, day: LandedDay) -> Verdict:
    """Every batch's funnel rates within ``Z_BOUND`` standard errors of the configured ones."""
    frames = {t: day.frames[t].drop_duplicates(PRIMARY_KEY[t]) for t in TABLES}
    vis, apps = frames["visitor_events"], frames["applications"]
    accounts, txns = frames["accounts"], frames["transactions"]
    lost = apps[~in_batches(apps, vis, "visitor_id")]["batch_id"].value_counts()
    r = day.config.funnel.transactions_per_account
    mean = (r.low + r.high) / 2
    var = ((r.high - r.low + 1) ** 2 - 1) / 12
    per_batch, worst = {}, 0.0
    for plan in day.plans:
        b, rates = plan.batch_id, expected_rates(day.config, plan)
        n_vis = int((vis["batch_id"] == b).sum()) + int(lost.get(b, 0))
        b_apps = apps[apps["batch_id"] == b]
        n_acc = int((accounts["batch_id"] == b).sum())
        per_account = txns.loc[txns["batch_id"] == b, "account_id"].value_counts()
        zs = {
            "apply_rate": _z(len(b_apps), n_vis, rates["apply_rate"]),
            "approval_rate": _z(int(approved(b_apps).sum()), len(b_apps), rates["approval_rate"]),
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
        why = f"a funnel ratio is {worst:.1f} standard errors from its configured rate"
        return Verdict(False, why, meta)
    return Verdict(
        True, f"all funnel ratios within {Z_BOUND:g} standard errors (worst {worst:.2f})", meta
    )
