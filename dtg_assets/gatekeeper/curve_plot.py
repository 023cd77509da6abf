"""Draw the detection curves: one PNG per anomaly type (matplotlib, the ``plot`` extra).

Each figure plots batch recall (caught over effective batches, pooled over the seeds) against
strength on a log2 axis, the default strength at the right: one broad translucent line per
detector (all its families together), a thin one per detector family that caught anything of
the type, and a dashed line for the record-level recall where the type has record labels.
Where a line sits at 1 the gate sees the problem; where it falls is where it stops seeing it.
matplotlib is optional: without it :func:`plot_curves` raises :class:`PlotUnavailableError`,
one line naming the extra.
"""

from __future__ import annotations

from pathlib import Path

from dtg_assets.gatekeeper.curve_table import ALL, Curves, strength_label
from dtg_assets.gatekeeper.strength import FLAT_TYPES

INSTALL_HINT = "matplotlib is not installed; install the plot extra: pip install 'dtg_assets[plot]'"


class PlotUnavailableError(RuntimeError):
    """matplotlib is missing; the message says how to install it."""


def _figure_class() -> type:
    try:
        # The object-oriented Figure needs no pyplot state nor GUI backend (threads, servers).
        from matplotlib.figure import Figure
    except ImportError:
        raise PlotUnavailableError(INSTALL_HINT) from None
    return Figure


def plot_anomaly(curves: Curves, anomaly: str, path: Path) -> Path:
    """Draw one anomaly type's curves to a PNG.

    Args:
        curves: The pooled curves.
        anomaly: The anomaly type.
        path: The PNG to write (its folder must exist).

    Returns:
        The path.

    Raises:
        PlotUnavailableError: If matplotlib is not installed.
    """
    figure = _figure_class()(figsize=(6.4, 4.0), dpi=100)
    ax = figure.add_subplot()
    sub = curves.table[curves.table["anomaly"] == anomaly]
    for (detector, family), part in sub.groupby(["detector", "family"], sort=False):
        if family != ALL and not part["caught"].any():
            continue  # a family that never caught this type would only be a line at zero
        label = detector if family == ALL else f"{detector}: {family}"
        # The whole detector as a broad translucent band, so that family lines on it show.
        style = (
            {"linewidth": 6, "alpha": 0.35, "markersize": 9, "zorder": 1}
            if family == ALL
            else {"linewidth": 1.4, "markersize": 4, "zorder": 2}
        )
        ax.plot(part["strength"], part["recall"], marker="o", label=label, **style)
        if family == ALL and part["labelled"].sum():
            ax.plot(
                part["strength"], part["record_recall"], linestyle="--", marker=".",
                label=f"{detector}: record recall", zorder=3,
            )  # fmt: skip
    strengths = sorted(sub["strength"].unique())
    ax.set_xscale("log", base=2)
    ax.set_xticks(strengths, [strength_label(s) for s in strengths])
    ax.minorticks_off()
    ax.set_ylim(-0.03, 1.05)
    ax.set_xlabel("strength (fraction of the default rate or magnitude)")
    ax.set_ylabel("recall")
    seeds = len(curves.seeds)
    title = f"{anomaly}: recall vs strength ({seeds} seed{'s' * (seeds > 1)})"
    if anomaly in FLAT_TYPES:
        title += "\n(flat by construction: no magnitude to scale)"
    ax.set_title(title, fontsize=10)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    figure.tight_layout()
    figure.savefig(path, format="png", metadata={"Software": None})
    return path


def plot_curves(curves: Curves, folder: str | Path) -> dict[str, Path]:
    """Draw every anomaly type's curves, one PNG each (``<folder>/<anomaly>.png``).

    Args:
        curves: The pooled curves.
        folder: Where the PNGs go (created if needed).

    Returns:
        Anomaly type -> PNG path, in report order.

    Raises:
        PlotUnavailableError: If matplotlib is not installed.
    """
    _figure_class()  # fail before creating anything
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    anomalies = list(dict.fromkeys(curves.table["anomaly"]))
    return {a: plot_anomaly(curves, a, folder / f"{a}.png") for a in anomalies}
