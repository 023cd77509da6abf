"""The configuration of record: a day is checked against the configuration it was written with.

A live day landed from the launchpad with a custom schedule passes every check when "Execute
checks" runs later under the default resources; only the WARN check naming the differing
fields fails, and it passes when the resources configure what the day was written with. Without
its record (a manifest that records the default configuration instead) the same day fails the
ERROR checks, as every such day did before.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dtg_assets.assets.landing import GROUND_TRUTH, asset_key
from dtg_assets.definitions import defs
from dtg_assets.resources import AnomalyScheduleResource, SimulationResource, build_scenario
from dtg_assets.simulation import layout
from dtg_assets.simulation.checks.record import config_of_record, differing_fields
from dtg_assets.simulation.config import ScenarioConfig
from dtg_assets.simulation.landing import LandingZone
from dtg_assets.simulation.plan import Window
from dtg_assets.simulation.schemas import MANIFEST_SCHEMA, TABLES
from dtg_assets.simulation.verify import verify_day
from dtg_assets_tests.conftest import HISTORICAL_DAY, LIVE_DAY, run_checks_only

SCALE = 0.05
WARN_CHECK = "config_matches_resources"
CUSTOM = [
    {"anomaly": "traffic_spike", "visitors": 4000},
    {"anomaly": None, "visitors": 6000},
    {"anomaly": "age_error", "visitors": 5000},
]


def _run_config(root, batches: list[dict] | None = None, **simulation) -> dict:
    resources: dict = {
        "simulation": {"config": {"data_root": str(root), "scale": SCALE, **simulation}}
    }
    if batches is not None:
        resources["anomaly_schedule"] = {"config": {"batches": batches}}
    return {"resources": resources}


@pytest.fixture(scope="module")
def custom_day(tmp_path_factory):
    """A data root with one live day landed (and checked) with a custom three-batch schedule."""
    root = tmp_path_factory.mktemp("custom")
    result = defs.resolve_job_def("live_job").execute_in_process(
        run_config=_run_config(root, CUSTOM),
        partition_key=LIVE_DAY.isoformat(),
        asset_selection=[asset_key(Window.LIVE, n) for n in (*TABLES, *GROUND_TRUTH)],
        raise_on_error=False,
    )
    assert result.success
    assert all(e.passed for e in result.get_asset_check_evaluations())
    [manifest] = [
        m for m in result.get_asset_materialization_events()
        if m.asset_key == asset_key(Window.LIVE, "batch_manifest")
    ]  # fmt: skip
    # The UI shows what the day was written with.
    recorded = manifest.materialization.metadata["config_of_record"].value
    assert [b["visitors"] for b in recorded["live_schedule"]] == [4000, 6000, 5000]
    return root


def _failed(result) -> dict:
    return {
        (e.asset_key.path[-1], e.check_name): e
        for e in result.get_asset_check_evaluations()
        if not e.passed
    }


def test_a_custom_schedule_day_passes_its_checks_later_under_default_resources(custom_day):
    result = run_checks_only("live_job", LIVE_DAY, run_config=_run_config(custom_day))
    assert len(result.get_asset_check_evaluations()) == 25
    failed = _failed(result)
    assert set(failed) == {("batch_manifest", WARN_CHECK)}
    warning = failed["batch_manifest", WARN_CHECK]
    assert warning.severity.value == "WARN"
    assert "differing field(s): live_schedule " in warning.description
    recorded, configured = warning.metadata["differing_fields"].value["live_schedule"]
    assert [b["visitors"] for b in recorded] == [4000, 6000, 5000]
    assert len(configured) == 8
    assert result.success  # a warning never fails the run


def test_the_same_day_under_its_own_configuration_passes_the_warning_too(custom_day):
    result = run_checks_only("live_job", LIVE_DAY, run_config=_run_config(custom_day, CUSTOM))
    assert result.success and _failed(result) == {}


def test_the_differing_fields_are_named_one_by_one(custom_day):
    # Same length, one batch changed, and a funnel rate: each leaf field is named.
    batches = [dict(b) for b in CUSTOM]
    batches[2]["anomaly"] = "fraud_spike"
    run_config = _run_config(custom_day, batches, funnel={"apply_rate": 0.3})
    result = run_checks_only("live_job", LIVE_DAY, run_config=run_config)
    failed = _failed(result)
    assert set(failed) == {("batch_manifest", WARN_CHECK)}
    warning = failed["batch_manifest", WARN_CHECK]
    assert warning.metadata["differing_fields"].value == {
        "funnel.apply_rate": [0.2, 0.3],
        "live_schedule[2].anomaly": ["age_error", "fraud_spike"],
    }
    assert "funnel.apply_rate, live_schedule[2].anomaly" in warning.description


def test_without_its_record_the_day_fails_the_error_checks(custom_day, tmp_path):
    # A copy whose manifest (and commit record, which must agree on the hash) records the
    # default configuration: the checks then verify the custom day against the default
    # schedule, and fail as every such day did before the record.
    default = build_scenario(SimulationResource(scale=SCALE), AnomalyScheduleResource())
    shutil.copytree(custom_day, tmp_path / "copy")
    copied = LandingZone(str(tmp_path / "copy"))
    text = layout.config_json(default, Window.LIVE)
    path = copied.manifest_path(Window.LIVE, LIVE_DAY)
    rows = [{**r, "config": text, "config_hash": layout.hash_of(text)}
            for r in pq.read_table(path).to_pylist()]  # fmt: skip
    pq.write_table(pa.Table.from_pylist(rows, schema=MANIFEST_SCHEMA), path)
    record = json.loads(copied.read_commit_record(Window.LIVE, LIVE_DAY))
    record["config_hash"] = layout.hash_of(text)
    Path(copied.path(layout.commit_record_file(Window.LIVE, LIVE_DAY))).write_text(
        json.dumps(record)
    )
    failed = {
        o.spec.name
        for o in verify_day(copied, default, LIVE_DAY, Window.LIVE)
        if not o.passed and o.spec.severity == "ERROR"
    }
    assert {"visitors_match_schedule", "all_scheduled_batches_present"} <= failed
    # Under its true record, the same day passes under the default resources.
    zone = LandingZone(str(custom_day))
    outcomes = verify_day(zone, default, LIVE_DAY, Window.LIVE)
    assert {o.spec.name for o in outcomes if not o.passed} == {WARN_CHECK}


def test_a_historical_day_records_no_live_schedule(tmp_path):
    config = build_scenario(SimulationResource(scale=SCALE), AnomalyScheduleResource())
    zone = LandingZone(str(tmp_path))
    zone.write_day(config, HISTORICAL_DAY, Window.HISTORICAL)
    recorded = json.loads(
        zone.read_manifest(Window.HISTORICAL, HISTORICAL_DAY)["config"][0].as_py()
    )
    assert recorded == layout.content_config(config, Window.HISTORICAL)
    assert "live_schedule" not in recorded and recorded["window"] == "historical"
    # Another live schedule cannot change a historical day: no difference to warn about.
    other = config.model_copy(update={"live_schedule": config.live_schedule[:2]})
    outcomes = verify_day(zone, other, HISTORICAL_DAY, Window.HISTORICAL)
    assert all(o.passed for o in outcomes)
    # Its volume can: named, and the day still checked against its own.
    bigger = config.model_copy(update={"historical_visitors": 6000})
    failed = {
        o.spec.name: o for o in verify_day(zone, bigger, HISTORICAL_DAY, Window.HISTORICAL)
        if not o.passed
    }  # fmt: skip
    assert list(failed) == [WARN_CHECK]
    assert failed[WARN_CHECK].metadata["differing_fields"] == {"historical_visitors": [5000, 6000]}


# --- the record itself -------------------------------------------------------------------------

BASE = ScenarioConfig(seed=3, scale=0.05)


def _manifest(*texts: str, hashes: list[str] | None = None) -> pd.DataFrame:
    return pd.DataFrame(
        {"config": list(texts), "config_hash": hashes or [layout.hash_of(t) for t in texts]}
    )


def test_the_record_replaces_what_it_records_and_keeps_the_date_range():
    written = BASE.model_copy(update={"seed": 4, "start_date": BASE.start_date})
    text = layout.config_json(written, Window.LIVE)
    moved = BASE.model_copy(update={"live_days": 3})
    scenario, record = config_of_record(_manifest(text, text), moved, Window.LIVE)
    assert scenario.seed == 4 and scenario.live_days == 3
    assert record.problem is None
    assert record.recorded == json.loads(text)
    assert record.configured == layout.content_config(moved, Window.LIVE)
    # Nothing else of the configured scenario mixes with the record.
    custom = BASE.model_copy(update={"live_schedule": BASE.live_schedule[:2]})
    historical = layout.config_json(BASE, Window.HISTORICAL)
    scenario, record = config_of_record(_manifest(historical), custom, Window.HISTORICAL)
    assert record.problem is None and scenario.live_schedule == ScenarioConfig().live_schedule


@pytest.mark.parametrize(
    ("manifest", "problem"),
    [
        (None, "no manifest: nothing was recorded"),
        (
            _manifest(layout.config_json(BASE, "live"), layout.config_json(BASE, "historical")),
            "the day's batches were written under 2 configurations",
        ),
        (
            _manifest(layout.config_json(BASE, "live"), hashes=["0" * 64]),
            "the recorded configuration does not hash to the manifest's config_hash",
        ),
        (
            _manifest(layout.config_json(BASE, "historical")),
            "the recorded configuration is unusable: it is not a live day's configuration",
        ),
        (
            _manifest('{"window":"live","scale":-1}'),
            "the recorded configuration is unusable: 1 validation error for ScenarioConfig",
        ),
    ],
    ids=["none", "several", "bad-hash", "other-window", "invalid"],
)
def test_an_unusable_record_falls_back_to_the_resources_and_says_why(manifest, problem):
    scenario, record = config_of_record(manifest, BASE, Window.LIVE)
    assert scenario is BASE and record.recorded is None
    assert record.problem == problem


def test_differing_fields_by_path():
    a = {"x": 1, "f": {"r": 0.2, "s": [1, 2]}, "l": [{"a": 1}, {"a": 2}], "only_a": 1}
    b = {"x": 1, "f": {"r": 0.3, "s": [1, 2, 3]}, "l": [{"a": 1}, {"a": 3}]}
    assert differing_fields(a, b) == {
        "f.r": [0.2, 0.3],
        "f.s": [[1, 2], [1, 2, 3]],
        "l[1].a": [2, 3],
        "only_a": [1, None],
    }
    assert differing_fields(a, a) == {}


def test_a_manifest_of_the_older_layout_is_named_with_what_to_do(custom_day, tmp_path):
    shutil.copytree(custom_day, tmp_path / "old")
    zone = LandingZone(str(tmp_path / "old"))
    path = zone.manifest_path(Window.LIVE, LIVE_DAY)
    pq.write_table(pq.read_table(path).drop_columns(["config"]), path)
    message = (
        f"{path} is a manifest of an older layout (no configuration of record or file "
        "schemas): write the day again"
    )
    with pytest.raises(ValueError) as error:
        zone.read_manifest(Window.LIVE, LIVE_DAY)
    assert str(error.value) == message
    # Every check fails with that one line; nothing crashes.
    default = build_scenario(SimulationResource(scale=SCALE), AnomalyScheduleResource())
    outcomes = verify_day(zone, default, LIVE_DAY, Window.LIVE)
    assert all(not o.passed and message in o.description for o in outcomes)
