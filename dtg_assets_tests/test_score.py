"""``dtg-score`` and the findings format: known answers, malformed inputs, the gatekeeper's
own findings, and the README's DuckDB detector end to end.

The hand-made data root has six batches whose scores are known in advance: a normal
historical batch; two normal live ones, one of them flagged (a false alarm); an ``age_error``
batch with four labelled applications, three of them flagged plus one wrong id; a
``fraud_spike`` batch nobody flags; a ``missing_batch`` (no files: no landing time) caught by a
batch-level flag. Each landing file's modification time is set, so the measured delays are exact.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dtg_assets.gatekeeper import detect_day, learn_baseline
from dtg_assets.gatekeeper.evaluation import evaluate, load_ground_truth
from dtg_assets.gatekeeper.findings import FINDINGS_SCHEMA, stamp
from dtg_assets.gatekeeper.flagfile import read_flags, write_flags
from dtg_assets.gatekeeper.flags import FLAGS_SCHEMA, VERSION_KEY, from_findings
from dtg_assets.gatekeeper.score import landed_at, manifest_days, score
from dtg_assets.gatekeeper.score_cli import main
from dtg_assets.simulation import layout
from dtg_assets.simulation.config import ScenarioConfig
from dtg_assets.simulation.landing import LandingZone
from dtg_assets.simulation.plan import Window, scenario_days
from dtg_assets.simulation.schemas import LABEL_SCHEMA, MANIFEST_SCHEMA, TABLES

DAY = dt.date(2026, 3, 10)
OLD = dt.date(2026, 3, 1)
README = Path(__file__).resolve().parents[1] / "README.md"


def at(hour: int, minute: int = 0, day: dt.date = DAY) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=dt.UTC)


BATCHES = [  # batch id, window, day, start hour, anomalies
    ("historical-20260301-0000", "historical", OLD, 0, []),
    ("live-20260310-0000", "live", DAY, 0, []),
    ("live-20260310-0300", "live", DAY, 3, []),
    ("live-20260310-0600", "live", DAY, 6, ["age_error"]),
    ("live-20260310-0900", "live", DAY, 9, ["fraud_spike"]),
    ("live-20260310-1200", "live", DAY, 12, ["missing_batch"]),
]


def _label(table, record, batch, anomaly, effect, columns) -> dict:
    return dict(
        table=table, record_id=record, batch_id=batch, anomaly=anomaly, effect=effect,
        affected_columns=columns,
    )  # fmt: skip


LABELS = [
    *(_label("applications", f"a{i}", "live-20260310-0600", "age_error", "modified",
             ["applicant_age"]) for i in (1, 2, 3, 4)),
    _label("transactions", "t1", "live-20260310-0900", "fraud_spike", "modified", ["amount"]),
    _label("transactions", "t2", "live-20260310-0900", "fraud_spike", "modified", ["amount"]),
    _label("batch", "live-20260310-1200", "live-20260310-1200", "missing_batch", "removed", []),
]  # fmt: skip


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> str:
    """The hand-made data root: manifests, labels, and one landing file per landed batch,
    each file modified two minutes after its batch's start."""
    base = tmp_path_factory.mktemp("score")
    zone = LandingZone(str(base))
    for window, day in (("historical", OLD), ("live", DAY)):
        labels_file = layout.labels_file(window, day, "abcdef12")
        rows = []
        for i, (batch, w, d, hour, anomalies) in enumerate(BATCHES):
            if w != window:
                continue
            files = []
            if "missing_batch" not in anomalies:
                path = layout.landing_file("applications", d, batch, "abcdef12")
                (base / path).parent.mkdir(parents=True, exist_ok=True)
                (base / path).write_bytes(b"not read")
                stamp = at(hour, 2, d).timestamp()
                os.utime(base / path, (stamp, stamp))
                files = [{"path": path, "table": "applications", "rows": 1, "bytes": 8,
                          "schema": ""}]  # fmt: skip
            row = {"batch_id": batch, "window": w, "day": d, "batch_index": i}
            row |= {"batch_start": at(hour, 0, d), "anomalies": anomalies, "seed": 1}
            row |= {"anomaly": "+".join(anomalies) or None, "planned_visitors": 10}
            row |= {f"{p}_{t}": 0 for t in TABLES for p in ("rows", "labelled")}
            row |= {"config_hash": "x", "config": "{}", "labels_file": labels_file}
            rows.append(row | {"files": files})
        (base / layout.MANIFEST).mkdir(parents=True, exist_ok=True)
        (base / layout.LABELS).mkdir(parents=True, exist_ok=True)
        pq.write_table(
            pa.Table.from_pylist(rows, schema=MANIFEST_SCHEMA),
            zone.manifest_path(window, day),
        )
        mine = [lab for lab in LABELS if lab["batch_id"].startswith(window)]
        pq.write_table(pa.Table.from_pylist(mine, schema=LABEL_SCHEMA), base / labels_file)
    return str(base)


CSV = """\
batch_id,detector,table,record_id,flagged_at,note
live-20260310-0600,age,applications,a1,2026-03-10T06:12:00Z,first
live-20260310-0600,age,applications,a2,2026-03-10 06:12:00,naive is UTC
live-20260310-0600,age,applications,a3,2026-03-10T07:17:00+01:00,
live-20260310-0600,age,applications,x9,2026-03-10T06:12:00Z,wrong id
live-20260310-0300,volume,,,2026-03-10T03:30:00Z,false alarm
live-20260310-1200,cadence,,,2026-03-10T12:05:00Z,missing batch
live-20991231-0000,volume,,,,no such batch
"""


def _write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


@pytest.fixture
def flags_csv(tmp_path) -> str:
    return _write(tmp_path, "flags.csv", CSV)


def test_batch_level_known_answers(root, flags_csv):
    scores = score(LandingZone(root), read_flags(flags_csv))
    b = scores.batches.set_index("batch_id")
    assert b["status"].to_dict() == {
        "historical-20260301-0000": "normal",
        "live-20260310-0000": "normal",
        "live-20260310-0300": "false_alarm",
        "live-20260310-0600": "caught",
        "live-20260310-0900": "missed",
        "live-20260310-1200": "caught",
    }
    assert scores.summary() == {
        "anomalous_batches": 3,
        "caught_batches": 2,
        "no_effect_batches": 0,
        "normal_batches": 3,
        "false_alarms": 1,
        "min_record_precision": 0.75,
        "min_record_recall": 0.0,
    }
    # Landing: the file's time (06:02); first flag 06:12 (all three spellings of it are UTC).
    assert b.loc["live-20260310-0600", "landed_at"] == pd.Timestamp(at(6, 2))
    assert b.loc["live-20260310-0600", "measured_delay_minutes"] == 10.0
    # A missing batch has no files, so no landing time and no measured delay.
    assert pd.isna(b.loc["live-20260310-1200", "landed_at"])
    assert pd.isna(b.loc["live-20260310-1200", "measured_delay_minutes"])
    assert b["delay_minutes"].isna().all()  # no evidence_at given
    rows = scores.by_anomaly.set_index("anomaly")
    age = rows.loc["age_error"]
    assert (age["batches"], age["flagged"], age["recall"]) == (1, 1, 1.0)
    assert (age["measured_delay_median_min"], age["measured_delay_max_min"]) == (10.0, 10.0)
    assert (rows.loc["fraud_spike", "flagged"], rows.loc["fraud_spike", "recall"]) == (0, 0.0)
    assert rows.loc["missing_batch", "recall"] == 1.0
    assert (rows.loc["none (live)", "batches"], rows.loc["none (live)", "flagged"]) == (2, 1)
    # Any detector counts for every type: volume's flag is every type's false positive.
    assert rows.loc["age_error", "false_positives"] == 1
    assert (scores.unknown_batches, scores.unknown_flags) == (("live-20991231-0000",), 1)


def test_record_level_known_answers(root, flags_csv):
    records = score(LandingZone(root), read_flags(flags_csv)).records.set_index("record_type")
    age = records.loc["under_age_applications"]
    assert (age["labelled"], age["flagged"], age["true_positives"]) == (4, 4, 3)
    assert (age["precision"], age["recall"]) == (0.75, 0.75)
    fraud = records.loc["fraud_transactions"]
    assert (fraud["labelled"], fraud["flagged"], fraud["recall"]) == (2, 0, 0.0)
    assert pd.isna(fraud["precision"])
    # The batch-level label of the missing batch is no record to find.
    assert records.loc["missing_batch", "labelled"] == 0


def test_csv_jsonl_and_parquet_score_alike(root, flags_csv, tmp_path):
    flags = read_flags(flags_csv)
    assert flags.schema == FLAGS_SCHEMA and flags.num_rows == 7
    assert flags["flagged_at"][2].as_py() == at(6, 17)  # +01:00 converted
    assert flags["flagged_at"][6].as_py() is None and flags["table"][4].as_py() is None
    expected = score(LandingZone(root), flags).to_json()
    for name in ("same.jsonl", "same.ndjson", "same.parquet", "same.csv"):
        write_flags(flags, str(tmp_path / name))
        again = read_flags(str(tmp_path / name))
        assert again.equals(flags), name
        assert score(LandingZone(root), again).to_json() == expected, name
    assert pq.read_schema(tmp_path / "same.parquet").metadata[VERSION_KEY] == b"1"


def test_jsonl_by_hand_with_missing_optional_fields(root, tmp_path):
    path = _write(
        tmp_path,
        "f.jsonl",
        '{"batch_id": "live-20260310-0900", "table": "transactions", "record_id": "t1"}\n'
        "\n"
        '{"batch_id": "live-20260310-0900", "detector": "amount", "format_version": 1}\n',
    )
    flags = read_flags(path)
    assert flags["detector"].to_pylist() == ["unnamed", "amount"]
    records = score(LandingZone(root), flags).records.set_index("record_type")
    fraud = records.loc["fraud_transactions"]
    assert (fraud["flagged"], fraud["true_positives"], fraud["recall"]) == (1, 1, 0.5)


def test_parquet_with_typed_timestamps_and_dictionary_strings(root, tmp_path):
    naive = pa.array([dt.datetime(2026, 3, 10, 6, 30)], pa.timestamp("ms"))
    table = pa.table(
        {
            "batch_id": pa.array(["live-20260310-0600"]).dictionary_encode(),
            "detector": pa.array(["d"], pa.large_string()),
            "flagged_at": naive,
        }
    )
    path = tmp_path / "typed.parquet"
    pq.write_table(table, path)
    flags = read_flags(str(path))
    assert flags["flagged_at"][0].as_py() == at(6, 30)
    b = score(LandingZone(root), flags).batches.set_index("batch_id")
    assert b.loc["live-20260310-0600", "measured_delay_minutes"] == 28.0


def test_landed_at_and_manifest_days(root):
    zone = LandingZone(root)
    assert manifest_days(zone) == [(OLD, "historical"), (DAY, "live")]
    landed = landed_at(zone, "live", DAY)
    files = [(b, h) for b, w, _, h, a in BATCHES if w == "live" and "missing_batch" not in a]
    assert landed == {b: at(h, 2) for b, h in files}


@pytest.mark.parametrize("kind", ["local", "memory"])
def test_landed_at_is_when_the_batch_files_were_written(tmp_path, kind):
    zone = LandingZone(str(tmp_path) if kind == "local" else f"memory://landed-{tmp_path.name}")
    config = ScenarioConfig(start_date=dt.date(2026, 1, 1), scale=0.02)
    day = dt.date(2026, 1, 15)
    # Store clocks keep whole seconds or less: compare at the second.
    before = dt.datetime.now(dt.UTC).replace(microsecond=0)
    zone.write_day(config, day, "live")
    after = dt.datetime.now(dt.UTC)
    landed = landed_at(zone, "live", day)
    assert sorted(landed) == [f"live-20260115-{h:02d}00" for h in range(0, 24, 3)]
    assert all(before <= t <= after for t in landed.values()), landed


def test_json_output_shape(root, flags_csv, capsys):
    assert main(["--data-root", root, "--findings", flags_csv, "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert list(out) == [
        "findings", "targets", "report_version", "summary", "delays", "unknown_batches",
        "by_anomaly",
        "records", "batches",
    ]  # fmt: skip
    assert out["targets"] == "any" and out["report_version"] == 1
    assert out["summary"]["caught_batches"] == 2 and out["summary"]["false_alarms"] == 1
    assert out["unknown_batches"] == {"count": 1, "flags": 1, "examples": ["live-20991231-0000"]}
    # Two caught batches, one of them without files (no landing time): one measured delay.
    assert out["delays"] == {
        "measured": {"batches": 1, "median_min": 10.0, "p90_min": 10.0, "max_min": 10.0},
        "event_time": {"batches": 0, "median_min": None, "p90_min": None, "max_min": None},
    }
    age = next(r for r in out["by_anomaly"] if r["anomaly"] == "age_error")
    assert age["recall"] == 1.0 and age["measured_delay_median_min"] == 10.0
    assert age["delay_median_min"] is None  # NaN becomes null
    batch = next(b for b in out["batches"] if b["batch_id"] == "live-20260310-0600")
    assert batch["landed_at"] == "2026-03-10T06:02:00Z"
    assert batch["flagged_at"] == "2026-03-10T06:12:00Z"
    assert batch["detectors"] == ["age"] and batch["status"] == "caught"
    assert len(out["batches"]) == 6 and len(out["records"]) == 14


def test_markdown_output_reports_unknown_batches_and_measured_delay(root, flags_csv, capsys):
    assert main(["--data-root", root, "--findings", flags_csv]) == 0
    text = capsys.readouterr().out
    assert "2/3 anomalous batches caught, 1 false alarms on 3 normal batches." in text
    assert "1 flags name 1 batch ids that no manifest of the data root lists" in text
    assert "Measured detection delay over 1 caught batches: median 10.0 min, 90th " in text
    assert "measured median (min)" in text and "event-time median (min)" not in text


def _cli(*args: str) -> subprocess.CompletedProcess:
    script = Path(sys.executable).with_name("dtg-score")
    return subprocess.run([str(script), *args], capture_output=True, text=True, timeout=120)


def test_cli_exit_codes_and_one_line_errors(root, flags_csv, tmp_path):
    ok = _cli("--data-root", root, "--findings", flags_csv, "--format", "json")
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["summary"]["anomalous_batches"] == 3
    strict = _cli("--data-root", root, "--findings", flags_csv, "--strict")
    assert strict.returncode == 1 and strict.stdout == ""
    assert strict.stderr == (
        f"error: {flags_csv}: 1 flags name 1 batch ids no manifest of {root} lists "
        "(e.g. live-20991231-0000); --strict rejects them\n"
    )
    bad = _write(tmp_path, "bad.csv", "batch_id,flagged_at\nlive-20260310-0000,soon\n")
    failed = _cli("--data-root", root, "--findings", bad)
    assert failed.returncode == 1
    assert failed.stderr == (
        f"error: {bad}: row 1, field flagged_at: 'soon' is not an ISO 8601 timestamp "
        "(e.g. 2026-03-10T06:10:00Z; a time without offset is UTC)\n"
    )
    empty = _cli("--data-root", str(tmp_path / "nothing"), "--findings", flags_csv)
    assert empty.returncode == 1 and "no manifest under ground_truth/manifest/" in empty.stderr
    assert empty.stderr.count("\n") == 1
    usage = _cli("--data-root", root)
    assert usage.returncode == 2
    assert usage.stderr.startswith("dtg-score: error: the following arguments are required")
    assert usage.stderr.count("\n") == 1
    wrong = _cli("--data-root", root, "--findings", flags_csv, "--format", "xml")
    assert wrong.returncode == 2 and "invalid choice: 'xml'" in wrong.stderr
    for result in (strict, failed, empty, usage, wrong):
        assert "Traceback" not in result.stderr


def test_stamp_keeps_the_first_time_a_flag_was_recorded():
    def found(verdicts: dict[str, str]) -> pa.Table:
        rows = [
            {"batch_id": b, "family": "f", "detector": d, "table": "t", "metric_name": "m",
             "comparison": ">", "n": 1, "verdict": v, "flagged_ids": [], "detail": ""}
            for (b, d), v in verdicts.items()
        ]  # fmt: skip
        return pa.Table.from_pylist(rows, schema=FINDINGS_SCHEMA)

    first = stamp(found({("b1", "volume"): "flag", ("b1", "age"): "pass"}), at(1))
    assert first["flagged_at"].to_pylist() == [at(1), at(1)]
    # Re-run two hours later with a new batch: b1's volume flag keeps its first time, the
    # new flags (b1's age, b2's volume) and the passing rows get the new one.
    again = {("b1", "volume"): "flag", ("b1", "age"): "flag", ("b2", "volume"): "flag"}
    second = stamp(found(again), at(3), previous=first)
    assert second["flagged_at"].to_pylist() == [at(1), at(3), at(3)]
    assert stamp(found(again), at(3), previous=found({}))["flagged_at"].to_pylist() == [at(3)] * 3
    # A flag that passed in between is raised anew.
    passed = stamp(found({("b1", "volume"): "pass"}), at(2), previous=first)
    assert stamp(found(again), at(3), previous=passed)["flagged_at"][0].as_py() == at(3)


# The gatekeeper's own findings, and the README's detector, on the default scenario (seed 42).


@pytest.fixture(scope="module")
def default_root(tmp_path_factory) -> tuple[str, pa.Table]:
    """The default scenario landed, and the gatekeeper's findings of every day, stamped."""
    root = str(tmp_path_factory.mktemp("default"))
    config = ScenarioConfig(start_date=dt.date(2026, 1, 1), seed=42)
    zone = LandingZone(root)
    days = scenario_days(config)
    zone.write_days(config, days)
    baseline = learn_baseline(zone, [d for d, w in days if w is Window.HISTORICAL])
    parts = [
        detect_day(zone, d, baseline, window=w.value, flagged_at=at(12, d.day % 60, d))
        for d, w in days
    ]
    return root, pa.concat_tables(parts)


def test_gatekeeper_findings_scored_by_dtg_score_give_its_evaluation(
    default_root, tmp_path, capsys
):
    root, findings = default_root
    zone = LandingZone(root)
    pairs = manifest_days(zone)
    labels, manifest = load_ground_truth(zone, pairs)
    landed = {}
    for day, window in pairs:
        landed.update(landed_at(zone, window, day))
    own = evaluate(findings, labels, manifest, landed=landed)
    assert own.summary()["caught_batches"] == own.summary()["anomalous_batches"] == 42
    assert own.batches["measured_delay_minutes"].notna().sum() == 42
    via_score = score(zone, findings)
    for name in ("batches", "by_anomaly", "records"):
        pd.testing.assert_frame_equal(getattr(via_score, name), getattr(own, name))
    for name in ("findings.parquet", "findings.csv"):
        path = str(tmp_path / name)
        write_flags(from_findings(findings), path)
        args = ["--data-root", root, "--findings", path, "--targets", "gatekeeper"]
        assert main([*args, "--format", "json"]) == 0
        out = json.loads(capsys.readouterr().out)
        assert {k: v for k, v in out.items() if k not in ("findings", "targets")} == own.to_json()
        assert main(args) == 0
        assert capsys.readouterr().out.endswith(own.to_markdown() + "\n")


def readme_sql() -> str:
    """The README's DuckDB detector: the sql block after its marker."""
    text = README.read_text()
    after = text[text.index("<!-- detector.sql -->") :]
    return re.search(r"```sql\n(.*?)```", after, re.S).group(1)


def test_readme_duckdb_detector_scored_end_to_end(default_root, monkeypatch, capsys):
    root, _ = default_root
    monkeypatch.chdir(root)  # the README runs it from the data root
    duckdb.connect().execute(readme_sql())
    assert main(["--data-root", ".", "--findings", "flags.csv", "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    # The figures the README quotes.
    assert out["summary"] == {
        "anomalous_batches": 42,
        "caught_batches": 35,
        "no_effect_batches": 0,
        "normal_batches": 28,
        "false_alarms": 0,
        "min_record_precision": 27923 / 27941,
        "min_record_recall": 0.0,
    }
    recall = {r["anomaly"]: r["recall"] for r in out["by_anomaly"] if r["batches"]}
    assert recall == {
        "null_burst": 1.0, "age_error": 1.0, "traffic_spike": 1.0, "fraud_spike": 1.0,
        "limit_spike": 0.0, "stale_data": 1.0, "none (historical)": None, "none (live)": None,
    }  # fmt: skip
    records = {r["record_type"]: r for r in out["records"] if r["labelled"]}
    pr = {k: (r["flagged"], r["true_positives"], r["labelled"]) for k, r in records.items()}
    assert pr == {
        "under_age_applications": (1161, 1161, 1161),
        "limit_spikes": (0, 0, 726),
        "fraud_transactions": (53, 53, 53),
        "null_campaigns": (8779, 8779, 8779),
        "bot_sessions": (27941, 27923, 27923),
        "stale_records": (0, 0, 45378),
    }
    measured = [b["measured_delay_minutes"] for b in out["batches"] if b["flagged"]]
    assert measured and all(m is not None and m >= 0 for m in measured)
