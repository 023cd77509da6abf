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

import contextlib
import datetime as dt
import logging
import os
import socket
import subprocess
import sys
import threading
import time
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
from dtg_assets.gatekeeper.score import landed_at
from dtg_assets.gatekeeper.store import GatekeeperStore
from dtg_assets.simulation.config import ScenarioConfig
from dtg_assets.simulation.landing import LandingZone
from dtg_assets.simulation.plan import Window, scenario_days
from dtg_assets.simulation.roots import DataRootError, StoreError
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


def run_cli(
    args: list[str], env: dict[str, str], timeout: float = 300
) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    return subprocess.run(
        [sys.executable, "-m", "dtg_assets.simulation", *args],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
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
    # Landing times from the store's listings (LastModified): every landed batch, just now.
    landed = landed_at(zone, "live", LIVE_DAY)
    assert sorted(landed) == sorted(zone.read_manifest("live", LIVE_DAY)["batch_id"].to_pylist())
    assert all(abs(dt.datetime.now(dt.UTC) - t) < dt.timedelta(hours=1) for t in landed.values())


def committed_files(fs, base: str) -> dict[str, bytes]:
    """``relative path -> bytes`` of every visible (not hidden) landing and ground-truth file."""
    found = {}
    for top in ("landing", "ground_truth"):
        if fs.exists(f"{base}/{top}"):
            for path in fs.find(f"{base}/{top}"):
                if not path.rsplit("/", 1)[1].startswith("."):
                    found[path.removeprefix(base).lstrip("/")] = fs.cat_file(path)
    return found


def test_a_torn_commit_reads_back_as_the_committed_day_and_a_rerun_completes(endpoint, monkeypatch):
    """Config B's commit is cut after three files, over a committed day of config A."""
    from botocore.exceptions import EndpointConnectionError

    root = f"s3://{BUCKET}/commit"
    # A historical day: one batch, a dozen files, so the test stays quick on a local server.
    old = ScenarioConfig(start_date=START, historical_days=1, live_days=0, seed=1, scale=0.2)
    new = old.model_copy(update={"seed": 2})
    day = START
    zone = LandingZone(root)
    zone.write_day(old, day)
    s3 = s3fs.S3FileSystem(skip_instance_cache=True, use_listings_cache=False)
    old_files = committed_files(s3, f"{BUCKET}/commit")
    expected = {t: zone.read_day(t, Window.HISTORICAL, day) for t in TABLES}
    expected_labels = zone.read_labels(Window.HISTORICAL, day)
    reference = LandingZone(f"memory://dtg-s3-commit-{os.getpid()}")
    reference.write_day(new, day)
    new_files = committed_files(reference.fs, reference.root)
    remote = arrow_s3(endpoint)
    old_visitors = read_table(remote, f"{BUCKET}/commit", "visitor_events")

    staged, torn = [], []
    real_rename_many = Storage.rename_many

    def commit_three_then_fail(self, pairs):
        if not staged:
            # Everything of the new day is staged, under hidden names readers skip.
            seen = read_table(remote, f"{BUCKET}/commit", "visitor_events")
            assert seen.equals(old_visitors)
        staged.extend(source.rsplit("/", 1)[1] for source, _ in pairs)
        real_rename_many(self, pairs[:3])
        torn.extend(target for _, target in pairs[:3])
        raise EndpointConnectionError(endpoint_url=f"{endpoint}/{BUCKET}/commit")

    monkeypatch.setattr(Storage, "rename_many", commit_three_then_fail)
    with pytest.raises(StoreError) as error:
        LandingZone(root).write_day(new, day)
    monkeypatch.setattr(Storage, "rename_many", real_rename_many)
    assert all(name.startswith(".") and name.endswith(".tmp") for name in staged)
    assert "\n" not in str(error.value)
    assert f"lost the connection to the object store at {endpoint}" in error.value.why

    # Three files of the new write are visible beside the old ones, each whole; the old files
    # are untouched, the day reads back exactly as it was committed, no temporary is left, and
    # the new write's landing files are flagged as foreign to the day.
    after = committed_files(s3, f"{BUCKET}/commit")
    assert {k: after[k] for k in old_files} == old_files
    extra = sorted(set(after) - set(old_files))
    assert len(extra) == 3 and all(after[k] == new_files[k] for k in extra)
    assert not [k for k in bucket_keys("commit") if k.endswith(".tmp")]
    for table in TABLES:
        assert zone.read_day(table, Window.HISTORICAL, day).equals(expected[table])
    assert zone.read_labels(Window.HISTORICAL, day).equals(expected_labels)
    flagged = [p for t in TABLES for p in zone.foreign_files(t, Window.HISTORICAL, day)]
    assert sorted(flagged) == sorted(zone.uri_of(p) for p in torn if "/landing/" in p)
    assert flagged

    LandingZone(root).write_day(new, day)
    assert committed_files(s3, f"{BUCKET}/commit") == new_files
    assert [p for t in TABLES for p in zone.foreign_files(t, Window.HISTORICAL, day)] == []
    for table in TABLES:
        got = LandingZone(root).read_day(table, Window.HISTORICAL, day)
        assert pc.count_distinct(got[PRIMARY_KEY[table]]).as_py() == got.num_rows > 0


class Blackhole:
    """A TCP proxy to the S3 server on 127.0.0.1 that can start hanging: once ``hang`` is set
    it accepts connections and reads requests but never answers, like a stalled endpoint."""

    def __init__(self, target: str) -> None:
        self.target = ("127.0.0.1", int(target.rsplit(":", 1)[1]))
        self.hang = threading.Event()
        self.stop = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.sockets: list[socket.socket] = [self.listener]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            self.sockets.append(client)
            if self.hang.is_set():
                threading.Thread(target=self._pump, args=(client, None), daemon=True).start()
                continue
            upstream = socket.create_connection(self.target)
            self.sockets.append(upstream)
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket | None) -> None:
        try:
            while data := src.recv(65536):
                if dst is not None and not self.hang.is_set():
                    dst.sendall(data)
        except OSError:
            pass

    def close(self) -> None:
        self.stop.set()
        for sock in self.sockets:
            with contextlib.suppress(OSError):
                sock.close()


def test_a_store_that_hangs_mid_write_fails_in_seconds_and_loses_nothing(endpoint, monkeypatch):
    proxy = Blackhole(endpoint)
    monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
    s3fs.S3FileSystem.clear_instance_cache()
    try:
        old = ScenarioConfig(start_date=START, historical_days=1, live_days=0, seed=1, scale=0.2)
        new = old.model_copy(update={"seed": 2})
        root = f"s3://{BUCKET}/hang"
        LandingZone(root, timeout=1).write_day(old, START)
        s3 = s3fs.S3FileSystem(skip_instance_cache=True, use_listings_cache=False)
        monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
        s3fs.S3FileSystem.clear_instance_cache()
        before = committed_files(s3, f"{BUCKET}/hang")
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
        s3fs.S3FileSystem.clear_instance_cache()
        zone = LandingZone(root, timeout=1)
        zone.preflight()
        # The endpoint stalls once the day's batch is generated, before anything is committed.
        with pytest.raises(StoreError) as error:
            zone.write_day(new, START, progress=lambda plan, counts: proxy.hang.set())
    finally:
        proxy.close()
        monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
        s3fs.S3FileSystem.clear_instance_cache()
    assert "\n" not in str(error.value)
    assert f"writing historical day {START.isoformat()} failed: " in error.value.why
    assert f"the object store at {proxy.url}" in error.value.why
    s3 = s3fs.S3FileSystem(skip_instance_cache=True, use_listings_cache=False)
    assert committed_files(s3, f"{BUCKET}/hang") == before
    back = LandingZone(root)
    assert back.read_manifest(Window.HISTORICAL, START)["seed"].to_pylist() == [1]
    assert [p for t in TABLES for p in back.foreign_files(t, Window.HISTORICAL, START)] == []


def test_a_store_that_hangs_from_the_start_fails_within_the_timeout(endpoint):
    # Connections are accepted by the kernel (backlog) and never answered.
    with socket.create_server(("127.0.0.1", 0), backlog=64) as silent:
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        done = run_cli(
            ["generate", "--data-root", f"s3://{BUCKET}/silent", "--scale", "0.01"],
            {**aws_env(url), "DTG_STORE_TIMEOUT": "1"},
            timeout=120,
        )
    assert done.returncode == 1
    [line] = done.stderr.splitlines()
    assert line.startswith(f"error: cannot write the scenario to s3://{BUCKET}/silent: ")
    assert f"cannot reach the object store at {url}" in line


def test_a_store_that_dies_mid_run_ends_the_command_with_one_line(endpoint):
    port = free_port()
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    url = f"http://127.0.0.1:{port}"
    env = {**aws_env(url), "DTG_STORE_TIMEOUT": "2"}
    try:
        fs = s3fs.S3FileSystem(skip_instance_cache=True, use_listings_cache=False, endpoint_url=url)
        fs.mkdir("dying")
        base = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        proc = subprocess.Popen(
            [sys.executable, "-m", "dtg_assets.simulation", "generate", "--data-root",
             "s3://dying/run", "--start-date", START.isoformat(), "--scale", "0.01"],
            env={**base, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        deadline = time.monotonic() + 120
        while not fs.exists("dying/run/ground_truth/manifest") and time.monotonic() < deadline:
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.05)
            fs.invalidate_cache()
    finally:
        server.stop()  # the endpoint dies mid-run: connections are refused from now on
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 1, stderr
    [line] = stderr.splitlines()
    assert line.startswith("error: cannot write the scenario to s3://dying/run: ")
    assert f"the object store at {url}" in line
    assert SECRET not in stderr


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
