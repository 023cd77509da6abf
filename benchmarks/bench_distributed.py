"""Measure a run's fixed overhead and a partition's work, in process and on Celery workers.

Brings up the local cluster of ``deploy/cluster.py`` (PostgreSQL, Redis, two Celery workers,
daemon, webserver; durable PostgreSQL, as in production) and, for each scale, times live days:

- ``in-process``: ``dg.materialize`` of the live landing assets in this process, 1 then 2 days
  (one run each); the difference is a partition's work, the rest the run's fixed overhead;
- ``celery``: the same as runs launched through GraphQL on the cluster (in-process executor),
  timed from launch to the run's end, and one 1-day run with the default multiprocess executor;
- ``celery multi-run``: 2 runs of 1 day at once (one per worker) against 1 run of 2 days.

Then it prints the scale model: the predicted wall time of a year (365 live days) at 100x on
N = 1, 8, 64 workers for a few partitions-per-run settings, from the measured overhead and work
(scaled linearly from the largest measured scale), and where an object store's request rate caps
it. Figures, not assertions: ``python benchmarks/bench_distributed.py --scales 1 10 50``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import json
import math
import os
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
START = dt.date(2026, 11, 1)
DAYS = [(START + dt.timedelta(days=14 + i)).isoformat() for i in range(2)]
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"
NAMES = ("visitor_events", "applications", "accounts", "transactions", "ground_truth_labels",
         "batch_manifest")  # fmt: skip
LAUNCH_RUN = """mutation($p: ExecutionParams!) { launchRun(executionParams: $p) { __typename
  ... on LaunchRunSuccess { run { runId } } ... on PythonError { message } } }"""
LOCATION = """{ repositoriesOrError { ... on RepositoryConnection { nodes { name
  location { name } } } } }"""
# S3's documented request rate per partitioned prefix: writes (PUT/COPY/DELETE) and reads.
S3_WRITES_PER_S = 3500
S3_READS_PER_S = 5500


def _cluster_module():
    spec = importlib.util.spec_from_file_location("dtg_deploy_cluster", REPO / "deploy/cluster.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _graphql(url: str, query: str, variables: dict | None = None) -> dict:
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    request = urllib.request.Request(f"{url}/graphql", body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as answer:
        return json.load(answer)["data"]


def in_process(root: Path, days: list[str], scale: float) -> float:
    """Seconds of one in-process run landing (and checking) ``days``."""
    import dagster as dg

    from dtg_assets.assets import live_landing
    from dtg_assets.resources import AnomalyScheduleResource, SimulationResource

    started = time.perf_counter()
    result = dg.materialize(
        [live_landing],
        tags={RANGE_START_TAG: days[0], RANGE_END_TAG: days[-1]},
        resources={
            "simulation": SimulationResource(data_root=str(root), scale=scale),
            "anomaly_schedule": AnomalyScheduleResource(),
        },
    )
    assert result.success
    return time.perf_counter() - started


def on_celery(cluster, root: Path, ranges: list[list[str]], scale: float, executor: str) -> float:
    """Seconds from launching one run per range (at once) until every one has ended."""
    node = _graphql(cluster.url, LOCATION)["repositoriesOrError"]["nodes"][0]
    started = time.perf_counter()
    run_ids = []
    for days in ranges:
        params = {
            "selector": {
                "repositoryLocationName": node["location"]["name"],
                "repositoryName": node["name"],
                "jobName": "__ASSET_JOB",
                "assetSelection": [{"path": ["live", n]} for n in NAMES],
            },
            "runConfigData": {
                "execution": {"config": {executor: {}}},
                "resources": {"simulation": {"config": {"data_root": str(root), "scale": scale}}},
            },
            "executionMetadata": {"tags": [{"key": RANGE_START_TAG, "value": days[0]},
                                           {"key": RANGE_END_TAG, "value": days[-1]}]},
        }  # fmt: skip
        answer = _graphql(cluster.url, LAUNCH_RUN, {"p": params})["launchRun"]
        assert answer["__typename"] == "LaunchRunSuccess", answer
        run_ids.append(answer["run"]["runId"])
    with cluster.instance() as instance:
        while True:
            runs = [instance.get_run_by_id(r) for r in run_ids]
            if all(r.is_finished for r in runs):
                break
            time.sleep(0.2)
    assert all(r.status.value == "SUCCESS" for r in runs), [r.status for r in runs]
    return time.perf_counter() - started


def files_per_day(root: Path) -> int:
    """Files one live day commits (landing tables, labels, commit record, manifest)."""
    record = next((root / "landing" / "_commits").glob("live-*.json"))
    return len(json.loads(record.read_text())["files"]) + 3


def measure(scales: list[float], workdir: Path) -> list[dict]:
    """Every timing of the module docstring, per scale."""
    deploy = _cluster_module()
    env = {"DTG_START_DATE": START.isoformat(), "DTG_DATA_ROOT": str(workdir / "data")}
    os.environ.update(env)
    cluster = deploy.Cluster(workdir / "cluster", workers=2, env=env)
    cluster.up()
    rows = []
    try:
        # Warm both workers and the in-process imports with a small run each.
        on_celery(cluster, workdir / "warm", [DAYS[:1], DAYS[1:]], 0.05, "in_process")
        in_process(workdir / "warm", DAYS[:1], 0.05)
        for scale in scales:
            row = {"scale": scale}
            root = workdir / f"s{scale}"
            row["in_process_1"] = in_process(root / "a", DAYS[:1], scale)
            row["in_process_2"] = in_process(root / "b", DAYS, scale)
            row["celery_1"] = on_celery(cluster, root / "c", [DAYS[:1]], scale, "in_process")
            row["celery_2"] = on_celery(cluster, root / "d", [DAYS], scale, "in_process")
            row["celery_1_multiprocess"] = on_celery(
                cluster, root / "e", [DAYS[:1]], scale, "multiprocess"
            )
            row["celery_2x1"] = on_celery(
                cluster, root / "f", [DAYS[:1], DAYS[1:]], scale, "in_process"
            )
            row["files_per_day"] = files_per_day(root / "a")
            rows.append(row)
            print(json.dumps(row), flush=True)
    finally:
        cluster.down()
    return rows


def model(rows: list[dict], target_scale: float = 100, days: int = 365) -> list[str]:
    """Markdown lines: per-scale overhead and work, then the predicted year at ``target_scale``."""
    lines = [
        "| scale | in-process: overhead / day | Celery: overhead / day | multiprocess "
        "executor, 1 day | 2 days: 1 run / 2 runs on 2 workers |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        w_in = r["in_process_2"] - r["in_process_1"]
        w_ce = r["celery_2"] - r["celery_1"]
        lines.append(
            f"| {r['scale']:g}x | {r['in_process_1'] - w_in:.1f} s / {w_in:.1f} s | "
            f"{r['celery_1'] - w_ce:.1f} s / {w_ce:.1f} s | {r['celery_1_multiprocess']:.1f} s "
            f"(in-process {r['celery_1']:.1f} s) | "
            f"{r['celery_2']:.1f} s / {r['celery_2x1']:.1f} s |"
        )
    # One sample per figure on a shared machine: the run's overhead is taken where the work is
    # smallest (1 day against 2 at the lowest scale), the work per day from a least-squares
    # line through every Celery single run (seconds against scale x days).
    low = min(rows, key=lambda r: r["scale"])
    overhead = max(2 * low["celery_1"] - low["celery_2"], 0.0)
    points = [(r["scale"] * d, r[f"celery_{d}"]) for r in rows for d in (1, 2)]
    mean_x = sum(x for x, _ in points) / len(points)
    mean_y = sum(y for _, y in points) / len(points)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in points) / sum(
        (x - mean_x) ** 2 for x, _ in points
    )
    work = slope * target_scale
    # Every file is written under a temporary name, copied to its final name and the temporary
    # deleted (3 writes), then read back by the checks: per day, at any scale (batches x dates).
    files = max(r["files_per_day"] for r in rows)
    lines += ["", f"Year of {days} live days at {target_scale:g}x: work {work:.0f} s per day "
              f"(fitted, linear in scale), run overhead {overhead:.1f} s, "
              f"about {files} files per day.", "",
              "| workers | partitions per run | runs | predicted wall time | store writes/s |",
              "|---|---|---|---|---|"]  # fmt: skip
    for n in (1, 8, 64):
        for per_run in sorted({1, 7, max(1, math.ceil(days / n))}):
            runs = math.ceil(days / per_run)
            rounds = math.ceil(runs / n)
            wall = rounds * (overhead + per_run * work)
            writes = min(n, runs) * 3 * files / work
            capped = " (capped by the store)" if writes > S3_WRITES_PER_S else ""
            lines.append(
                f"| {n} | {per_run} | {runs} | {wall / 3600:.2f} h{capped} | {writes:.0f} |"
            )
    return lines


def main() -> None:
    """Measure, then print the per-scale table and the model as markdown."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scales", type=float, nargs="+", default=[1, 10, 50])
    parser.add_argument("--json", help="also write the measurements to this file")
    parser.add_argument("--from-json", help="print the model of earlier measurements only")
    args = parser.parse_args()
    if args.from_json:
        rows = json.loads(Path(args.from_json).read_text())
    else:
        with tempfile.TemporaryDirectory(prefix="dtg-bench-dist-") as tmp:
            rows = measure(args.scales, Path(tmp))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    print("\n".join(model(rows)))


if __name__ == "__main__":
    main()
