"""Per-table generation of one chunk of a micro-batch, in funnel order.

:mod:`.context` holds what every table needs (streams, the batch's times, the lineage
columns); :mod:`.visitors`, :mod:`.applications`, :mod:`.accounts` and :mod:`.transactions`
each draw one table over its candidate space and return typed values for the next stage plus
the table's comparison with the normal twin (:class:`~dtg_assets.simulation.labels.TableDiff`),
which :mod:`dtg_assets.simulation.labels` turns into ground-truth labels.
"""
