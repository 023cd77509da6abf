"""The gatekeeper on funnels other than the shipped one (benchmarks/eval_generalise.py).

Each funnel changes rates, ranges and volumes for history and live alike; two live days of
the default schedule carry every anomaly type it plans twice. The targets are exact: every
batch with a visible effect caught, no false alarm on a normal batch, record-level precision
and recall >= 0.95 on the visible records. The wide funnel also shows why the range detectors
exist: without them its fraud batches are missed, as in the issue that asked for this.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pytest

from dtg_assets.gatekeeper import Rules, detect_days, evaluate, load_ground_truth
from dtg_assets.gatekeeper.business import age_floor
from dtg_assets.gatekeeper.frames import prepare, read_days
from dtg_assets.gatekeeper.rules import RangeRule
from dtg_assets.simulation.plan import scenario_days

_PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "eval_generalise.py"
_SPEC = importlib.util.spec_from_file_location("eval_generalise", _PATH)
bench = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(bench)

SEED = 42
LIVE_DAYS = 2
# The default schedule's anomalies: each is planned once a live day.
PLANNED = {"null_burst", "age_error", "traffic_spike", "fraud_spike", "limit_spike", "stale_data"}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Funnel name -> (config, run), each funnel run once, when first asked for."""
    done = {}

    def get(name: str):
        if name not in done:
            cfg = bench.config(name, SEED, live_days=LIVE_DAYS)
            done[name] = cfg, bench.run(cfg, str(tmp_path_factory.mktemp(name) / "root"))
        return done[name]

    return get


@pytest.fixture(params=["wide", "premium", "mass"])
def funnel(request, runs):
    return request.param, *runs(request.param)


def test_the_funnels_differ_from_the_default_in_rates_ranges_and_volumes():
    default = bench.config("default", SEED)
    for name in ("wide", "premium", "mass"):
        cfg = bench.config(name, SEED)
        f, d = cfg.funnel, default.funnel
        assert (f.apply_rate, f.approve_rate) != (d.apply_rate, d.approve_rate), name
        assert f.annual_income != d.annual_income and f.amount != d.amount, name
    volumes = {
        n: bench.config(n, SEED).historical_visitors * bench.config(n, SEED).scale
        for n in bench.FUNNELS
    }
    assert len(set(volumes.values())) == len(volumes)


def test_every_visible_anomalous_batch_is_caught_without_false_alarms(funnel):
    name, _, result = funnel
    b = result.evaluation.batches
    # Every planned type had an effect a gate could see, in every live day.
    for anomaly in PLANNED:
        seen = b[b["effective"].map(lambda e, a=anomaly: a in e)]
        assert len(seen) == LIVE_DAYS, (name, anomaly)
    s = result.evaluation.summary()
    assert s["caught_batches"] == s["anomalous_batches"] > 0, result.evaluation.missed
    assert s["false_alarms"] == 0, b.loc[b["status"] == "false_alarm", "detectors"].tolist()
    assert s["normal_batches"] == 14 + 2 * LIVE_DAYS


def test_record_precision_and_recall_reach_the_target(funnel):
    name, _, result = funnel
    records = result.evaluation.records
    assert records["invisible"].ge(0).all(), name
    scored = records[records["labelled"] > 0]
    assert {"under_age_applications", "limit_spikes", "fraud_transactions"} <= set(
        scored["record_type"]
    )
    weak = scored[(scored["precision"] < 0.95) | (scored["recall"] < 0.95)]
    assert weak.empty, weak.to_string()


# Which anomalies leave records a gate cannot see, per funnel: the wide funnel's ordinary
# amounts reach past the limit (some frauds hide among them), the mass funnel's applicants
# start at 16 (an under-age error of 16 is an ordinary applicant); the premium funnel hides
# nothing.
HIDDEN = {
    "wide": {"fraud_spike": "fraud_transactions"},
    "premium": {},
    "mass": {"age_error": "under_age_applications"},
}


def _live_frames(result, cfg):
    days = [d for d, w in scenario_days(cfg) if w.value == "live"]
    return prepare(read_days(result.zone, "live", days)[0])


def _rows(rows, key: str, ids) -> np.ndarray:
    found = np.isin(np.asarray(rows.column(key).to_pylist()), ids)
    assert found.sum() == len(ids)
    return found


def test_invisible_records_lie_inside_the_learned_normal_range(funnel):
    name, cfg, result = funnel
    hidden, rules, baseline = result.visibility.invisible, Rules(), result.baseline
    records = result.evaluation.records.set_index("record_type")
    assert int(records["invisible"].sum()) == hidden.num_rows
    assert set(pc.unique(hidden["anomaly"]).to_pylist()) == set(HIDDEN[name])
    for record_type in HIDDEN[name].values():
        # Some, not all: the rest stand out and are scored.
        assert 0 < records.loc[record_type, "invisible"] < records.loc[record_type, "labelled"]
    if not hidden.num_rows:
        return
    frames = _live_frames(result, cfg)
    ids = hidden["record_id"].to_pylist()
    if name == "wide":
        r = rules.range
        low, high = baseline.ranges["transactions.amount"].learned_range(
            r.tail, r.k, r.tail_records
        )
        f = rules.amount_to_limit
        fence = baseline.amount_to_limit.upper_fence(f.upper_quantile, f.fence_k, f.spread_floor)
        txn = frames["transactions"]
        inside = _rows(txn, "txn_id", ids)
        amounts, ratios = txn.floats("amount")[inside], txn.floats("_amount_to_limit")[inside]
        assert ((amounts >= low) & (amounts <= high) & (ratios <= fence)).all()
    else:
        apps = frames["applications"]
        ages = apps.floats("applicant_age")[_rows(apps, "app_id", ids)]
        assert age_floor(baseline, rules) == 16 and (ages == 16).all()


def test_without_the_range_detectors_the_wide_funnel_misses_its_frauds(runs):
    cfg, result = runs("wide")
    pairs = [(d, w.value) for d, w in scenario_days(cfg)]
    narrow = Rules(range=RangeRule(enabled=False))
    findings = detect_days(result.zone, pairs, result.baseline, narrow)
    labels, manifest = load_ground_truth(result.zone, pairs)
    before = evaluate(findings, labels, manifest, invisible=result.visibility.invisible)
    fraud = before.by_anomaly.set_index("anomaly").loc["fraud_spike"]
    assert fraud["flagged"] == 0 and fraud["batches"] == LIVE_DAYS
    records = before.records.set_index("record_type")
    assert records.loc["fraud_transactions", "recall"] == 0
