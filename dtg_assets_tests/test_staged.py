"""Tests of batches staged in memory: the committer lands their bytes as if it had made them.

:func:`stage_in_memory` and :func:`day_after` (the day's labels file, commit record and manifest
encoded ahead) must give exactly the files a serial batch-by-batch landing writes, and a day's
files encoded on a wrong assumption (other batches committed than those they were built on) must
be noticed and encoded again by the committer.
"""

from __future__ import annotations

from pathlib import Path

from dtg_assets.simulation import batchwriter, staged
from dtg_assets.simulation.batchwriter import BatchWriter
from dtg_assets.simulation.config import ScenarioConfig
from dtg_assets.simulation.daywriter import land_batches
from dtg_assets.simulation.landing import LandingZone
from dtg_assets.simulation.plan import Window
from dtg_assets.simulation.replay import live_plans
from dtg_assets.simulation.staging import Tally
from dtg_assets_tests.conftest import START, tree_hashes

SMALL = ScenarioConfig(start_date=START, historical_days=1, live_days=2, seed=11, scale=0.02)


def test_day_files_encoded_ahead_are_the_bytes_the_committer_would_write(tmp_path, monkeypatch):
    encoded = []  # batches whose labels file the committer encoded itself
    real = batchwriter._Recording.__init__
    monkeypatch.setattr(batchwriter._Recording, "__init__",
                        lambda self, sink: encoded.append(sink) or real(self, sink))  # fmt: skip
    zone = LandingZone(str(tmp_path / "reference"))
    zone.preflight()
    plans = [p for p in live_plans(SMALL) if p.day == live_plans(SMALL)[0].day]
    land_batches(zone, SMALL, plans[0].day, window=Window.LIVE)
    encoded.clear()
    batches = [staged.stage_in_memory(zone, SMALL, p) for p in plans]
    kept, chunks = [], []
    ahead = []  # each batch's day files encoded after the earlier batches
    for batch in batches:
        ahead.append(staged.day_after(zone, batch, kept, chunks))
        kept.append(batch.row)
        chunks.append(batch.labels)
    wrong = staged.day_after(zone, batches[3], [], [])  # as if batch 3 came first

    def land(name: str, days: list) -> Path:
        root = tmp_path / name
        target = LandingZone(str(root))
        target.preflight()
        writer = BatchWriter(target)
        try:
            for plan, batch, day in zip(plans, batches, days, strict=True):
                batch.day = day
                assert writer.commit(SMALL, plan, Tally(), [], shipped=batch) is not None
        finally:
            writer.close()
        return root

    reference = tree_hashes(tmp_path / "reference")
    assert tree_hashes(land("ahead", ahead)) == reference
    assert encoded == []
    assert tree_hashes(land("committer", [None] * len(plans))) == reference
    assert len(encoded) == len(plans)
    encoded.clear()
    # Encoded on a wrong assumption: the committer sees it does not fit and encodes them.
    assert tree_hashes(land("mixed", [*ahead[:3], wrong, None, *ahead[5:]])) == reference
    assert len(encoded) == 2


def test_only_bounded_batches_can_be_staged_in_memory():
    plans = live_plans(SMALL)
    assert staged.pipelinable(SMALL, plans)
    big = SMALL.model_copy(update={"scale": 120.0})  # 5,300 visitors * 120 > BUFFERED_VISITORS
    assert max(p.visitors for p in live_plans(big)) > staged.BUFFERED_VISITORS
    assert not staged.pipelinable(big, live_plans(big))
