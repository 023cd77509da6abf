"""Tests of the strict scenario configuration: SPEC defaults and every bad-config error.

Each bad value must fail at construction with exactly one error, located at the offending field,
whose message shows the value and what is allowed.
"""

from __future__ import annotations

import datetime as dt

import pytest
from pydantic import ValidationError

from dtg_assets.simulation.config import (
    ANOMALY_TYPES,
    DEFAULT_LIVE_SCHEDULE,
    MAX_BATCH_VISITORS,
    AnomalyType,
    BatchSpec,
    FunnelParams,
    ScenarioConfig,
    default_start_date,
)
from dtg_assets.simulation.errors import format_validation_error


def single_error(exc: pytest.ExceptionInfo[ValidationError]) -> tuple[str, str]:
    """The one error of a validation failure as ``(dotted location, full message)``."""
    errors = exc.value.errors()
    assert len(errors) == 1, f"expected one specific error, got {errors}"
    loc = ".".join(str(p) for p in errors[0]["loc"])
    return loc, str(exc.value)


def test_scenario_defaults_are_spec():
    before = dt.datetime.now(dt.UTC).date()
    config = ScenarioConfig()
    after = dt.datetime.now(dt.UTC).date()
    assert config.historical_days == 14
    assert config.live_days == 7
    assert config.historical_visitors == 5000
    assert config.seed == 42
    assert config.scale == 1.0
    assert config.start_date in {d - dt.timedelta(days=21) for d in (before, after)}
    assert default_start_date(dt.date(2026, 3, 1)) == dt.date(2026, 2, 8)
    schedule = [(b.anomaly, b.visitors) for b in config.live_schedule]
    assert schedule == [
        (None, 4500),
        (AnomalyType.NULL_BURST, 5000),
        (AnomalyType.AGE_ERROR, 5500),
        (None, 4800),
        (AnomalyType.TRAFFIC_SPIKE, 2000),
        (AnomalyType.FRAUD_SPIKE, 5200),
        (AnomalyType.LIMIT_SPIKE, 5300),
        (AnomalyType.STALE_DATA, 4800),
    ]
    assert config.live_schedule == DEFAULT_LIVE_SCHEDULE


def test_funnel_defaults_are_spec():
    f = FunnelParams()
    ranges = {
        "visitor_offset_seconds": (1, 99),
        "campaign_number": (100, 998),
        "applicant_age": (22, 64),
        "annual_income": (40_000, 149_999),
        "application_lag_minutes": (1, 14),
        "limit_factor": (0.8, 1.2),
        "interest_rate": (14.99, 29.99),
        "account_lag_hours": (2, 23),
        "transactions_per_account": (1, 4),
        "amount": (5.0, 500.0),
        "transaction_lag_days": (1, 4),
        "transaction_lag_minutes": (0, 1439),
    }
    for name, (low, high) in ranges.items():
        r = getattr(f, name)
        assert (r.low, r.high) == (low, high), name
    assert (f.session_mean_seconds, f.session_sd_seconds, f.session_min_seconds) == (30, 10, 0.1)
    assert (f.apply_rate, f.approve_rate, f.reject_share, f.transact_rate) == (0.2, 0.6, 0.9, 0.1)
    assert f.minimum_age == 18


def test_anomaly_defaults_are_spec():
    a = ScenarioConfig().anomalies
    assert a.null_burst.null_rate == 0.25
    assert a.age_error.rate == 0.15
    assert (a.age_error.age.low, a.age_error.age.high) == (10, 16)
    assert a.traffic_spike.visitor_multiplier == 2.5
    assert a.traffic_spike.bot_rate == 0.8
    bots = a.traffic_spike.bot_session_seconds
    assert (bots.low, bots.high) == (0.1, 1.0)
    assert a.fraud_spike.rate == 0.05
    assert (a.fraud_spike.limit_share.low, a.fraud_spike.limit_share.high) == (0.7, 0.9)
    assert a.limit_spike.rate == 0.10
    assert (a.limit_spike.income_share.low, a.limit_spike.income_share.high) == (0.6, 0.9)
    assert a.stale_data.delay_hours == 12
    assert a.conversion_drop.apply_rate == 0.05


def test_valid_values_are_accepted():
    config = ScenarioConfig.model_validate(
        {
            "start_date": "2028-02-29",
            "seed": 0,
            "historical_visitors": MAX_BATCH_VISITORS,
            "funnel": {"apply_rate": 0.0, "approve_rate": 1.0},
            "anomalies": {"null_burst": {"null_rate": 1.0}},
            "live_schedule": [
                {"anomaly": None, "visitors": 1},
                {"anomaly": "normal", "visitors": 2},
                {"anomaly": "conversion_drop", "visitors": MAX_BATCH_VISITORS},
            ],
        }
    )
    assert config.start_date == dt.date(2028, 2, 29)
    assert [b.anomaly for b in config.live_schedule] == [None, None, "conversion_drop"]
    assert config.live_schedule[2].anomaly is AnomalyType.CONVERSION_DROP


def test_unknown_anomaly_lists_the_valid_ones():
    with pytest.raises(ValidationError) as exc:
        ScenarioConfig(live_schedule=[{"anomaly": "bogus_spike", "visitors": 10}])
    loc, message = single_error(exc)
    assert loc == "live_schedule.0.anomaly"
    assert "bogus_spike" in message
    for name in ANOMALY_TYPES:
        assert name in message
    with pytest.raises(ValidationError) as exc:
        BatchSpec(anomaly="Null_Burst ", visitors=10)
    assert single_error(exc)[0] == "anomaly"


@pytest.mark.parametrize(
    ("visitors", "allowed"),
    [
        (0, "greater than or equal to 1"),
        (-5, "greater than or equal to 1"),
        (MAX_BATCH_VISITORS + 1, "less than or equal to 50000000"),
    ],
)
def test_visitors_out_of_range(visitors: int, allowed: str):
    with pytest.raises(ValidationError) as exc:
        ScenarioConfig(live_schedule=[{"anomaly": None, "visitors": visitors}])
    loc, message = single_error(exc)
    assert loc == "live_schedule.0.visitors"
    assert f"input_value={visitors}" in message and allowed in message
    with pytest.raises(ValidationError) as exc:
        ScenarioConfig(historical_visitors=visitors)
    loc, message = single_error(exc)
    assert loc == "historical_visitors"
    assert f"input_value={visitors}" in message and allowed in message


PROBABILITIES = [
    ("funnel", "apply_rate"),
    ("funnel", "approve_rate"),
    ("funnel", "reject_share"),
    ("funnel", "transact_rate"),
    ("anomalies", "null_burst", "null_rate"),
    ("anomalies", "age_error", "rate"),
    ("anomalies", "traffic_spike", "bot_rate"),
    ("anomalies", "fraud_spike", "rate"),
    ("anomalies", "limit_spike", "rate"),
    ("anomalies", "conversion_drop", "apply_rate"),
]


def nested(path: tuple[str, ...], value: object) -> dict:
    """``("a", "b", "c"), v`` -> ``{"a": {"b": {"c": v}}}``."""
    out: object = value
    for key in reversed(path):
        out = {key: out}
    return out


@pytest.mark.parametrize("path", PROBABILITIES, ids=".".join)
@pytest.mark.parametrize(
    ("value", "allowed"),
    [(-0.01, "greater than or equal to 0"), (1.01, "less than or equal to 1")],
)
def test_probability_outside_unit_interval(path: tuple[str, ...], value: float, allowed: str):
    with pytest.raises(ValidationError) as exc:
        ScenarioConfig(**nested(path, value))
    loc, message = single_error(exc)
    assert loc == ".".join(path)
    assert f"input_value={value}" in message and allowed in message


@pytest.mark.parametrize("path", PROBABILITIES, ids=".".join)
def test_probability_bounds_are_inclusive(path: tuple[str, ...]):
    for value in (0.0, 1.0):
        config = ScenarioConfig(**nested(path, value))
        obj = config
        for key in path:
            obj = getattr(obj, key)
        assert obj == value


def test_empty_schedule():
    with pytest.raises(ValidationError) as exc:
        ScenarioConfig(live_schedule=[])
    loc, message = single_error(exc)
    assert loc == "live_schedule"
    assert "at least 1" in message


def test_bad_batch_does_not_also_report_an_empty_schedule():
    # One bad batch among good ones is one error about that batch, not a claim the list is empty.
    with pytest.raises(ValidationError) as exc:
        ScenarioConfig(live_schedule=[{"visitors": 10}, {"visitors": 0}])
    assert single_error(exc)[0] == "live_schedule.1.visitors"


def test_too_many_batches_a_day():
    with pytest.raises(ValidationError) as exc:
        ScenarioConfig(live_schedule=[{"visitors": 1}] * 1441)
    loc, message = single_error(exc)
    assert loc == "live_schedule"
    assert "1440" in message


@pytest.mark.parametrize("value", ["2026-13-01", "yesterday", "2026/01/05", "", "2026-02-30"])
def test_unparseable_date(value: str):
    with pytest.raises(ValidationError) as exc:
        ScenarioConfig(start_date=value)
    loc, message = single_error(exc)
    assert loc == "start_date"
    assert repr(value) in message and "YYYY-MM-DD" in message


# The default scenario: 21 days, stale_data moving events up to 1 day back, transactions
# landing up to 6 days after their batch's day (24 h + 99 s + 14 min + 23 h + 4 d + 1439 min).
@pytest.mark.parametrize(
    "value", ["9999-12-25", "9999-12-10", "9999-12-06", "0001-01-01", "0999-12-31", "1000-01-01"]
)
def test_a_scenario_must_fit_four_digit_years(value: str):
    with pytest.raises(ValidationError) as exc:
        ScenarioConfig(start_date=value)
    loc, message = single_error(exc)
    assert loc == ""
    assert f"start_date={value}:" in message
    assert "1000-01-01..9999-12-31" in message
    assert "must be between 1000-01-02 and 9999-12-05" in message


@pytest.mark.parametrize("value", ["1000-01-02", "9999-12-05"])
def test_the_calendar_ends_are_accepted(value: str):
    assert ScenarioConfig(start_date=value).start_date.isoformat() == value


def test_the_allowed_dates_follow_the_lags_and_the_stale_delay():
    # Transactions up to 31 days + 1439 min after the account: 33 days past the batch's day;
    # no stale_data in the schedule, so nothing lands before the first day.
    config = {
        "funnel": {"transaction_lag_days": {"low": 1, "high": 31}},
        "live_schedule": [{"visitors": 10}],
        "historical_days": 1,
        "live_days": 1,
    }
    assert ScenarioConfig(start_date="1000-01-01", **config).event_margins == (0, 33)
    ScenarioConfig(start_date="9999-11-27", **config)
    with pytest.raises(ValidationError, match="between 1000-01-01 and 9999-11-27"):
        ScenarioConfig(start_date="9999-11-28", **config)
    stale = {"anomalies": {"stale_data": {"delay_hours": 49}}}
    with pytest.raises(ValidationError, match="between 1000-01-04 and 9999-12-05"):
        ScenarioConfig(start_date="1000-01-03", **stale)


@pytest.mark.parametrize(
    ("kwargs", "loc"),
    [
        ({"seeds": 3}, "seeds"),
        ({"funnel": {"apply_rat": 0.2}}, "funnel.apply_rat"),
        ({"anomalies": {"null_bust": {}}}, "anomalies.null_bust"),
        ({"anomalies": {"null_burst": {"rate": 0.3}}}, "anomalies.null_burst.rate"),
        ({"live_schedule": [{"visitors": 5, "anomali": None}]}, "live_schedule.0.anomali"),
        ({"funnel": {"amount": {"low": 1, "high": 2, "mid": 1}}}, "funnel.amount.mid"),
    ],
)
def test_unknown_keys(kwargs: dict, loc: str):
    with pytest.raises(ValidationError) as exc:
        ScenarioConfig(**kwargs)
    got, message = single_error(exc)
    assert got == loc
    assert "Extra inputs are not permitted" in message


def test_inverted_range_names_both_ends():
    with pytest.raises(ValidationError) as exc:
        ScenarioConfig(funnel={"applicant_age": {"low": 60, "high": 20}})
    loc, message = single_error(exc)
    assert loc == "funnel.applicant_age"
    assert "low=60" in message and "high=20" in message


@pytest.mark.parametrize(
    "kwargs",
    [
        {"historical_visitors": MAX_BATCH_VISITORS, "scale": 1.5},
        {"live_schedule": [{"visitors": 1_000_000}], "scale": 51},
    ],
)
def test_scale_pushing_a_batch_over_the_limit(kwargs: dict):
    with pytest.raises(ValidationError) as exc:
        ScenarioConfig(**kwargs)
    _, message = single_error(exc)
    assert f"scale={kwargs['scale']}" in message
    assert "50,000,000" in message


def test_scale_up_to_the_limit_is_accepted():
    config = ScenarioConfig(live_schedule=[{"visitors": 1_000_000}], scale=50)
    assert config.scale == 50


def test_config_is_immutable():
    config = ScenarioConfig()
    with pytest.raises(ValidationError):
        config.seed = 1


# --- several anomalies per batch, and the structural anomalies' parameters ------------------


def test_batch_anomalies_list_and_single_anomaly_agree():
    several = BatchSpec(anomalies=["fraud_spike", "timezone_shift"], visitors=10)
    assert several.anomaly is AnomalyType.FRAUD_SPIKE
    assert several.kinds == (AnomalyType.FRAUD_SPIKE, AnomalyType.TIMEZONE_SHIFT)
    assert BatchSpec(anomaly="null_burst", visitors=1).kinds == (AnomalyType.NULL_BURST,)
    assert BatchSpec(anomaly="null_burst", anomalies=["null_burst", "age_error"], visitors=1)
    assert BatchSpec(visitors=1).kinds == ()


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"anomaly": "null_burst", "anomalies": ["age_error"]}, "disagree"),
        ({"anomalies": ["null_burst", "null_burst"]}, "each anomaly at most once"),
        ({"anomalies": ["bot_storm"]}, "unknown anomaly 'bot_storm'"),
    ],
)
def test_bad_anomaly_lists_are_one_line_errors(fields, message):
    with pytest.raises(ValidationError) as exc:
        ScenarioConfig(live_schedule=[{**fields, "visitors": 10}])
    text = format_validation_error(exc.value)
    assert "\n" not in text and message in text and text.startswith("live_schedule.0")


def test_structural_defaults():
    a = ScenarioConfig().anomalies
    assert (a.schema_drift.kind, a.schema_drift.table, a.schema_drift.column) == (
        "type_change", "applications", "annual_income",
    )  # fmt: skip
    assert (a.duplicate_records.share, a.duplicate_records.next_batch_share) == (0.05, 0.5)
    assert a.orphan_records.share == 0.10 and a.timezone_shift.hours == 5.0
    assert (a.distribution_shift.mobile_share, a.distribution_shift.income_multiplier) == (
        0.75, 0.7,
    )  # fmt: skip


def test_timezone_shift_of_zero_hours_is_refused():
    with pytest.raises(ValidationError, match="hours=0 shifts nothing"):
        ScenarioConfig(anomalies={"timezone_shift": {"hours": 0}})


def test_event_margins_count_timezone_shifts_and_replays():
    base = ScenarioConfig()
    assert base.event_margins == (1, 6)  # stale_data 12 h back; transactions up to 6 days on
    shifted = ScenarioConfig(
        live_schedule=[{"anomaly": "timezone_shift", "visitors": 10}],
        anomalies={"timezone_shift": {"hours": 20}},
    )
    assert shifted.event_margins == (0, 7)
    back = ScenarioConfig(
        live_schedule=[{"anomalies": ["timezone_shift", "duplicate_records"], "visitors": 10}],
        anomalies={"timezone_shift": {"hours": -5}},
    )
    assert back.event_margins == (2, 6)  # 5 h back, and a replay lands a day further back
