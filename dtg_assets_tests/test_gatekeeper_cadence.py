"""Missing batches from the arrival cadence: the grid learned, its empty slots named.

History (hand-made: one batch a day at midnight) gives the grid's phase; the tests feed the
batch ids that arrived on a live day and assert the missing batches flagged, by the id their
writer would have given them.
"""

from __future__ import annotations

import datetime as dt

import pytest

from dtg_assets.gatekeeper.baseline import Baseline
from dtg_assets.gatekeeper.cadence import cadence_findings
from dtg_assets.gatekeeper.rules import CadenceRule
from dtg_assets.simulation.config import ScenarioConfig
from dtg_assets.simulation.layout import Window
from dtg_assets.simulation.plan import plan_day
from dtg_assets_tests.gatekeeper_frames import history, learn

DAY = dt.date(2026, 3, 31)


@pytest.fixture(scope="module")
def baseline() -> Baseline:
    return learn(history())


def ids(hours: list[int]) -> list[str]:
    return [f"live-20260331-{h:02d}00" for h in hours]


def missing(found) -> list[str]:
    return sorted(f.batch_id for f in found if f.verdict == "flag")


def test_a_full_day_has_no_missing_batch(baseline):
    found = cadence_findings(ids(list(range(0, 24, 3))), DAY, "live", baseline, CadenceRule())
    assert missing(found) == [] and len(found) == 8
    assert {f.detail for f in found} == {"8 evenly spaced batches a day"}


@pytest.mark.parametrize("lost", [0, 9, 21])
def test_a_lost_batch_is_named_first_middle_or_last(baseline, lost):
    hours = [h for h in range(0, 24, 3) if h != lost]
    found = cadence_findings(ids(hours), DAY, "live", baseline, CadenceRule())
    assert missing(found) == ids([lost])
    [flag] = [f for f in found if f.verdict == "flag"]
    # Overdue once its slot, history's ingestion delay and the tolerance have passed.
    start = dt.datetime.combine(DAY, dt.time(lost), tzinfo=dt.UTC)
    assert flag.evidence_at == start + dt.timedelta(seconds=100 + 90)


def test_a_grid_of_seven_is_found_from_minute_ids_and_named_as_the_writer_names_it(baseline):
    config = ScenarioConfig(
        start_date=DAY - dt.timedelta(days=14),
        live_schedule=[{"anomaly": None, "visitors": 100}] * 7,
    )
    planned = [p.batch_id for p in plan_day(config, DAY, Window.LIVE)]
    found = cadence_findings(planned[:3] + planned[4:], DAY, "live", baseline, CadenceRule())
    assert missing(found) == [planned[3]]


def test_arrivals_off_every_grid_flag_nothing(baseline):
    rule = CadenceRule(max_batches_per_day=12)
    found = cadence_findings([*ids([0]), "live-20260331-0117"], DAY, "live", baseline, rule)
    assert missing(found) == []
    assert {f.detail for f in found} == {"arrivals fit no even grid"}


def test_every_other_batch_lost_looks_like_a_coarser_grid(baseline):
    # A documented limit: slots 3, 9, 15 and 21 lost leave a full grid of four.
    found = cadence_findings(ids([0, 6, 12, 18]), DAY, "live", baseline, CadenceRule())
    assert missing(found) == []
