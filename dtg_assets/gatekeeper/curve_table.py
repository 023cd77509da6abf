"""Score one curve point and pool the points into the detection-curve table.

:func:`score_point` runs the detectors on one (seed, strength) scenario, scores each against the
ground truth and tallies, per detector, *family* and anomaly type: effective batches, caught
batches, batches without effect, and the record-level counts. The gatekeeper's families are
those of its findings (technical, business, freshness, statistical) plus ``all``; a command
detector has the one family ``all``. Normal batches are tallied under the anomaly ``none``, so
their ``caught`` count is the false alarms. :class:`Curves` sums the tallies over the seeds
(pooled, not averaged: recall is caught over effective batches of all seeds) and renders them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from dtg_assets.gatekeeper.baseline import Baseline
from dtg_assets.gatekeeper.command import run_command
from dtg_assets.gatekeeper.findings import detect_days
from dtg_assets.gatekeeper.flagfile import read_flags
from dtg_assets.gatekeeper.report import Evaluation
from dtg_assets.gatekeeper.score import score
from dtg_assets.gatekeeper.targets import ALL_TYPES
from dtg_assets.gatekeeper.verdicts import FAMILIES
from dtg_assets.markdown import markdown_table
from dtg_assets.simulation.landing import LandingZone

if TYPE_CHECKING:
    from dtg_assets.gatekeeper.curves import CurveConfig

GATEKEEPER = "gatekeeper"
ALL = "all"
COUNTS = ("batches", "caught", "no_effect", "labelled", "flagged", "true_positives")


def strength_label(strength: float) -> str:
    """A strength as a fraction of the default: ``1``, ``1/2``, ``1/16``; else a decimal."""
    frac = Fraction(strength).limit_denominator(1024)
    halvings = frac.denominator & (frac.denominator - 1) == 0  # 1/2, 3/4, 1/16...
    return str(frac) if halvings and float(frac) == strength else f"{strength:g}"


def _tally(
    detector: str, evaluation: Evaluation, families: dict[str, str], groups: Iterable[str]
) -> list[dict]:
    rows: dict[tuple[str, str], dict] = {}

    def row(family: str, anomaly: str) -> dict:
        key = (family, anomaly)
        if key not in rows:
            rows[key] = {"detector": detector, "family": family, "anomaly": anomaly}
            rows[key].update(dict.fromkeys(COUNTS, 0))
        return rows[key]

    for family in groups:
        for anomaly in (*ALL_TYPES, "none"):
            row(family, anomaly)  # every line has every point, zero when absent
    for batch in evaluation.batches.itertuples():
        seen = {families.get(d, ALL) for d in batch.detectors}
        for family in groups:
            hit = bool(batch.detectors) if family == ALL else family in seen
            if batch.status in ("normal", "false_alarm"):
                row(family, "none")["batches"] += 1
                row(family, "none")["caught"] += hit
            elif batch.status == "no_effect":
                for anomaly in batch.anomalies:
                    row(family, anomaly)["no_effect"] += 1
            for anomaly in batch.effective:
                row(family, anomaly)["batches"] += 1
                row(family, anomaly)["caught"] += hit
    records = evaluation.records.groupby("anomaly")[["labelled", "flagged", "true_positives"]]
    for anomaly, sums in records.sum().iterrows():
        row(ALL, str(anomaly)).update({k: int(v) for k, v in sums.items()})
    return list(rows.values())


def score_point(
    config: CurveConfig,
    zone: LandingZone,
    days: list[tuple[dt.date, str]],
    baseline: Baseline,
    seed: int,
    strength: float,
) -> list[dict]:
    """Run and score every detector on one curve point's live days.

    Args:
        config: The sweep (its detectors).
        zone: The point's data root (history and live days).
        days: The live ``(day, window)`` pairs.
        baseline: The seed's baseline.
        seed: The point's seed.
        strength: The point's strength.

    Returns:
        Tally rows (see the module docstring), each with its seed and strength.

    Raises:
        CommandError: If a command detector fails.
        FlagsError: If its findings file is not valid format-v1 findings.
    """
    rows = []
    if config.gatekeeper:
        findings = detect_days(zone, days, baseline, config.rules)
        names = findings.select(["detector", "family"]).to_pylist()
        families = {r["detector"]: r["family"] for r in names}
        rows += _tally(GATEKEEPER, score(zone, findings, days), families, (ALL, *FAMILIES))
    for i, (label, template) in enumerate(sorted(config.commands.items())):
        # Beside the data root, not in it: a foreign file there would be the zone's business.
        target = Path(f"{zone.root}.findings-{i}") / f"findings.{config.findings_format}"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.unlink(missing_ok=True)
        run_command(label, template, zone.root, target, config.command_timeout)
        flags = read_flags(str(target))
        # Any detector of the command counts for every type (ANY_DETECTOR, score's default).
        rows += _tally(label, score(zone, flags, days), {}, (ALL,))
    return [{**r, "seed": seed, "strength": strength} for r in rows]


def _ratio(num: pd.Series, den: pd.Series) -> pd.Series:
    return (num / den.where(den > 0)).astype(float)


@dataclass(frozen=True)
class Curves:
    """The detection curves, pooled over the seeds.

    Attributes:
        table: One row per (detector, family, anomaly, strength), strongest first: pooled
            counts, ``recall`` (caught / effective batches), the false alarms of the same
            detector family on the normal batches at that strength, and (family ``all``)
            record-level precision and recall.
        seeds: The seeds pooled.
    """

    table: pd.DataFrame
    seeds: tuple[int, ...]

    @classmethod
    def from_rows(cls, config: CurveConfig, rows: list[dict]) -> Curves:
        """Pool tally rows over the seeds.

        Args:
            config: The sweep.
            rows: :func:`score_point` rows of every point.

        Returns:
            The curves.
        """
        keys = ["detector", "family", "anomaly", "strength"]
        frame = pd.DataFrame(rows).groupby(keys, sort=False)[list(COUNTS)].sum().reset_index()
        normal = frame[frame["anomaly"] == "none"].rename(
            columns={"batches": "normal_batches", "caught": "false_alarms"}
        )[["detector", "family", "strength", "normal_batches", "false_alarms"]]
        out = frame[frame["anomaly"] != "none"].merge(normal, on=["detector", "family", "strength"])
        out["recall"] = _ratio(out["caught"], out["batches"])
        out["record_precision"] = _ratio(out["true_positives"], out["flagged"])
        out["record_recall"] = _ratio(out["true_positives"], out["labelled"])
        order = {a: i for i, a in enumerate(ALL_TYPES)}
        out["_d"] = out["detector"].map({d: i for i, d in enumerate(config.detectors)})
        out["_f"] = out["family"].map({f: i for i, f in enumerate((ALL, *FAMILIES))})
        out["_a"] = out["anomaly"].map(lambda a: order.get(a, len(order)))
        out = out.sort_values(["_d", "_a", "_f", "strength"], ascending=[1, 1, 1, 0])
        return cls(out.drop(columns=["_d", "_f", "_a"]).reset_index(drop=True), config.seeds)

    def lines(self, anomaly: str) -> dict[str, pd.DataFrame]:
        """One anomaly type's curves: line label -> ``strength``, ``recall`` rows."""
        sub = self.table[self.table["anomaly"] == anomaly]
        out = {}
        for (detector, family), part in sub.groupby(["detector", "family"], sort=False):
            label = detector if family == ALL else f"{detector}: {family}"
            out[label] = part[["strength", "recall"]].reset_index(drop=True)
        return out

    def save(self, folder: str | Path) -> dict[str, Path]:
        """Write the table as ``curves.csv`` and its markdown as ``curves.md``.

        Args:
            folder: Where (created if needed).

        Returns:
            ``{"csv": path, "markdown": path}``.
        """
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        paths = {"csv": folder / "curves.csv", "markdown": folder / "curves.md"}
        self.table.to_csv(paths["csv"], index=False, float_format="%.6g")
        paths["markdown"].write_text(self.to_markdown())
        return paths

    def to_markdown(self) -> str:
        """Per detector: batch recall (caught/effective, and batches without effect) and
        record precision/recall per anomaly type (rows) and strength (columns), and the false
        alarms per strength."""
        parts = []
        for detector, sub in self.table[self.table["family"] == ALL].groupby(
            "detector", sort=False
        ):
            names = [strength_label(s) for s in sub["strength"].unique()]
            rows, records = [], []
            for anomaly, part in sub.groupby("anomaly", sort=False):
                cells = [_recall(r.caught, r.batches, r.no_effect) for r in part.itertuples()]
                rows.append({"anomaly": anomaly, **dict(zip(names, cells, strict=True))})
                if part["labelled"].sum():
                    cells = [_pr(r) for r in part.itertuples()]
                    records.append({"anomaly": anomaly, **dict(zip(names, cells, strict=True))})
            alarms = sub.drop_duplicates("strength")
            cells = [f"{r.false_alarms}/{r.normal_batches}" for r in alarms.itertuples()]
            rows.append({"anomaly": "false alarms", **dict(zip(names, cells, strict=True))})
            parts += [f"#### {detector}: batch recall (caught/effective)", "",
                      markdown_table(rows), ""]  # fmt: skip
            if records:
                parts += [f"#### {detector}: record precision / recall", "",
                          markdown_table(records), ""]  # fmt: skip
        return "\n".join(parts).rstrip() + "\n"


def _recall(caught: int, batches: int, no_effect: int) -> str:
    idle = f", {no_effect} no effect" if no_effect else ""
    return f"{caught / batches:.2f} ({caught}/{batches}{idle})" if batches else "no effect"


def _pr(row: object) -> str:
    values = (row.record_precision, row.record_recall)  # type: ignore[attr-defined]
    return " / ".join("—" if np.isnan(v) else f"{v:.2f}" for v in values)
