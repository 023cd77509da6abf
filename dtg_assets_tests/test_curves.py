"""Detection curves: the sweep, its table and plots, command detectors, and the Dagster asset.

The monotonicity test runs the benchmark's default sweep (3 seeds x 5 strengths, once per
session): recall at a stronger strength is at least recall at any weaker one minus 1/3 (one
effective batch of a seed's two, pooled over three seeds, is 1/6: the tolerance allows two).
"""

import subprocess
import sys
import textwrap
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from dtg_assets.assets.curves import CURVES_DIR, detection_curves
from dtg_assets.gatekeeper.command import CommandError, check_template, run_command
from dtg_assets.gatekeeper.curve_plot import PlotUnavailableError, plot_curves
from dtg_assets.gatekeeper.curve_table import ALL, GATEKEEPER, Curves, strength_label
from dtg_assets.gatekeeper.curves import CurveConfig, curve_scenario, run_curves
from dtg_assets.gatekeeper.flags import FlagsError
from dtg_assets.gatekeeper.strength import FLAT_TYPES
from dtg_assets.gatekeeper.targets import ALL_TYPES
from dtg_assets.resources import GatekeeperResource, SimulationResource
from dtg_assets.simulation.landing import LandingZone
from dtg_assets.simulation.layout import config_hash
from dtg_assets.simulation.plan import Window

TOLERANCE = 1 / 3
TINY = {
    "seeds": (5,),
    "strengths": (1.0, 0.125),
    "scale": 0.1,
    "historical_days": 1,
    "live_days": 1,
    "workers": 1,
}
# A detector of its own: every visitor event with no campaign id, in the findings format.
NULL_CAMPAIGNS = textwrap.dedent(
    """
    import glob, os, sys
    import pyarrow as pa, pyarrow.csv as pc, pyarrow.parquet as pq
    root, out = sys.argv[1], sys.argv[2]
    rows = {"batch_id": [], "detector": [], "table": [], "record_id": []}
    for path in glob.glob(os.path.join(root, "landing", "visitor_events", "*", "live-*")):
        t = pq.read_table(path, columns=["batch_id", "visitor_id", "campaign_id"])
        t = t.filter(t["campaign_id"].is_null())
        rows["batch_id"] += t["batch_id"].to_pylist()
        rows["record_id"] += t["visitor_id"].to_pylist()
        rows["detector"] += ["null_campaigns"] * t.num_rows
        rows["table"] += ["visitor_events"] * t.num_rows
    (pc.write_csv if out.endswith(".csv") else pq.write_table)(pa.table(rows), out)
    """
)


@pytest.fixture(scope="module")
def default_curves():
    return run_curves(CurveConfig())


def _all_lines(curves) -> pd.DataFrame:
    return curves.table[(curves.table["detector"] == GATEKEEPER) & (curves.table["family"] == ALL)]


def test_history_does_not_depend_on_strength(tmp_path):
    config = CurveConfig(**TINY)
    strong, weak = (curve_scenario(config, 5, s) for s in (1.0, 0.0625))
    assert config_hash(strong, Window.HISTORICAL) == config_hash(weak, Window.HISTORICAL)
    assert config_hash(strong, Window.LIVE) != config_hash(weak, Window.LIVE)
    day = strong.start_date
    for name, scenario in (("strong", strong), ("weak", weak)):
        LandingZone(str(tmp_path / name)).write_day(scenario, day, Window.HISTORICAL)
    files = sorted(p.relative_to(tmp_path / "strong") for p in (tmp_path / "strong").rglob("*"))
    files = [f for f in files if (tmp_path / "strong" / f).is_file() and "_commits" not in str(f)]
    assert files and any(str(f).endswith(".parquet") for f in files)
    for f in files:
        assert (tmp_path / "strong" / f).read_bytes() == (tmp_path / "weak" / f).read_bytes(), f


def test_recall_is_monotone_enough_in_strength(default_curves):
    lines = _all_lines(default_curves)
    assert set(lines["anomaly"]) == set(ALL_TYPES)
    for anomaly, part in lines.groupby("anomaly"):
        recall = part.sort_values("strength", ascending=False)["recall"].tolist()
        for i, stronger in enumerate(recall):
            for weaker in recall[i + 1 :]:
                if not (pd.isna(stronger) or pd.isna(weaker)):
                    assert stronger >= weaker - TOLERANCE, (anomaly, recall)


def test_default_strength_is_caught_and_weaker_anomalies_are_weaker(default_curves):
    lines = _all_lines(default_curves).set_index(["anomaly", "strength"])
    for anomaly in ALL_TYPES:
        row = lines.loc[(anomaly, 1.0)]
        assert row["batches"] >= 6 and row["recall"] == 1.0, anomaly
    assert (lines["false_alarms"] == 0).all() and (lines["normal_batches"] == 12).all()
    # The sweep really weakens: fewer labelled records, and some type missed at 1/16.
    for anomaly in ("null_burst", "age_error", "limit_spike", "traffic_spike", "orphan_records"):
        assert lines.loc[(anomaly, 0.0625), "labelled"] < lines.loc[(anomaly, 1.0), "labelled"]
    assert (lines.xs(0.0625, level="strength")["recall"] < 1).any()
    for anomaly in FLAT_TYPES:
        assert lines.loc[anomaly, "recall"].nunique() == 1, anomaly


def test_table_and_markdown(default_curves, tmp_path):
    table = default_curves.table
    assert len(table) == 5 * len(ALL_TYPES) * 5  # gatekeeper: all + four families
    markdown = default_curves.to_markdown()
    assert "| anomaly | 1 | 1/2 | 1/4 | 1/8 | 1/16 |" in markdown
    assert "| false alarms | 0/12 | 0/12 | 0/12 | 0/12 | 0/12 |" in markdown
    paths = default_curves.save(tmp_path)
    saved = pd.read_csv(paths["csv"])
    assert len(saved) == len(table) and {"recall", "record_precision"} <= set(saved.columns)
    assert paths["markdown"].read_text() == markdown
    assert [strength_label(s) for s in (1.0, 0.5, 0.0625, 0.3)] == ["1", "1/2", "1/16", "0.3"]


def test_plots(default_curves, tmp_path):
    pngs = plot_curves(default_curves, tmp_path / "plots")
    assert list(pngs) == list(ALL_TYPES)
    for path in pngs.values():
        assert path.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def test_plot_without_matplotlib(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(PlotUnavailableError, match=r"pip install 'dtg_assets\[plot\]'"):
        plot_curves(Curves(pd.DataFrame(), (1,)), tmp_path / "none")
    assert not (tmp_path / "none").exists()


def test_parallel_equals_serial():
    serial = run_curves(CurveConfig(**{**TINY, "seeds": (5, 6)}))
    parallel = run_curves(CurveConfig(**{**TINY, "seeds": (5, 6), "workers": 2}))
    pd.testing.assert_frame_equal(serial.table, parallel.table)
    assert serial.table["batches"].sum() > 0


@pytest.mark.parametrize("findings_format", ["parquet", "csv"])
def test_command_detector(tmp_path, findings_format):
    script = tmp_path / "nulls.py"
    script.write_text(NULL_CAMPAIGNS)
    command = f"{sys.executable} {script} {{data_root}} {{findings}}"
    config = CurveConfig(
        **TINY, gatekeeper=False, commands={"nulls": command}, findings_format=findings_format
    )
    lines = run_curves(config).table.set_index(["anomaly", "strength"])
    assert set(lines["detector"]) == {"nulls"} and set(lines["family"]) == {ALL}
    for strength in TINY["strengths"]:
        row = lines.loc[("null_burst", strength)]
        assert (row["batches"], row["caught"]) == (1, 1)
        assert row["labelled"] > 0 and row["record_precision"] == row["record_recall"] == 1.0
        assert lines.loc[("age_error", strength), "caught"] == 0
    assert (lines["false_alarms"] == 0).all()


def test_command_errors(tmp_path):
    with pytest.raises(ValueError, match=r"command 'x' lacks \{findings\}"):
        check_template("x", "echo {data_root}")
    with pytest.raises(ValueError, match="brace field other than"):
        check_template("x", "echo {data_root} {findings} {other}")
    with pytest.raises(ValueError, match="command 'x' lacks"):
        CurveConfig(commands={"x": "true"})
    out = tmp_path / "f.parquet"
    with pytest.raises(CommandError, match=r"^command 'bad' exited with status 3: boom$"):
        run_command("bad", "echo boom >&2; exit 3 # {data_root} {findings}", "r", out, 10)
    with pytest.raises(CommandError, match="wrote no findings file"):
        run_command("lazy", "true {data_root} {findings}", "r", out, 10)
    with pytest.raises(CommandError, match=r"^command 'slow' timed out after 0.5 s$"):
        run_command("slow", "sleep 5 # {data_root} {findings}", "r", out, 0.5)


@pytest.mark.parametrize("workers", [1, 2])
def test_invalid_findings_stop_the_sweep(workers):
    bad = "echo 'batch_id,detector' > {findings}; echo ',x' >> {findings} # {data_root}"
    config = CurveConfig(
        **{**TINY, "workers": workers}, gatekeeper=False, commands={"bad": bad},
        findings_format="csv",
    )  # fmt: skip
    with pytest.raises(FlagsError, match="row 1, field batch_id"):
        run_curves(config)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"seeds": (1, 1)}, "repeat a seed"),
        ({"strengths": (1.0, 2.0)}, "strength=2.0 is out of range"),
        ({"gatekeeper": False}, "no detector"),
        ({"commands": {"gatekeeper": "x {data_root} {findings}"}}, "is not allowed"),
    ],
)
def test_bad_config(change, message):
    with pytest.raises(ValueError, match=message):
        CurveConfig(**change)


def test_asset_materializes(tmp_path):
    resources = {
        "simulation": SimulationResource(data_root=str(tmp_path)),
        "gatekeeper": GatekeeperResource(),
    }
    tiny = {k: list(v) if isinstance(v, tuple) else v for k, v in TINY.items()}
    run_config = {"ops": {"gatekeeper__detection_curves": {"config": tiny}}}
    result = dg.materialize([detection_curves], resources=resources, run_config=run_config)
    assert result.success
    [event] = result.get_asset_materialization_events()
    metadata = event.materialization.metadata
    assert "| null_burst |" in metadata["curves"].value
    assert metadata["plots"].value.count("](data:image/png;base64,") == len(ALL_TYPES)
    assert metadata["points"].value == 2
    stored = {p.name for p in Path(tmp_path, CURVES_DIR).iterdir()}
    assert stored == {"curves.csv", "curves.md", *(f"{a}.png" for a in ALL_TYPES)}
    bad = {"ops": {"gatekeeper__detection_curves": {"config": {**tiny, "strengths": [2.0]}}}}
    failed = dg.materialize(
        [detection_curves], resources=resources, run_config=bad, raise_on_error=False
    )
    assert not failed.success
    [failure] = [e for e in failed.all_events if e.event_type_value == "STEP_FAILURE"]
    assert "strength=2.0 is out of range" in failure.step_failure_data.error.message


def test_sweep_and_plot_modules_import_neither_dagster_nor_matplotlib():
    code = (
        "import sys, dtg_assets.gatekeeper.curves, dtg_assets.gatekeeper.curve_plot; "
        "print(sorted(m for m in ('dagster', 'matplotlib') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
