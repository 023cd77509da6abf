"""The detectors: named rules in four families, built from a baseline and a rule set.

:func:`build_detectors` turns ``(baseline, rules)`` into a list of :class:`Detector`, each a
named function from one batch's frames to a :class:`~dtg_assets.gatekeeper.verdicts.Finding`.
Detectors see only landing rows (grouped by their ``batch_id``) and the baseline; nothing about
the schedule or the ground truth.

- technical: ``schema:<table>``, ``completeness:<table>.<column>``,
  ``domain:<table>.<column>``, ``format:<table>.<column>``, ``uniqueness:<table>.<key>``;
- business: ``min_age``, ``status_domain``, ``limit_share_of_income``, ``accounts_approved``;
- freshness: ``ingestion_lag:<table>``;
- statistical: ``volume``, ``short_sessions``, ``conversion_rate``, ``approval_rate``,
  ``transaction_rate``, ``amount_to_limit``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import pandas as pd
import pyarrow as pa

from dtg_assets.gatekeeper.baseline import Baseline, ColumnProfile, Distribution
from dtg_assets.gatekeeper.frames import Frames
from dtg_assets.gatekeeper.profile import schema_kinds, shapes, unseen_rate
from dtg_assets.gatekeeper.rules import CountRule, FenceRule, Rules
from dtg_assets.gatekeeper.verdicts import (
    Finding,
    Target,
    bound_test,
    count_test,
    last_available,
    rate_test,
)
from dtg_assets.simulation.schemas import PRIMARY_KEY, TABLES

Check = Callable[[str, Frames, Mapping[str, pa.Schema]], Finding]


@dataclass(frozen=True)
class Detector:
    """A named rule applied to one batch at a time.

    Attributes:
        target: Name, family, table and metric of the rule.
        check: Batch id, the batch's frames and the tables' schemas -> finding.
        annotate: Optional step run once on a whole day's frames before they are split into
            batches, adding per-record columns the check reads (vectorised once, not per batch).
    """

    target: Target
    check: Check
    annotate: Callable[[Frames], None] | None = None

    @property
    def name(self) -> str:
        """The detector's name, e.g. ``completeness:visitor_events.campaign_id``."""
        return self.target.detector


def _detector(
    name: str,
    family: str,
    table: str,
    metric: str,
    check: Check,
    annotate: Callable[[Frames], None] | None = None,
) -> Detector:
    return Detector(Target(name, family, table, metric), check, annotate)


# -- technical -------------------------------------------------------------------------------
def _schema(b: Baseline, table: str) -> Detector:
    expected = {c: p.kind for c, p in b.tables[table].columns.items()}

    def check(batch: str, f: Frames, schemas: Mapping[str, pa.Schema]) -> Finding:
        seen = schema_kinds(schemas[table])
        bad = sorted(c for c in expected.keys() | seen.keys() if expected.get(c) != seen.get(c))
        detail = "; ".join(f"{c}: {expected.get(c)} -> {seen.get(c)}" for c in bad)
        return bound_test(d.target, batch, len(bad), 0.0, None, 0.0, len(f[table]), None, detail)

    d = _detector(f"schema:{table}", "technical", table, "mismatched_columns", check)
    return d


def _completeness(b: Baseline, table: str, column: str, rule: CountRule) -> Detector:
    prof = b.tables[table].columns[column]

    def check(batch: str, f: Frames, _: Mapping[str, pa.Schema]) -> Finding:
        frame = f[table]
        bad = frame[column].isna() if column in frame else pd.Series(True, index=frame.index)
        return count_test(
            d.target, batch, frame, bad, PRIMARY_KEY[table], (prof.nulls, prof.rows),
            rule.z, rule.min_count, detail=f"null {column}",
        )  # fmt: skip

    d = _detector(f"completeness:{table}.{column}", "technical", table, "null_rate", check)
    return d


def _domain(b: Baseline, table: str, column: str, prof: ColumnProfile, rule: CountRule) -> Detector:
    support, key = b.config.closed_domain_support, PRIMARY_KEY[table]
    if prof.domain is not None:
        name, metric, known = f"domain:{table}.{column}", "unknown_value_rate", set(prof.domain)
        base = unseen_rate(prof.rows - prof.nulls, len(known), prof.singletons, support)
    else:
        name, metric, known = f"format:{table}.{column}", "unknown_shape_rate", set(prof.shapes)
        base = unseen_rate(prof.rows - prof.nulls, len(known), prof.shape_singletons, support)
    flag_col = f"_{name}"

    def annotate(f: Frames) -> None:
        frame = f[table]
        if column not in frame:
            frame[column] = pd.Series(pd.NA, index=frame.index, dtype="string")
        values = frame[column].astype("string")
        values = values if prof.domain is not None else shapes(values)
        frame[flag_col] = (values.notna() & ~values.isin(known)).to_numpy(dtype=bool)

    def check(batch: str, f: Frames, _: Mapping[str, pa.Schema]) -> Finding:
        frame = f[table]
        # Only the columns the test reads: copying whole frames per detector is the hot spot.
        present = frame.loc[frame[column].notna(), [key, "_available", flag_col]]
        return count_test(
            d.target, batch, present, present[flag_col], key, base, rule.z, rule.min_count,
            detail=f"{column} outside the {len(known)} historical {metric.split('_')[1]}s",
        )  # fmt: skip

    d = _detector(name, "technical", table, metric, check, annotate)
    return d


def _uniqueness(b: Baseline, table: str, rule: CountRule) -> Detector:
    key, prof = PRIMARY_KEY[table], b.tables[table]

    def check(batch: str, f: Frames, _: Mapping[str, pa.Schema]) -> Finding:
        frame = f[table]
        bad = frame[key].duplicated(keep=False).to_numpy()
        return count_test(
            d.target, batch, frame, bad, key, (prof.duplicate_keys, prof.rows), rule.z,
            rule.min_count, detail=f"duplicated {key}",
        )  # fmt: skip

    d = _detector(f"uniqueness:{table}.{key}", "technical", table, "duplicate_rate", check)
    return d


# -- business --------------------------------------------------------------------------------
def _min_age(b: Baseline, rules: Rules) -> Detector:
    rule, dist = rules.min_age, b.applicant_age
    base = (round(dist.fraction_below(rule.minimum_age) * dist.count), dist.count)

    def check(batch: str, f: Frames, _: Mapping[str, pa.Schema]) -> Finding:
        apps = f["applications"]
        bad = (apps["applicant_age"] < rule.minimum_age).to_numpy(dtype=bool)
        return count_test(
            d.target, batch, apps, bad, "app_id", base, rule.z, rule.min_count,
            record_threshold=rule.minimum_age, detail=f"applicant_age < {rule.minimum_age}",
        )  # fmt: skip

    d = _detector("min_age", "business", "applications", "under_age_rate", check)
    return d


def _status_domain(b: Baseline, rules: Rules) -> Detector:
    rule = rules.status_domain
    history = b.tables["applications"].columns["application_status"]
    valid = set(rule.valid_statuses or history.domain or ())
    invalid = sum(c for v, c in (history.domain or {}).items() if v not in valid)

    def check(batch: str, f: Frames, _: Mapping[str, pa.Schema]) -> Finding:
        apps = f["applications"]
        bad = ~apps["application_status"].isin(valid).to_numpy(dtype=bool)
        return count_test(
            d.target, batch, apps, bad, "app_id", (invalid, history.rows), rule.z,
            rule.min_count, detail=f"application_status not in {sorted(valid)}",
        )  # fmt: skip

    d = _detector("status_domain", "business", "applications", "invalid_status_rate", check)
    return d


def _fence(
    name: str,
    family: str,
    table: str,
    column: str,
    key: str,
    dist: Distribution,
    rule: FenceRule,
    what: str,
) -> Detector:
    fence = dist.upper_fence(rule.upper_quantile, rule.fence_k, rule.spread_floor)
    base = (round(dist.fraction_above(fence) * dist.count), dist.count)

    def check(batch: str, f: Frames, _: Mapping[str, pa.Schema]) -> Finding:
        frame = f[table]
        frame = frame.loc[frame[column].notna(), [key, "_available", column]]
        bad = (frame[column] > fence).to_numpy(dtype=bool)
        return count_test(
            d.target, batch, frame, bad, key, base, rule.z, rule.min_count,
            record_threshold=fence, detail=f"{what} > {fence:.4g}",
        )  # fmt: skip

    d = _detector(name, family, table, f"{name}_outlier_rate", check)
    return d


def _accounts_approved(b: Baseline, rule: CountRule) -> Detector:
    base = (b.unapproved_accounts.successes, b.unapproved_accounts.trials)

    def check(batch: str, f: Frames, _: Mapping[str, pa.Schema]) -> Finding:
        acc = f["accounts"]
        bad = (acc["_app_status"] != "approved").to_numpy(dtype=bool)
        return count_test(
            d.target, batch, acc, bad, "account_id", base, rule.z, rule.min_count,
            detail="account without an approved application in its batch",
        )  # fmt: skip

    d = _detector("accounts_approved", "business", "accounts", "unapproved_account_rate", check)
    return d


# -- freshness -------------------------------------------------------------------------------
def _ingestion_lag(b: Baseline, table: str, rules: Rules) -> Detector:
    rule, dist = rules.ingestion_lag, b.tables[table].ingestion_lag_seconds
    fence = dist.upper_fence(rule.upper_quantile, rule.fence_k, rule.spread_floor)

    def check(batch: str, f: Frames, _: Mapping[str, pa.Schema]) -> Finding:
        frame = f[table]
        median = float(frame["_lag_s"].median()) if len(frame) else math.nan
        return bound_test(
            d.target, batch, median, dist.median, None, fence, len(frame), last_available(frame),
            detail=f"median ingested_at - event time (s) > {fence:.0f}",
        )  # fmt: skip

    d = _detector(f"ingestion_lag:{table}", "freshness", table, "median_lag_seconds", check)
    return d


# -- statistical -----------------------------------------------------------------------------
def _volume(b: Baseline, rules: Rules) -> Detector:
    rule, dist = rules.volume, b.visitors_per_batch
    median = dist.median or 0.0
    half = max(rule.z * dist.robust_sd, rule.z * math.sqrt(median), rule.tolerance * median)

    def check(batch: str, f: Frames, _: Mapping[str, pa.Schema]) -> Finding:
        vis = f["visitor_events"]
        return bound_test(
            d.target, batch, float(len(vis)), median, median - half, median + half, len(vis),
            last_available(vis), detail="visitors in the batch",
        )  # fmt: skip

    d = _detector("volume", "statistical", "visitor_events", "visitors", check)
    return d


def _short_sessions(b: Baseline, rule: CountRule) -> Detector:
    cut, base = b.config.short_session_seconds, b.short_sessions

    def check(batch: str, f: Frames, _: Mapping[str, pa.Schema]) -> Finding:
        vis = f["visitor_events"]
        bad = (vis["session_duration"] < cut).to_numpy(dtype=bool)
        return count_test(
            d.target, batch, vis, bad, "visitor_id", (base.successes, base.trials), rule.z,
            rule.min_count, record_threshold=cut, detail=f"session_duration < {cut:g} s",
        )  # fmt: skip

    d = _detector("short_sessions", "statistical", "visitor_events", "short_session_rate", check)
    return d


def _rate(name: str, table: str, b: Baseline, rules: Rules) -> Detector:
    rate, rule = getattr(b, name.removesuffix("_rate")), getattr(rules, name)

    def check(batch: str, f: Frames, _: Mapping[str, pa.Schema]) -> Finding:
        vis, apps, acc = f["visitor_events"], f["applications"], f["accounts"]
        if name == "conversion_rate":
            k, n, seen = len(apps), len(vis), (vis, apps)
        elif name == "approval_rate":
            k, n, seen = int((apps["application_status"] == "approved").sum()), len(apps), (apps,)
        else:
            k, n, seen = int(acc["_transacts"].sum()), len(acc), (acc, f["transactions"])
        return rate_test(
            d.target, batch, k, n, (rate.successes, rate.trials), rule.z, last_available(*seen),
            detail=f"{name.replace('_', ' ')} vs {rate.rate:.4f} in history",
        )  # fmt: skip

    d = _detector(name, "statistical", table, name, check)
    return d


def build_detectors(baseline: Baseline, rules: Rules | None = None) -> list[Detector]:
    """Instantiate every enabled detector for a baseline.

    Args:
        baseline: What normal looks like.
        rules: Margins and switches; defaults to :class:`Rules`.

    Returns:
        The detectors, technical first.
    """
    r, b = rules or Rules(), baseline
    out: list[Detector] = []
    for t in TABLES:
        cols = b.tables[t].columns
        if r.schema_check.enabled:
            out.append(_schema(b, t))
        if r.completeness.enabled:
            out += [_completeness(b, t, c, r.completeness) for c in cols]
        for c, p in cols.items():
            rule = r.domain if p.domain is not None else r.format
            if (p.domain is not None or p.shapes is not None) and rule.enabled:
                out.append(_domain(b, t, c, p, rule))
        if r.uniqueness.enabled:
            out.append(_uniqueness(b, t, r.uniqueness))
    if r.min_age.enabled:
        out.append(_min_age(b, r))
    if r.status_domain.enabled:
        out.append(_status_domain(b, r))
    if r.limit_share_of_income.enabled:
        out.append(
            _fence("limit_share_of_income", "business", "applications", "_limit_share", "app_id",
                   b.limit_share_of_income, r.limit_share_of_income,
                   "req_credit_limit / annual_income")
        )  # fmt: skip
    if r.accounts_approved.enabled:
        out.append(_accounts_approved(b, r.accounts_approved))
    if r.ingestion_lag.enabled:
        out += [_ingestion_lag(b, t, r) for t in r.ingestion_lag.tables]
    if r.volume.enabled:
        out.append(_volume(b, r))
    if r.short_sessions.enabled:
        out.append(_short_sessions(b, r.short_sessions))
    for name, table in (
        ("conversion_rate", "applications"),
        ("approval_rate", "applications"),
        ("transaction_rate", "accounts"),
    ):
        if getattr(r, name).enabled:
            out.append(_rate(name, table, b, r))
    if r.amount_to_limit.enabled:
        out.append(
            _fence("amount_to_limit", "statistical", "transactions", "_amount_to_limit", "txn_id",
                   b.amount_to_limit, r.amount_to_limit, "amount / approved_limit")
        )  # fmt: skip
    return out
