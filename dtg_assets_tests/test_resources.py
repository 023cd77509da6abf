"""Resources: typed config, environment-driven defaults, overrides, and bad values refused.

Dagster's config schema (checked when a run is launched, as the launchpad does) refuses wrong
types, unknown keys and unknown anomalies; the engine's strict models refuse values out of range
when the resource is built, which Dagster does when the code location loads (values in
``Definitions``) and again when a run starts. Either message names the field, the offending
value and what is allowed, in one line.
"""

from __future__ import annotations

import re
from pathlib import Path

import dagster as dg
import pytest
import yaml

from dtg_assets.definitions import defs
from dtg_assets.gatekeeper import BaselineConfig, Rules
from dtg_assets.resource_config import (
    AnomalyParamsConfig,
    BaselineSettingsConfig,
    FunnelConfig,
    RulesConfig,
    engine_model,
)
from dtg_assets.resources import (
    AnomalyScheduleResource,
    GatekeeperResource,
    LiveBatch,
    SimulationResource,
    build_scenario,
)
from dtg_assets.settings import MAX_SEED
from dtg_assets.simulation.config import (
    ANOMALY_TYPES,
    DEFAULT_LIVE_SCHEDULE,
    AnomalyParams,
    AnomalyType,
    FunnelParams,
    ScenarioConfig,
)
from dtg_assets.simulation.landing import LandingZone
from dtg_assets.simulation.plan import Window, plan_day
from dtg_assets.simulation.schemas import TABLES
from dtg_assets_tests.conftest import DAGSTER_START, LIVE_DAY

# The live window's landing assets (the live job may also run others, e.g. the gatekeeper's).
LIVE_LANDING = [
    dg.AssetKey(["live", n]) for n in (*TABLES, "ground_truth_labels", "batch_manifest")
]


def _batches(*pairs) -> list[LiveBatch]:
    return [LiveBatch(anomaly=a, visitors=v) for a, v in pairs]


def _rejected(build, *patterns: str) -> str:
    """Build a resource, expect one Failure line naming every problem, and return it."""
    with pytest.raises(dg.Failure) as info:
        build()
    message = info.value.description
    assert "\n" not in message and "pydantic" not in message, message
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


# --- the typed config schema: what the launchpad validates and shows ------------------------


def _walk_fields(config_type, path=""):
    """Every field of a Dagster config type, as ``(path, field)``."""
    for name, field in getattr(config_type, "fields", {}).items():
        yield f"{path}{name}", field
        yield from _walk_fields(_unwrap(field.config_type), f"{path}{name}.")


def _unwrap(config_type):
    """The element type of an array or a nullable value (recursively)."""
    while getattr(config_type, "inner_type", None) is not None:
        config_type = config_type.inner_type
    return config_type


@pytest.mark.parametrize("key", ["simulation", "anomaly_schedule", "gatekeeper"])
def test_every_config_field_has_a_description_and_no_rst_or_spec_reference(key):
    resource = defs.resources[key].get_resource_definition()
    fields = list(_walk_fields(resource.config_schema.config_type))
    assert len(fields) > 5
    undescribed = [path for path, field in fields if not field.description]
    assert undescribed == []
    # Markdown: an indented line would render as a code block.
    assert not any(line.startswith(" ") for line in resource.description.splitlines())
    texts = [resource.description] + [field.description for _, field in fields]
    for text in texts:
        assert "SPEC.md" not in text and "``" not in text and ":class:" not in text, text


def test_launchpad_offers_the_anomalies_as_an_enum():
    schema = defs.resources["anomaly_schedule"].get_resource_definition().config_schema.config_type
    batch = _unwrap(schema.fields["batches"].config_type)
    anomaly = batch.fields["anomaly"].config_type
    assert anomaly.kind.value == "NONEABLE"  # null is a normal batch
    anomaly = _unwrap(anomaly)
    assert [v.config_value for v in anomaly.enum_values] == list(ANOMALY_TYPES)


@pytest.mark.parametrize(
    ("engine", "config"),
    [
        (FunnelParams, FunnelConfig),
        (AnomalyParams, AnomalyParamsConfig),
        (Rules, RulesConfig),
        (BaselineConfig, BaselineSettingsConfig),
    ],
)
def test_typed_config_mirrors_the_engine_models_defaults(engine, config):
    assert engine_model(engine, config()) == engine()
    assert set(config.model_fields) == set(engine.model_fields)


def _validate(run_config: dict) -> None:
    dg.validate_run_config(defs.resolve_job_def("live_job"), run_config)


def _schedule(batches: list[dict]) -> dict:
    return {"resources": {"anomaly_schedule": {"config": {"batches": batches}}}}


def test_launch_validation_refuses_an_unknown_anomaly_by_path():
    with pytest.raises(dg.DagsterInvalidConfigError) as info:
        _validate(_schedule([{"anomaly": "null_burst", "visitors": 5},
                             {"anomaly": "bot_storm", "visitors": 5}]))  # fmt: skip
    message = str(info.value)
    assert "anomaly_schedule:config:batches[1]:anomaly" in message
    assert "not in enum type Anomaly got bot_storm" in message


@pytest.mark.parametrize(
    ("run_config", "expected"),
    [
        (_schedule([{"anomaly": None, "visitors": "many"}]), "batches[0]:visitors"),
        (_schedule([{"anomaly": None}]), 'Missing required config entry "visitors"'),
        (
            {"resources": {"simulation": {"config": {"funnel": {"conversion": 0.2}}}}},
            'Received unexpected config entry "conversion" at path root:resources:simulation'
            ":config:funnel",
        ),
        (
            {"resources": {"gatekeeper": {"config": {"rules": {"volume": {"z": "high"}}}}}},
            "rules:volume:z",
        ),
    ],
)
def test_launch_validation_refuses_wrong_types_and_unknown_keys(run_config, expected):
    with pytest.raises(dg.DagsterInvalidConfigError, match=re.escape(expected)):
        _validate(run_config)


def test_launch_validation_accepts_partial_typed_overrides():
    _validate(
        {
            "resources": {
                "simulation": {"config": {"scale": 0.5, "funnel": {"apply_rate": 0.3}}},
                "anomaly_schedule": {"config": {"anomaly_params": {"stale_data": {}}}},
            }
        }
    )


def _run_live(run_config: dict) -> dg.ExecuteInProcessResult:
    """The live landing of one day with a run config, in process, failures kept in the result."""
    return defs.resolve_job_def("live_job").execute_in_process(
        run_config=run_config,
        partition_key=LIVE_DAY.isoformat(),
        asset_selection=LIVE_LANDING,
        raise_on_error=False,
    )


def test_out_of_range_values_pass_the_schema_but_fail_the_run_start_in_one_line(
    monkeypatch, tmp_path
):
    """Dagster's config schema has no numeric bounds: -5 visitors is a valid ``Int`` there.

    The engine refuses it when the run builds the resource, before anything is written, as one
    Failure line without pydantic's rendering.
    """
    run_config = _schedule([{"anomaly": "null_burst", "visitors": -5}])
    _validate(run_config)  # accepted at launch: only types, keys and enums are checked there
    root = tmp_path / "data"
    monkeypatch.setenv("DTG_DATA_ROOT", str(root))
    result = _run_live(run_config)
    assert not result.success
    [init] = [e for e in result.all_events if e.event_type_value == "RESOURCE_INIT_FAILURE"]
    error = init.event_specific_data.error
    assert error.cls_name == "Failure" and error.cause is None
    assert error.message == (
        "dagster._core.definitions.events.Failure: invalid anomaly_schedule config: "
        "batches.0.visitors=-5: Input should be greater than or equal to 1\n"
    )
    assert not root.exists()


# --- bad values, refused when the resource is built ---------------------------------------


def test_visitors_out_of_range_are_rejected_one_line_naming_each_batch():
    _rejected(
        lambda: AnomalyScheduleResource(
            batches=_batches(("null_burst", -5), (None, 100), ("stale_data", 0), (None, 50_000_001))
        ),
        r"^invalid anomaly_schedule config: batches\.0\.visitors=-5: Input should be greater "
        r"than or equal to 1; batches\.2\.visitors=0: .*; batches\.3\.visitors=50000001: Input "
        r"should be less than or equal to 50000000$",
    )


def test_unknown_anomaly_in_code_is_refused_by_the_enum():
    with pytest.raises(ValueError, match="Input should be 'null_burst', 'age_error'"):
        LiveBatch(anomaly="bot_storm", visitors=10)


def test_empty_schedule_is_rejected():
    _rejected(
        lambda: AnomalyScheduleResource(batches=[]),
        r"batches: the live schedule is empty; give at least one batch",
    )


@pytest.mark.parametrize(
    ("params", "pattern"),
    [
        (
            {"null_burst": {"null_rate": 1.5}},
            r"anomaly_params\.null_burst\.null_rate=1\.5: Input should be less than or equal to 1",
        ),
        (
            {"fraud_spike": {"rate": -0.1}},
            r"anomaly_params\.fraud_spike\.rate=-0\.1: Input should be greater than or equal to 0",
        ),
        (
            {"age_error": {"age": {"low": 16, "high": 10}}},
            r"anomaly_params\.age_error\.age: low=16 must be <= high=10",
        ),
    ],
)
def test_bad_anomaly_params_are_rejected(params, pattern):
    _rejected(lambda: AnomalyScheduleResource(anomaly_params=params), pattern)


def test_unknown_keys_in_code_are_refused():
    with pytest.raises(ValueError, match=r"bot_storm\n  Extra inputs are not permitted"):
        AnomalyScheduleResource(anomaly_params={"bot_storm": {}})
    with pytest.raises(ValueError, match=r"conversion\n  Extra inputs are not permitted"):
        SimulationResource(funnel={"conversion": 0.2})


def test_bad_funnel_and_gatekeeper_values_are_rejected():
    _rejected(
        lambda: SimulationResource(funnel={"apply_rate": 1.2}),
        r"funnel\.apply_rate=1\.2: Input should be less than or equal to 1",
    )
    _rejected(
        lambda: GatekeeperResource(rules={"volume": {"tolerance": -1}}),
        r"^invalid gatekeeper config: rules\.volume\.tolerance=-1\.0: Input should be greater",
    )


def test_every_problem_of_a_resource_is_reported_at_once():
    _rejected(
        lambda: SimulationResource(seed=-2, scale=0, funnel={"apply_rate": 1.5}),
        r"^invalid simulation config: seed=-2 is not a valid seed: expected a whole number from "
        r"0 to 9223372036854775807 in the digits 0-9; funnel\.apply_rate=1\.5: .*; scale=0\.0: "
        r"Input should be greater than 0$",
    )


@pytest.mark.parametrize("scale", [0.0, -0.5, 1001.0])
def test_scale_out_of_range_is_rejected(scale):
    _rejected(lambda: SimulationResource(scale=scale), rf"scale={scale}: Input should be")


# --- the seed: one parser, the engine's range ---------------------------------------------

BAD_SEEDS = ["abc", "-3", "4.5", "²", "٣", "9223372036854775808", "99999999999999999999999"]


@pytest.mark.parametrize("raw", BAD_SEEDS)
def test_bad_DTG_SEED_is_rejected_when_the_resource_is_built(monkeypatch, raw):
    monkeypatch.setenv("DTG_SEED", raw)
    _rejected(
        SimulationResource,
        rf"^invalid simulation config: DTG_SEED='{re.escape(raw)}' is not a valid seed: "
        r"expected a whole number from 0 to 9223372036854775807 in the digits 0-9$",
    )


def test_the_largest_seed_is_the_engines():
    assert ScenarioConfig(seed=MAX_SEED).seed == MAX_SEED
    with pytest.raises(ValueError, match="less than or equal to"):
        ScenarioConfig(seed=MAX_SEED + 1)
    assert SimulationResource(seed=MAX_SEED).resolved_seed() == MAX_SEED
    _rejected(lambda: SimulationResource(seed=MAX_SEED + 1), r"seed=9223372036854775808 is not")


def test_DTG_SEED_changed_after_load_fails_the_run_start_before_writing(monkeypatch, tmp_path):
    root = tmp_path / "data"
    monkeypatch.setenv("DTG_DATA_ROOT", str(root))
    monkeypatch.setenv("DTG_SEED", "99999999999999999999999")  # the definitions are loaded
    text = _launch({"resources": {"simulation": {"config": {"scale": 0.02}}}}, tmp_path)
    assert "DTG_SEED='99999999999999999999999' is not a valid seed" in text
    assert not root.exists()


def test_scale_making_a_batch_too_big_fails_the_scenario():
    sim = SimulationResource(scale=1000.0)
    schedule = AnomalyScheduleResource(batches=_batches((None, 60_000)))
    with pytest.raises(dg.Failure, match=r"^invalid scenario: scale=1000.0 makes a batch"):
        build_scenario(sim, schedule)


def test_every_anomaly_type_is_accepted_by_name():
    schedule = AnomalyScheduleResource(batches=_batches(*((a, 10) for a in ANOMALY_TYPES)))
    assert [b.anomaly for b in schedule.live_schedule()] == list(AnomalyType)


# --- bad values, rejected when a run is launched ----------------------------------------------


def _launch(run_config: dict, tmp_path) -> str:
    """Run the live job with a run config; return the run's failure text (it must fail)."""
    result = _run_live(run_config)
    assert not result.success
    errors = [
        e.event_specific_data.error.to_string()
        for e in result.all_events
        if e.is_failure and getattr(e.event_specific_data, "error", None)
    ]
    assert errors
    return "\n".join(errors)


def test_bad_simulation_config_at_launch_fails_before_anything_is_written(monkeypatch, tmp_path):
    root = tmp_path / "data"
    monkeypatch.setenv("DTG_DATA_ROOT", str(root))
    config = {"seed": -2, "scale": 0.02}
    text = _launch({"resources": {"simulation": {"config": config}}}, tmp_path)
    assert "invalid simulation config: seed=-2 is not a valid seed" in text
    assert not root.exists()


def test_the_readmes_run_config_examples_pass_launch_validation():
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    examples = [yaml.safe_load(b) for b in re.findall(r"```yaml\n(.*?)```", readme, re.S)]
    examples = [e for e in examples if isinstance(e, dict) and "resources" in e]
    assert len(examples) >= 2
    for example in examples:
        _validate(example)


def test_DTG_START_DATE_changed_after_load_fails_the_scenario_in_one_line(monkeypatch):
    monkeypatch.setenv("DTG_START_DATE", "2026-02-30")
    with pytest.raises(dg.Failure) as info:
        build_scenario(SimulationResource(), AnomalyScheduleResource())
    assert info.value.description == (
        "invalid scenario: DTG_START_DATE='2026-02-30' is not a date; expected an ISO date "
        "YYYY-MM-DD"
    )


# --- scenario presets and batches with several anomalies --------------------------------------


def test_scenario_preset_builds_the_extended_week():
    schedule = AnomalyScheduleResource(scenario="extended")
    config = build_scenario(SimulationResource(), schedule)
    assert config.scenario == "extended" and len(config.live_week) == 7
    quiet = build_scenario(SimulationResource(), AnomalyScheduleResource(scenario="quiet"))
    assert all(not b.kinds for b in quiet.live_schedule)


def test_a_preset_beside_custom_batches_is_refused_in_one_line():
    with pytest.raises(dg.Failure) as exc:
        AnomalyScheduleResource(scenario="quiet", batches=_batches((None, 10)))
    assert exc.value.description == (
        "invalid anomaly_schedule config: scenario=quiet: the preset sets the live schedule "
        "itself; give either scenario or batches (scenario default keeps the batches you give)"
    )


def test_launchpad_accepts_a_preset_and_several_anomalies_per_batch():
    _validate({"resources": {"anomaly_schedule": {"config": {"scenario": "extended"}}}})
    batches = [{"anomalies": ["null_burst", "schema_drift"], "visitors": 10}]
    _validate({"resources": {"anomaly_schedule": {"config": {"batches": batches}}}})
    with pytest.raises(dg.DagsterInvalidConfigError, match="busy"):
        _validate({"resources": {"anomaly_schedule": {"config": {"scenario": "busy"}}}})
    schedule = AnomalyScheduleResource(
        batches=[LiveBatch(anomalies=["fraud_spike", "timezone_shift"], visitors=10)]
    )
    assert schedule.live_schedule()[0].names == ["fraud_spike", "timezone_shift"]


def test_disagreeing_anomaly_and_anomalies_are_refused_naming_the_batch():
    with pytest.raises(dg.Failure, match=r"batches\.0.*disagree"):
        AnomalyScheduleResource(
            batches=[LiveBatch(anomaly="null_burst", anomalies=["age_error"], visitors=10)]
        )


def test_extended_preset_lands_a_live_day_through_dagster(tmp_path, monkeypatch):
    monkeypatch.setenv("DTG_DATA_ROOT", str(tmp_path))
    result = _run_live(
        {
            "resources": {
                "simulation": {"config": {"scale": 0.02}},
                "anomaly_schedule": {"config": {"scenario": "extended"}},
            }
        }
    )
    assert result.success
    zone = LandingZone(str(tmp_path))
    manifest = zone.read_manifest("live", LIVE_DAY)
    config = build_scenario(
        SimulationResource(scale=0.02), AnomalyScheduleResource(scenario="extended")
    )
    expected = [p.anomaly_label for p in plan_day(config, LIVE_DAY)]
    assert manifest["anomaly"].to_pylist() == expected
