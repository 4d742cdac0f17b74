"""The one Dagster ``Definitions`` for Marquee: what `dagster dev` and `marquee run` both load."""

from __future__ import annotations

import dagster as dg

from marquee.config import MarqueeHome
from orchestration.assets import evaluation, features, ingestion, quality, serving, training
from orchestration.assets.transform import build_dbt_assets
from orchestration.dbt_project import dbt_project, dbt_resource
from orchestration.freshness import (
    build_automation_sensor,
    build_freshness_checks,
    build_freshness_sensor,
)
from orchestration.jobs import build_jobs
from orchestration.resources import WarehouseResource
from orchestration.schedules import build_schedules
from orchestration.sensors import build_landing_sensor, run_failure_alert_sensor


def build_definitions(home: MarqueeHome | None = None) -> dg.Definitions:
    home = (home or MarqueeHome.from_env()).ensure()
    project = dbt_project(home)
    dbt_assets_defs = build_dbt_assets(project)
    assets = [
        *ingestion.ASSETS,
        *dbt_assets_defs,
        *features.ASSETS,
        *training.ASSETS,
        *evaluation.ASSETS,
        *serving.ASSETS,
    ]
    jobs = build_jobs()
    by_name = {job.name: job for job in jobs}
    # Freshness checks only for key assets that exist (champion_model may not, yet).
    freshness_checks = build_freshness_checks({key for a in assets for key in a.keys})
    return dg.Definitions(
        assets=assets,
        asset_checks=[*ingestion.CHECKS, *quality.CHECKS, *features.CHECKS, *freshness_checks],
        jobs=jobs,
        schedules=build_schedules(by_name),
        sensors=[
            build_landing_sensor(by_name["transform_job"]),
            run_failure_alert_sensor,
            build_freshness_sensor(freshness_checks),
            build_automation_sensor(),
        ],
        resources={
            "warehouse": WarehouseResource(home=str(home.root)),
            "dbt": dbt_resource(home, project),
            **features.feast_resources(home),
        },
        # One DuckDB writer at a time: steps of a run execute one after the other.
        executor=dg.in_process_executor,
    )


defs = build_definitions()
