"""Dagster-free simulation engine of the DTG credit-card acquisition funnel.

Pure functions over numpy and pyarrow, driven by strict pydantic models: plan a scenario's
batches, generate a batch with its ground-truth labels, and land whole days as hive-partitioned
Parquet. The Dagster assets in :mod:`dtg_assets.assets` are thin wrappers around this package.
"""
