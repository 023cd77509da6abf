"""Resources: environment-driven defaults, overrides, and every bad value rejected by name.

Both resources validate with the engine's strict models when they are built, which Dagster does
when the code location loads (values in ``Definitions``) and again when a run starts (launchpad
or CLI run config). Messages must name the field, the offending value and what is allowed.
"""

from __future__ import annotations

import re

import dagster as dg
import pytest
from pydantic import ValidationError

from dtg_assets.definitions import defs
from dtg_assets.resources import (
    AnomalyScheduleResource,
    LiveBatch,
    SimulationResource,
    build_scenario,
)
from dtg_assets.simulation.config import (
    ANOMALY_TYPES,
    DEFAULT_LIVE_SCHEDULE,
    AnomalyParams,
    AnomalyType,
    FunnelParams,
)
from dtg_assets.simulation.landing import LandingZone
from dtg_assets.simulation.plan import Window
from dtg_assets.simulation.schemas import TABLES
from dtg_assets_tests.conftest import DAGSTER_START, LIVE_DAY

# The live window's landing assets (the live job may also run others, e.g. the gatekeeper's).
LIVE_LANDING = [
    dg.AssetKey(["live", n]) for n in (*TABLES, "ground_truth_labels", "batch_manifest")
]


def _batches(*pairs) -> list[LiveBatch]:
    return [LiveBatch(anomaly=a, visitors=v) for a, v in pairs]


def _rejected(build, *patterns: str) -> str:
    """Build a resource, expect a validation error, and return its message for more asserts."""
    with pytest.raises(ValidationError) as info:
        build()
    message = str(info.value)
    for pattern in patterns:
        assert re.search(pattern, message), f"{pattern!r} not in:\n{message}"
    return message


# --- defaults and overrides -------------------------------------------------------------------


def test_defaults_are_specs_values():
    sim, schedule = SimulationResource(), AnomalyScheduleResource()
    assert sim.resolved_seed() == 42
    assert sim.resolved_data_root() == "./data"
    assert sim.scale == 1.0
    assert sim.funnel_params() == FunnelParams()
    assert schedule.live_schedule() == DEFAULT_LIVE_SCHEDULE
    assert schedule.anomalies() == AnomalyParams()
    config = build_scenario(sim, schedule)
    assert (config.start_date, config.historical_days, config.seed) == (DAGSTER_START, 14, 42)


def test_seed_and_data_root_are_read_from_the_environment_at_run_time(monkeypatch, tmp_path):
    sim = SimulationResource()  # built before the environment changes, as at code load
    monkeypatch.setenv("DTG_SEED", "7")
    monkeypatch.setenv("DTG_DATA_ROOT", str(tmp_path))
    assert sim.resolved_seed() == 7
    assert sim.resolved_data_root() == str(tmp_path)
    assert sim.zone().uri == str(tmp_path)
    assert build_scenario(sim, AnomalyScheduleResource()).seed == 7


def test_configured_values_win_over_the_environment(monkeypatch):
    monkeypatch.setenv("DTG_SEED", "7")
    monkeypatch.setenv("DTG_DATA_ROOT", "/elsewhere")
    sim = SimulationResource(seed=0, data_root="memory://dtg", funnel={"apply_rate": 0.3})
    assert sim.resolved_seed() == 0
    assert sim.resolved_data_root() == "memory://dtg"
    assert sim.funnel_params().apply_rate == 0.3
    assert sim.funnel_params().approve_rate == FunnelParams().approve_rate


def test_anomaly_param_override_keeps_the_other_defaults():
    params = AnomalyScheduleResource(anomaly_params={"null_burst": {"null_rate": 0.4}}).anomalies()
    assert params.null_burst.null_rate == 0.4
    assert params.age_error == AnomalyParams().age_error


def test_partial_run_config_override_keeps_env_seed_data_root_and_default_schedule(
    monkeypatch, tmp_path
):
    """Overriding only ``scale`` and one anomaly parameter at launch keeps everything else.

    Dagster resets the fields a run config omits to the class defaults, so the environment-driven
    seed and data root and SPEC's schedule must still apply.
    """
    monkeypatch.setenv("DTG_SEED", "7")
    monkeypatch.setenv("DTG_DATA_ROOT", str(tmp_path))
    run_config = {
        "resources": {
            "simulation": {"config": {"scale": 0.02}},
            "anomaly_schedule": {"config": {"anomaly_params": {"null_burst": {"null_rate": 1.0}}}},
        }
    }
    result = defs.resolve_job_def("live_job").execute_in_process(
        run_config=run_config, partition_key=LIVE_DAY.isoformat(), asset_selection=LIVE_LANDING
    )
    assert result.success
    zone = LandingZone(str(tmp_path))
    manifest = zone.read_manifest(Window.LIVE, LIVE_DAY).to_pylist()
    assert [m["anomaly"] for m in manifest] == [
        b.anomaly.value if b.anomaly else None for b in DEFAULT_LIVE_SCHEDULE
    ]
    assert [m["planned_visitors"] for m in manifest] == [
        int(b.visitors * 0.02 + 0.5) for b in DEFAULT_LIVE_SCHEDULE
    ]
    assert {m["seed"] for m in manifest} == {7}
    # null_rate 1.0: every visitor of the null-burst batch lost its campaign.
    visitors = zone.read_day("visitor_events", Window.LIVE, LIVE_DAY).to_pandas()
    burst = visitors[visitors["batch_id"] == manifest[1]["batch_id"]]
    assert len(burst) == manifest[1]["planned_visitors"]
    assert burst["campaign_id"].isna().all()


# --- bad values, rejected when the resource is built ------------------------------------------


def test_unknown_anomaly_is_rejected_listing_the_valid_ones():
    message = _rejected(
        lambda: AnomalyScheduleResource(batches=_batches((None, 10), ("bot_storm", 10))),
        r"batches\.1\.anomaly: unknown anomaly 'bot_storm'",
        r"\(got 'bot_storm'\)",
    )
    allowed = message.split("allowed:", 1)[1]
    for name in ANOMALY_TYPES:
        assert name in allowed


@pytest.mark.parametrize("visitors", [-5, 0])
def test_non_positive_visitors_are_rejected(visitors):
    _rejected(
        lambda: AnomalyScheduleResource(batches=_batches(("null_burst", visitors))),
        rf"batches\.0\.visitors: Input should be greater than or equal to 1 \(got {visitors}\)",
    )


def test_too_many_visitors_are_rejected():
    _rejected(
        lambda: AnomalyScheduleResource(batches=_batches((None, 50_000_001))),
        r"batches\.0\.visitors: Input should be less than or equal to 50000000 \(got 50000001\)",
    )


def test_every_bad_batch_is_reported_at_once():
    _rejected(
        lambda: AnomalyScheduleResource(
            batches=_batches(("bogus", 10), (None, 100), (None, -1), ("stale_data", 0))
        ),
        r"batches\.0\.anomaly: unknown anomaly 'bogus'",
        r"batches\.2\.visitors: .*\(got -1\)",
        r"batches\.3\.visitors: .*\(got 0\)",
    )


def test_empty_schedule_is_rejected():
    _rejected(
        lambda: AnomalyScheduleResource(batches=[]),
        r"batches: the live schedule is empty; give at least one batch",
    )


def test_normal_batch_spellings_are_accepted():
    schedule = AnomalyScheduleResource(batches=_batches(("normal", 5), ("none", 5), (None, 5)))
    assert [b.anomaly for b in schedule.live_schedule()] == [None, None, None]


@pytest.mark.parametrize(
    ("params", "pattern"),
    [
        ({"bot_storm": {}}, r"anomaly_params\.bot_storm: Extra inputs are not permitted"),
        ({"null_burst": {"rate": 0.3}}, r"anomaly_params\.null_burst\.rate: Extra inputs"),
        (
            {"null_burst": {"null_rate": 1.5}},
            r"anomaly_params\.null_burst\.null_rate: Input should be less than or equal to 1 "
            r"\(got 1\.5\)",
        ),
        (
            {"fraud_spike": {"rate": -0.1}},
            r"anomaly_params\.fraud_spike\.rate: Input should be greater than or equal to 0 "
            r"\(got -0\.1\)",
        ),
        (
            {"age_error": {"age": {"low": 16, "high": 10}}},
            r"anomaly_params\.age_error\.age: low=16 must be <= high=10",
        ),
    ],
)
def test_bad_anomaly_params_are_rejected(params, pattern):
    _rejected(lambda: AnomalyScheduleResource(anomaly_params=params), pattern)


@pytest.mark.parametrize(
    ("funnel", "pattern"),
    [
        ({"apply_rate": 1.2}, r"funnel\.apply_rate: Input should be less than or equal to 1"),
        ({"conversion": 0.2}, r"funnel\.conversion: Extra inputs are not permitted"),
    ],
)
def test_bad_funnel_params_are_rejected(funnel, pattern):
    _rejected(lambda: SimulationResource(funnel=funnel), pattern)


def test_negative_seed_is_rejected():
    _rejected(lambda: SimulationResource(seed=-1), r"seed: must be >= 0 \(got -1\)")


@pytest.mark.parametrize("scale", [0.0, -0.5])
def test_non_positive_scale_is_rejected(scale):
    _rejected(lambda: SimulationResource(scale=scale), rf"scale: must be > 0 \(got {scale}\)")


@pytest.mark.parametrize("raw", ["abc", "-3", "4.5"])
def test_bad_DTG_SEED_is_rejected_when_the_resource_is_built(monkeypatch, raw):
    monkeypatch.setenv("DTG_SEED", raw)
    _rejected(SimulationResource, rf"DTG_SEED='{re.escape(raw)}' is not a non-negative integer")


def test_scale_making_a_batch_too_big_fails_the_scenario():
    sim = SimulationResource(scale=1000.0)
    schedule = AnomalyScheduleResource(batches=_batches((None, 60_000)))
    with pytest.raises(dg.Failure, match=r"invalid scenario:\n.*scale=1000.0 makes a batch"):
        build_scenario(sim, schedule)


def test_every_anomaly_type_is_accepted_by_name():
    schedule = AnomalyScheduleResource(batches=_batches(*((a, 10) for a in ANOMALY_TYPES)))
    assert [b.anomaly for b in schedule.live_schedule()] == list(AnomalyType)


# --- bad values, rejected when a run is launched ----------------------------------------------


def _launch(run_config: dict, tmp_path) -> str:
    """Run the live job with a run config; return the run's failure text (it must fail)."""
    result = defs.resolve_job_def("live_job").execute_in_process(
        run_config=run_config,
        partition_key=LIVE_DAY.isoformat(),
        asset_selection=LIVE_LANDING,
        raise_on_error=False,
    )
    assert not result.success
    errors = [
        e.event_specific_data.error.to_string()
        for e in result.all_events
        if e.is_failure and getattr(e.event_specific_data, "error", None)
    ]
    assert errors
    return "\n".join(errors)


def test_bad_schedule_at_launch_fails_before_anything_is_written(monkeypatch, tmp_path):
    root = tmp_path / "data"
    monkeypatch.setenv("DTG_DATA_ROOT", str(root))
    bad = [{"anomaly": "bot_storm", "visitors": 100}, {"anomaly": None, "visitors": -3}]
    text = _launch({"resources": {"anomaly_schedule": {"config": {"batches": bad}}}}, tmp_path)
    assert "batches.0.anomaly: unknown anomaly 'bot_storm'; allowed:" in text
    assert "batches.1.visitors: Input should be greater than or equal to 1 (got -3)" in text
    assert not root.exists()


def test_bad_simulation_config_at_launch_fails_before_anything_is_written(monkeypatch, tmp_path):
    root = tmp_path / "data"
    monkeypatch.setenv("DTG_DATA_ROOT", str(root))
    config = {"seed": -2, "scale": 0.02}
    text = _launch({"resources": {"simulation": {"config": config}}}, tmp_path)
    assert "seed: must be >= 0 (got -2)" in text
    assert not root.exists()


def test_mistyped_run_config_is_rejected_by_dagster_before_the_run(monkeypatch, tmp_path):
    root = tmp_path / "data"
    monkeypatch.setenv("DTG_DATA_ROOT", str(root))
    bad = [{"anomaly": None, "visitors": "many"}]
    with pytest.raises(dg.DagsterInvalidConfigError, match="visitors"):
        defs.resolve_job_def("live_job").execute_in_process(
            run_config={"resources": {"anomaly_schedule": {"config": {"batches": bad}}}},
            partition_key=LIVE_DAY.isoformat(),
            asset_selection=LIVE_LANDING,
        )
    assert not root.exists()
