"""Score any detector's findings against a data root's ground truth (what ``dtg-score`` runs).

:func:`score` takes findings in the findings format (format v1, see
:mod:`~dtg_assets.gatekeeper.flags`) or the gatekeeper's own findings table, reads the labels
and manifests of the scored days and the landing times of their batches, and scores them with
the one function every evaluation goes through. A batch's *landing time*
(:func:`landed_at`) is the latest store modification time of the files its commit lists in the
manifest: the data itself stays byte-identical whatever the wall clock, so the store's clock
is the only record of when a batch arrived; a batch without files (a missing batch) has none.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterable

import pyarrow as pa

from dtg_assets.gatekeeper import visibility
from dtg_assets.gatekeeper.baseline import Baseline
from dtg_assets.gatekeeper.evaluation import load_ground_truth
from dtg_assets.gatekeeper.flagfile import validate_table
from dtg_assets.gatekeeper.flags import from_findings
from dtg_assets.gatekeeper.report import Evaluation
from dtg_assets.gatekeeper.rules import Rules
from dtg_assets.gatekeeper.scoring import score_flags
from dtg_assets.gatekeeper.store import GatekeeperStore
from dtg_assets.gatekeeper.targets import ANY_DETECTOR, GATEKEEPER_TARGETS, Targets
from dtg_assets.simulation import layout
from dtg_assets.simulation.landing import LandingZone

__all__ = ["Evaluation", "landed_at", "manifest_days", "score", "stored_baseline"]


def manifest_days(zone: LandingZone) -> list[tuple[dt.date, str]]:
    """Every ``(day, window)`` with a manifest under the data root, historical first.

    Args:
        zone: The data root.

    Returns:
        The pairs, by window then day.
    """
    names = zone.storage.list_files(zone.path(layout.MANIFEST), "")
    parsed = (layout.parse_manifest_name(p.rpartition("/")[2]) for p in names)
    pairs = sorted(p for p in parsed if p is not None)
    return [(day, window.value) for window, day in pairs]


def _stamp(info: dict) -> dt.datetime | None:
    # Local and SFTP-like stores say mtime, S3 LastModified, others last_modified; an object
    # store without them (memory://) has created: objects are written whole, once.
    names = ("mtime", "LastModified", "last_modified", "created")
    stamp = next((info[n] for n in names if info.get(n) is not None), None)
    if isinstance(stamp, int | float):
        return dt.datetime.fromtimestamp(stamp, dt.UTC)
    if isinstance(stamp, dt.datetime):
        return stamp if stamp.tzinfo else stamp.replace(tzinfo=dt.UTC)
    return None


def _modified(zone: LandingZone, paths: list[str]) -> dict[str, dt.datetime]:
    """Store modification times of files (a file deleted since has none)."""
    out = {}
    if zone.storage.local:
        for path in paths:
            try:
                out[path] = dt.datetime.fromtimestamp(os.stat(path).st_mtime, dt.UTC)
            except FileNotFoundError:
                continue  # deleted since: the row-count checks report it
        return out
    # One listing per directory (a day's files share a few), not one request per file.
    wanted = set(paths)
    for directory in sorted({p.rpartition("/")[0] for p in paths}):
        try:
            entries = zone.fs.ls(directory, detail=True)
        except FileNotFoundError:
            continue
        for entry in entries:
            # Listings name files as the zone's paths do: without the protocol.
            name = entry["name"]
            if name in wanted and (when := _stamp(entry)) is not None:
                out[name] = when
    return out


def landed_at(zone: LandingZone, window: str, day: dt.date) -> dict[str, dt.datetime]:
    """When each committed batch of one window's day landed: its files' latest store time.

    Args:
        zone: The data root.
        window: ``historical`` or ``live``.
        day: The batches' day.

    Returns:
        Batch id -> UTC landing time; batches without files (or whose files are gone) are
        left out.
    """
    manifest = zone.read_manifest(window, day)
    listed = [[zone.path(f["path"]) for f in files] for files in manifest["files"].to_pylist()]
    times = _modified(zone, [p for paths in listed for p in paths])
    out = {}
    for batch, paths in zip(manifest["batch_id"].to_pylist(), listed, strict=True):
        found = [times[p] for p in paths if p in times]
        if found:
            out[batch] = max(found)
    return out


def stored_baseline(zone: LandingZone) -> Baseline | None:
    """The gatekeeper baseline learned for a data root, or None if none was stored.

    Args:
        zone: The data root.

    Returns:
        The baseline (what :func:`score` assesses visibility with), or None.
    """
    try:
        return GatekeeperStore(zone).read_baseline()
    except FileNotFoundError:
        return None


def score(
    zone: LandingZone,
    findings: pa.Table,
    days: Iterable[tuple[dt.date, str]] | None = None,
    targets: Targets | None = None,
    baseline: Baseline | None = None,
    rules: Rules | None = None,
) -> Evaluation:
    """Score findings against the ground truth of a data root.

    Args:
        zone: The data root (its manifests, labels and landing files' times are read).
        findings: Format-v1 flags (validated here as a Parquet file would be), or the
            gatekeeper's ``FINDINGS_SCHEMA`` table (recognised by its ``verdict`` column).
        days: ``(day, window)`` pairs to score; every manifest of the data root when None.
        targets: Which detectors count for which anomaly type; when None, the gatekeeper's
            attribution for its own findings table, any detector for every type otherwise.
        baseline: The learned baseline to assess visibility with (e.g.
            :func:`stored_baseline`): labelled records no learned range tells from normal ones
            are reported apart as invisible rather than scored as misses. Invisibility is a
            property of the data, not of a detector: such a record is indistinguishable from
            a normal one to any detector that learned from the same history. Every record
            counts when None.
        rules: The gatekeeper's detector configuration the visibility is judged by (its
            defaults when None).

    Returns:
        The evaluation; flags on batch ids outside the scored manifests are counted in its
        ``unknown_batches``/``unknown_flags``.

    Raises:
        FlagsError: If the findings are not valid format-v1 flags (one line, row and field).
        ValueError: If a ground-truth file cannot be read (naming it).
    """
    own = "verdict" in findings.column_names
    flags = from_findings(findings) if own else validate_table(findings)
    if targets is None:
        targets = GATEKEEPER_TARGETS if own else ANY_DETECTOR
    pairs = manifest_days(zone) if days is None else list(days)
    labels, manifest = load_ground_truth(zone, pairs)
    invisible = None
    if baseline is not None:
        invisible = visibility.assess_days(zone, pairs, baseline, labels, rules).invisible
    landed = {}
    for day, window in pairs:
        landed.update(landed_at(zone, window, day))
    scored = score_flags(flags, visibility.split(labels, invisible), manifest, landed, targets)
    return visibility.annotate(scored, invisible)
