"""Hand-made landing frames for the gatekeeper tests, built without the engine.

:func:`clean_batch` makes one batch whose funnel is exact by construction: every fifth visitor
applies, three applications in five are approved, one account in ten transacts twice. Values
cycle through small fixed domains, so a baseline learned from a few such batches has known
rates, domains and distributions, and a test can break exactly the records it wants.
Session durations are the only random column (seeded, ``max(0.1, Normal(30, 10))``), so the
share of sub-second sessions is realistic rather than exactly zero.
"""

from __future__ import annotations

import datetime as dt
import uuid

import numpy as np
import pandas as pd
import pyarrow as pa

from dtg_assets.gatekeeper.baseline import Baseline, BaselineConfig, learn_from_frames
from dtg_assets.gatekeeper.findings import detect_batches
from dtg_assets.gatekeeper.frames import prepare
from dtg_assets.gatekeeper.rules import Rules
from dtg_assets.simulation.schemas import TABLE_SCHEMAS, TABLES

DAY0 = dt.date(2026, 3, 1)
WORDS = ["ALPHA", "BRAVO", "CHARLIE", "DELTA", "ECHO", "FOXTROT", "GOLF"]
CITIES = ["Lake Sarah", "Jamesville", "Port Anna", "Northtown"]
COUNTRIES = ["Chile", "Kenya", "Norway", "Peru", "Togo"]
Tables = dict[str, pd.DataFrame]


def _ids(rng: np.random.Generator, n: int) -> list[str]:
    return [str(uuid.UUID(bytes=rng.bytes(16), version=4)) for _ in range(n)]


def clean_batch(batch_id: str, start: dt.datetime, visitors: int, seed: int) -> Tables:
    """One clean batch as landing-schema DataFrames.

    Args:
        batch_id: Its id.
        start: Its start (UTC); ``ingested_at`` is start + 100 s.
        visitors: Visitors (a multiple of 25 keeps every rate exact).
        seed: Seed of the ids and session durations.

    Returns:
        Table name -> frame.
    """
    rng = np.random.default_rng(seed)
    ingested = start + dt.timedelta(seconds=100)
    i = np.arange(visitors)
    v_ts = [start + dt.timedelta(seconds=int(1 + k % 99)) for k in i]
    vis = pd.DataFrame(
        {
            "visitor_id": _ids(rng, visitors),
            "event_type": [["landing", "scroll", "apply_click", "view_pricing"][k % 4] for k in i],
            "campaign_id": [f"{WORDS[k % 7]}{100 + (k * 13) % 899}" for k in i],
            "device_type": [["mobile", "desktop", "tablet"][k % 3] for k in i],
            "geo": [["USA", "UK", "IND", "CA"][k % 4] for k in i],
            "timestamp": v_ts,
            "session_duration": np.maximum(0.1, rng.normal(30.0, 10.0, visitors)),
        }
    )
    j = np.arange(visitors // 5)
    income = 40_000 + (j * 7919) % 110_000
    a_ts = [v_ts[5 * k] + dt.timedelta(minutes=int(1 + k % 14)) for k in j]
    status = np.where(j % 5 < 3, "approved", np.where((j // 5) % 10 == 0, "submitted", "rejected"))
    apps = pd.DataFrame(
        {
            "app_id": _ids(rng, j.size),
            "visitor_id": vis["visitor_id"].to_numpy()[::5][: j.size],
            "applicant_age": 22 + j % 43,
            "annual_income": income.astype(float),
            "employment_status": [["salaried", "self-employed", "unemployed"][k % 3] for k in j],
            "req_credit_limit": income // 10,
            "timestamp": a_ts,
            "application_status": status,
        }
    )
    ok = np.flatnonzero(status == "approved")
    k = np.arange(ok.size)
    acc_ts = [a_ts[o] + dt.timedelta(hours=int(2 + n % 22)) for o, n in zip(ok, k, strict=True)]
    acc = pd.DataFrame(
        {
            "account_id": _ids(rng, ok.size),
            "app_id": apps["app_id"].to_numpy()[ok],
            "approved_limit": ((income[ok] // 10) * (0.8 + 0.4 * ((k * 37) % 100) / 100)).astype(
                int
            ),
            "interest_rate": 14.99 + k % 15,
            "account_open_timestamp": acc_ts,
            "account_status": "active",
        }
    )
    owners = np.repeat(np.flatnonzero(k % 10 == 0), 2)
    m = np.arange(owners.size)
    txn = pd.DataFrame(
        {
            "txn_id": _ids(rng, m.size),
            "account_id": acc["account_id"].to_numpy()[owners],
            "amount": np.round(5 + ((m * 9973) % 49_500) / 100, 2),
            "merchant_cat_code": [["5411", "5812", "5999", "7999", "5541"][x % 5] for x in m],
            "location": [COUNTRIES[x % 5] for x in m],
            "state": [["CA", "NY", "TX", "WA", "FL"][x % 5] for x in m],
            "merchant_city": [CITIES[x % 4] for x in m],
            "timestamp": [
                acc_ts[o] + dt.timedelta(days=int(1 + x % 4), minutes=int(x % 1440))
                for o, x in zip(owners, m, strict=True)
            ],
        }
    )
    out = {"visitor_events": vis, "applications": apps, "accounts": acc, "transactions": txn}
    for frame in out.values():
        frame["batch_id"] = batch_id
        frame["ingested_at"] = ingested
    return out


def history(batches: int = 6, visitors: int = 2000) -> Tables:
    """Several clean historical batches, one a day from :data:`DAY0`, concatenated."""
    parts = []
    for d in range(batches):
        day = DAY0 + dt.timedelta(days=d)
        start = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
        parts.append(clean_batch(f"historical-{day:%Y%m%d}-0000", start, visitors, seed=d))
    return {t: pd.concat([p[t] for p in parts], ignore_index=True) for t in TABLES}


def live_batch(visitors: int = 2000, seed: int = 100, hour: int = 3) -> Tables:
    """A clean live batch on the day after :func:`history`'s."""
    day = DAY0 + dt.timedelta(days=30)
    start = dt.datetime.combine(day, dt.time(hour), tzinfo=dt.UTC)
    return clean_batch(f"live-{day:%Y%m%d}-{hour:02d}00", start, visitors, seed)


def to_arrow(tables: Tables) -> dict[str, pa.Table]:
    """Frames -> Arrow tables in the landing schemas (made nullable: tests inject nulls)."""
    out = {}
    for t in TABLES:
        schema = pa.schema([f.with_nullable(True) for f in TABLE_SCHEMAS[t]])
        out[t] = pa.Table.from_pandas(tables[t], schema=schema, preserve_index=False)
    return out


def learn(tables: Tables, config: BaselineConfig | None = None) -> Baseline:
    """Learn a baseline from hand-made historical frames."""
    arrow = to_arrow(tables)
    ids = set(tables["visitor_events"]["batch_id"])
    days = sorted({dt.datetime.strptime(b.split("-")[1], "%Y%m%d").date() for b in ids})
    schemas = {t: arrow[t].schema for t in TABLES}
    return learn_from_frames(prepare(arrow), schemas, config or BaselineConfig(), days)


def detect(tables: Tables, baseline: Baseline, rules: Rules | None = None) -> pd.DataFrame:
    """Run every detector on hand-made frames; findings as a frame indexed by detector."""
    found = detect_batches(to_arrow(tables), baseline, rules).to_pandas()
    return found.set_index("detector", drop=False)


def flags(found: pd.DataFrame) -> set[str]:
    """Detectors that flagged, in a frame of findings."""
    return set(found.loc[found["verdict"] == "flag", "detector"])


def ids(found: pd.DataFrame, detector: str) -> set[str]:
    """The record ids one detector flagged."""
    return set(found.loc[detector, "flagged_ids"])
