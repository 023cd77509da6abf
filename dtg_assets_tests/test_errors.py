"""One line per validation error, the same for the command line and the Dagster resources."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from dtg_assets.simulation.config import FunnelParams, ScenarioConfig
from dtg_assets.simulation.errors import format_validation_error


def _error(model, **fields) -> ValidationError:
    with pytest.raises(ValidationError) as info:
        model(**fields)
    return info.value


def test_top_level_fields_are_named_as_command_line_options_by_default():
    error = _error(ScenarioConfig, seed=-1, scale=0)
    assert format_validation_error(error) == (
        "--seed=-1: Input should be greater than or equal to 0; "
        "--scale=0: Input should be greater than 0"
    )
    assert format_validation_error(error, names={}).startswith("seed=-1: ")


def test_nested_fields_are_named_by_their_path_under_a_prefix():
    error = _error(FunnelParams, apply_rate=1.5, applicant_age={"low": 30, "high": 20})
    assert format_validation_error(error, "funnel") == (
        "funnel.apply_rate=1.5: Input should be less than or equal to 1; "
        "funnel.applicant_age: low=30 must be <= high=20"
    )


def test_model_level_errors_are_their_message_with_the_field_named_as_the_caller_names_it():
    # Model-wide checks open with "<field>=<value>:"; that field is renamed like any other.
    error = _error(ScenarioConfig, historical_visitors=60_000, scale=1000)
    message = (
        "=1000.0 makes a batch of 60,000,000 visitors; at most 50,000,000 are allowed per batch"
    )
    assert format_validation_error(error) == f"--scale{message}"
    assert format_validation_error(error, names={}) == f"scale{message}"
    assert format_validation_error(error, names={"scale": "DTG_SCALE"}) == f"DTG_SCALE{message}"
