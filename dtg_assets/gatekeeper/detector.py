"""What a detector is: a named rule over prepared landing rows, with its record criterion.

A :class:`Detector` turns the prepared rows of some batches (:class:`~dtg_assets.gatekeeper.
frames.Frames`) into one :class:`~dtg_assets.gatekeeper.verdicts.Finding` per batch. A detector
that judges records one by one against a range the baseline learned (value ranges, ratio
fences, the age floor) also exposes that judgement alone as ``outside``: which records lie
beyond what history showed, whatever the batch-level verdict. The visibility assessment
(:mod:`~dtg_assets.gatekeeper.visibility`) reads it to tell a record the gate could see from
one indistinguishable from normal ones.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from dtg_assets.gatekeeper.frames import Frames
from dtg_assets.gatekeeper.verdicts import Finding, Target

Check = Callable[[Frames, Mapping[str, pa.Schema]], list[Finding]]
Outside = Callable[[Frames], np.ndarray]


@dataclass(frozen=True)
class Detector:
    """A named rule applied to every batch of some prepared landing rows.

    Attributes:
        target: Name, family, table and metric of the rule.
        check: The prepared rows and the tables' schemas -> one finding per batch, in the
            order of ``Frames.batches`` (vectorised over the batches, not run per batch).
        outside: For a record-level rule against a learned range, the prepared rows -> a
            mask over the rows of ``target.table``: the records beyond the range (None for
            other rules).
    """

    target: Target
    check: Check
    outside: Outside | None = None

    @property
    def name(self) -> str:
        """The detector's name, e.g. ``completeness:visitor_events.campaign_id``."""
        return self.target.detector


def make(
    name: str, family: str, table: str, metric: str, check: Check, outside: Outside | None = None
) -> Detector:
    """Build a detector from its parts.

    Args:
        name: Detector name.
        family: ``technical``, ``business``, ``freshness`` or ``statistical``.
        table: The table it reads.
        metric: Name of the metric its findings carry.
        check: The batch-level check.
        outside: The record criterion against a learned range, if it has one.

    Returns:
        The detector.
    """
    return Detector(Target(name, family, table, metric), check, outside)
