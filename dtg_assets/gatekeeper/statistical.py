"""Statistical detectors: batch volume, the share of short sessions and the funnel's rates.

- ``volume``: visitors per batch within the historical median, +- the widest of a robust, a
  Poisson and a relative margin (a guard against gross failures: live batch sizes are planned);
- ``short_sessions``: sessions shorter than the baseline's definition of short, against
  history's share of them (record-level);
- ``conversion_rate``, ``approval_rate``, ``transaction_rate``: two-sided exact binomial tests
  against the pooled historical rate.

Every expected value is the baseline's (learned from this history); the rules add margins.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import pyarrow as pa

from dtg_assets.gatekeeper.baseline import Baseline
from dtg_assets.gatekeeper.business import less
from dtg_assets.gatekeeper.detector import Detector, make
from dtg_assets.gatekeeper.frames import Frames
from dtg_assets.gatekeeper.rows import last_available
from dtg_assets.gatekeeper.rules import CountRule, Rules
from dtg_assets.gatekeeper.verdicts import Finding, bound_test, count_tests, rate_test


def volume(b: Baseline, rules: Rules) -> Detector:
    rule, dist = rules.volume, b.visitors_per_batch
    median_ = dist.median or 0.0
    half = max(rule.z * dist.robust_sd, rule.z * math.sqrt(median_), rule.tolerance * median_)

    def check(f: Frames, _: Mapping[str, pa.Schema]) -> list[Finding]:
        vis = f["visitor_events"]
        return [
            bound_test(
                d.target, batch, float(n), median_, median_ - half, median_ + half, int(n),
                lambda i=i: last_available(i, vis), detail="visitors in the batch",
            )
            for i, (batch, n) in enumerate(zip(f.batches, vis.sizes, strict=True))
        ]  # fmt: skip

    d = make("volume", "statistical", "visitor_events", "visitors", check)
    return d


def short_sessions(b: Baseline, rule: CountRule) -> Detector:
    cut, base = b.config.short_session_seconds, b.short_sessions

    def check(f: Frames, _: Mapping[str, pa.Schema]) -> list[Finding]:
        vis = f["visitor_events"]
        bad = less(vis.floats("session_duration"), cut)
        return count_tests(
            d.target, f.batches, vis, bad, "visitor_id", (base.successes, base.trials), rule.z,
            rule.min_count, record_threshold=cut, detail=f"session_duration < {cut:g} s",
        )  # fmt: skip

    d = make("short_sessions", "statistical", "visitor_events", "short_session_rate", check)
    return d


def rate(name: str, table: str, b: Baseline, rules: Rules) -> Detector:
    rate, rule = getattr(b, name.removesuffix("_rate")), getattr(rules, name)

    def check(f: Frames, _: Mapping[str, pa.Schema]) -> list[Finding]:
        vis, apps, acc = f["visitor_events"], f["applications"], f["accounts"]
        if name == "conversion_rate":
            ks, ns, seen = apps.sizes, vis.sizes, (vis, apps)
        elif name == "approval_rate":
            ks = apps.count(apps.equals("application_status", "approved"))
            ns, seen = apps.sizes, (apps,)
        else:
            ks, ns, seen = acc.count(acc.derived["_transacts"]), acc.sizes, (acc, f["transactions"])
        return [
            rate_test(
                d.target, batch, int(k), int(n), (rate.successes, rate.trials), rule.z,
                lambda i=i: last_available(i, *seen),
                detail=f"{name.replace('_', ' ')} vs {rate.rate:.4f} in history",
            )
            for i, (batch, k, n) in enumerate(zip(f.batches, ks, ns, strict=True))
        ]  # fmt: skip

    d = make(name, "statistical", table, name, check)
    return d
