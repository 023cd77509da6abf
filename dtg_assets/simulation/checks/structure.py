"""Structure checks: each landing file has the schema it was committed with, and no other file
sits in a day's date folders.

Both judge files, not rows, so they see what the row checks cannot: a file rewritten with a
dropped, renamed or retyped column that the row checks never read, and a copy of a batch file
under a hidden name (``.x.parquet``, ``_x.parquet``) that the engine's readers never read but a
``*/*.parquet`` glob does. Each names every bad file.
"""

from __future__ import annotations

from dtg_assets.simulation.checks.model import CheckSpec, LandedDay, Verdict
from dtg_assets.simulation.schemas import schema_differences

# Files named in a description; the metadata lists every one.
SHOWN = 5


def _shown(names: list[str]) -> str:
    more = f" and {len(names) - SHOWN} more" if len(names) > SHOWN else ""
    return ", ".join(names[:SHOWN]) + more


def files_match_committed_schema(spec: CheckSpec, day: LandedDay) -> Verdict:
    """Every committed file's full Arrow schema (its Parquet footer) is the one its manifest
    records: the landing schema, or the drifted one a ``schema_drift`` batch wrote on purpose.

    A committed file that is gone is left to the row-count checks, which report its rows.
    """
    files = [f for f in day.files if f.table == spec.asset]
    bad: dict[str, str] = {}
    missing = []
    for f in files:
        if f.problem == "no such file":
            missing.append(f.location)
        elif f.actual is None:
            bad[f.location] = f.problem or "unreadable footer"
        elif f.recorded is None:
            bad[f.location] = "the manifest records no schema for it"
        elif f.actual != f.recorded:
            bad[f.location] = "; ".join(schema_differences(f.recorded, f.actual))
    meta = {"files": len(files), "missing_files": len(missing)}
    if bad:
        meta["bad_files"] = bad
        why = [f"{name}: {problem}" for name, problem in bad.items()]
        return Verdict(
            False, f"{len(bad)} file(s) differ from their committed schema: {_shown(why)}", meta
        )
    checked = len(files) - len(missing)
    return Verdict(True, f"{checked} file(s) have exactly their committed schema", meta)


def only_committed_files(spec: CheckSpec, day: LandedDay) -> Verdict:
    """Every file in the day's date folders of the table is a file its commit lists (hidden
    names included; a live writer's in-flight temporaries excepted)."""
    foreign = day.foreign.get(spec.asset, [])
    committed = sum(1 for f in day.files if f.table == spec.asset)
    meta = {"committed_files": committed, "uncommitted_files": len(foreign)}
    if foreign:
        meta["files"] = foreign
        why = f"{len(foreign)} file(s) no commit lists in {spec.asset}'s date folders, which "
        return Verdict(False, why + f"directory readers would read: {_shown(foreign)}", meta)
    return Verdict(True, f"only the {committed} committed file(s) in the date folders", meta)
