"""Tests of the commit routine shared by the landing writer and the gatekeeper store.

Files are staged under hidden temporaries registered before they exist; a commit renames them
with the markers last, in order; any failure deletes this writer's temporaries (and only them)
and a store failure surfaces as one ``StoreError`` line, even when the clean-up fails too.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pyarrow as pa
import pytest

from dtg_assets.gatekeeper.store import GatekeeperStore
from dtg_assets.simulation import layout, storage
from dtg_assets.simulation.commit import Commit, temp_in_use
from dtg_assets.simulation.landing import LandingZone
from dtg_assets.simulation.roots import StoreError
from dtg_assets.simulation.storage import Storage


def hidden_tmp(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.tmp"))


def test_markers_are_renamed_last_in_staging_order(tmp_path, monkeypatch):
    zone = LandingZone(str(tmp_path))
    order: list[str] = []
    real = Storage.rename

    def record(self, source, target):
        order.append(Path(target).name)
        real(self, source, target)

    monkeypatch.setattr(Storage, "rename", record)
    with Commit(zone.storage, zone.root, zone.uri, "writing a test") as commit:
        for name in ("a", "b", "record", "manifest"):
            Path(commit.stage(zone.path("x", name))).write_text(name)
        assert {p.name for p in hidden_tmp(tmp_path)} == {
            Path(layout.temporary_name(n, commit.token)).name
            for n in ("a", "b", "record", "manifest")
        }
        commit.commit(markers=2)
    assert order[2:] == ["record", "manifest"] and sorted(order[:2]) == ["a", "b"]
    assert hidden_tmp(tmp_path) == []
    assert not any((tmp_path / layout.LOCK_DIR).iterdir())


def test_a_failure_deletes_only_this_writers_temporaries(tmp_path):
    zone = LandingZone(str(tmp_path))
    other = Commit(zone.storage, zone.root, zone.uri, "another writer")
    theirs = Path(other.stage(zone.path("x", "theirs")))
    theirs.write_text("live")
    with pytest.raises(KeyError), Commit(zone.storage, zone.root, zone.uri, "w") as commit:
        Path(commit.stage(zone.path("x", "mine"))).write_text("half")
        commit.stage(zone.path("x", "never-created"))  # registered, not yet written
        raise KeyError("a bug keeps its own type and traceback")
    assert hidden_tmp(tmp_path) == [theirs]
    assert temp_in_use(zone.storage, str(theirs), zone.root)  # its writer holds the lock
    other.abort()
    assert hidden_tmp(tmp_path) == []


def test_a_store_failure_is_one_line_even_when_the_cleanup_fails(tmp_path, monkeypatch):
    zone = LandingZone(str(tmp_path))

    def gone(self, paths):
        raise ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused")

    monkeypatch.setattr(Storage, "remove_many", gone)
    with (
        pytest.raises(StoreError) as error,
        Commit(zone.storage, zone.root, zone.uri, "writing x") as commit,
    ):
        Path(commit.stage(zone.path("x", "a"))).write_text("a")
        raise OSError(errno.EIO, "Input/output error")
    assert str(error.value) == (
        f"cannot use the data root {tmp_path}: writing x failed: OSError: Input/output error"
    )
    assert error.value.__context__ is None or error.value.__suppress_context__


def test_the_gatekeeper_store_leaves_nothing_on_a_full_disk(tmp_path, monkeypatch):
    store = GatekeeperStore(LandingZone(str(tmp_path)))
    table = pa.table({"family": ["technical"], "recall": [1.0]})
    store.write_evaluation({"by_family": table})
    before = (tmp_path / layout.evaluation_file("by_family")).read_bytes()

    def full(self, rows):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(storage.ParquetSink, "write", full)
    failed = r"writing gatekeeper/evaluation/by_family\.parquet failed: OSError: No space left"
    with pytest.raises(StoreError, match=failed):
        store.write_evaluation({"by_family": pa.table({"family": ["x"], "recall": [0.0]})})
    assert hidden_tmp(tmp_path) == []
    assert (tmp_path / layout.evaluation_file("by_family")).read_bytes() == before
