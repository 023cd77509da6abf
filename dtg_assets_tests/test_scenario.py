"""Tests of the scenario-level API: run_scenario, summarize, format_summary and the exports."""

from __future__ import annotations

import datetime as dt
import os

import pyarrow as pa
import pyarrow.compute as pc
import pytest

import dtg_assets.simulation as sim
from dtg_assets.simulation.config import ScenarioConfig
from dtg_assets.simulation.generate import spiked_visitors
from dtg_assets.simulation.landing import LandingZone
from dtg_assets.simulation.plan import Window, plan_day, scenario_days
from dtg_assets.simulation.scenario import format_summary, run_scenario, summarize
from dtg_assets.simulation.schemas import TABLES


def landed_files(root: str) -> list[str]:
    """Every file under a local data root, relative, sorted."""
    return sorted(
        os.path.relpath(os.path.join(d, f), root) for d, _, fs in os.walk(root) for f in fs
    )


@pytest.fixture(scope="module")
def small_run(small_config: ScenarioConfig, tmp_path_factory: pytest.TempPathFactory):
    """The small scenario written once: (root, results)."""
    root = str(tmp_path_factory.mktemp("scenario"))
    return root, run_scenario(small_config, root)


def test_runs_every_day_in_order(small_config, small_run):
    _, results = small_run
    assert [(r.day, r.window) for r in results] == scenario_days(small_config)
    assert [r.window for r in results] == [Window.HISTORICAL] * 2 + [Window.LIVE] * 2


def test_summary_matches_what_landed(small_config, small_run):
    root, results = small_run
    summary = summarize(results)
    zone = LandingZone(root)
    plans = [p for d, w in scenario_days(small_config) for p in plan_day(small_config, d, w)]
    assert summary.days == 4
    assert summary.batches == len(plans) == 2 + 2 * len(small_config.live_schedule)
    assert summary.planned_visitors == sum(p.visitors for p in plans)
    files = landed_files(root)
    for table in TABLES:
        read = sum(zone.read_day(table, w, d).num_rows for d, w in scenario_days(small_config))
        on_disk = [f for f in files if f.startswith(f"landing{os.sep}{table}{os.sep}")]
        labels = pa.concat_tables([zone.read_labels(w, d) for d, w in scenario_days(small_config)])
        labelled = pc.sum(pc.equal(labels.column("table"), table)).as_py()
        assert summary.tables[table] == sim.TableSummary(table, read, len(on_disk), labelled)
    visitors = sum(spiked_visitors(small_config, p) for p in plans)
    assert summary.tables["visitor_events"].rows == visitors
    assert sum(summary.labels_by_anomaly.values()) == summary.labels > 0
    live_anomalies = {b.anomaly.value for b in small_config.live_schedule if b.anomaly}
    assert set(summary.labels_by_anomaly) <= live_anomalies
    assert "null_burst" in summary.labels_by_anomaly


def test_rerun_replaces_and_subset_writes_only_its_days(small_config, small_run, tmp_path):
    root, results = small_run
    before = landed_files(root)
    again = run_scenario(small_config, root, days=[small_config.live_start])
    assert landed_files(root) == before  # same names: replaced, not duplicated
    assert again[0].manifest.equals(results[2].manifest)

    fresh = str(tmp_path / "subset")
    day = small_config.start_date + dt.timedelta(days=1)
    only = run_scenario(small_config, fresh, days=[(day, "historical")])
    assert [(r.day, r.window) for r in only] == [(day, Window.HISTORICAL)]
    stamps = {f.split("date=")[1][:10] for f in landed_files(fresh) if "date=" in f}
    assert min(stamps) == day.isoformat()  # nothing of the first day
    gt = [f for f in landed_files(fresh) if f.startswith("ground_truth")]
    zone = LandingZone(fresh)
    assert sorted(gt) == [
        os.path.relpath(p, fresh)
        for p in (zone.labels_path("historical", day), zone.manifest_path("historical", day))
    ]


def test_days_outside_the_scenario_or_window_are_rejected(small_config, tmp_path):
    with pytest.raises(ValueError, match="outside the scenario"):
        run_scenario(small_config, str(tmp_path), days=[small_config.end_date])
    with pytest.raises(ValueError, match="not historical"):
        run_scenario(small_config, str(tmp_path), days=[(small_config.live_start, "historical")])
    assert landed_files(str(tmp_path)) == []


def test_memory_filesystem_gives_the_same_summary(small_config, small_run):
    _, results = small_run
    days = scenario_days(small_config)[1:3]
    in_memory = run_scenario(small_config, "memory://dtg-scenario-test", days=days)
    assert summarize(in_memory) == summarize(results[1:3])


def test_format_summary_lists_tables_anomalies_and_rate(small_run):
    _, results = small_run
    summary = summarize(results)
    text = format_summary(summary, elapsed_s=2.0)
    lines = text.splitlines()
    for t in summary.tables.values():
        assert f"{t.table:<16}{t.rows:>12,}{t.files:>8,}{t.labelled:>10,}" in lines
    for anomaly, count in summary.labels_by_anomaly.items():
        assert f"{anomaly:<16}{count:>12,}" in lines
    landed = sum(t.rows for t in summary.tables.values())
    assert lines[-1] == f"elapsed 2.00 s ({landed / 2:,.0f} rows/s)"
    assert "elapsed" not in format_summary(summary)


def test_package_exports_the_public_api():
    for name in sim.__all__:
        assert getattr(sim, name) is not None, name
    assert sim.run_scenario is run_scenario
    assert {"ScenarioConfig", "BatchSpec", "AnomalyType", "plan_day", "scenario_days"} <= set(
        sim.__all__
    )
    assert {"generate_batch", "LandingZone", "run_scenario", "summarize"} <= set(sim.__all__)


def test_parallel_workers_write_the_same_bytes(small_config, small_run, tmp_path):
    root, results = small_run
    seen = []
    parallel = run_scenario(
        small_config, str(tmp_path), workers=2, progress=lambda plan, _: seen.append(plan)
    )
    assert [(r.day, r.window) for r in parallel] == [(r.day, r.window) for r in results]
    assert summarize(parallel) == summarize(results)
    assert landed_files(str(tmp_path)) == landed_files(root)
    for name in landed_files(root):
        with open(os.path.join(root, name), "rb") as a, open(tmp_path / name, "rb") as b:
            assert a.read() == b.read(), name
    plans = [p for d, w in scenario_days(small_config) for p in plan_day(small_config, d, w)]
    assert sorted(p.batch_id for p in seen) == sorted(p.batch_id for p in plans)


def test_a_scenario_at_the_end_of_the_calendar_lands_up_to_9999_12_31(tmp_path):
    config = ScenarioConfig(start_date="9999-12-05", scale=0.05)
    results = run_scenario(config, str(tmp_path))
    assert results[-1].day == dt.date(9999, 12, 25)
    dates = sorted(p.name for p in (tmp_path / "landing" / "transactions").iterdir())
    assert dates[-1] <= "date=9999-12-31" and dates[0] >= "date=9999-12-05"
    assert summarize(results).tables["transactions"].rows > 0
