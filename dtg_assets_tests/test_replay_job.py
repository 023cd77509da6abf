"""``live_replay_job``: the live window landed batch by batch, paced, checked, resumable.

The job runs in process with an injected clock whose ``sleep`` records the waits and advances it
instead of sleeping (exact waits, no timing assertion), on two live days at a small scale over
history and a baseline laid down with the engine.
"""

from __future__ import annotations

import datetime as dt

import dagster as dg
import pytest

from dtg_assets.gatekeeper import learn_baseline
from dtg_assets.gatekeeper.recording import read_recorded
from dtg_assets.gatekeeper.store import GatekeeperStore
from dtg_assets.partitions import historical_partitions
from dtg_assets.replay import build_live_replay_job, parse_speed, replay_scenario
from dtg_assets.resources import AnomalyScheduleResource, GatekeeperResource, SimulationResource
from dtg_assets.simulation import layout
from dtg_assets.simulation.config import ScenarioConfig
from dtg_assets.simulation.landing import LandingZone
from dtg_assets.simulation.plan import Window, plan_day
from dtg_assets_tests.conftest import DAGSTER_START

SCALE = 0.05
CONFIG = ScenarioConfig(start_date=DAGSTER_START, seed=42, scale=SCALE)


def test_speed_is_a_positive_number_or_max():
    assert parse_speed("max") is None
    assert parse_speed("3600") == 3600.0
    for bad in ("0", "-2", "fast", "inf"):
        with pytest.raises(dg.Failure, match=rf"^speed='{bad}': give a positive number or 'max'"):
            parse_speed(bad)


def test_days_cut_the_live_window_without_changing_a_batch():
    assert replay_scenario(CONFIG, None) is CONFIG
    two = replay_scenario(CONFIG, 2)
    assert two.live_days == 2 and two.live_start == CONFIG.live_start
    assert layout.config_hash(two, Window.LIVE) == layout.config_hash(CONFIG, Window.LIVE)
    with pytest.raises(dg.Failure, match=r"^days=0: give at least one live day"):
        replay_scenario(CONFIG, 0)


@pytest.fixture
def root(tmp_path) -> str:
    zone = LandingZone(str(tmp_path))
    days = [dt.date.fromisoformat(k) for k in historical_partitions.get_partition_keys()]
    for day in days:
        zone.write_day(CONFIG, day, Window.HISTORICAL)
    GatekeeperStore(zone).write_baseline(learn_baseline(zone, days))
    return str(tmp_path)


class FakeTime:
    """A monotonic clock that only ``sleep`` advances; records each wait."""

    def __init__(self) -> None:
        self.now = 0.0
        self.waits: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds

    def monotonic(self) -> float:
        return self.now


def _run(root: str, speed: str, clock: FakeTime) -> dg.ExecuteInProcessResult:
    job = build_live_replay_job(sleep=clock.sleep, monotonic=clock.monotonic)
    return job.execute_in_process(
        run_config={"ops": {"replay_live_window": {"config": {"speed": speed, "days": 2}}}},
        resources={
            "simulation": SimulationResource(data_root=root, scale=SCALE),
            "anomaly_schedule": AnomalyScheduleResource(),
            "gatekeeper": GatekeeperResource(),
        },
    )


def test_replay_lands_and_checks_every_batch_in_arrival_order_and_resumes(root):
    zone = LandingZone(root)
    days = [CONFIG.live_start + dt.timedelta(days=k) for k in range(2)]
    plans = [p for d in days for p in plan_day(CONFIG, d, Window.LIVE)]
    # A replay stopped after three batches: they stay as they are, the rest land after them.
    zone.write_batches(CONFIG, days[0], [0, 1, 2], window=Window.LIVE)
    first = {p: zone.fs.modified(p) for p in zone.day_files("visitor_events", "live", days[0])}
    clock = FakeTime()
    result = _run(root, "3600", clock)
    assert result.success
    landed = [
        e.materialization.metadata["batch_id"].value
        for e in result.get_asset_materialization_events()
        if e.asset_key.path[-1] == "batch_manifest"
    ]
    assert landed == [p.batch_id for p in plans[3:]]
    # Paced from the first batch still to land: 3 s apart at 3600x, the first at once.
    assert clock.waits == pytest.approx([3.0] * 12)
    for day in days:
        assert zone.landed_batches(Window.LIVE, day) == [p.batch_id for p in plans if p.day == day]
        findings = read_recorded(zone, day)
        # Findings for the batches the replay landed (the first three were landed outside it).
        replayed = {p.batch_id for p in plans[3:] if p.day == day}
        assert set(findings["batch_id"].to_pylist()) == replayed
    after = {p: zone.fs.modified(p) for p in zone.day_files("visitor_events", "live", days[0])}
    assert {p: after[p] for p in first} == first
    # Rerun: nothing left to land, nothing written.
    again = FakeTime()
    rerun = _run(root, "max", again)
    assert rerun.success and not rerun.get_asset_materialization_events() and not again.waits
