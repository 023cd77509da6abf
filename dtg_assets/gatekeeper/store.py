"""Where the gatekeeper keeps its artifacts under a data root, written atomically.

``gatekeeper/baseline.json``, ``gatekeeper/findings/<YYYYMMDD>.parquet`` (one file per live
day) and ``gatekeeper/evaluation/<table>.parquet``: outside ``landing/`` and ``ground_truth/``,
each written under a hidden temporary name and renamed into place, so a re-run replaces a file
and a reader never sees half of one.
"""

from __future__ import annotations

import datetime as dt
import secrets

import pyarrow as pa

from dtg_assets.gatekeeper.baseline import Baseline
from dtg_assets.gatekeeper.findings import FINDINGS_SCHEMA
from dtg_assets.simulation.landing import LandingZone, read_parquet_files


class GatekeeperStore:
    """The gatekeeper's corner of a data root.

    Args:
        zone: The data root.
    """

    def __init__(self, zone: LandingZone) -> None:
        self.zone = zone

    def _path(self, *parts: str) -> str:
        return self.zone.path("gatekeeper", *parts)

    def _commit(self, final: str, write) -> str:
        directory, name = final.rsplit("/", 1)
        self.zone.storage.makedirs(directory)
        tmp = f"{directory}/.{name}.{secrets.token_hex(4)}.tmp"
        try:
            write(tmp)
            self.zone.storage.rename(tmp, final)
        finally:
            if self.zone.storage.exists(tmp):
                self.zone.storage.remove(tmp)
        return self.zone.uri_of(final)

    def write_baseline(self, baseline: Baseline) -> str:
        """Store the baseline as JSON.

        Returns:
            Where it was written.
        """

        def write(path: str) -> None:
            with self.zone.fs.open(path, "w") as handle:
                handle.write(baseline.to_json())

        return self._commit(self._path("baseline.json"), write)

    def read_baseline(self) -> Baseline:
        """Load the stored baseline.

        Raises:
            FileNotFoundError: If it was never learned (materialize ``gatekeeper/baseline``).
        """
        path = self._path("baseline.json")
        if not self.zone.storage.exists(path):
            raise FileNotFoundError(
                f"no gatekeeper baseline at {self.zone.uri_of(path)}: materialize "
                "gatekeeper/baseline (after the historical partitions) first"
            )
        with self.zone.fs.open(path, "r") as handle:
            return Baseline.from_json(handle.read())

    def _findings_path(self, day: dt.date) -> str:
        return self._path("findings", f"{day:%Y%m%d}.parquet")

    def write_findings(self, day: dt.date, findings: pa.Table) -> str:
        """Store one live day's findings, replacing an earlier run's."""
        return self._commit(
            self._findings_path(day), lambda p: self.zone.storage.write_parquet(p, findings)
        )

    def read_findings(self, day: dt.date) -> pa.Table:
        """One live day's findings."""
        return read_parquet_files(self.zone, [self._findings_path(day)], FINDINGS_SCHEMA)

    def findings_days(self) -> list[dt.date]:
        """Days with stored findings, in order."""
        found = self.zone.storage.find_in_subdirs(self._path(), "findings", "", ".parquet")
        names = [p.rsplit("/", 1)[1].removesuffix(".parquet") for p in found]
        return sorted(dt.datetime.strptime(n, "%Y%m%d").date() for n in names if n.isdigit())

    def write_evaluation(self, tables: dict[str, pa.Table]) -> list[str]:
        """Store the evaluation's tables.

        Returns:
            Where they were written.
        """
        return [
            self._commit(
                self._path("evaluation", f"{name}.parquet"),
                lambda p, t=table: self.zone.storage.write_parquet(p, t),
            )
            for name, table in tables.items()
        ]
