"""deploy/cluster.py's process handling, without the services: stopping a process group.

A service is stopped by its process group; the group counts as gone once no member is left
running, even while the grandchildren it leaves behind wait as zombies for PID 1 to reap them.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dtg_assets_tests.conftest import load_cluster_module

cluster = load_cluster_module()

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="process groups")


def start_group() -> subprocess.Popen:
    """A group like a service's: a leader (our child) and two grandchildren."""
    process = subprocess.Popen(
        ["bash", "-c", "sleep 100 & sleep 100 & wait"], start_new_session=True
    )
    deadline = time.monotonic() + 10
    while len(members(process.pid)) < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    return process


def members(pgid: int) -> list[int]:
    """Running (not zombie) processes of a group, from /proc."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        state, _, group = text[text.rindex(")") + 2 :].split()[:3]
        if int(group) == pgid and state != "Z":
            found.append(int(stat.parent.name))
    return found


def test_a_running_group_is_alive_until_stopped():
    process = start_group()
    assert len(members(process.pid)) == 3
    assert cluster.group_alive(process.pid)
    cluster.stop_group(process.pid, signal.SIGKILL, timeout=30)
    assert not cluster.group_alive(process.pid)
    assert members(process.pid) == []


def test_a_group_left_with_only_zombies_is_gone():
    # Its exited members wait to be reaped (here by us, as PID 1 reaps a service's
    # grandchildren): the group still exists for the kernel, but nothing in it runs.
    process = subprocess.Popen(["true"], start_new_session=True)
    stat = Path(f"/proc/{process.pid}/stat")
    deadline = time.monotonic() + 10
    while stat.read_text().rsplit(")", 1)[1].split()[0] != "Z" and time.monotonic() < deadline:
        time.sleep(0.02)
    os.killpg(process.pid, 0)  # no ProcessLookupError: the zombie is still in the group
    assert not cluster.group_alive(process.pid)
    process.wait()


def test_a_group_that_ignores_the_first_signal_is_killed_after_the_timeout():
    process = subprocess.Popen(
        ["bash", "-c", "trap '' TERM; sleep 100 & wait; sleep 100"], start_new_session=True
    )
    time.sleep(0.3)
    cluster.stop_group(process.pid, signal.SIGTERM, timeout=0.5)
    assert process.wait(timeout=10) == -signal.SIGKILL
    assert not cluster.group_alive(process.pid)


def test_an_unknown_group_is_not_alive():
    process = subprocess.Popen(["true"], start_new_session=True)
    process.wait()
    assert not cluster.group_alive(process.pid)
