"""The values the landing checks are made of: a spec, a check, its verdict and its outcome.

A :class:`Check` is one named property of one asset of a window: its :class:`CheckSpec` (what
the UI shows: asset, name, severity, description), the function that decides it and the tables
it reads. The function gets a :class:`LandedDay` (frames, committed :class:`LandedFile` s, the
:class:`ConfigRecord`) and returns a :class:`Verdict`; running a check on a day gives a
:class:`CheckOutcome`, which is what travels to the Dagster layer.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import pandas as pd

from dtg_assets.simulation.config import ScenarioConfig
from dtg_assets.simulation.plan import BatchPlan

Severity = Literal["ERROR", "WARN"]


@dataclass(frozen=True)
class CheckSpec:
    """What a check is about: the asset (a window's table name), its name and severity."""

    asset: str
    name: str
    severity: Severity
    description: str


@dataclass(frozen=True)
class LandedFile:
    """One committed landing file as the structure checks see it.

    Attributes:
        table: Its landing table.
        location: Where it is, as users name it.
        recorded: The schema text its manifest records (None if the manifest lists no schema
            for it).
        actual: The schema text of its Parquet footer (None if unreadable or missing).
        problem: Why the footer could not be read (``no such file`` for a missing file).
    """

    table: str
    location: str
    recorded: str | None
    actual: str | None
    problem: str | None = None


@dataclass(frozen=True)
class ConfigRecord:
    """The configuration a day was written with, against the one configured now.

    Attributes:
        recorded: The configuration of record (the manifest's ``config``: the part of the
            scenario that determines the day's bytes), or None if there is none usable.
        configured: The same part of the scenario the resources configure now.
        problem: Why the record is not used (the checks then use the configured scenario).
    """

    recorded: dict[str, Any] | None
    configured: dict[str, Any]
    problem: str | None = None


@dataclass(frozen=True)
class LandedDay:
    """Everything a check may look at: the day's frames, the scenario it was written with (of
    record), its planned batches, its committed files, the files no commit accounts for (by
    table) and how its configuration of record compares with the configured one."""

    day: dt.date
    frames: dict[str, pd.DataFrame]
    config: ScenarioConfig
    plans: list[BatchPlan]
    files: tuple[LandedFile, ...] = ()
    foreign: dict[str, list[str]] = field(default_factory=dict)
    record: ConfigRecord | None = None


@dataclass(frozen=True)
class Verdict:
    """What a check function decides: passed or not, why, and numbers for the UI."""

    passed: bool
    description: str
    metadata: dict[str, Any] = field(default_factory=dict)


CheckFunction = Callable[[CheckSpec, LandedDay], Verdict]


@dataclass(frozen=True)
class CheckOutcome:
    """The result of one check on one day."""

    spec: CheckSpec
    day: dt.date
    passed: bool
    description: str
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Check:
    """One check: its spec, the function deciding it, and the tables that function reads."""

    spec: CheckSpec
    decide: CheckFunction
    # What the check reads besides the manifest (always read): landing tables' rows and ground
    # truth by name, a table's files (footers, folder listing) as ``<table>/files``.
    reads: tuple[str, ...]

    def run(self, day: LandedDay, errors: dict[str, str]) -> CheckOutcome:
        """Decide the check on a day, or fail it naming what could not be read.

        Args:
            day: The day read back.
            errors: Why each unreadable table or manifest could not be read.

        Returns:
            The outcome (metadata as plain JSON values).
        """
        broken = [errors[n] for n in (*self.reads, "batch_manifest") if n in errors]
        if broken:
            return CheckOutcome(self.spec, day.day, False, "; ".join(dict.fromkeys(broken)))
        verdict = self.decide(self.spec, day)
        return CheckOutcome(
            self.spec, day.day, bool(verdict.passed), verdict.description, plain(verdict.metadata)
        )


def plain(value: Any) -> Any:
    """Metadata as plain JSON-able Python values (numpy scalars become int/float)."""
    return json.loads(
        json.dumps(value, default=lambda v: v.item() if hasattr(v, "item") else str(v))
    )
