"""Learned ranges (``Distribution.learned_range``), the range detectors and the age floor.

The range of a column is history's extremes pushed out by a multiple of the width of their
outer tails: tight beyond a bounded column, wider beyond a long tail or a short history, exact
for a constant. The detectors built on it flag exactly the records outside, and the age floor
follows a funnel whose applicants start younger than the legal minimum.
"""

from __future__ import annotations

import numpy as np
import pytest

from dtg_assets.gatekeeper.baseline import Distribution
from dtg_assets.gatekeeper.business import age_floor
from dtg_assets.gatekeeper.detectors import build_detectors
from dtg_assets.gatekeeper.rules import RangeRule, Rules
from dtg_assets.gatekeeper.summaries import DEFAULT_PROBS
from dtg_assets_tests.gatekeeper_frames import detect, flags, history, ids, learn, live_batch


def _dist(values) -> Distribution:
    return Distribution.of(np.asarray(values, dtype=np.float64), DEFAULT_PROBS)


def test_a_bounded_column_gets_a_tight_range_just_beyond_its_extremes():
    x = np.random.default_rng(1).uniform(0.0, 100.0, 20_000)
    low, high = _dist(x).learned_range(0.01, 3.0)
    # Each outer 1 % spans about one unit: three more beyond each extreme.
    assert x.min() - 4.0 < low < x.min() and x.max() < high < x.max() + 4.0


def test_a_long_tail_gets_a_wider_margin_than_a_bounded_column_of_the_same_spread():
    rng = np.random.default_rng(2)
    bounded = rng.uniform(0.0, 1.0, 20_000)
    tailed = rng.exponential(1.0 / np.sqrt(12.0), 20_000)  # the same standard deviation
    _, high_b = _dist(bounded).learned_range(0.01, 3.0)
    _, high_t = _dist(tailed).learned_range(0.01, 3.0)
    assert high_b - bounded.max() < 0.05 < high_t - tailed.max()


def test_a_short_history_widens_the_range_and_a_constant_keeps_its_value():
    rng = np.random.default_rng(3)
    long, short = rng.uniform(0.0, 100.0, 20_000), rng.uniform(0.0, 100.0, 30)
    _, high_long = _dist(long).learned_range(0.01, 3.0, tail_records=10)
    _, high_short = _dist(short).learned_range(0.01, 3.0, tail_records=10)
    assert high_long - long.max() < 4.0 < high_short - short.max()
    assert _dist(np.full(50, 7.0)).learned_range(0.01, 3.0, 10) == (7.0, 7.0)
    assert all(np.isnan(_dist([]).learned_range(0.01, 3.0)))


def test_every_numeric_column_gets_a_range_detector_unless_disabled():
    baseline = learn(history())
    names = {d.name for d in build_detectors(baseline) if d.name.startswith("range:")}
    assert names == {
        "range:visitor_events.session_duration",
        "range:applications.applicant_age",
        "range:applications.annual_income",
        "range:applications.req_credit_limit",
        "range:accounts.approved_limit",
        "range:accounts.interest_rate",
        "range:transactions.amount",
    }
    off = Rules(range=RangeRule(enabled=False))
    assert not [d for d in build_detectors(baseline, off) if d.name.startswith("range:")]


def test_values_outside_the_range_flag_with_exactly_their_records():
    baseline = learn(history())
    live = live_batch()
    assert flags(detect(live, baseline)) == set()
    txn = live["transactions"]
    rows = [1, 4]
    txn.loc[rows, "amount"] = 5_000.0  # history's amounts stop at 500
    found = detect(live, baseline)
    assert "range:transactions.amount" in flags(found)
    assert ids(found, "range:transactions.amount") == set(txn["txn_id"][rows])
    assert found.loc["range:transactions.amount", "count"] == 2


@pytest.mark.parametrize("shift", [0, 6])
def test_the_age_floor_is_the_legal_minimum_or_history_s_youngest(shift):
    tables = history()
    tables["applications"]["applicant_age"] -= shift  # 22..64, or 16..58
    baseline = learn(tables)
    floor = age_floor(baseline, Rules())
    if shift == 0:
        assert floor == 18
    else:
        assert floor == 16  # an integer column with a well-filled tail: no margin
    live = live_batch()
    apps = live["applications"]
    apps["applicant_age"] -= shift
    apps.loc[[3, 7], "applicant_age"] = 12
    found = detect(live, baseline)
    # Normal 16- and 17-year-olds of the younger funnel are not findings; 12-year-olds are.
    assert ids(found, "min_age") == set(apps["app_id"][[3, 7]])
    assert found.loc["min_age", "record_threshold"] == floor
