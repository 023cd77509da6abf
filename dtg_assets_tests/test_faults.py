"""Faults: writers SIGKILLed mid-run, unusable data roots, corrupt and foreign files.

The engine command and a Dagster run (``dagster asset materialize``) rewrite a landing zone
that already holds another seed's data and are killed with SIGKILL (their whole process group)
as soon as their first day is committed. Readers (pyarrow datasets, DuckDB's hive-partitioned
``*.parquet`` glob) must then read every visible file, each a complete file of the old or the
new write; a day whose new manifest is visible must be entirely new; and running again must
land exactly what an uninterrupted run lands. A root that is read-only, cannot be created or is
a file fails with a clear error before anything is written; a truncated Parquet file or a stray
CSV makes the checks fail naming the file, without crashing.
"""

from __future__ import annotations

import collections
import datetime as dt
import errno
import hashlib
import os
import pickle
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import duckdb
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from dtg_assets.assets import historical_landing, live_landing
from dtg_assets.simulation import layout, sinks, storage
from dtg_assets.simulation.cli import main
from dtg_assets.simulation.config import ScenarioConfig
from dtg_assets.simulation.landing import LandingZone
from dtg_assets.simulation.plan import Window, scenario_days
from dtg_assets.simulation.roots import DataRootError, StoreError
from dtg_assets.simulation.scenario import run_scenario
from dtg_assets.simulation.schemas import TABLES
from dtg_assets.simulation.storage import Storage
from dtg_assets.simulation.verify import verify_day
from dtg_assets_tests.conftest import DAGSTER_START, LIVE_DAY, START, dagster_resources

BIN = Path(sys.executable).parent


def snapshot(root: Path) -> dict[str, str]:
    """``relative path -> sha256`` of every visible landing and ground-truth file."""
    found = {}
    for top in ("landing", "ground_truth"):
        for path in (root / top).rglob("*"):
            if path.is_file() and not path.name.startswith("."):
                found[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def day_of(relative: str) -> str:
    """``<window>-YYYYMMDD`` of a landing, commit-record or ground-truth file."""
    name = relative.rsplit("/", 1)[1]
    parsed = layout.parse_landing_name(name)
    return parsed.batch_id.rsplit("-", 1)[0] if parsed else name.split(".", 1)[0]


def by_day(files: dict[str, str]) -> dict[str, dict[str, str]]:
    days: dict[str, dict[str, str]] = collections.defaultdict(dict)
    for path, digest in files.items():
        days[day_of(path)][path] = digest
    return days


def manifests_inodes(root: Path) -> dict[str, int]:
    folder = root / "ground_truth" / "manifest"
    return {p.name: p.stat().st_ino for p in folder.glob("*.parquet")} if folder.exists() else {}


def kill_after_first_commit(proc: subprocess.Popen, root: Path, timeout: float = 300) -> None:
    """SIGKILL a writer's process group as soon as it replaced a first day's manifest."""
    before = manifests_inodes(root)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        now = manifests_inodes(root)
        if any(now.get(name) != inode for name, inode in before.items()):
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(30)
            return
        if proc.poll() is not None:
            pytest.fail(f"the writer ended before it could be killed: {proc.returncode}")
        time.sleep(0.002)
    os.killpg(proc.pid, signal.SIGKILL)
    pytest.fail("no day was committed in time")


def assert_days_read_whole(root: Path) -> None:
    """Every day with a manifest reads back, through the zone, exactly the rows it committed."""
    zone = LandingZone(str(root))
    for path in (root / "ground_truth" / "manifest").glob("*.parquet"):
        window, stamp = path.name.removesuffix(".parquet").split("-")
        day = dt.datetime.strptime(stamp, "%Y%m%d").date()
        manifest = zone.read_manifest(window, day)
        for table in TABLES:
            rows = sum(manifest[f"rows_{table}"].to_pylist())
            assert zone.read_day(table, window, day).num_rows == rows, (path.name, table)


def assert_old_or_new_days(killed: dict[str, str], old: dict[str, str], new: dict[str, str]) -> int:
    """Each day reads back (through its commit) as wholly old or wholly new; files of the other
    write beside it are whole, and only around the one or two days being committed.

    Returns:
        How many days were new.
    """
    old_days, new_days = by_day(old), by_day(new)
    new_count, mixed = 0, []
    for day, files in by_day(killed).items():
        manifest = next(p for p in files if p.startswith("ground_truth/manifest/"))
        expected = new_days[day] if files[manifest] == new[manifest] else old_days[day]
        new_count += expected is new_days[day]
        # The commit record is renamed just before the manifest: either write's, in that gap.
        record = next(p for p in expected if p.startswith("landing/_commits/"))
        assert files[record] in (old[record], new[record]), day
        assert {p: files[p] for p in expected if p != record} == {
            p: d for p, d in expected.items() if p != record
        }, f"{day}: not the committed write's files"
        extra = set(files) - set(expected)
        # Left by the write being committed (or by the previous one, not yet cleaned up).
        assert all(files[p] in (old.get(p), new.get(p)) for p in extra), day
        if extra:
            mixed.append(day)
    assert len(mixed) <= 2, mixed
    return new_count


def assert_readers_read(root: Path, expected_rows: dict[str, int] | None = None) -> None:
    """pyarrow and DuckDB read every visible file (no partial one) and agree on counts."""
    con = duckdb.connect()
    for table in TABLES:
        arrow_rows = ds.dataset(root / "landing" / table, partitioning="hive").count_rows()
        glob = f"{root}/landing/{table}/*/*.parquet"
        [(duck_rows,)] = con.execute(
            f"SELECT count(*) FROM read_parquet('{glob}', hive_partitioning = true)"
        ).fetchall()
        assert arrow_rows == duck_rows > 0, table
        if expected_rows is not None:
            assert arrow_rows == expected_rows[table], table


def manifest_rows(root: Path) -> dict[str, int]:
    manifests = ds.dataset(root / "ground_truth" / "manifest").to_table()
    return {t: sum(manifests[f"rows_{t}"].to_pylist()) for t in TABLES}


def spawn(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.Popen:
    # A session of its own: the kill reaches the whole group (Dagster's step process too).
    return subprocess.Popen(
        args,
        env=env,
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )


def test_engine_command_killed_mid_run_leaves_whole_days_and_reruns_exactly(tmp_path):
    root = tmp_path / "data"
    scale = 2.0
    run_scenario(ScenarioConfig(start_date=START, seed=1, scale=scale), str(root))
    old = snapshot(root)
    args = [sys.executable, "-m", "dtg_assets.simulation", "generate", "--data-root", str(root),
            "--start-date", START.isoformat(), "--seed", "2", "--scale", str(scale)]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("DTG_")}

    proc = spawn(args, env, tmp_path)
    kill_after_first_commit(proc, root)
    killed = snapshot(root)
    assert_readers_read(root)
    assert_days_read_whole(root)

    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    new = snapshot(root)
    new_days = assert_old_or_new_days(killed, old, new)
    assert 1 <= new_days < 21, "the kill should land mid-run"
    assert not list(root.rglob("*.tmp")), "the re-run cleans up the killed run's temporaries"
    # Exact counts: what the manifests (and the command's summary) say, to the row.
    expected = manifest_rows(root)
    assert expected["visitor_events"] == int(350_700 * scale)
    assert_readers_read(root, expected)
    assert summary_rows(done.stdout) == expected


def summary_rows(stdout: str) -> dict[str, int]:
    """Rows per table from the command's summary."""
    rows = {}
    for line in stdout.splitlines():
        words = line.split()
        if words and words[0] in TABLES:
            rows[words[0]] = int(words[1].replace(",", ""))
    return rows


def test_dagster_run_killed_mid_run_leaves_whole_days_and_reruns_exactly(tmp_path):
    root, home = tmp_path / "data", tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("")
    scale = 3.0
    old_config = ScenarioConfig(start_date=DAGSTER_START, seed=1, scale=scale)
    # Seven of the historical partitions: enough to be killed mid-range, quick to re-run.
    historical = [(d, w) for d, w in scenario_days(old_config) if w is Window.HISTORICAL][:7]
    run_scenario(old_config, str(root), days=historical)
    old = snapshot(root)
    config = tmp_path / "run.yaml"
    config.write_text(f"resources:\n  simulation:\n    config:\n      scale: {scale}\n")
    span = f"{historical[0][0]}...{historical[-1][0]}"
    args = [str(BIN / "dagster"), "asset", "materialize", "-m", "dtg_assets.definitions",
            "--select", "group:historical", "--partition-range", span,
            "-c", str(config)]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DTG_", "DAGSTER_"))}
    env.update(
        DAGSTER_HOME=str(home),
        DTG_START_DATE=DAGSTER_START.isoformat(),
        DTG_DATA_ROOT=str(root),
        DTG_SEED="2",
    )

    proc = spawn(args, env, tmp_path)
    kill_after_first_commit(proc, root)
    killed = snapshot(root)
    assert_readers_read(root)
    assert_days_read_whole(root)

    # The re-run, in process to save a second Dagster start-up: same job, range and seed.
    rerun = dg.materialize(
        [historical_landing],
        tags={
            "dagster/asset_partition_range_start": historical[0][0].isoformat(),
            "dagster/asset_partition_range_end": historical[-1][0].isoformat(),
        },
        resources=dagster_resources(root, scale=scale, seed=2),
    )
    assert rerun.success
    assert all(e.passed for e in rerun.get_asset_check_evaluations())
    new = snapshot(root)
    new_days = assert_old_or_new_days(killed, old, new)
    assert 1 <= new_days < 7, "the kill should land mid-run"
    assert not list(root.rglob("*.tmp"))
    expected = manifest_rows(root)
    assert expected["visitor_events"] == int(7 * 5_000 * scale)
    assert_readers_read(root, expected)


# --- unusable data roots ------------------------------------------------------------------


def make_read_only(path: Path) -> None:
    """Make a directory unwritable even for root (immutable), or skip if impossible here."""
    path.chmod(0o555)
    probe = path / ".probe"
    try:
        probe.touch()
    except PermissionError:
        return
    probe.unlink()
    path.chmod(0o755)
    if shutil.which("chattr") is None:
        pytest.skip("running as root without chattr: cannot make a directory read-only")
    done = subprocess.run(["chattr", "+i", str(path)], capture_output=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot make a directory read-only here: {done.stderr.decode().strip()}")


def make_writable(path: Path) -> None:
    if shutil.which("chattr"):
        subprocess.run(["chattr", "-i", str(path)], capture_output=True, check=False)
    path.chmod(0o755)


@pytest.fixture(params=["read-only", "uncreatable", "a file"])
def bad_root(request, tmp_path):
    """``(root, expected message, what must stay unchanged)`` for each unusable root."""
    if request.param == "read-only":
        root = tmp_path / "readonly"
        root.mkdir()
        make_read_only(root)
        yield root, "not writable", root
        make_writable(root)
    elif request.param == "uncreatable":
        parent = tmp_path / "a-file"
        parent.write_text("")
        yield parent / "data", "cannot create it", parent
    else:
        root = tmp_path / "root-file"
        root.write_text("not a directory")
        yield root, "it is a file", root


def state(path: Path) -> list:
    if path.is_file():
        return [path.read_bytes()]
    return sorted(str(p) for p in path.rglob("*"))


SMALL = ScenarioConfig(start_date=START, historical_days=1, live_days=1, seed=3, scale=0.05)


def test_unusable_root_fails_clearly_and_writes_nothing(bad_root, capsys, monkeypatch):
    root, message, watched = bad_root
    before = state(watched)

    with pytest.raises(DataRootError, match=message) as error:
        run_scenario(SMALL, str(root))
    assert str(root) in str(error.value)
    with pytest.raises(DataRootError, match=message):
        LandingZone(str(root)).write_day(SMALL, START)

    code = main(["generate", "--data-root", str(root), "--scale", "0.01"])
    err = capsys.readouterr().err
    if message == "it is a file":
        assert code == 2 and "is a file" in err  # caught with the arguments
    else:
        assert code == 1 and err.count("\n") == 1 and message in err

    result = dg.materialize(
        [live_landing],
        partition_key=LIVE_DAY.isoformat(),
        resources=dagster_resources(root),
        raise_on_error=False,
    )
    assert not result.success
    [failure] = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    description = failure.step_failure_data.user_failure_data.description
    assert message in description and str(root) in description
    assert state(watched) == before


# --- corrupt and foreign files ------------------------------------------------------------


@pytest.fixture
def landed_day(tmp_path) -> tuple[LandingZone, dt.date]:
    zone = LandingZone(str(tmp_path / "data"))
    day = START + dt.timedelta(days=1)
    zone.write_day(SMALL, day)
    return zone, day


def failed_checks(zone: LandingZone, day: dt.date) -> dict[tuple[str, str], str]:
    return {
        (o.spec.asset, o.spec.name): o.description
        for o in verify_day(zone, SMALL, day, Window.LIVE)
        if not o.passed
    }


def test_truncated_parquet_fails_the_count_checks_naming_the_file(landed_day):
    zone, day = landed_day
    victim = zone.day_files("applications", Window.LIVE, day)[0]
    size = os.path.getsize(victim)
    with open(victim, "r+b") as handle:
        handle.truncate(size // 2)
    failed = failed_checks(zone, day)
    description = failed["applications", "rows_match_manifest"]
    assert victim in description
    assert ("visitor_events", "rows_match_manifest") not in failed
    with pytest.raises(Exception):  # noqa: B017 - any reader error: the file is broken
        pq.read_table(victim)


def test_stray_csv_fails_the_checks_naming_it_and_readers_glob_past_it(landed_day):
    zone, day = landed_day
    folder = Path(zone.day_files("visitor_events", Window.LIVE, day)[0]).parent
    rows_before = ds.dataset(folder.parent, partitioning="hive").count_rows()
    stray = folder / "export.csv"
    stray.write_text("visitor_id,event_type\nabc,landing\n")

    failed = failed_checks(zone, day)
    assert list(failed) == [("visitor_events", "only_committed_files")]
    assert str(stray) in failed["visitor_events", "only_committed_files"]
    # The engine's own read-back never touches it; a *.parquet glob skips it.
    assert zone.read_day("visitor_events", Window.LIVE, day).num_rows == rows_before
    glob = f"{folder.parent}/*/*.parquet"
    [(count,)] = duckdb.sql(
        f"SELECT count(*) FROM read_parquet('{glob}', hive_partitioning = true)"
    ).fetchall()
    assert count == rows_before
    # Hidden names are no excuse (a glob or a hand may read them): a marker is flagged too.
    stray.unlink()
    (folder / "_SUCCESS").write_text("")
    failed = failed_checks(zone, day)
    assert list(failed) == [("visitor_events", "only_committed_files")]
    assert str(folder / "_SUCCESS") in failed["visitor_events", "only_committed_files"]


# --- torn writes, full disks and bad schemes ----------------------------------------------


def own_temporaries(root: Path) -> list[str]:
    return sorted(str(p) for p in root.rglob("*.tmp"))


def visible(root: Path) -> dict[str, bytes]:
    """Every visible landing, commit-record and ground-truth file: relative path -> bytes."""
    return {
        str(p.relative_to(root)): p.read_bytes()
        for top in ("landing", "ground_truth")
        for p in (root / top).rglob("*")
        if p.is_file() and not p.name.startswith(".")
    }


def read_all(zone: LandingZone, window: Window, day: dt.date) -> dict[str, object]:
    read = {t: zone.read_day(t, window, day) for t in TABLES}
    return {
        **read,
        "labels": zone.read_labels(window, day),
        "manifest": zone.read_manifest(window, day),
    }


CONFIG_A = ScenarioConfig(start_date=START, historical_days=1, live_days=1, seed=11, scale=0.05)
CONFIG_B = CONFIG_A.model_copy(update={"seed": 12})
TORN_DAY = START + dt.timedelta(days=1)  # live: eight batches, dozens of files


def test_a_torn_commit_reads_back_as_the_committed_day_and_its_files_are_flagged(
    tmp_path, monkeypatch
):
    root = tmp_path / "data"
    zone = LandingZone(str(root))
    zone.write_day(CONFIG_A, TORN_DAY)
    committed_a = visible(root)
    expected = read_all(zone, Window.LIVE, TORN_DAY)

    real = Storage.rename_many
    torn: list[str] = []

    def three_then_lost(self, pairs):
        real(self, pairs[:3])
        torn.extend(target for _, target in pairs[:3])
        raise ConnectionResetError(104, "Connection reset by peer")

    monkeypatch.setattr(Storage, "rename_many", three_then_lost)
    with pytest.raises(DataRootError) as error:
        LandingZone(str(root)).write_day(CONFIG_B, TORN_DAY)
    monkeypatch.setattr(Storage, "rename_many", real)
    message = str(error.value)
    assert "\n" not in message and str(root) in message and "Connection reset by peer" in message
    assert own_temporaries(root) == []

    # B's first three files are visible beside A's; A's files are untouched and the day reads
    # back exactly as A committed it.
    after = visible(root)
    assert {p: after[p] for p in committed_a} == committed_a
    leftovers = sorted(set(after) - set(committed_a))
    assert [str(root / p) for p in leftovers] == sorted(torn)
    token_b = layout.token_of(layout.config_hash(CONFIG_B, Window.LIVE))
    assert all(f".{token_b}." in p for p in leftovers)
    got = read_all(zone, Window.LIVE, TORN_DAY)
    assert all(got[k].equals(expected[k]) for k in expected)
    # The checks see them: each landing file is listed as foreign to the day in its table (the
    # labels file, committed first, is not read either: the manifest names A's).
    flagged = [p for t in TABLES for p in zone.foreign_files(t, Window.LIVE, TORN_DAY)]
    torn_landing = [p for p in torn if "/landing/" in p]
    assert torn_landing and sorted(flagged) == sorted(torn_landing)
    failed = {
        (o.spec.asset, o.spec.name)
        for o in verify_day(zone, CONFIG_A, TORN_DAY, Window.LIVE)
        if not o.passed
    }
    tables = {Path(p).relative_to(root).parts[1] for p in torn_landing}
    assert {(t, "only_committed_files") for t in tables} <= failed
    assert not {(t, "rows_match_manifest") for t in TABLES} & failed

    # Writing B again completes it and removes A's files and B's leftovers' duplicates.
    result = LandingZone(str(root)).write_day(CONFIG_B, TORN_DAY)
    reference = tmp_path / "reference"
    LandingZone(str(reference)).write_day(CONFIG_B, TORN_DAY)
    assert visible(root) == visible(reference)
    assert sorted(result.removed) == sorted(
        str(root / p)
        for p in committed_a
        if not p.startswith(("landing/_commits", "ground_truth/manifest"))
    )
    assert [p for t in TABLES for p in zone.foreign_files(t, Window.LIVE, TORN_DAY)] == []


def no_space() -> OSError:
    return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def fail_on(calls: int, real):
    """``real`` wrapped to raise ENOSPC on its ``calls``-th call (after doing its work)."""
    count = [0]

    def wrapper(*args, **kwargs):
        count[0] += 1
        result = real(*args, **kwargs)
        if count[0] == calls:
            raise no_space()
        return result

    return wrapper


def sink_open_fails(calls: int):
    """ParquetSink.__init__ that creates its file, then fails like a full disk (0-byte file)."""
    real = storage.ParquetSink.__init__
    count = [0]

    def init(self, store, path, schema, background=None):
        count[0] += 1
        if count[0] == calls:
            if background is None:
                Path(path).touch()
            raise no_space()
        real(self, store, path, schema, background)

    return init


def partial_background_write(path, data):
    """The background writer's file write, failing half-way like a full disk."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_bytes(data.to_pybytes()[: data.size // 2])
    raise no_space()


@pytest.mark.parametrize(
    ("point", "patch"),
    [
        ("open labels", lambda: ("ParquetSink", "__init__", sink_open_fails(1))),
        ("open a landing file", lambda: ("ParquetSink", "__init__", sink_open_fails(4))),
        ("write", lambda: ("ParquetSink", "write", fail_on(5, storage.ParquetSink.write))),
        ("close", lambda: ("ParquetSink", "close", fail_on(6, storage.ParquetSink.close))),
        ("background write", lambda: (sinks, "_write_file", partial_background_write)),
        ("rename", lambda: ("Storage", "rename", fail_on(2, storage.Storage.rename))),
    ],
)
def test_a_full_disk_leaves_no_temporary_and_the_committed_day_intact(
    tmp_path, monkeypatch, point, patch
):
    root = tmp_path / "data"
    LandingZone(str(root)).write_day(CONFIG_A, TORN_DAY)
    before = visible(root)
    expected = read_all(LandingZone(str(root)), Window.LIVE, TORN_DAY)
    owner, name, replacement = patch()
    target = getattr(storage, owner) if isinstance(owner, str) else owner
    monkeypatch.setattr(target, name, replacement)

    with pytest.raises(DataRootError) as error:
        LandingZone(str(root)).write_day(CONFIG_B, TORN_DAY)
    monkeypatch.undo()
    message = str(error.value)
    assert "\n" not in message and "No space left on device" in message, point
    assert message.startswith(f"cannot use the data root {root}: writing live day ")
    assert own_temporaries(root) == [], point
    assert not any((root / layout.LOCK_DIR).iterdir())
    after = visible(root)
    assert {p: after[p] for p in before} == before, point  # byte-identical
    if point != "rename":  # the first rename landed one file of B beside A's (a leftover)
        assert after == before, point
    got = read_all(LandingZone(str(root)), Window.LIVE, TORN_DAY)
    assert all(got[k].equals(expected[k]) for k in expected), point


def test_an_unknown_scheme_is_one_line_naming_what_is_known(capsys):
    with pytest.raises(DataRootError, match="unknown filesystem scheme 'bogus'") as error:
        LandingZone("bogus://x")
    assert "s3:// (pip install 'dtg_assets[s3]')" in str(error.value)
    assert main(["generate", "--data-root", "bogus://x", "--scale", "0.01"]) == 1
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("error: cannot write the scenario to bogus://x: unknown filesystem")


@pytest.mark.parametrize("value", ["abc", "0", "-1", "nan", "inf"])
def test_a_bad_store_timeout_is_one_line(monkeypatch, value):
    monkeypatch.setenv("DTG_STORE_TIMEOUT", value)
    with pytest.raises(DataRootError, match=rf"DTG_STORE_TIMEOUT='{value}': expected a number"):
        LandingZone("memory://timeout")
    monkeypatch.setenv("DTG_STORE_TIMEOUT", "2.5")
    assert LandingZone("memory://timeout").storage.timeout == 2.5


def test_store_errors_cross_process_boundaries_intact():
    for error in (DataRootError("s3://b/p", "why"), StoreError("s3://b/p", "lost")):
        back = pickle.loads(pickle.dumps(error))
        assert type(back) is type(error) and str(back) == str(error) and back.why == error.why


def test_a_commit_cut_between_its_two_markers_is_reported_not_read(tmp_path, monkeypatch):
    root = tmp_path / "data"
    zone = LandingZone(str(root))
    zone.write_day(CONFIG_A, TORN_DAY)
    real = Storage.rename_many

    def lose_the_manifest(self, pairs):
        if any(target.endswith(layout.manifest_file(Window.LIVE, TORN_DAY)) for _, target in pairs):
            raise TimeoutError("timed out")
        real(self, pairs)

    monkeypatch.setattr(Storage, "rename_many", lose_the_manifest)
    with pytest.raises(StoreError, match="writing live day 2026-01-06 failed: TimeoutError"):
        zone.write_day(CONFIG_B, TORN_DAY)
    monkeypatch.undo()
    # The landing side says B, the ground truth A: never read as either, reported by the checks.
    with pytest.raises(ValueError, match="describe different writes"):
        zone.read_day("visitor_events", Window.LIVE, TORN_DAY)
    outcomes = verify_day(zone, CONFIG_A, TORN_DAY, Window.LIVE)
    failed = {o.spec.asset: o.description for o in outcomes if not o.passed}
    assert all("describe different writes" in failed[t] for t in TABLES)
    zone.write_day(CONFIG_B, TORN_DAY)
    assert [
        o.spec.name for o in verify_day(zone, CONFIG_B, TORN_DAY, Window.LIVE) if not o.passed
    ] == []
