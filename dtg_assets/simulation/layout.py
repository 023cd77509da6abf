"""Every name under a data root, and its parser, in one place.

Layout, relative to the root::

    landing/<table>/date=YYYY-MM-DD/<batch_id>.<token>.parquet   one file per (table, batch, date)
    landing/_commits/<window>-<YYYYMMDD>.json                    the files a day committed
    ground_truth/labels/<window>-<YYYYMMDD>.<token>.parquet      label rows of one day's batches
    ground_truth/manifest/<window>-<YYYYMMDD>.parquet            one row per batch; commit marker
    gatekeeper/baseline.json, gatekeeper/findings/<YYYYMMDD>.parquet,
    gatekeeper/evaluation/<name>.parquet                         the gatekeeper's artifacts
    .dtg-writers/<token>.lock                                    lock files of live local writers

A batch id is ``<window>-<YYYYMMDD>-<HHMM>`` (its start, UTC). The ``token`` of a day's files is
the first 8 hex digits of :func:`config_hash`, a sha256 of the configuration that determines that
day's bytes (never its date range): the same configuration lands the same names and bytes, and a
write under another configuration lands beside them under other names instead of over them, so a
torn write can never pass for a committed one. Files are written under hidden temporary names
``.<name>.<writer token>.tmp`` (skipped by Spark, DuckDB globs and pyarrow datasets) and renamed
into place.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from dataclasses import dataclass
from enum import StrEnum

from dtg_assets.simulation.config import STRUCTURAL_TYPES, BatchSpec, ScenarioConfig

LANDING = "landing"
# Landing-side record of each day's committed files (no ground truth in it: the gatekeeper reads
# it); the leading underscore keeps directory readers out.
COMMITS = f"{LANDING}/_commits"
GROUND_TRUTH = "ground_truth"
LABELS = f"{GROUND_TRUTH}/labels"
MANIFEST = f"{GROUND_TRUTH}/manifest"
GATEKEEPER = "gatekeeper"
# Hidden directory of the writers' lock files, under the data root.
LOCK_DIR = ".dtg-writers"
PARQUET = ".parquet"
TEMP_SUFFIX = ".tmp"
TOKEN_HEX = 8


class Window(StrEnum):
    """The two windows of a scenario."""

    HISTORICAL = "historical"
    LIVE = "live"


_WINDOWS = "|".join(re.escape(w.value) for w in Window)
_BATCH_ID = rf"(?P<window>{_WINDOWS})-(?P<day>\d{{8}})-(?P<hhmm>\d{{4}})"
_BATCH_ID_RE = re.compile(_BATCH_ID)
# Landing file names; a name without a token is a file of an older layout (a leftover).
_TOKEN = rf"[0-9a-f]{{{TOKEN_HEX}}}"
_LANDING_RE = re.compile(rf"(?P<batch>{_BATCH_ID})(?:\.(?P<token>{_TOKEN}))?\.parquet")
_TEMP_RE = re.compile(r"\.(?P<name>.+)\.(?P<token>[0-9a-f]+)\.tmp")


def batch_id(window: Window | str, start: dt.datetime) -> str:
    """The id of the batch starting at ``start``: ``<window>-<YYYYMMDD>-<HHMM>``."""
    return f"{Window(window).value}-{start:%Y%m%d-%H%M}"


def parse_batch_id(text: str) -> tuple[Window, dt.datetime] | None:
    """``(window, start)`` of a batch id, or None if ``text`` is not one."""
    match = _BATCH_ID_RE.fullmatch(text)
    if match is None:
        return None
    try:
        start = dt.datetime.strptime(match["day"] + match["hhmm"], "%Y%m%d%H%M")
    except ValueError:
        return None
    return Window(match["window"]), start.replace(tzinfo=dt.UTC)


def batch_prefix(window: Window | str, day: dt.date) -> str:
    """The prefix ``<window>-<YYYYMMDD>-`` shared by every batch id of one window's day."""
    return f"{day_stem(window, day)}-"


def day_stem(window: Window | str, day: dt.date) -> str:
    """``<window>-<YYYYMMDD>``: the stem of one window's day's ground-truth files."""
    return f"{Window(window).value}-{day:%Y%m%d}"


def content_config(config: ScenarioConfig, window: Window | str) -> dict:
    """The part of a scenario that determines the bytes of a window's day.

    The date range (start date, numbers of days) is left out: the same day written under a
    scenario starting on another date is the same data. So are, for a historical day, the live
    schedule and the anomaly parameters: its one batch is normal, and another anomaly strength
    must not rename (to a streaming reader: re-deliver) fourteen days of identical history.

    Args:
        config: The scenario.
        window: The day's window.

    Returns:
        A JSON-ready dict.
    """
    window = Window(window)
    if window is Window.HISTORICAL:
        fields = {"seed", "scale", "funnel", "historical_visitors"}
        return {"window": window.value, **config.model_dump(mode="json", include=fields)}
    content = config.model_dump(mode="json", include={"seed", "scale", "funnel", "anomalies"})
    # The structural anomalies' parameters count only where scheduled (unscheduled, they cannot
    # change a byte), and a batch lists its anomalies only when it has several: a scenario
    # without them keeps the token it had before they existed.
    days = config.live_days_schedules
    scheduled = {k.value for day in days for b in day for k in b.kinds}
    for name in STRUCTURAL_TYPES:
        if name not in scheduled:
            del content["anomalies"][name]
    content["live_schedule"] = [_batch_content(b) for b in config.live_schedule]
    if config.live_week:
        content["live_week"] = [[_batch_content(b) for b in day] for day in config.live_week]
    return {"window": window.value, **content}


def _batch_content(batch: BatchSpec) -> dict:
    content: dict = {"anomaly": batch.names[0] if batch.kinds else None}
    if len(batch.kinds) > 1:
        content["anomalies"] = batch.names
    content["visitors"] = batch.visitors
    return content


def config_hash(config: ScenarioConfig, window: Window | str) -> str:
    """Full sha256 (hex) of the canonical JSON of :func:`content_config`."""
    text = json.dumps(content_config(config, window), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def token_of(digest: str) -> str:
    """The token naming a day's files: the first hex digits of its configuration hash."""
    return digest[:TOKEN_HEX]


def config_json(config: ScenarioConfig, window: Window | str) -> str:
    """The canonical JSON text of :func:`content_config` (:func:`config_hash` is its sha256):
    what a manifest records as the configuration its batches were written with."""
    return json.dumps(content_config(config, window), sort_keys=True, separators=(",", ":"))


def hash_of(text: str) -> str:
    """Full sha256 (hex) of a configuration's canonical JSON text."""
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class LandingName:
    """A parsed landing file name.

    Attributes:
        batch_id: The batch.
        token: Its configuration token (None for a file of the layout without tokens).
    """

    batch_id: str
    token: str | None


def landing_name(batch: str, token: str) -> str:
    """``<batch_id>.<token>.parquet``."""
    return f"{batch}.{token}{PARQUET}"


def parse_landing_name(name: str) -> LandingName | None:
    """The batch and token of a landing file name, or None if no writer made that name."""
    match = _LANDING_RE.fullmatch(name)
    if match is None or parse_batch_id(match["batch"]) is None:
        return None
    return LandingName(match["batch"], match["token"])


def landing_dir(table: str, date: dt.date | str | None = None) -> str:
    """``landing/<table>`` or, with a date, ``landing/<table>/date=YYYY-MM-DD``."""
    if date is None:
        return f"{LANDING}/{table}"
    text = date if isinstance(date, str) else date.isoformat()
    return f"{LANDING}/{table}/date={text}"


def landing_file(table: str, date: dt.date | str, batch: str, token: str) -> str:
    """Relative path of one batch's file of a table on one event date."""
    return f"{landing_dir(table, date)}/{landing_name(batch, token)}"


def labels_file(window: Window | str, day: dt.date, token: str | None) -> str:
    """Relative path of one window's day's labels, written under configuration ``token``
    (None: the name of the layout without tokens)."""
    suffix = f".{token}" if token else ""
    return f"{LABELS}/{day_stem(window, day)}{suffix}{PARQUET}"


@dataclass(frozen=True)
class Provenance:
    """What a write of one window's day records of its configuration, and the names it gives.

    Attributes:
        config: The configuration's canonical JSON (:func:`config_json`).
        digest: Its sha256 (:func:`hash_of`), the manifest's ``config_hash``.
        token: The token in the day's file names (:func:`token_of`).
        labels_file: The day's labels file (:func:`labels_file`).
    """

    config: str
    digest: str
    token: str
    labels_file: str

    @classmethod
    def of(cls, config: ScenarioConfig, window: Window | str, day: dt.date) -> Provenance:
        """The provenance of ``config``'s write of ``day`` in ``window``."""
        recorded = config_json(config, window)
        digest = hash_of(recorded)
        token = token_of(digest)
        return cls(recorded, digest, token, labels_file(window, day, token))

    def columns(self) -> dict[str, str]:
        """The manifest columns every batch of the day shares."""
        return {"config_hash": self.digest, "config": self.config, "labels_file": self.labels_file}


def commit_record_file(window: Window | str, day: dt.date) -> str:
    """Relative path of the landing-side record of the files one window's day committed."""
    return f"{COMMITS}/{day_stem(window, day)}.json"


def manifest_file(window: Window | str, day: dt.date) -> str:
    """Relative path of one window's day's manifest (its commit marker)."""
    return f"{MANIFEST}/{day_stem(window, day)}{PARQUET}"


def parse_manifest_name(name: str) -> tuple[Window, dt.date] | None:
    """``(window, day)`` of a manifest file name, or None if not one."""
    stem = name.removesuffix(PARQUET)
    window, _, day = stem.rpartition("-")
    if stem == name or window not in set(Window) or not (len(day) == 8 and day.isdigit()):
        return None
    try:
        return Window(window), dt.datetime.strptime(day, "%Y%m%d").date()
    except ValueError:
        return None


def temporary_name(final: str, token: str) -> str:
    """Hidden temporary path of ``final`` (a path or a name) for the writer ``token``."""
    directory, _, name = final.rpartition("/")
    hidden = f".{name}.{token}{TEMP_SUFFIX}"
    return f"{directory}/{hidden}" if directory else hidden


def parse_temporary(path: str) -> tuple[str, str] | None:
    """``(final name, writer token)`` of a temporary path or name, or None if not one."""
    match = _TEMP_RE.fullmatch(path.rpartition("/")[2])
    return (match["name"], match["token"]) if match else None


def is_hidden(name: str) -> bool:
    """Whether readers skip a file name (temporaries, ``_SUCCESS`` markers)."""
    return name.startswith((".", "_"))


def lock_file(token: str) -> str:
    """Relative path of a writer's lock file."""
    return f"{LOCK_DIR}/{token}.lock"


BASELINE_FILE = f"{GATEKEEPER}/baseline.json"
FINDINGS_DIR = f"{GATEKEEPER}/findings"
EVALUATION_DIR = f"{GATEKEEPER}/evaluation"
CURVES_DIR = f"{GATEKEEPER}/curves"


def findings_file(day: dt.date) -> str:
    """Relative path of one live day's gatekeeper findings."""
    return f"{FINDINGS_DIR}/{day:%Y%m%d}{PARQUET}"


def parse_findings_name(name: str) -> dt.date | None:
    """The day of a findings file name, or None if not one."""
    stem = name.removesuffix(PARQUET)
    if stem == name or not (len(stem) == 8 and stem.isascii() and stem.isdigit()):
        return None
    try:
        return dt.datetime.strptime(stem, "%Y%m%d").date()
    except ValueError:
        return None


def evaluation_file(name: str) -> str:
    """Relative path of one gatekeeper evaluation table."""
    return f"{EVALUATION_DIR}/{name}{PARQUET}"
