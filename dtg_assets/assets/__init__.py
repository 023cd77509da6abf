"""Dagster assets of the DTG project: the historical and live landing windows.

Each window is one daily-partitioned multi_asset (see :mod:`dtg_assets.assets.landing`) built
against the partitions of :mod:`dtg_assets.partitions`.
"""

from dtg_assets.assets.landing import asset_key, build_landing_asset
from dtg_assets.partitions import historical_partitions, live_partitions
from dtg_assets.simulation.plan import Window

historical_landing = build_landing_asset(Window.HISTORICAL, historical_partitions)
live_landing = build_landing_asset(Window.LIVE, live_partitions)

__all__ = ["asset_key", "historical_landing", "live_landing"]
