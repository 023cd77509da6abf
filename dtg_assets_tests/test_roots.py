"""Tests of data-root opening: plain local paths need no fsspec, URIs go through it."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from dtg_assets.simulation.landing import LandingZone
from dtg_assets.simulation.roots import DataRootError, local_root


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("/tmp/dtg/", "/tmp/dtg"),
        ("/tmp/a/../b", "/tmp/b"),
        ("rel/dir", os.path.join(os.getcwd(), "rel/dir")),
        ("~/dtg", os.path.expanduser("~/dtg")),
        ("file:///tmp/dtg", None),
        ("memory://dtg", None),
        ("s3://bucket/prefix", None),
        ("simplecache::file:///tmp/x", None),
        ("", None),
    ],
)
def test_local_root_recognises_plain_paths_only(uri, expected):
    assert local_root(uri) == expected


def test_a_local_zone_opens_its_fsspec_filesystem_only_when_asked(tmp_path):
    zone = LandingZone(str(tmp_path / "data"))
    assert zone.storage.local and not zone.storage.object_store and not zone.storage.in_memory
    assert zone.root == str(tmp_path / "data")
    assert zone.uri_of(zone.path("x")) == f"{tmp_path}/data/x"
    # The filesystem, for code that wants fsspec (the gatekeeper's store, readers).
    assert "file" in zone.fs.protocol
    assert zone.fs.exists(str(tmp_path))


def test_a_file_uri_and_a_plain_path_name_the_same_root(tmp_path):
    plain, uri = LandingZone(str(tmp_path)), LandingZone(f"file://{tmp_path}")
    assert plain.root == uri.root and plain.storage.local and uri.storage.local


def test_a_bad_timeout_names_the_local_root(tmp_path):
    with pytest.raises(DataRootError, match=r"cannot use the data root .*: timeout='x'"):
        LandingZone(str(tmp_path), timeout="x")


def test_writing_a_day_locally_imports_no_fsspec(tmp_path):
    # fsspec (and asyncio with it) costs a tenth of a second of every short command.
    code = textwrap.dedent(
        f"""
        import sys
        from dtg_assets.simulation.config import ScenarioConfig
        from dtg_assets.simulation.landing import LandingZone
        config = ScenarioConfig(start_date="2026-11-01", scale=0.01)
        zone = LandingZone({str(tmp_path)!r})
        zone.preflight()
        zone.write_day(config, config.start_date)
        print(sorted(m for m in ("fsspec", "asyncio") if m in sys.modules))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
