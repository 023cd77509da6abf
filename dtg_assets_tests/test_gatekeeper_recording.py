"""Recording a live day's findings batch by batch: targets replaced, others kept, times kept.

Pure tables in ``FINDINGS_SCHEMA`` (hand-made rows), so each rule of :func:`record_findings`
is checked on its own: which detected rows are taken, which recorded rows stay, and which
``flagged_at`` each row ends up with.
"""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pyarrow.compute as pc

from dtg_assets.gatekeeper.findings import FINDINGS_SCHEMA
from dtg_assets.gatekeeper.recording import (
    FLAGGED_AT,
    RECORDED_SCHEMA,
    read_recorded,
    record_findings,
)
from dtg_assets.gatekeeper.store import GatekeeperStore
from dtg_assets.simulation.landing import LandingZone

T0 = dt.datetime(2026, 11, 20, 3, 5, tzinfo=dt.UTC)
T1 = T0 + dt.timedelta(hours=3)
B = [f"live-20261120-{h:02d}00" for h in range(0, 24, 3)]
PLANNED = set(B)


def _rows(*rows: tuple[str, str, str]) -> pa.Table:
    """Findings rows from (batch_id, detector, verdict)."""
    n = len(rows)
    data = {name: [None] * n for name in FINDINGS_SCHEMA.names}
    data.update(
        batch_id=[r[0] for r in rows],
        family=["technical"] * n,
        detector=[r[1] for r in rows],
        table=["visitor_events"] * n,
        metric_name=["m"] * n,
        comparison=[">"] * n,
        n=[1] * n,
        verdict=[r[2] for r in rows],
        flagged_ids=[[] for _ in rows],
        detail=[""] * n,
    )
    return pa.Table.from_pydict(data, schema=FINDINGS_SCHEMA)


def _times(table: pa.Table) -> dict[tuple[str, str], dt.datetime | None]:
    rows = table.select(["batch_id", "detector", FLAGGED_AT]).to_pylist()
    return {(r["batch_id"], r["detector"]): r[FLAGGED_AT] for r in rows}


def test_first_record_takes_the_targets_and_stamps_them_now():
    detected = _rows((B[0], "a", "pass"), (B[1], "a", "flag"), (B[2], "a", "flag"))
    out = record_findings(None, detected, B[:2], PLANNED, T0)
    assert out.schema == RECORDED_SCHEMA
    # Batch 2 is planned but not a target (not due yet): its cadence-style row is dropped.
    assert _times(out) == {(B[0], "a"): T0, (B[1], "a"): T0}


def test_a_later_batch_adds_its_rows_and_keeps_the_earlier_batches_rows_and_times():
    first = record_findings(None, _rows((B[0], "a", "pass")), [B[0]], PLANNED, T0)
    # The new detection sees batch 0 differently (a day-wide detector): batch 0 keeps its row.
    detected = _rows((B[0], "a", "flag"), (B[1], "a", "pass"), (B[1], "b", "flag"))
    out = record_findings(first, detected, [B[1]], PLANNED, T1)
    assert _times(out) == {(B[0], "a"): T0, (B[1], "a"): T1, (B[1], "b"): T1}
    assert out.filter(pc.equal(out["batch_id"], B[0]))["verdict"].to_pylist() == ["pass"]


def test_a_flag_raised_again_keeps_its_first_time_and_passes_are_recorded_anew():
    detected = _rows((B[0], "a", "pass"), (B[1], "a", "flag"))
    first = record_findings(None, detected, B[:2], PLANNED, T0)
    again = record_findings(first, detected, B[:2], PLANNED, T1)
    assert _times(again) == {(B[0], "a"): T1, (B[1], "a"): T0}
    assert again.drop_columns([FLAGGED_AT]).equals(first.drop_columns([FLAGGED_AT]))


def test_a_new_flag_gets_the_time_it_is_raised():
    first = record_findings(None, _rows((B[0], "a", "pass")), [B[0]], PLANNED, T0)
    out = record_findings(first, _rows((B[0], "a", "flag")), [B[0]], PLANNED, T1)
    assert _times(out) == {(B[0], "a"): T1}
    assert out["verdict"].to_pylist() == ["flag"]
    # A flag that was cleared, then raised again, is raised anew.
    cleared = record_findings(out, _rows((B[0], "a", "pass")), [B[0]], PLANNED, T1)
    later = T1 + dt.timedelta(hours=1)
    raised = record_findings(cleared, _rows((B[0], "a", "flag")), [B[0]], PLANNED, later)
    assert _times(raised) == {(B[0], "a"): later}


def test_rows_of_an_unplanned_batch_id_are_kept_from_the_detection():
    foreign = "live-20261119-2100"  # another day's batch replayed into this one
    detected = _rows((B[0], "a", "pass"), (foreign, "a", "flag"))
    out = record_findings(None, detected, [B[0]], PLANNED, T0)
    assert _times(out) == {(B[0], "a"): T0, (foreign, "a"): T0}


def test_stored_findings_read_back_with_their_times_and_older_files_with_none(tmp_path):
    zone = LandingZone(str(tmp_path))
    store = GatekeeperStore(zone)
    day = dt.date(2026, 11, 20)
    assert read_recorded(zone, day) is None
    recorded = record_findings(None, _rows((B[0], "a", "pass")), [B[0]], PLANNED, T0)
    store.write_findings(day, recorded)
    assert read_recorded(zone, day).equals(recorded)
    # A file written before findings had flagged_at: read with no time, then stamped when the
    # flag is recorded again.
    store.write_findings(day, _rows((B[0], "a", "flag")))
    older = read_recorded(zone, day)
    assert _times(older) == {(B[0], "a"): None}
    assert _times(record_findings(older, _rows((B[0], "a", "flag")), [B[0]], PLANNED, T1)) == {
        (B[0], "a"): T1
    }
