"""The code location: assets, checks, jobs, the schedule, the sensor and resources wired
together.

Loaded by ``workspace.yaml`` and by ``dagster ... -m dtg_assets.definitions``. Resource defaults
live in the resource classes (see :mod:`dtg_assets.resources`), so a launchpad override of one
field keeps the others.
"""

import dagster as dg

from dtg_assets.assets import historical_landing, live_landing
from dtg_assets.assets.curves import detection_curves
from dtg_assets.assets.gatekeeper import (
    gatekeeper_baseline,
    gatekeeper_evaluation,
    gatekeeper_findings,
)
from dtg_assets.jobs import gatekeeper_job, historical_job, live_job
from dtg_assets.replay import live_replay_job
from dtg_assets.resources import (
    AnomalyScheduleResource,
    GatekeeperResource,
    SimulationResource,
)
from dtg_assets.schedules import live_daily_schedule
from dtg_assets.sensors import live_arrival_sensor

defs = dg.Definitions(
    assets=[
        historical_landing,
        live_landing,
        gatekeeper_baseline,
        gatekeeper_findings,
        gatekeeper_evaluation,
        detection_curves,
    ],
    jobs=[historical_job, live_job, gatekeeper_job, live_replay_job],
    schedules=[live_daily_schedule],
    sensors=[live_arrival_sensor],
    resources={
        "simulation": SimulationResource(),
        "anomaly_schedule": AnomalyScheduleResource(),
        "gatekeeper": GatekeeperResource(),
    },
)
