"""The configuration of record: a day is checked against the configuration it was written with.

Every manifest row records the canonical JSON of the part of the scenario that determines its
batch's bytes (:func:`~dtg_assets.simulation.layout.content_config`) and its sha256. The checks
verify a day against that configuration, so a day landed from the launchpad with a custom live
schedule passes its checks when they are executed later under the default resources; the
configured scenario contributes only its date range, which the record leaves out (a historical
day's record has no live schedule or anomaly parameters either: they cannot change its bytes,
and its checks never use them).
:func:`config_matches_resources`, a WARN check, names the fields where the two differ.
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
import pydantic

from dtg_assets.simulation import layout
from dtg_assets.simulation.checks.model import CheckSpec, ConfigRecord, LandedDay, Verdict
from dtg_assets.simulation.config import ScenarioConfig
from dtg_assets.simulation.layout import Window

# The scenario fields a record leaves out (layout.content_config): where the day sits.
DATE_RANGE = ("start_date", "historical_days", "live_days")
# Differing fields named in a description; the metadata lists every one.
SHOWN = 8


def config_of_record(
    manifest: pd.DataFrame | None, configured: ScenarioConfig, window: Window
) -> tuple[ScenarioConfig, ConfigRecord]:
    """The scenario to check a day against, and its record compared with the configured one.

    Args:
        manifest: The day's manifest (None or empty: never written, or unreadable).
        configured: The scenario the resources configure now.
        window: The day's window.

    Returns:
        ``(scenario, record)``: the recorded fields in the configured date range, or the
        configured scenario itself when there is no usable record (the record then says why).
    """
    now = layout.content_config(configured, window)
    if manifest is None or manifest.empty:
        return configured, ConfigRecord(None, now, "no manifest: nothing was recorded")
    texts = sorted(set(manifest["config"]))
    if len(texts) > 1:
        why = f"the day's batches were written under {len(texts)} configurations"
        return configured, ConfigRecord(None, now, why)
    hashes = set(manifest["config_hash"])
    if hashes != {layout.hash_of(texts[0])}:
        why = "the recorded configuration does not hash to the manifest's config_hash"
        return configured, ConfigRecord(None, now, why)
    try:
        recorded = json.loads(texts[0])
        if not isinstance(recorded, dict) or recorded.get("window") != window.value:
            raise ValueError(f"it is not a {window.value} day's configuration")
        # Only the date range comes from the configured scenario: anything else it sets (a
        # preset, another schedule) must not mix with the record, which is complete for the
        # day's bytes (a historical record has no live schedule: it needs none).
        dates = configured.model_dump(mode="json", include=set(DATE_RANGE))
        fields = {k: v for k, v in recorded.items() if k != "window"}
        scenario = ScenarioConfig.model_validate({**dates, **fields})
    except (ValueError, pydantic.ValidationError) as exc:
        first = str(exc).splitlines()[0]
        return configured, ConfigRecord(
            None, now, f"the recorded configuration is unusable: {first}"
        )
    return scenario, ConfigRecord(recorded, now)


def differing_fields(recorded: Any, configured: Any, path: str = "") -> dict[str, list[Any]]:
    """The leaf fields where two JSON values differ, by dotted path (``funnel.apply_rate``,
    ``live_schedule[3].anomaly``; a list of another length is one field).

    Args:
        recorded: The configuration of record.
        configured: The configured one.
        path: Path of these values (for recursion).

    Returns:
        ``{path: [recorded value, configured value]}``.
    """
    if isinstance(recorded, dict) and isinstance(configured, dict):
        found: dict[str, list[Any]] = {}
        for key in sorted(set(recorded) | set(configured)):
            sub = f"{path}.{key}" if path else key
            found.update(differing_fields(recorded.get(key), configured.get(key), sub))
        return found
    if (
        isinstance(recorded, list)
        and isinstance(configured, list)
        and len(recorded) == len(configured)
    ):
        found = {}
        for i, (a, b) in enumerate(zip(recorded, configured, strict=True)):
            found.update(differing_fields(a, b, f"{path}[{i}]"))
        return found
    return {} if recorded == configured else {path: [recorded, configured]}


def config_matches_resources(spec: CheckSpec, day: LandedDay) -> Verdict:
    """The configuration the day was written with equals the one the resources configure now
    (the part that determines a day's bytes)."""
    record = day.record
    if day.frames["batch_manifest"].empty and not day.plans:
        return Verdict(True, "nothing landed yet (no batch of this day is due): nothing to compare")
    if record is None or record.recorded is None:
        why = record.problem if record is not None else "no configuration of record"
        return Verdict(False, f"the day cannot be checked against its own configuration: {why}")
    differing = differing_fields(record.recorded, record.configured)
    meta = {"config_hash": layout.hash_of(json.dumps(record.recorded, sort_keys=True,
                                                     separators=(",", ":")))}  # fmt: skip
    if differing:
        names = list(differing)
        more = f" and {len(names) - SHOWN} more" if len(names) > SHOWN else ""
        meta["differing_fields"] = differing
        why = (
            f"written under another configuration than the resources' now; differing "
            f"field(s): {', '.join(names[:SHOWN])}{more} (the checks use the day's own)"
        )
        return Verdict(False, why, meta)
    return Verdict(True, "written under the configuration the resources configure now", meta)
