"""The detectors: named rules in four families, built from a baseline and a rule set.

:func:`build_detectors` turns ``(baseline, rules)`` into a list of :class:`Detector`, each a
named function from prepared landing rows to one
:class:`~dtg_assets.gatekeeper.verdicts.Finding` per batch. Detectors see only landing rows
(told apart by their ``batch_id``) and the baseline; nothing about the schedule or the ground
truth.

- technical: ``schema:<table>`` (each file's schema against the baseline's),
  ``completeness:<table>.<column>``, ``domain:<table>.<column>``, ``format:<table>.<column>``,
  ``uniqueness:<table>.<key>``, ``replays:<table>``, ``references:<table>``,
  ``range:<table>.<column>`` (:mod:`~dtg_assets.gatekeeper.ranges`);
- business (:mod:`~dtg_assets.gatekeeper.business`): ``min_age``, ``status_domain``,
  ``limit_share_of_income``, ``accounts_approved``;
- freshness: ``ingestion_lag:<table>``, ``event_time:<table>`` (and ``cadence``, which
  :func:`~dtg_assets.gatekeeper.findings.detect_batches` runs over a day's batch ids);
- statistical (:mod:`~dtg_assets.gatekeeper.statistical`): ``volume``, ``short_sessions``,
  ``conversion_rate``, ``approval_rate``, ``transaction_rate``, ``amount_to_limit``,
  ``distribution:<table>.<column>``.

The structural ones live in :mod:`~dtg_assets.gatekeeper.structural`. Every threshold is the
baseline's (a rate, domain, range or distribution learned from this history) plus a rule's
generic margin. A value that did not
arrive usable (its file dropped or retyped the column) is out of every detector's scope.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dtg_assets.gatekeeper import business, ranges, statistical, structural
from dtg_assets.gatekeeper.baseline import Baseline, ColumnProfile
from dtg_assets.gatekeeper.detector import Detector, make
from dtg_assets.gatekeeper.drift import SCHEMA_COLUMN, Drift, compare, kinds_of
from dtg_assets.gatekeeper.frames import Frames
from dtg_assets.gatekeeper.profile import has_shape, unseen_rate
from dtg_assets.gatekeeper.rows import TableRows, bools, last_available, median
from dtg_assets.gatekeeper.rules import CountRule, Rules
from dtg_assets.gatekeeper.structural import clock_shifts
from dtg_assets.gatekeeper.structure import DRIFT_COLUMNS
from dtg_assets.gatekeeper.verdicts import Finding, bound_test, count_tests
from dtg_assets.simulation.schemas import PRIMARY_KEY, TABLES

# The factory the structural detectors are handed (they cannot import this module).
_detector = make


# -- technical -------------------------------------------------------------------------------
def _schema(b: Baseline, table: str) -> Detector:
    expected = {c: p.kind for c, p in b.tables[table].columns.items()}
    key = PRIMARY_KEY[table]

    def check(f: Frames, _: Mapping[str, pa.Schema]) -> list[Finding]:
        rows = f[table]
        index, texts = rows.file_schemas(SCHEMA_COLUMN)
        drifts = [compare(kinds_of(t), expected) for t in texts]
        drifted = np.array([bool(d) for d in drifts], dtype=bool)
        bad = drifted[index] if drifted.size else np.zeros(len(rows), dtype=bool)
        # The distinct (batch, file schema) pairs: few, whatever the number of rows.
        pairs = np.unique(rows.codes * max(len(texts), 1) + index)
        per_batch: dict[int, list[Drift]] = {}
        for pair in pairs.tolist():
            code, i = divmod(pair, max(len(texts), 1))
            if drifts and drifts[i]:
                per_batch.setdefault(code, []).append(drifts[i])
        out = []
        for i, batch in enumerate(f.batches):
            found = per_batch.get(i, [])
            changes = sum(d.changes for d in found)
            detail = " | ".join(sorted({d.describe() for d in found})) or "schema as in history"
            finding = bound_test(
                d.target, batch, float(changes), 0.0, None, 0.0, int(rows.sizes[i]),
                lambda i=i: rows.nth_available(rows.rows(i, bad), 0), detail,
            )  # fmt: skip
            if found:
                finding.flagged_ids = rows.ids(key, rows.rows(i, bad))
            out.append(finding)
        return out

    d = _detector(f"schema:{table}", "technical", table, "drifted_columns", check)
    return d


def _completeness(b: Baseline, table: str, column: str, rule: CountRule) -> Detector:
    prof = b.tables[table].columns[column]

    def check(f: Frames, _: Mapping[str, pa.Schema]) -> list[Finding]:
        rows = f[table]
        # A column a file dropped or retyped is the schema detector's finding, not a null.
        return count_tests(
            d.target, f.batches, rows, rows.isna(column), PRIMARY_KEY[table],
            (prof.nulls, prof.rows), rule.z, rule.min_count, detail=f"null {column}",
            scope=rows.usable(column),
        )  # fmt: skip

    d = _detector(f"completeness:{table}.{column}", "technical", table, "null_rate", check)
    return d


def _unknown(rows: TableRows, column: str, known: list[str], by_shape: bool) -> np.ndarray:
    """Present values outside ``known`` (by their shape when ``by_shape``)."""
    values = rows.column(column)
    if by_shape:
        return ~has_shape(values, known) & ~rows.isna(column)
    inside = bools(pc.is_in(values, value_set=pa.array(known, values.type)))
    return ~inside & ~rows.isna(column)


def _domain(b: Baseline, table: str, column: str, prof: ColumnProfile, rule: CountRule) -> Detector:
    support, key = b.config.closed_domain_support, PRIMARY_KEY[table]
    if prof.domain is not None:
        name, metric, known = f"domain:{table}.{column}", "unknown_value_rate", set(prof.domain)
        base = unseen_rate(prof.rows - prof.nulls, len(known), prof.singletons, support)
    else:
        name, metric, known = f"format:{table}.{column}", "unknown_shape_rate", set(prof.shapes)
        base = unseen_rate(prof.rows - prof.nulls, len(known), prof.shape_singletons, support)
    known_values = sorted(known)

    def check(f: Frames, _: Mapping[str, pa.Schema]) -> list[Finding]:
        rows = f[table]
        bad = _unknown(rows, column, known_values, prof.domain is None)
        return count_tests(
            d.target, f.batches, rows, bad, key, base, rule.z, rule.min_count,
            detail=f"{column} outside the {len(known)} historical {metric.split('_')[1]}s",
            scope=~rows.isna(column),
        )  # fmt: skip

    d = _detector(name, "technical", table, metric, check)
    return d


def _duplicated(rows: TableRows, key: str) -> np.ndarray:
    """Rows whose key occurs more than once in their batch (a null key repeats a null)."""
    codes = pc.dictionary_encode(rows.column(key).combine_chunks(), null_encoding="encode")
    index = codes.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    keys = rows.codes * max(len(codes.dictionary), 1) + index
    if keys.size and keys.max() < 8 * keys.size + 1024:
        return np.bincount(keys)[keys] > 1
    _, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
    return counts[inverse] > 1


def _uniqueness(b: Baseline, table: str, rule: CountRule) -> Detector:
    key, prof = PRIMARY_KEY[table], b.tables[table]

    def check(f: Frames, _: Mapping[str, pa.Schema]) -> list[Finding]:
        rows = f[table]
        return count_tests(
            d.target, f.batches, rows, _duplicated(rows, key), key,
            (prof.duplicate_keys, prof.rows), rule.z, rule.min_count, detail=f"duplicated {key}",
            scope=rows.usable(key),
        )  # fmt: skip

    d = _detector(f"uniqueness:{table}.{key}", "technical", table, "duplicate_rate", check)
    return d


# -- freshness -------------------------------------------------------------------------------
def _ingestion_lag(b: Baseline, table: str, rules: Rules) -> Detector:
    rule, dist = rules.ingestion_lag, b.tables[table].ingestion_lag_seconds
    fence = dist.upper_fence(rule.upper_quantile, rule.fence_k, rule.spread_floor)

    def check(f: Frames, _: Mapping[str, pa.Schema]) -> list[Finding]:
        rows = f[table]
        groups = rows.groups(rows.floats("_lag_s"))
        moved = clock_shifts(f, b, table, rules.event_time, +1)
        out = []
        for i, (batch, lags) in enumerate(zip(f.batches, groups, strict=True)):
            finding = bound_test(
                d.target, batch, float(median(lags)) if len(lags) else math.nan, dist.median,
                None, fence, len(lags), lambda i=i: last_available(i, rows),
                detail=f"median ingested_at - event time (s) > {fence:.0f}, or later than "
                "history's by the clock test",
            )  # fmt: skip
            if moved[i] and finding.verdict != "flag":
                finding.verdict, finding.evidence_at = "flag", last_available(i, rows)
            if finding.verdict == "flag":
                # A stale clock is the batch's: every record of the table carries it.
                finding.flagged_ids = rows.ids(PRIMARY_KEY[table], rows.rows(i))
            out.append(finding)
        return out

    d = _detector(f"ingestion_lag:{table}", "freshness", table, "median_lag_seconds", check)
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
        if r.replays.enabled:
            out.append(structural.replays(b, t, r.replays, _detector))
        if r.references.enabled and t in structural.PARENT:
            out.append(structural.references(b, t, r.references, _detector))
    if r.range.enabled:
        out += ranges.value_ranges(b, r.range)
    if r.min_age.enabled:
        out.append(business.min_age(b, r))
    if r.status_domain.enabled:
        out.append(business.status_domain(b, r))
    if r.limit_share_of_income.enabled:
        out.append(
            business.fence("limit_share_of_income", "business", "applications", "_limit_share",
                           "app_id", b.limit_share_of_income, r.limit_share_of_income,
                           "req_credit_limit / annual_income")
        )  # fmt: skip
    if r.accounts_approved.enabled:
        out.append(business.accounts_approved(b, r.accounts_approved))
    if r.ingestion_lag.enabled:
        out += [_ingestion_lag(b, t, r) for t in r.ingestion_lag.tables]
    if r.event_time.enabled:
        out += [structural.event_time(b, t, r.event_time, _detector) for t in TABLES]
    if r.volume.enabled:
        out.append(statistical.volume(b, r))
    if r.short_sessions.enabled:
        out.append(statistical.short_sessions(b, r.short_sessions))
    for name, table in (
        ("conversion_rate", "applications"),
        ("approval_rate", "applications"),
        ("transaction_rate", "accounts"),
    ):
        if getattr(r, name).enabled:
            out.append(statistical.rate(name, table, b, r))
    if r.amount_to_limit.enabled:
        out.append(
            business.fence("amount_to_limit", "statistical", "transactions", "_amount_to_limit",
                           "txn_id", b.amount_to_limit, r.amount_to_limit,
                           "amount / approved_limit")
        )  # fmt: skip
    if r.distribution.enabled:
        names = [n for n in DRIFT_COLUMNS if n in b.histograms]
        out += [structural.distribution(b, n, r.distribution, len(names), _detector) for n in names]
    return out
