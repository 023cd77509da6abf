"""The ``gatekeeper/detection_curves`` asset: where does the gate stop seeing each anomaly?

A thin wrapper around :func:`~dtg_assets.gatekeeper.curves.run_curves`: it sweeps every anomaly
type's strength over some seeds on small scenarios of its own (in temporary data roots, never
the configured landing zone), with the funnel of the ``simulation`` resource and the rules of
the ``gatekeeper`` resource, and stores ``curves.csv``, ``curves.md`` and one PNG per anomaly
type under ``<data root>/gatekeeper/curves/``. The materialization shows the table and the
plots (markdown images with ``data:`` URIs, which the Dagster UI renders). Command detectors
are not configurable here: run config must not run shell commands; use
``benchmarks/bench_curves.py --command`` or :func:`run_curves` for them.
"""

import base64
import tempfile
import time
from pathlib import Path

import dagster as dg
from pydantic import Field, ValidationError

from dtg_assets.assets.landing import store_failures_fail_the_step
from dtg_assets.gatekeeper.curve_plot import PlotUnavailableError, plot_curves
from dtg_assets.gatekeeper.curves import CurveConfig, run_curves
from dtg_assets.resources import GatekeeperResource, SimulationResource
from dtg_assets.simulation.commit import Commit
from dtg_assets.simulation.errors import format_validation_error
from dtg_assets.simulation.layout import CURVES_DIR

DETECTION_CURVES = dg.AssetKey(["gatekeeper", "detection_curves"])
_DEFAULTS = CurveConfig()


class DetectionCurvesConfig(dg.Config):
    """What the detection curves sweep (the defaults are the benchmark's)."""

    seeds: list[int] = Field(
        default_factory=lambda: list(_DEFAULTS.seeds), description="Scenario seeds, pooled."
    )
    strengths: list[float] = Field(
        default_factory=lambda: list(_DEFAULTS.strengths),
        description="Fractions of each anomaly's default rate or magnitude, each in (0, 1].",
    )
    scale: float = Field(_DEFAULTS.scale, description="Volume multiplier of every batch.")
    historical_days: int = Field(_DEFAULTS.historical_days, description="Days of history.")
    live_days: int = Field(
        _DEFAULTS.live_days, description="Live days per point (each carries every type once)."
    )
    workers: int = Field(_DEFAULTS.workers, description="Processes running the points.")


def _images(pngs: dict[str, Path]) -> str:
    parts = []
    for anomaly, path in pngs.items():
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        parts.append(f"![{anomaly}](data:image/png;base64,{data})")
    return "\n\n".join(parts)


def _store(simulation: SimulationResource, folder: Path) -> str:
    """Copy the folder's files to ``<data root>/gatekeeper/curves/`` in one commit."""
    zone = simulation.zone()
    zone.preflight()
    with Commit(zone.storage, zone.root, zone.uri, f"writing {CURVES_DIR}") as commit:
        for path in sorted(folder.iterdir()):
            target = commit.stage(zone.path(CURVES_DIR, path.name))
            zone.storage.write_bytes(target, path.read_bytes())
        commit.commit(markers=0)
    return zone.uri_of(zone.path(CURVES_DIR))


@dg.asset(
    key=DETECTION_CURVES,
    group_name="gatekeeper",
    kinds={"csv", "png"},
    owners=["team:dtg"],
    description="Detection curves: every anomaly type swept at fractions of its default "
    "strength (1, 1/2, 1/4, 1/8, 1/16) over several seeds, on small scenarios of its own; "
    "batch recall per detector family, false alarms, record precision/recall. A table and "
    "one plot per type (recall vs strength, log2 axis). Stored at `gatekeeper/curves/`.",
)
def detection_curves(
    context: dg.AssetExecutionContext,
    config: DetectionCurvesConfig,
    simulation: SimulationResource,
    gatekeeper: GatekeeperResource,
) -> dg.MaterializeResult:
    """Sweep, score, plot and store the detection curves."""
    try:
        sweep = CurveConfig(
            **config.model_dump(),
            funnel=simulation.funnel_params(),
            rules=gatekeeper.rules_model(),
            baseline=gatekeeper.baseline_config(),
        )
    except ValidationError as exc:
        raise dg.Failure(description=format_validation_error(exc, "config")) from None
    start = time.perf_counter()
    curves = run_curves(sweep)
    elapsed = time.perf_counter() - start
    with tempfile.TemporaryDirectory(prefix="dtg-curves-") as tmp:
        curves.save(tmp)
        try:
            plots = dg.MetadataValue.md(_images(plot_curves(curves, tmp)))
        except PlotUnavailableError as exc:
            context.log.warning(str(exc))
            plots = dg.MetadataValue.text(str(exc))
        with store_failures_fail_the_step("gatekeeper/detection_curves"):
            path = _store(simulation, Path(tmp))
    context.log.info(f"{len(sweep.seeds) * len(sweep.strengths)} points in {elapsed:.1f} s")
    return dg.MaterializeResult(
        metadata={
            "curves": dg.MetadataValue.md(curves.to_markdown()),
            "plots": plots,
            "path": dg.MetadataValue.path(path),
            "points": len(sweep.seeds) * len(sweep.strengths),
            "elapsed_s": round(elapsed, 1),
        }
    )
