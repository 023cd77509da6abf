"""Check outcomes as Dagster asset checks: their specs, and results recorded per partition.

Both the landing windows and the gatekeeper's findings run their checks inside their own
(``single_run``-backfilled) multi_asset: one step may cover many days, and an
``AssetCheckResult`` cannot say which day it is about. Each outcome therefore becomes an
``AssetCheckEvaluation`` carrying its partition, and each executed check also yields its (empty)
``Output`` once per step, which is what Dagster itself does for an ``AssetCheckResult``: it tells
the step the declared check was produced, so no "did not yield expected outputs" line appears,
and it is the output that blocking checks gate downstream steps on.

Why not separate checks: in Dagster 1.13 a partitioned check spec
(``AssetCheckSpec(partitions_def=...)``) is a preview feature that warns on every load, and
``multi_asset_check`` takes no partitions or backfill policy of its own, so a separate check
step would need these same evaluations in a range run, for one more step per window.

ERROR checks are declared ``blocking``: a failed one fails the step after its results are
recorded, so assets downstream of the checked one (the gatekeeper) do not run, and the UI says
so. WARN checks never stop anything.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

import dagster as dg

from dtg_assets.simulation.checks import CheckOutcome, CheckSpec

_CONSEQUENCE = {
    "ERROR": " Blocking: a failure fails the run's step after recording every result, so "
    "nothing downstream of the checked asset runs.",
    "WARN": " A warning: a failure is recorded and the run goes on.",
}


def blocking(spec: CheckSpec) -> bool:
    """Whether a failure of the check stops what is downstream: exactly the ERROR checks."""
    return spec.severity == "ERROR"


def asset_check_spec(spec: CheckSpec, key: dg.AssetKey) -> dg.AssetCheckSpec:
    """The Dagster declaration of a check: blocking exactly when its severity is ERROR.

    Args:
        spec: The check.
        key: The asset it checks.

    Returns:
        The asset check spec, its description stating severity and consequence.
    """
    return dg.AssetCheckSpec(
        spec.name,
        asset=key,
        description=f"[{spec.severity}] {spec.description}{_CONSEQUENCE[spec.severity]}",
        blocking=blocking(spec),
    )


class CheckRecorder:
    """Turns a step's check outcomes into the events its asset body yields.

    Args:
        context: The executing multi_asset's context.
        key_of: The asset key of a check spec's ``asset``.
    """

    def __init__(
        self, context: dg.AssetExecutionContext, key_of: Callable[[str], dg.AssetKey]
    ) -> None:
        self._context = context
        self._key_of = key_of
        self._produced: set[dg.AssetCheckKey] = set()
        self.blocking_failures: list[str] = []

    def record(
        self, outcomes: Iterable[CheckOutcome]
    ) -> Iterator[dg.Output | dg.AssetCheckEvaluation]:
        """The events of some outcomes: each selected check's output once, then evaluations.

        Args:
            outcomes: Outcomes of any days; those of checks not selected in this run are
                skipped.

        Yields:
            The check's ``Output`` the first time a check is recorded in this step, and one
            evaluation per outcome, carrying its day as the partition.
        """
        selected = self._context.selected_asset_check_keys
        for outcome in outcomes:
            key = dg.AssetCheckKey(self._key_of(outcome.spec.asset), outcome.spec.name)
            if key not in selected:
                continue
            if key not in self._produced:
                self._produced.add(key)
                name = self._context.assets_def.get_output_name_for_asset_check_key(key)
                yield dg.Output(None, output_name=name)
            partition = outcome.day.isoformat()
            if not outcome.passed and blocking(outcome.spec):
                self.blocking_failures.append(
                    f"{partition} {key.asset_key.to_user_string()}:{key.name} - "
                    f"{outcome.description}"
                )
            yield dg.AssetCheckEvaluation(
                asset_key=key.asset_key,
                check_name=key.name,
                passed=outcome.passed,
                metadata={"partition": partition, "result": outcome.description,
                          **outcome.metadata},
                severity=dg.AssetCheckSeverity(outcome.spec.severity),
                description=outcome.description,
                blocking=blocking(outcome.spec),
                partition=partition,
            )  # fmt: skip

    def log_blocking_failures(self) -> None:
        """Log every failed blocking check with its partition and why, before Dagster fails
        the step (its own message names the checks only)."""
        if self.blocking_failures:
            self._context.log.error(
                f"{len(self.blocking_failures)} blocking check(s) failed:\n"
                + "\n".join(self.blocking_failures[:20])
            )
