"""Detectors of structural landing failures: replays, orphans, clock shifts and drift.

Built like the detectors of :mod:`~dtg_assets.gatekeeper.detectors` (one finding per batch,
from landing rows and the baseline only):

- ``replays:<table>`` (technical): records whose primary key an earlier batch landed, this day
  or an earlier one (``Frames.prior``); a copy within one batch is ``uniqueness:<table>``'s;
- ``references:<table>`` (technical): child records whose parent is not among their batch's
  rows (referential integrity, across event dates since a batch's rows carry its id);
- ``event_time:<table>`` (freshness): event times later against ingestion than history allows
  (:func:`clock_shifts`, direction ``-1``); the stale direction feeds ``ingestion_lag``;
- ``distribution:<table>.<column>`` (statistical): a chi-square test of the column's binned
  distribution against history's.

A clock shift or a drift is a property of the batch, not of single records (a shifted
account can look like a normal one): a flagging finding lists every record of the table in
the batch (for a categorical drift, those in the over-represented values).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from dtg_assets.gatekeeper.baseline import Baseline, Distribution
from dtg_assets.gatekeeper.frames import PARENTS, Frames
from dtg_assets.gatekeeper.rows import TableRows, median, timestamp
from dtg_assets.gatekeeper.rules import ClockRule, CountRule, DriftRule
from dtg_assets.gatekeeper.stats import z_to_alpha
from dtg_assets.gatekeeper.structure import DRIFT_COLUMNS, bin_codes, chi2_critical, replayed
from dtg_assets.gatekeeper.verdicts import Finding, bound_test, count_tests
from dtg_assets.simulation.schemas import EVENT_TIME, PRIMARY_KEY

Make = Callable[..., Any]  # detectors._detector: (name, family, table, metric, check) -> Detector
PARENT = {child: parent for child, _, parent in PARENTS}


def replays(b: Baseline, table: str, rule: CountRule, make: Make) -> Any:
    """``replays:<table>``: records an earlier batch already landed."""
    key, prof = PRIMARY_KEY[table], b.tables[table]

    def check(f: Frames, _) -> list[Finding]:
        rows = f[table]
        bad = replayed(rows, key, f.prior.get(table))
        return count_tests(
            d.target, f.batches, rows, bad, key, (prof.replayed_keys, prof.rows), rule.z,
            rule.min_count, detail=f"{key} landed by an earlier batch", scope=rows.usable(key),
        )  # fmt: skip

    d = make(f"replays:{table}", "technical", table, "replayed_rate", check)
    return d


def references(b: Baseline, table: str, rule: CountRule, make: Make) -> Any:
    """``references:<table>``: child records whose parent is not in their batch."""
    child_key = next(k for c, k, _ in PARENTS if c == table)
    prof = b.tables[table]

    def check(f: Frames, _) -> list[Finding]:
        rows = f[table]
        return count_tests(
            d.target, f.batches, rows, rows.derived["_orphan"], PRIMARY_KEY[table],
            (prof.orphans, prof.rows), rule.z, rule.min_count,
            detail=f"{child_key} not among the batch's {PARENT[table]}",
            scope=rows.usable(child_key),
        )  # fmt: skip

    d = make(f"references:{table}", "technical", table, "orphan_rate", check)
    return d


def _mean_shifts(values: list[np.ndarray], dist: Distribution) -> tuple[np.ndarray, np.ndarray]:
    """Per batch, its mean's distance from history's and that mean's standard error.

    Means, not medians: a record's lag is a mix of whole-hour offsets (accounts open 2-23 whole
    hours after their application), whose batch median jumps from one hour to the next, while
    a mean's spread is its standard deviation over the root of its count, whatever the shape.
    """
    shift = np.full(len(values), np.nan)
    se = np.full(len(values), np.nan)
    if not dist.count or dist.mean is None:
        return shift, se
    for i, v in enumerate(values):
        v = v[~np.isnan(v)]
        if v.size:
            shift[i] = float(v.mean()) - dist.mean
            se[i] = (dist.sd or 0.0) / math.sqrt(v.size)
    return shift, se


def _moved(f: Frames, b: Baseline, table: str, rule: ClockRule, sign: int) -> np.ndarray:
    """Per batch, whether the table's mean lag moved by ``sign`` (own test or inherited)."""
    rows = f[table]
    shift, se = _mean_shifts(
        rows.groups(rows.floats("_lag_s")), b.tables[table].ingestion_lag_seconds
    )
    with np.errstate(invalid="ignore"):
        own = sign * shift > np.maximum(rule.z * se, rule.min_shift_seconds)
    parent = PARENT.get(table)
    if parent is None:
        return own
    offsets = b.tables[table].parent_offset_seconds
    intact = np.ones(len(f.batches), dtype=bool)
    if offsets is not None:
        gap, se = _mean_shifts(rows.groups(rows.derived["_offset_s"]), offsets)
        with np.errstate(invalid="ignore"):
            intact = ~(np.abs(gap) > np.maximum(rule.z * se, rule.min_shift_seconds))
    return own | (clock_shifts(f, b, parent, rule, sign) & intact)


def clock_shifts(f: Frames, b: Baseline, table: str, rule: ClockRule, sign: int) -> np.ndarray:
    """Per batch of ``f``, whether a table's event times moved against ingestion.

    Args:
        f: Prepared rows.
        b: The baseline (historical record lags and child-parent offsets).
        table: Landing table.
        rule: Margins.
        sign: ``+1``: lags grew (stale events); ``-1``: lags shrank (events after ingestion).

    Returns:
        Boolean per batch (see :class:`~dtg_assets.gatekeeper.rules.ClockRule`).
    """
    key = ("clock", table, sign)
    if key not in f.cache:
        f.cache[key] = _moved(f, b, table, rule, sign)
    return f.cache[key]


def batch_records(
    rows: TableRows, key: str, batch: int, mask: np.ndarray | None = None
) -> list[str]:
    """Ids of a batch's records of a table (those a mask selects)."""
    return rows.ids(key, rows.rows(batch, mask))


def _landed(rows: TableRows, batch: int) -> pd.Timestamp | None:
    """When the batch's last record of the table landed (its latest ``ingested_at``)."""
    times, valid = rows.micros("ingested_at")
    own = (rows.codes == batch) & valid
    return timestamp(times[own].max()) if own.any() else None


def event_time(b: Baseline, table: str, rule: ClockRule, make: Make) -> Any:
    """``event_time:<table>``: event times after ingestion beyond history (clock shift)."""
    key, hist = PRIMARY_KEY[table], b.tables[table].ingestion_lag_seconds

    def check(f: Frames, _) -> list[Finding]:
        rows = f[table]
        moved = clock_shifts(f, b, table, rule, -1)
        groups = rows.groups(rows.floats("_lag_s"))
        out = []
        for i, batch in enumerate(f.batches):
            finding = bound_test(
                d.target, batch, float(median(groups[i])) if len(groups[i]) else math.nan,
                hist.median, None, None, len(groups[i]),
                lambda i=i: rows.last_available(i), detail="median ingested_at - event time (s)",
            )  # fmt: skip
            if moved[i]:
                finding.verdict = "flag"
                # The stamped times are wrong, the landing is not: evidence once it landed.
                finding.evidence_at = _landed(rows, i)
                ok = rows.usable(EVENT_TIME[table])
                finding.flagged_ids = batch_records(rows, key, i, ok)
            out.append(finding)
        return out

    d = make(f"event_time:{table}", "freshness", table, "median_lag_seconds", check)
    return d


def distribution(b: Baseline, name: str, rule: DriftRule, tests: int, make: Make) -> Any:
    """``distribution:<table>.<column>``: a chi-square drift test against history's bins."""
    table, column = DRIFT_COLUMNS[name]
    hist = b.histograms[name]
    base = np.asarray(hist.counts, dtype=np.float64)
    total = base.sum()
    # Half a record in each bin keeps a bin history never filled testable.
    expected = (base + 0.5) / (total + 0.5 * base.size) if total else base
    critical = chi2_critical(max(base.size - 1, 1), z_to_alpha(rule.z) / max(tests, 1))
    key = PRIMARY_KEY[table]

    def check(f: Frames, _) -> list[Finding]:
        rows = f[table]
        codes = bin_codes(rows, column, hist.edges, hist.values)
        ok = codes >= 0
        out = []
        for i, batch in enumerate(f.batches):
            own = ok & (rows.codes == i)
            n = int(own.sum())
            stat = math.nan
            if n >= rule.min_records and total:
                seen = np.bincount(codes[own], minlength=base.size).astype(np.float64)
                chi2 = float((((seen - n * expected) ** 2) / (n * expected)).sum())
                stat = chi2 / (1.0 + n / total)
            finding = bound_test(
                d.target, batch, stat, float(base.size - 1), None, critical, n,
                lambda i=i: rows.last_available(i),
                detail=f"chi-square of {column} against history's {base.size} bins",
            )  # fmt: skip
            if finding.verdict == "flag":
                seen = np.bincount(codes[own], minlength=base.size)
                over = seen > n * expected
                pick = (own & over[np.maximum(codes, 0)]) if hist.values else own
                finding.flagged_ids = batch_records(rows, key, i, pick)
            out.append(finding)
        return out

    d = make(f"distribution:{name}", "statistical", table, "chi2", check)
    return d


__all__ = ["clock_shifts", "distribution", "event_time", "references", "replays"]
