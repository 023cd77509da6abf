"""The whole gatekeeper on scenarios written with the landing zone, scored by the evaluation.

The ground truth is read for scoring and then deleted *before* the baseline is learned and the
detectors run, so a detector that peeked at labels or the manifest would crash. Two scenarios:

- the default live schedule (every anomaly type but ``conversion_drop``), three historical days;
- a schedule the detectors were never shown: shuffled order, different volumes, nine batches a
  day, a ``conversion_drop`` batch and every anomaly at half strength;
- the ``extended`` week (all thirteen types, two batches with two anomalies each), its
  structural anomalies at half strength.
"""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from dtg_assets.gatekeeper import (
    FINDINGS_SCHEMA,
    Baseline,
    detect_day,
    detect_days,
    learn_baseline,
)
from dtg_assets.gatekeeper.evaluation import ALL_TYPES, Evaluation, evaluate, load_ground_truth
from dtg_assets.simulation.config import DEFAULT_LIVE_SCHEDULE, ScenarioConfig
from dtg_assets.simulation.landing import LandingZone
from dtg_assets.simulation.plan import Window, scenario_days

HALF_STRENGTH = {
    "null_burst": {"null_rate": 0.125},
    "age_error": {"rate": 0.075},
    "traffic_spike": {"visitor_multiplier": 1.75, "bot_rate": 0.4},
    "fraud_spike": {"rate": 0.025, "limit_share": {"low": 0.35, "high": 0.45}},
    "limit_spike": {"rate": 0.05, "income_share": {"low": 0.3, "high": 0.45}},
    "stale_data": {"delay_hours": 6.0},
    "conversion_drop": {"apply_rate": 0.125},
}
UNSEEN_SCHEDULE = [
    {"anomaly": "stale_data", "visitors": 5000},
    {"anomaly": "conversion_drop", "visitors": 7000},
    {"anomaly": None, "visitors": 6500},
    {"anomaly": "fraud_spike", "visitors": 9000},
    {"anomaly": "limit_spike", "visitors": 4000},
    {"anomaly": "null_burst", "visitors": 3500},
    {"anomaly": None, "visitors": 5500},
    {"anomaly": "traffic_spike", "visitors": 4000},
    {"anomaly": "age_error", "visitors": 6000},
]


def run(config: ScenarioConfig, root: str) -> tuple[Evaluation, pa.Table, Baseline]:
    """Write, hide the ground truth, learn, detect, then score."""
    zone = LandingZone(root)
    days = [(d, w.value) for d, w in scenario_days(config)]
    zone.write_days(config, days)
    labels, manifest = load_ground_truth(zone, days)
    zone.fs.rm(zone.path("ground_truth"), recursive=True)
    baseline = learn_baseline(zone, [d for d, w in days if w == Window.HISTORICAL])
    findings = detect_days(zone, days, baseline)
    return evaluate(findings, labels, manifest), findings, baseline


def assert_perfect_gate(scores: Evaluation, anomalous: int, normal: int) -> None:
    batches = scores.batches
    assert batches["status"].isin(["caught", "missed"]).sum() == anomalous
    assert batches["status"].isin(["normal", "false_alarm"]).sum() == normal
    assert scores.missed == []
    flagged_normal = batches.loc[(batches["anomaly"] == "none") & batches["flagged"]]
    assert scores.false_alarms == 0, flagged_normal[["batch_id", "detectors"]].to_dict("records")
    for row in scores.records.itertuples():
        # A visitor moved to mobile cannot be told from one who was (see the evaluation).
        if row.labelled and row.record_type != "shifted_devices":
            assert row.precision >= 0.95 and row.recall >= 0.95, row


@pytest.fixture(scope="module")
def default_run(tmp_path_factory) -> tuple[Evaluation, pa.Table, Baseline]:
    config = ScenarioConfig(start_date=dt.date(2026, 1, 5), historical_days=3, live_days=1, seed=11)
    return run(config, str(tmp_path_factory.mktemp("gatekeeper-default")))


def test_default_schedule_every_anomaly_caught_no_false_alarm(default_run):
    scores, _, _ = default_run
    assert_perfect_gate(scores, anomalous=6, normal=3 + 2)
    by_type = scores.by_anomaly.set_index("anomaly")
    anomalies = {b.anomaly.value for b in DEFAULT_LIVE_SCHEDULE if b.anomaly}
    # Every type has its row; those the schedule lacks have no batch.
    assert list(by_type.index) == [*ALL_TYPES, "none (historical)", "none (live)"]
    assert by_type.loc[[t for t in ALL_TYPES if t not in anomalies], "batches"].sum() == 0
    # Each type is caught by the detectors meant for it, which stay silent on normal batches.
    for anomaly in anomalies:
        assert by_type.loc[anomaly, "by_its_detectors"] == 1, anomaly
        assert by_type.loc[anomaly, "false_positives"] == 0, anomaly
    records = scores.records.set_index("anomaly")
    assert (records.loc[sorted(anomalies), "labelled"] > 0).all()


def test_findings_table_shape_and_timing(default_run):
    scores, findings, _ = default_run
    assert findings.schema == FINDINGS_SCHEMA
    frame = findings.to_pandas()
    assert frame.groupby("batch_id")["detector"].nunique().nunique() == 1
    assert set(frame["window"]) == {"historical", "live"}
    flags = frame[frame["verdict"] == "flag"]
    assert flags["evidence_at"].notna().all()
    # Fraud is only visible once the transactions happen (days later); the rest within minutes.
    delay = scores.by_anomaly.set_index("anomaly")["delay_max_min"]
    assert 24 * 60 <= delay["fraud_spike"] <= 6 * 24 * 60
    assert delay.drop(["fraud_spike", "none (historical)", "none (live)"]).max() < 30


def test_a_day_that_never_landed_has_no_findings(tmp_path, default_run):
    _, _, baseline = default_run
    empty = detect_day(LandingZone(str(tmp_path)), dt.date(2026, 1, 9), baseline)
    assert empty.num_rows == 0 and empty.schema == FINDINGS_SCHEMA


def test_unseen_shuffled_half_strength_schedule_still_caught(tmp_path):
    config = ScenarioConfig(
        start_date=dt.date(2026, 2, 1),
        historical_days=4,
        live_days=1,
        historical_visitors=6000,
        seed=2024,
        anomalies=HALF_STRENGTH,
        live_schedule=UNSEEN_SCHEDULE,
    )
    scores, _, _ = run(config, str(tmp_path))
    assert_perfect_gate(scores, anomalous=7, normal=4 + 2)
    by_type = scores.by_anomaly.set_index("anomaly")
    assert by_type.loc["conversion_drop", "by_its_detectors"] == 1
    assert by_type.loc["traffic_spike", "by_its_detectors"] == 1


def test_extended_week_at_half_structural_strength_every_type_caught(tmp_path):
    config = ScenarioConfig(
        start_date=dt.date(2026, 4, 1),
        historical_days=3,
        live_days=7,
        seed=5,
        scenario="extended",
        anomalies={
            "duplicate_records": {"share": 0.025},
            "orphan_records": {"share": 0.05},
            "timezone_shift": {"hours": 2.5},
            "distribution_shift": {"mobile_share": 0.625, "income_multiplier": 0.85},
        },
    )
    scores, findings, _ = run(config, str(tmp_path))
    status = scores.batches["status"].value_counts().to_dict()
    assert scores.missed == [] and scores.false_alarms == 0, status
    by_type = scores.by_anomaly.set_index("anomaly")
    for anomaly in ALL_TYPES:
        row = by_type.loc[anomaly]
        assert row["batches"] >= 3 and row["recall"] == 1.0, anomaly
        assert row["by_its_detectors"] == row["flagged"], anomaly
    assert_perfect_gate(scores, anomalous=status["caught"], normal=status["normal"])
    # A missing batch is flagged under the id it would have had, by the cadence alone.
    missing = scores.batches[scores.batches["anomalies"].map(lambda a: "missing_batch" in a)]
    assert missing["detectors"].map(lambda d: d == ["cadence"]).all()
    assert len(findings) > 0
