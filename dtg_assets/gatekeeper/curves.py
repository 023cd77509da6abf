"""Detection curves: how recall falls as every anomaly type is made weaker.

For each seed, one small scenario per strength carries every anomaly type on batches of its
own (:func:`curve_scenario`): a live day of sixteen batches, a normal one first and last and
after the duplicate records (which replay into it), each of the thirteen types once, repeated
over ``live_days`` days. Strength (:mod:`~dtg_assets.gatekeeper.strength`) scales each type's
rate or magnitude; history never depends on it (its configuration hash leaves the anomalies
out, which :func:`run_curves` checks), so each seed's history is written and its baseline
learned once, then copied beside every strength's live days. The gatekeeper and any command
detectors (:mod:`~dtg_assets.gatekeeper.command`) are scored against the ground truth and
tallied by :mod:`~dtg_assets.gatekeeper.curve_table`; points run over ``workers`` processes.
"""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Literal, Self

from pydantic import Field, field_validator, model_validator

from dtg_assets.gatekeeper.baseline import Baseline, BaselineConfig, learn_baseline
from dtg_assets.gatekeeper.command import check_template
from dtg_assets.gatekeeper.curve_table import GATEKEEPER, Curves, score_point
from dtg_assets.gatekeeper.rules import Rules
from dtg_assets.gatekeeper.strength import check_strength, scaled_anomalies
from dtg_assets.simulation.config import (
    AnomalyParams,
    BatchSpec,
    FunnelParams,
    ScenarioConfig,
    StrictModel,
)
from dtg_assets.simulation.landing import LandingZone
from dtg_assets.simulation.layout import config_hash
from dtg_assets.simulation.plan import Window, scenario_days
from dtg_assets.simulation.seeds import MAX_SEED

# The live day: each type on a batch of its own; the batch after the duplicates receives their
# replayed copies, so the clean normal batches are the first and the last.
DAY_LAYOUT: tuple[str, ...] = (
    "", "null_burst", "age_error", "traffic_spike", "fraud_spike", "limit_spike", "stale_data",
    "conversion_drop", "schema_drift", "duplicate_records", "", "orphan_records",
    "timezone_shift", "distribution_shift", "missing_batch", "",
)  # fmt: skip


class CurveConfig(StrictModel):
    """What the detection curves sweep, and on which scenario."""

    seeds: tuple[int, ...] = Field((42, 7, 2026), min_length=1)
    strengths: tuple[float, ...] = Field((1.0, 0.5, 0.25, 0.125, 0.0625), min_length=1)
    scale: float = Field(1.0, gt=0.0, le=100.0, description="Volume multiplier of every batch.")
    visitors: int = Field(5000, ge=1, le=1_000_000, description="Visitors per batch (x scale).")
    historical_days: int = Field(4, ge=1, le=60)
    live_days: int = Field(2, ge=1, le=14)
    start_date: dt.date = dt.date(2026, 1, 1)
    funnel: FunnelParams = FunnelParams()
    anomalies: AnomalyParams = Field(AnomalyParams(), description="The strength-1 parameters.")
    gatekeeper: bool = True
    rules: Rules = Field(Rules(), description="The gatekeeper's detector rules.")
    baseline: BaselineConfig = Field(BaselineConfig(), description="What its baseline measures.")
    commands: dict[str, str] = Field(
        {}, description="Detector name -> shell command template ({data_root}, {findings})."
    )
    findings_format: Literal["parquet", "csv", "jsonl"] = Field(
        "parquet", description="The extension of the {findings} file a command writes."
    )
    command_timeout: float = Field(600.0, gt=0.0)
    workers: int = Field(2, ge=1, le=64)

    @field_validator("seeds")
    @classmethod
    def _seeds(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        for seed in value:
            if not 0 <= seed <= MAX_SEED:
                raise ValueError(f"seed={seed} is out of range; allowed: 0..{MAX_SEED}")
        if len(set(value)) != len(value):
            raise ValueError(f"seeds={list(value)} repeat a seed; give each once")
        return value

    @field_validator("strengths")
    @classmethod
    def _strengths(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        for strength in value:
            check_strength(strength)
        if len(set(value)) != len(value):
            raise ValueError(f"strengths={list(value)} repeat a strength; give each once")
        return tuple(sorted(value, reverse=True))

    @model_validator(mode="after")
    def _detectors(self) -> Self:
        if not self.gatekeeper and not self.commands:
            raise ValueError("no detector: enable the gatekeeper or give at least one command")
        for label, template in self.commands.items():
            if not label or label == GATEKEEPER:
                raise ValueError(f"command name {label!r} is not allowed; use another name")
            check_template(label, template)
        return self

    @property
    def detectors(self) -> list[str]:
        """The detectors' names, the gatekeeper first."""
        return [GATEKEEPER] * self.gatekeeper + sorted(self.commands)


def curve_scenario(config: CurveConfig, seed: int, strength: float) -> ScenarioConfig:
    """The scenario of one curve point.

    Args:
        config: The sweep.
        seed: The scenario seed.
        strength: Every anomaly's strength.

    Returns:
        The scenario: ``historical_days`` normal days, then ``live_days`` days of
        :data:`DAY_LAYOUT`, every batch of ``visitors`` (times ``scale``).
    """
    day = tuple(BatchSpec(anomaly=a or None, visitors=config.visitors) for a in DAY_LAYOUT)
    return ScenarioConfig(
        start_date=config.start_date,
        historical_days=config.historical_days,
        live_days=config.live_days,
        historical_visitors=config.visitors,
        seed=seed,
        scale=config.scale,
        funnel=config.funnel,
        anomalies=scaled_anomalies(config.anomalies, config.funnel, strength),
        live_schedule=day,
    )


def _history(config: CurveConfig, seed: int, root: str) -> Baseline:
    scenario = curve_scenario(config, seed, 1.0)
    days = [d for d, w in scenario_days(scenario) if w is Window.HISTORICAL]
    zone = LandingZone(root)
    zone.write_days(scenario, [(d, Window.HISTORICAL) for d in days])
    return learn_baseline(zone, days, config.baseline)


def _point(
    config: CurveConfig, seed: int, strength: float, history: str, root: str, baseline: Baseline
) -> list[dict]:
    scenario = curve_scenario(config, seed, strength)
    # The history was written at strength 1: it must be byte for byte this scenario's too.
    if config_hash(scenario, Window.HISTORICAL) != config_hash(
        curve_scenario(config, seed, 1.0), Window.HISTORICAL
    ):
        raise RuntimeError(f"strength {strength} changes the history of seed {seed}")
    shutil.rmtree(root, ignore_errors=True)  # a workdir reused: start this point afresh
    shutil.copytree(history, root)
    live = [(d, w) for d, w in scenario_days(scenario) if w is Window.LIVE]
    zone = LandingZone(root)
    zone.write_days(scenario, live)
    return score_point(config, zone, [(d, w.value) for d, w in live], baseline, seed, strength)


def run_curves(config: CurveConfig, workdir: str | Path | None = None) -> Curves:
    """Sweep every anomaly type's strength over the seeds and score the detectors.

    Args:
        config: The sweep.
        workdir: Where the data roots are written (a temporary directory, removed after,
            when None).

    Returns:
        The tallies, pooled over the seeds.

    Raises:
        CommandError: If a command detector fails (one line).
        FlagsError: If a command's findings file is not valid format-v1 findings (one line).
    """
    with tempfile.TemporaryDirectory(prefix="dtg-curves-") as tmp:
        base = Path(workdir) if workdir is not None else Path(tmp)
        histories = {s: str(base / f"seed-{s}" / "history") for s in config.seeds}
        points = [
            (s, k, str(base / f"seed-{s}" / f"strength-{i}"))
            for s in config.seeds
            for i, k in enumerate(config.strengths)
        ]
        if config.workers == 1:
            baselines = {s: _history(config, s, histories[s]) for s in config.seeds}
            rows = [_point(config, s, k, histories[s], r, baselines[s]) for s, k, r in points]
        else:
            # Spawned, not forked: the caller (a Dagster run) may hold threads and locks.
            with ProcessPoolExecutor(config.workers, mp_context=get_context("spawn")) as pool:
                try:
                    learned = {
                        s: pool.submit(_history, config, s, histories[s]) for s in config.seeds
                    }
                    baselines = {s: f.result() for s, f in learned.items()}
                    futures = [
                        pool.submit(_point, config, s, k, histories[s], r, baselines[s])
                        for s, k, r in points
                    ]
                    rows = [f.result() for f in futures]
                except BaseException:
                    # One point failed (a command, say): the others are not worth waiting for.
                    pool.shutdown(cancel_futures=True)
                    raise
    return Curves.from_rows(config, [row for part in rows for row in part])
