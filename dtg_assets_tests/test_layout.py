"""Tests of the layout module: every name under a data root and its parser, and the config token.

Names are built and parsed by one module; the parsers accept exactly what the builders make
(windows come from the ``Window`` enum, not a hard-coded list), and the configuration token
changes with what determines a day's bytes and with nothing else.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest

from dtg_assets.simulation import layout
from dtg_assets.simulation.config import ScenarioConfig
from dtg_assets.simulation.layout import Window
from dtg_assets.simulation.plan import plan_day

DAY = dt.date(2026, 11, 20)


@pytest.mark.parametrize("window", list(Window))
def test_batch_ids_round_trip_for_every_window(window):
    start = dt.datetime(2026, 11, 20, 15, 0, tzinfo=dt.UTC)
    text = layout.batch_id(window, start)
    assert text == f"{window.value}-20261120-1500"
    assert layout.parse_batch_id(text) == (window, start)
    assert text.startswith(layout.batch_prefix(window, DAY))


@pytest.mark.parametrize(
    "text",
    ["nightly-20261120-1500", "live-2026112-1500", "live-20261340-1500", "live-20261120-2561",
     "live-20261120-1500x", ""],
)  # fmt: skip
def test_batch_id_parser_rejects_what_no_writer_makes(text):
    assert layout.parse_batch_id(text) is None


def test_plan_ids_are_layout_ids():
    config = ScenarioConfig(start_date=DAY, historical_days=0, live_days=1)
    for plan in plan_day(config, DAY):
        assert layout.parse_batch_id(plan.batch_id) == (Window.LIVE, plan.start.replace(second=0))


def test_landing_names_carry_the_token_and_parse_back():
    name = layout.landing_name("live-20261120-1500", "0123abcd")
    assert name == "live-20261120-1500.0123abcd.parquet"
    assert layout.parse_landing_name(name) == layout.LandingName("live-20261120-1500", "0123abcd")
    # The layout without tokens is still recognised (as a leftover to flag and clean).
    legacy = layout.parse_landing_name("live-20261120-1500.parquet")
    assert legacy == layout.LandingName("live-20261120-1500", None)
    for foreign in ("export.csv", "part-0.parquet", "live-20261120-1500.XYZ.parquet"):
        assert layout.parse_landing_name(foreign) is None
    path = layout.landing_file("accounts", DAY, "live-20261120-1500", "0123abcd")
    assert path == "landing/accounts/date=2026-11-20/live-20261120-1500.0123abcd.parquet"


def test_temporaries_are_hidden_and_parse_back():
    final = "root/ground_truth/labels/live-20261120.0123abcd.parquet"
    tmp = layout.temporary_name(final, "feedbeef")
    assert tmp == "root/ground_truth/labels/.live-20261120.0123abcd.parquet.feedbeef.tmp"
    assert layout.is_hidden(tmp.rpartition("/")[2])
    assert layout.parse_temporary(tmp) == ("live-20261120.0123abcd.parquet", "feedbeef")
    assert layout.parse_temporary(final) is None


def test_ground_truth_and_gatekeeper_paths():
    assert layout.manifest_file("live", DAY) == "ground_truth/manifest/live-20261120.parquet"
    assert layout.labels_file("historical", DAY, "0123abcd") == (
        "ground_truth/labels/historical-20261120.0123abcd.parquet"
    )
    assert layout.findings_file(DAY) == "gatekeeper/findings/20261120.parquet"
    assert layout.parse_findings_name("20261120.parquet") == DAY
    for name in ("20261340.parquet", "²0261120.parquet", "20261120.csv", "baseline.json"):
        assert layout.parse_findings_name(name) is None


BASE = ScenarioConfig(start_date=dt.date(2026, 1, 5), seed=3)


def test_config_hash_ignores_the_date_range():
    moved = BASE.model_copy(
        update={"start_date": dt.date(2025, 6, 1), "historical_days": 3, "live_days": 40}
    )
    for window in Window:
        digest = layout.config_hash(BASE, window)
        assert len(digest) == 64 and int(digest, 16) >= 0
        assert layout.config_hash(moved, window) == digest
        assert layout.token_of(digest) == digest[:8]


@pytest.mark.parametrize(
    ("change", "windows"),
    [
        ({"seed": 4}, {Window.HISTORICAL, Window.LIVE}),
        ({"scale": 0.5}, {Window.HISTORICAL, Window.LIVE}),
        ({"funnel": {"apply_rate": 0.3}}, {Window.HISTORICAL, Window.LIVE}),
        # A historical day is one normal batch: anomaly parameters cannot change its bytes
        # (test_landing checks that they do not), so they do not rename its files.
        ({"anomalies": {"null_burst": {"null_rate": 0.5}}}, {Window.LIVE}),
        ({"historical_visitors": 10}, {Window.HISTORICAL}),
        ({"live_schedule": [{"anomaly": None, "visitors": 10}]}, {Window.LIVE}),
    ],
)
def test_config_hash_changes_with_what_determines_the_bytes(change, windows):
    other = ScenarioConfig.model_validate({**BASE.model_dump(), **change})
    changed = {w for w in Window if layout.config_hash(other, w) != layout.config_hash(BASE, w)}
    assert changed == windows


def test_the_recorded_configuration_is_the_canonical_json_the_hash_is_of():
    for window in Window:
        text = layout.config_json(BASE, window)
        assert json.loads(text) == layout.content_config(BASE, window)
        assert layout.hash_of(text) == layout.config_hash(BASE, window)
        # Canonical: sorted keys, no spaces.
        assert text == json.dumps(json.loads(text), sort_keys=True, separators=(",", ":"))
