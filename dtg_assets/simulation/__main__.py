"""``python -m dtg_assets.simulation``: the Dagster-free command line (see :mod:`.cli`)."""

from dtg_assets.simulation.cli import run

run()
