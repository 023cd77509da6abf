"""Anomaly strength: every type's parameters at a fraction of the way from neutral to default."""

import pytest

from dtg_assets.gatekeeper.strength import (
    FLAT_TYPES,
    STRENGTH_PARAMS,
    check_strength,
    describe_strengths,
    scaled_anomalies,
)
from dtg_assets.gatekeeper.targets import ALL_TYPES
from dtg_assets.simulation.config import AnomalyParams, FunnelParams


def test_every_anomaly_type_has_a_strength_or_is_flat():
    assert set(STRENGTH_PARAMS) | set(FLAT_TYPES) == set(ALL_TYPES)
    assert not set(STRENGTH_PARAMS) & set(FLAT_TYPES)
    assert [a for a, _ in describe_strengths()] == [*STRENGTH_PARAMS, *FLAT_TYPES]


def test_strength_one_is_the_default():
    defaults = AnomalyParams()
    assert scaled_anomalies(defaults, FunnelParams(), 1.0) == defaults


def test_half_strength_values():
    half = scaled_anomalies(AnomalyParams(), FunnelParams(), 0.5)
    assert half.null_burst.null_rate == pytest.approx(0.125)
    assert half.age_error.rate == pytest.approx(0.075)
    assert half.traffic_spike.visitor_multiplier == pytest.approx(1.75)
    assert half.traffic_spike.bot_rate == pytest.approx(0.4)
    assert half.fraud_spike.rate == pytest.approx(0.025)
    assert half.limit_spike.rate == pytest.approx(0.05)
    assert half.stale_data.delay_hours == pytest.approx(6.0)
    # Halfway from the funnel's 0.20 to the drop's 0.05.
    assert half.conversion_drop.apply_rate == pytest.approx(0.125)
    assert half.duplicate_records.share == pytest.approx(0.025)
    assert half.orphan_records.share == pytest.approx(0.05)
    assert half.timezone_shift.hours == pytest.approx(2.5)
    assert half.distribution_shift.mobile_share == pytest.approx((1 / 3 + 0.75) / 2)
    assert half.distribution_shift.income_multiplier == pytest.approx(0.85)
    # What an anomaly looks like is not its strength: those parameters keep their default.
    assert half.fraud_spike.limit_share == AnomalyParams().fraud_spike.limit_share
    assert half.age_error.age == AnomalyParams().age_error.age
    assert half.duplicate_records.next_batch_share == 0.5


def test_neutral_follows_the_funnel_and_flat_types_never_change():
    funnel = FunnelParams(apply_rate=0.4)
    weak = scaled_anomalies(AnomalyParams(), funnel, 0.0625)
    assert weak.conversion_drop.apply_rate == pytest.approx(0.4 + 0.0625 * (0.05 - 0.4))
    for name in FLAT_TYPES:
        assert getattr(weak, name) == getattr(AnomalyParams(), name)


@pytest.mark.parametrize("bad", [0.0, -0.5, 1.5, float("nan")])
def test_out_of_range_strength(bad):
    with pytest.raises(ValueError, match=r"strength=.* is out of range; allowed: 0 < strength"):
        check_strength(bad)
    with pytest.raises(ValueError, match="out of range"):
        scaled_anomalies(AnomalyParams(), FunnelParams(), bad)
