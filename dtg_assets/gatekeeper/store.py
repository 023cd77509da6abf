"""Where the gatekeeper keeps its artifacts under a data root, written atomically.

``gatekeeper/baseline.json``, ``gatekeeper/findings/<YYYYMMDD>.parquet`` (one file per live
day) and ``gatekeeper/evaluation/<table>.parquet``: outside ``landing/`` and ``ground_truth/``,
each written under a hidden temporary name and renamed into place by the same commit routine
as the landing writer (:class:`~dtg_assets.simulation.commit.Commit`), so a re-run replaces a
file, a reader never sees half of one, and a failure leaves no temporary behind and surfaces as
one :class:`~dtg_assets.simulation.roots.StoreError` line. Names come from
:mod:`~dtg_assets.simulation.layout`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pyarrow as pa

from dtg_assets.gatekeeper.baseline import Baseline
from dtg_assets.gatekeeper.findings import FINDINGS_SCHEMA, TS
from dtg_assets.simulation import layout
from dtg_assets.simulation.commit import Commit
from dtg_assets.simulation.landing import LandingZone
from dtg_assets.simulation.reading import read_parquet_files


class GatekeeperStore:
    """The gatekeeper's corner of a data root.

    Args:
        zone: The data root.
    """

    def __init__(self, zone: LandingZone) -> None:
        self.zone = zone

    def _commit(self, relative: str, write: Callable[[str], None]) -> str:
        final = self.zone.path(relative)
        zone = self.zone
        with Commit(zone.storage, zone.root, zone.uri, f"writing {relative}") as commit:
            write(commit.stage(final))
            commit.commit()
        return zone.uri_of(final)

    def write_baseline(self, baseline: Baseline) -> str:
        """Store the baseline as JSON.

        Returns:
            Where it was written.
        """

        def write(path: str) -> None:
            with self.zone.fs.open(path, "w") as handle:
                handle.write(baseline.to_json())

        return self._commit(layout.BASELINE_FILE, write)

    def read_baseline(self) -> Baseline:
        """Load the stored baseline.

        Raises:
            FileNotFoundError: If it was never learned (materialize ``gatekeeper/baseline``).
        """
        path = self.zone.path(layout.BASELINE_FILE)
        if not self.zone.storage.exists(path):
            raise FileNotFoundError(
                f"no gatekeeper baseline at {self.zone.uri_of(path)}: materialize "
                "gatekeeper/baseline (after the historical partitions) first"
            )
        with self.zone.fs.open(path, "r") as handle:
            return Baseline.from_json(handle.read())

    def write_findings(self, day: dt.date, findings: pa.Table) -> str:
        """Store one live day's findings, replacing an earlier run's."""
        return self._commit(
            layout.findings_file(day), lambda p: self.zone.storage.write_parquet(p, findings)
        )

    def read_findings(self, day: dt.date) -> pa.Table:
        """One live day's findings (``flagged_at`` null in files written before it existed)."""
        path = self.zone.path(layout.findings_file(day))
        try:
            return read_parquet_files(self.zone, [path], FINDINGS_SCHEMA)
        except ValueError:
            older = pa.schema([f for f in FINDINGS_SCHEMA if f.name != "flagged_at"])
            table = read_parquet_files(self.zone, [path], older)
            return table.append_column(
                FINDINGS_SCHEMA.field("flagged_at"), pa.nulls(table.num_rows, TS)
            )

    def findings_days(self) -> list[dt.date]:
        """Days with stored findings, in order."""
        base, _, folder = self.zone.path(layout.FINDINGS_DIR).rpartition("/")
        found = self.zone.storage.find_in_subdirs(base, folder, "", layout.PARQUET)
        days = (layout.parse_findings_name(p.rpartition("/")[2]) for p in found)
        return sorted(d for d in days if d is not None)

    def write_evaluation(self, tables: dict[str, pa.Table]) -> list[str]:
        """Store the evaluation's tables.

        Returns:
            Where they were written.
        """
        return [
            self._commit(
                layout.evaluation_file(name),
                lambda p, t=table: self.zone.storage.write_parquet(p, t),
            )
            for name, table in tables.items()
        ]
