"""The structural detectors on hand-made frames: replays, orphans, clock shifts and drift.

As in ``test_gatekeeper_detectors``: a baseline learned from six clean hand-made batches, one
thing broken in a clean live batch, and the exact set of flagging detectors and listed records
asserted.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from dtg_assets.gatekeeper.baseline import Baseline
from dtg_assets.gatekeeper.findings import detect_batches
from dtg_assets.gatekeeper.structure import chi2_critical
from dtg_assets_tests.gatekeeper_frames import (
    Tables,
    detect,
    flags,
    history,
    ids,
    learn,
    live_batch,
    to_arrow,
)

TIME_COLUMNS = {
    "visitor_events": "timestamp",
    "applications": "timestamp",
    "accounts": "account_open_timestamp",
    "transactions": "timestamp",
}


@pytest.fixture(scope="module")
def baseline() -> Baseline:
    return learn(history())


@pytest.fixture
def live() -> Tables:
    return live_batch()


def test_history_has_no_replay_orphan_or_drift(baseline):
    assert {t: p.replayed_keys for t, p in baseline.tables.items()} == dict.fromkeys(
        baseline.tables, 0
    )
    assert {t: p.orphans for t, p in baseline.tables.items()} == dict.fromkeys(baseline.tables, 0)
    assert baseline.cadence.offsets_seconds == [0.0]
    assert baseline.cadence.ingestion_delay_seconds == 100.0
    # The fixture's device mix cycles over the three values (2,000 visitors per batch).
    device = baseline.histograms["visitor_events.device_type"]
    assert device.values == ["desktop", "mobile", "tablet"]
    assert sum(device.counts) == 12_000 and max(device.counts) - min(device.counts) <= 6


def test_copies_within_a_batch_flag_uniqueness_and_a_replay_flags_replays(baseline, live):
    vis = live["visitor_events"]
    # Two visitors sent twice in the same batch.
    live["visitor_events"] = pd.concat([vis, vis.iloc[[4, 9]]], ignore_index=True)
    found = detect(live, baseline)
    assert flags(found) == {"uniqueness:visitor_events.visitor_id"}
    assert ids(found, "uniqueness:visitor_events.visitor_id") == set(vis["visitor_id"][[4, 9]])
    # The same visitors replayed in a later batch of the day instead.
    later = live_batch(seed=7, hour=6)
    copies = vis.iloc[[4, 9]].assign(batch_id=later["visitor_events"]["batch_id"][0])
    later["visitor_events"] = pd.concat([later["visitor_events"], copies], ignore_index=True)
    both = {t: pd.concat([live_batch()[t], later[t]], ignore_index=True) for t in live}
    found = detect(both, baseline)
    replays = found[found["detector"] == "replays:visitor_events"].set_index("batch_id")
    assert replays["verdict"].to_dict() == {
        "live-20260331-0300": "pass",
        "live-20260331-0600": "flag",
    }
    assert set(replays.loc["live-20260331-0600", "flagged_ids"]) == set(vis["visitor_id"][[4, 9]])


def test_a_replay_of_the_previous_day_is_recognised_from_its_keys(baseline, live):
    vis = live["visitor_events"]
    prior = {"visitor_events": pa.array(list(vis["visitor_id"][:3]), pa.string())}
    found = detect_batches(to_arrow(live), baseline, prior=prior).to_pandas()
    found = found.set_index("detector", drop=False)
    assert flags(found) == {"replays:visitor_events"}
    assert ids(found, "replays:visitor_events") == set(vis["visitor_id"][:3])


def test_applications_whose_visitors_never_landed_flag_references(baseline, live):
    vis, apps = live["visitor_events"], live["applications"]
    lost = apps["visitor_id"][:8]
    live["visitor_events"] = vis[~vis["visitor_id"].isin(lost)].reset_index(drop=True)
    found = detect(live, baseline)
    # Eight fewer visitors of 2,000 move no rate: only the broken references flag.
    assert flags(found) == {"references:applications"}
    assert ids(found, "references:applications") == set(apps["app_id"][:8])


def _shift(tables: Tables, hours: float, only: tuple[str, ...] = tuple(TIME_COLUMNS)) -> None:
    for table in only:
        column = TIME_COLUMNS[table]
        tables[table][column] = tables[table][column] + pd.Timedelta(hours=hours)


def test_a_clock_shift_of_every_event_time_flags_event_time_on_every_table(baseline, live):
    _shift(live, 5)
    found = detect(live, baseline)
    tables = ("visitor_events", "applications", "accounts", "transactions")
    assert flags(found) == {f"event_time:{t}" for t in tables}
    for table, key in zip(
        tables, ("visitor_id", "app_id", "account_id", "txn_id"), strict=True
    ):  # every record of the table, whether or not its own time looks odd
        assert ids(found, f"event_time:{table}") == set(live[table][key])


def test_a_half_strength_shift_is_still_caught_and_a_few_minutes_are_not(baseline, live):
    small = live_batch()
    _shift(small, 10 / 60)
    assert flags(detect(small, baseline)) == set()
    _shift(live, 2.5)
    assert "event_time:transactions" in flags(detect(live, baseline))


def test_a_shift_of_one_table_alone_breaks_its_relation_and_stops_there(baseline, live):
    _shift(live, 5, only=("visitor_events",))
    found = detect(live, baseline)
    # The applications kept their times: they are not shifted, their visitors are.
    assert flags(found) == {"event_time:visitor_events"}


def test_stale_events_flag_ingestion_lag_with_every_record_of_every_table(baseline, live):
    _shift(live, -12)
    found = detect(live, baseline)
    tables = ("visitor_events", "applications", "accounts", "transactions")
    assert flags(found) == {f"ingestion_lag:{t}" for t in tables}
    assert ids(found, "ingestion_lag:accounts") == set(live["accounts"]["account_id"])


def test_a_device_mix_drift_flags_distribution_with_the_over_represented_records(baseline, live):
    vis = live["visitor_events"]
    rows = np.flatnonzero(vis["device_type"] != "mobile")[::2]
    vis.loc[rows, "device_type"] = "mobile"
    found = detect(live, baseline)
    assert flags(found) == {"distribution:visitor_events.device_type"}
    assert ids(found, "distribution:visitor_events.device_type") == set(
        vis.loc[vis["device_type"] == "mobile", "visitor_id"]
    )
    row = found.loc["distribution:visitor_events.device_type"]
    assert row["threshold"] == pytest.approx(chi2_critical(2, 3.4e-6 / 10), rel=1e-2)


def test_incomes_shrunk_by_a_third_flag_distribution_with_every_application(baseline, live):
    apps = live["applications"]
    apps["annual_income"] = apps["annual_income"] * 0.7
    apps["req_credit_limit"] = (apps["annual_income"] // 10).astype(int)
    found = detect(live, baseline)
    # The lowest shrunk incomes (and limits) are also below any history showed.
    low = {"range:applications.annual_income", "range:applications.req_credit_limit"}
    assert flags(found) == {"distribution:applications.annual_income"} | low
    assert ids(found, "distribution:applications.annual_income") == set(apps["app_id"])
    floor = apps["annual_income"] < 40_000 * 0.9
    assert set(apps.loc[floor, "app_id"]) <= ids(found, "range:applications.annual_income")


def test_chi2_critical_matches_known_quantiles():
    # Table values: chi-square 0.999 quantiles for 1, 4 and 9 degrees of freedom.
    assert chi2_critical(1, 0.001) == pytest.approx(10.83, rel=0.04)
    assert chi2_critical(4, 0.001) == pytest.approx(18.47, rel=0.02)
    assert chi2_critical(9, 0.001) == pytest.approx(27.88, rel=0.01)
