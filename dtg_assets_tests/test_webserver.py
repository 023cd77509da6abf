"""What the webserver shows after ``dtg-run``: the real webserver, queried over GraphQL.

``dtg-run`` lands a small scenario into a fresh ``DAGSTER_HOME``; then ``dagster-webserver`` is
started on 127.0.0.1 against the project's ``workspace.yaml`` and that instance, exactly as the
command ``dtg-run`` prints, and the test reads back through the UI's own API what a user would
look at: the runs, per-partition row counts (the UI's row-count plot) and per-partition check
results, and the gatekeeper's evaluation.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parents[1]
# One live day: the start lies 15 days back, so 14 historical days and one complete live day.
START = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=15)
LIVE_DAY = START + dt.timedelta(days=14)

QUERY = """
query($live: String!) {
  runsOrError { ... on Runs { results { runId jobName status } } }
  funnel: assetNodes(assetKeys: [
    {path: ["live", "visitor_events"]}, {path: ["live", "applications"]},
    {path: ["live", "accounts"]}, {path: ["live", "transactions"]},
    {path: ["live", "ground_truth_labels"]}, {path: ["live", "batch_manifest"]},
    {path: ["gatekeeper", "findings"]}
  ]) {
    assetKey { path }
    dependencyKeys { path }
    metadataEntries {
      label
      ... on TableSchemaMetadataEntry { schema { columns { name description } } }
    }
    assetChecksOrError { ... on AssetChecks { checks { name description blocking } } }
  }
  assetOrError(assetKey: {path: ["live", "visitor_events"]}) {
    ... on Asset {
      assetMaterializations(limit: 5) {
        partition
        metadataEntries { label ... on IntMetadataEntry { intValue } }
      }
    }
  }
  assetCheckExecutions(
    assetKey: {path: ["live", "visitor_events"]}, checkName: "visitors_match_schedule",
    limit: 5, partition: $live
  ) { status partition evaluation { success partition } }
  evaluation: assetOrError(assetKey: {path: ["gatekeeper", "evaluation"]}) {
    ... on Asset {
      assetMaterializations(limit: 1) {
        metadataEntries { label ... on IntMetadataEntry { intValue } }
      }
    }
  }
}
"""


LOGS = """
query($runId: ID!, $cursor: String) {
  logsForRun(runId: $runId, afterCursor: $cursor) {
    ... on EventConnection { cursor hasMore events { ... on MessageEvent { message } } }
  }
}
"""


def _run_messages(port: int, run_id: str) -> list[str]:
    """Every message of a run's log, as the UI's run page shows it."""
    messages, cursor = [], None
    while True:
        page = _graphql(port, LOGS, {"runId": run_id, "cursor": cursor})["logsForRun"]
        messages += [e["message"] for e in page["events"] if "message" in e]
        if not page["hasMore"]:
            return messages
        cursor = page["cursor"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _graphql(port: int, query: str, variables: dict) -> dict:
    body = json.dumps({"query": query, "variables": variables}).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql", body, {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        payload = json.load(response)
    assert "errors" not in payload, payload.get("errors")
    return payload["data"]


def _wait_until_up(port: int, server: subprocess.Popen, deadline_s: float = 120) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"dagster-webserver exited with {server.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=5):
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.5)
    raise AssertionError(f"dagster-webserver not up on port {port} after {deadline_s} s")


def test_dagster_dev_shows_runs_row_counts_checks_and_evaluation_of_dtg_run(tmp_path):
    home, data = tmp_path / "home", tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DTG_", "DAGSTER_"))}
    env.update(DAGSTER_HOME=str(home), DTG_START_DATE=START.isoformat(), DTG_DATA_ROOT=str(data))
    run = subprocess.run(
        [sys.executable, "-m", "dtg_assets.run", "--scale", "0.05"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]

    port = _free_port()
    server = subprocess.Popen(
        [str(BIN / "dagster-webserver"), "-h", "127.0.0.1", "-p", str(port),
         "-w", str(REPO / "workspace.yaml")],
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        _wait_until_up(port, server)
        answer = _graphql(port, QUERY, {"live": LIVE_DAY.isoformat()})
        logs = {
            r["runId"]: _run_messages(port, r["runId"]) for r in answer["runsOrError"]["results"]
        }
    finally:
        server.terminate()
        server.wait(timeout=60)

    runs = answer["runsOrError"]["results"]
    assert sorted(r["jobName"] for r in runs) == sorted(
        ["historical_job", "live_job", "gatekeeper_job", "live_job", "gatekeeper_job"]
    )
    assert {r["status"] for r in runs} == {"SUCCESS"}

    (mat,) = answer["assetOrError"]["assetMaterializations"]
    assert mat["partition"] == LIVE_DAY.isoformat()
    row_count = {e["label"]: e.get("intValue") for e in mat["metadataEntries"]}
    # SPEC's eight batches at scale 0.05: 225+250+275+240+100*2.5+260+265+240 visitors.
    assert row_count["dagster/row_count"] == 2005

    (execution,) = answer["assetCheckExecutions"]
    assert execution["status"] == "SUCCEEDED"
    assert execution["partition"] == execution["evaluation"]["partition"] == LIVE_DAY.isoformat()

    (evaluation,) = answer["evaluation"]["assetMaterializations"]
    scores = {e["label"]: e.get("intValue") for e in evaluation["metadataEntries"]}
    # Six anomalous batches; at this scale one may change no record (a fraud spike among a few
    # transactions): it is then no_effect, neither caught nor missed.
    assert scores["anomalous_batches"] + scores["no_effect_batches"] == 6
    assert scores["normal_batches"] == 16 and scores["false_alarms"] == 0
    assert scores["caught_batches"] == scores["anomalous_batches"]

    # No run's log holds the line users read as a failure (every run type dtg-run launches).
    assert all(logs.values())
    missing = {k: [m for m in v if "did not yield or return expected outputs" in m]
               for k, v in logs.items()}  # fmt: skip
    assert not any(missing.values()), missing

    nodes = {"/".join(n["assetKey"]["path"]): n for n in answer["funnel"]}
    parents = {k: {"/".join(d["path"]) for d in n["dependencyKeys"]} for k, n in nodes.items()}
    assert parents["live/applications"] == {"live/visitor_events"}
    assert parents["live/accounts"] == {"live/applications"}
    assert parents["live/transactions"] == {"live/accounts"}
    assert "live/transactions" in parents["gatekeeper/findings"]
    for key, node in nodes.items():
        if key.startswith("live/"):
            [schema] = [e["schema"] for e in node["metadataEntries"] if "schema" in e]
            assert schema["columns"] and all(c["description"] for c in schema["columns"]), key
        for check in node["assetChecksOrError"]["checks"]:
            # The UI prints "This is a (non-)blocking asset check." from `blocking`, next to the
            # description: both must agree.
            error = check["description"].startswith("[ERROR] ")
            assert check["blocking"] is error, (key, check["name"])
            assert ("Blocking: a failure fails" in check["description"]) is error
    checks = [c for n in nodes.values() for c in n["assetChecksOrError"]["checks"]]
    assert sum(c["blocking"] for c in checks) == 15 + 8
    assert len(checks) == 25 + 4
