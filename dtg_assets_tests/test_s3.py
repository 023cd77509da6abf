"""The data root on S3: a real S3-protocol server (moto's standalone server) on 127.0.0.1.

The server runs in a thread of the test process on a free port and is reached over HTTP, as
any S3 endpoint would be (no in-process API patching); endpoint and credentials come from the
standard ``AWS_*`` environment variables only. The engine command and Dagster materializations
land into it, every asset check reads back from it, and the landing zone is read back with
pyarrow's own S3 filesystem and with DuckDB (its httpfs extension cannot be downloaded offline,
so DuckDB queries the pyarrow dataset registered as a view), then compared row for row with a
local run of the same seed. Bad credentials, an unreachable endpoint or a missing bucket fail
before anything is generated, with a message that never contains a secret.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
from pathlib import Path

import dagster as dg
import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pytest
import s3fs
from moto import server as moto_server

from dtg_assets.assets import historical_landing, live_landing
from dtg_assets.gatekeeper import learn_baseline
from dtg_assets.gatekeeper.findings import FINDINGS_SCHEMA
from dtg_assets.gatekeeper.store import GatekeeperStore
from dtg_assets.simulation.config import ScenarioConfig
from dtg_assets.simulation.landing import LandingZone
from dtg_assets.simulation.plan import Window, scenario_days
from dtg_assets.simulation.roots import DataRootError
from dtg_assets.simulation.scenario import run_scenario
from dtg_assets.simulation.schemas import PRIMARY_KEY, TABLES
from dtg_assets.simulation.storage import Storage
from dtg_assets.simulation.verify import CHECK_SPECS, verify_day
from dtg_assets_tests.conftest import HISTORICAL_DAY, LIVE_DAY, START, dagster_resources

BUCKET = "dtg-test"
SECRET = "sEcReT-never-printed-0123456789"
KEY_ID = "AKIDTESTDTG"
CLI_CONFIG = ScenarioConfig(start_date=START, seed=7, scale=0.01)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def aws_env(endpoint: str | None, credentials: bool = True) -> dict[str, str]:
    """The standard AWS variables, and nothing that could reach outside this machine."""
    env = {
        "AWS_DEFAULT_REGION": "us-east-1",
        # Without credentials botocore would ask the EC2 metadata service: never here.
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }
    if endpoint:
        env["AWS_ENDPOINT_URL"] = endpoint
    if credentials:
        env.update(AWS_ACCESS_KEY_ID=KEY_ID, AWS_SECRET_ACCESS_KEY=SECRET)
    return env


@pytest.fixture(scope="module")
def endpoint():
    """A moto S3 server on a free local port, the AWS variables pointing at it, one bucket."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    port = free_port()
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    url = f"http://127.0.0.1:{port}"
    with pytest.MonkeyPatch.context() as mp:
        for name in [n for n in os.environ if n.startswith("AWS_")]:
            mp.delenv(name)
        for name, value in aws_env(url).items():
            mp.setenv(name, value)
        s3fs.S3FileSystem.clear_instance_cache()
        s3fs.S3FileSystem().mkdir(BUCKET)
        yield url
        s3fs.S3FileSystem.clear_instance_cache()
    server.stop()


def arrow_s3(endpoint: str) -> pafs.S3FileSystem:
    """pyarrow's own S3 client (not fsspec) on the same server."""
    return pafs.S3FileSystem(
        endpoint_override=endpoint,
        access_key=KEY_ID,
        secret_key=SECRET,
        region="us-east-1",
        scheme="http",
    )


def read_table(filesystem, base: str, table: str) -> pa.Table:
    """A landing table as a reader sees it: hive dataset, sorted by primary key."""
    data = ds.dataset(
        f"{base}/landing/{table}", filesystem=filesystem, format="parquet", partitioning="hive"
    ).to_table()
    return data.sort_by(PRIMARY_KEY[table])


def run_cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    return subprocess.run(
        [sys.executable, "-m", "dtg_assets.simulation", *args],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def bucket_keys(prefix: str) -> list[str]:
    fs = s3fs.S3FileSystem(skip_instance_cache=True, use_listings_cache=False)
    return fs.find(f"{BUCKET}/{prefix}") if fs.exists(f"{BUCKET}/{prefix}") else []


@pytest.fixture(scope="module")
def local_cli_run(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("local-cli")
    run_scenario(CLI_CONFIG, str(root))
    return root


def test_engine_command_lands_on_s3_what_it_lands_locally(endpoint, local_cli_run):
    done = run_cli(
        ["generate", "--data-root", f"s3://{BUCKET}/cli", "--start-date", START.isoformat(),
         "--seed", "7", "--scale", "0.01"],
        aws_env(endpoint),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert SECRET not in done.stdout + done.stderr
    assert done.stderr == ""  # not a terminal: no progress bar

    remote, local = arrow_s3(endpoint), pafs.LocalFileSystem()
    for table in TABLES:
        got = read_table(remote, f"{BUCKET}/cli", table)
        expected = read_table(local, str(local_cli_run), table)
        assert got.num_rows > 0
        assert got.equals(expected), table
    # No temporaries left behind, and each file landed once.
    assert not [k for k in bucket_keys("cli") if k.endswith(".tmp")]

    # DuckDB: httpfs cannot be installed offline, so it queries the pyarrow dataset instead.
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    visitors = ds.dataset(
        f"{BUCKET}/cli/landing/visitor_events", filesystem=remote, partitioning="hive"
    )
    con.register("visitors", visitors)
    on_s3 = con.execute(
        "SELECT CAST(date AS VARCHAR), count(*) FROM visitors GROUP BY ALL ORDER BY 1"
    ).fetchall()
    pattern = f"{local_cli_run}/landing/visitor_events/*/*.parquet"
    on_disk = con.execute(
        "SELECT CAST(date AS VARCHAR), count(*) "
        f"FROM read_parquet('{pattern}', hive_partitioning = true) GROUP BY ALL ORDER BY 1"
    ).fetchall()
    assert on_s3 == on_disk
    assert sum(n for _, n in on_s3) == 3507  # 350,700 visitors at scale 0.01

    # Every asset check, reading back from S3, passes (a historical and a live day; the
    # Dagster test below runs them all through the assets).
    zone = LandingZone(f"s3://{BUCKET}/cli")
    days = scenario_days(CLI_CONFIG)
    for day, window in (days[0], days[-1]):
        failed = [o.spec.name for o in verify_day(zone, CLI_CONFIG, day, window) if not o.passed]
        assert failed == [], (day, failed)


@pytest.fixture(scope="module")
def dagster_runs(endpoint, tmp_path_factory):
    """A historical and a live partition materialized into S3 and into a local root."""
    local = tmp_path_factory.mktemp("local-dagster")
    results = {}
    for where, root in (("s3", f"s3://{BUCKET}/dagster"), ("local", str(local))):
        for assets_def, day in ((historical_landing, HISTORICAL_DAY), (live_landing, LIVE_DAY)):
            results[where, day] = dg.materialize(
                [assets_def], partition_key=day.isoformat(), resources=dagster_resources(root)
            )
    return results, local


def test_dagster_materializes_into_s3_with_every_check_passing(endpoint, dagster_runs):
    results, local = dagster_runs
    for day in (HISTORICAL_DAY, LIVE_DAY):
        result = results["s3", day]
        assert result.success
        evaluations = result.get_asset_check_evaluations()
        assert len(evaluations) == len(CHECK_SPECS)
        assert [e.check_name for e in evaluations if not e.passed] == []
        paths = [
            p
            for e in result.get_asset_materialization_events()
            for p in e.materialization.metadata.get("paths", dg.MetadataValue.json([])).value
        ]
        assert paths and all(p.startswith(f"s3://{BUCKET}/dagster/landing/") for p in paths)
        events = " ".join(str(e) for e in result.all_events)
        assert SECRET not in events and KEY_ID not in events

    remote = arrow_s3(endpoint)
    for table in TABLES:
        got = read_table(remote, f"{BUCKET}/dagster", table)
        assert got.equals(read_table(pafs.LocalFileSystem(), str(local), table)), table
    for window, day in ((Window.HISTORICAL, HISTORICAL_DAY), (Window.LIVE, LIVE_DAY)):
        zone = LandingZone(f"s3://{BUCKET}/dagster")
        assert zone.read_manifest(window, day).equals(
            LandingZone(str(local)).read_manifest(window, day)
        )


def test_gatekeeper_store_round_trips_on_s3(endpoint, dagster_runs):
    zone = LandingZone(f"s3://{BUCKET}/dagster")
    store = GatekeeperStore(zone)
    baseline = learn_baseline(zone, [HISTORICAL_DAY])
    assert store.write_baseline(baseline) == f"s3://{BUCKET}/dagster/gatekeeper/baseline.json"
    assert store.read_baseline().to_json() == baseline.to_json()
    findings = FINDINGS_SCHEMA.empty_table()
    store.write_findings(LIVE_DAY, findings)
    assert store.findings_days() == [LIVE_DAY]
    assert store.read_findings(LIVE_DAY).equals(findings)
    store.write_evaluation({"by_family": pa.table({"family": ["technical"], "recall": [1.0]})})
    assert not [k for k in bucket_keys("dagster/gatekeeper") if k.endswith(".tmp")]


def committed_files(fs, base: str) -> dict[str, bytes]:
    """``relative path -> bytes`` of every visible (not hidden) landing and ground-truth file."""
    found = {}
    for top in ("landing", "ground_truth"):
        if fs.exists(f"{base}/{top}"):
            for path in fs.find(f"{base}/{top}"):
                if not path.rsplit("/", 1)[1].startswith("."):
                    found[path.removeprefix(base).lstrip("/")] = fs.cat_file(path)
    return found


def test_readers_never_see_a_partial_day_when_a_commit_fails(endpoint, monkeypatch):
    """Files are staged under hidden names and copied into place at the end of the day."""
    root = f"s3://{BUCKET}/commit"
    # A historical day: one batch, a dozen files, so the test stays quick on a local server.
    old = ScenarioConfig(start_date=START, historical_days=1, live_days=0, seed=1, scale=0.2)
    new = old.model_copy(update={"seed": 2})
    day = START
    LandingZone(root).write_day(old, day)
    s3 = s3fs.S3FileSystem(skip_instance_cache=True, use_listings_cache=False)
    old_files = committed_files(s3, f"{BUCKET}/commit")
    reference = LandingZone(f"memory://dtg-s3-commit-{os.getpid()}")
    reference.write_day(new, day)
    new_files = committed_files(reference.fs, reference.root)
    manifest = "ground_truth/manifest/historical-20260105.parquet"
    assert old_files[manifest] != new_files[manifest]
    remote = arrow_s3(endpoint)
    old_visitors = read_table(remote, f"{BUCKET}/commit", "visitor_events")

    staged = []
    real_rename_many = Storage.rename_many

    def commit_three_then_fail(self, pairs):
        if not staged:
            # Everything of the new day is staged, under hidden names readers skip.
            seen = read_table(remote, f"{BUCKET}/commit", "visitor_events")
            assert seen.equals(old_visitors)
        staged.extend(source.rsplit("/", 1)[1] for source, _ in pairs)
        real_rename_many(self, pairs[:3])
        raise OSError("connection lost mid-commit")

    monkeypatch.setattr(Storage, "rename_many", commit_three_then_fail)
    with pytest.raises(OSError, match="mid-commit"):
        LandingZone(root).write_day(new, day)
    monkeypatch.setattr(Storage, "rename_many", real_rename_many)
    assert all(name.startswith(".") and name.endswith(".tmp") for name in staged)

    # Three files of the new write were committed, each whole; every other file is the old
    # one, the old manifest still describes the day (it is committed last), no temporary is
    # left, and readers read every visible file.
    after = committed_files(s3, f"{BUCKET}/commit")
    assert old_files.keys() <= after.keys()
    assert all(after[k] in (old_files.get(k), new_files.get(k)) for k in after)
    assert sum(after[k] != old_files.get(k) for k in after) == 3 < len(after) - 1
    assert after[manifest] == old_files[manifest]
    assert not [k for k in bucket_keys("commit") if k.endswith(".tmp")]
    for table in TABLES:
        read_table(remote, f"{BUCKET}/commit", table)

    LandingZone(root).write_day(new, day)
    assert committed_files(s3, f"{BUCKET}/commit") == new_files
    for table in TABLES:
        got = LandingZone(root).read_day(table, Window.HISTORICAL, day)
        assert pc.count_distinct(got[PRIMARY_KEY[table]]).as_py() == got.num_rows > 0


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("no credentials", "no credentials found: set AWS_ACCESS_KEY_ID"),
        ("unreachable", "cannot reach the object store at http://127.0.0.1:"),
        ("no bucket", "bucket 'no-such-bucket' does not exist"),
    ],
)
def test_bad_object_store_fails_before_generating_and_names_the_problem(endpoint, case, message):
    bucket = "no-such-bucket" if case == "no bucket" else BUCKET
    prefix = f"preflight-{case.replace(' ', '-')}"
    url = f"http://127.0.0.1:{free_port()}" if case == "unreachable" else endpoint
    done = run_cli(
        ["generate", "--data-root", f"s3://{bucket}/{prefix}", "--scale", "0.01"],
        aws_env(url, credentials=case != "no credentials"),
    )
    assert done.returncode == 1
    [line] = done.stderr.splitlines()
    assert line.startswith(f"error: cannot write the scenario to s3://{bucket}/{prefix}: ")
    assert message in line
    assert SECRET not in done.stdout + done.stderr
    assert "writing" not in done.stdout  # failed before the run started
    assert bucket_keys(prefix) == []
    assert not s3fs.S3FileSystem(skip_instance_cache=True).exists("no-such-bucket")


def test_dagster_run_with_an_unreachable_store_fails_before_writing(endpoint, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
    s3fs.S3FileSystem.clear_instance_cache()
    try:
        result = dg.materialize(
            [live_landing],
            partition_key=LIVE_DAY.isoformat(),
            resources=dagster_resources(f"s3://{BUCKET}/unreachable"),
            raise_on_error=False,
        )
    finally:
        monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
        s3fs.S3FileSystem.clear_instance_cache()
    assert not result.success
    [failure] = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    description = failure.step_failure_data.user_failure_data.description
    assert "cannot reach the object store at http://127.0.0.1:" in description
    assert "nothing was written" in description
    assert bucket_keys("unreachable") == []


def test_missing_s3fs_is_reported_with_the_extra_to_install(monkeypatch):
    import fsspec

    def no_s3fs(*args, **kwargs):
        raise ImportError("Install s3fs to access S3")

    monkeypatch.setattr(fsspec.core, "url_to_fs", no_s3fs)
    with pytest.raises(DataRootError, match=r"pip install 'dtg_assets\[s3\]'"):
        LandingZone("s3://bucket/prefix")
