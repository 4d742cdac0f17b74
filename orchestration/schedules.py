"""Daily schedules: refresh the online features, then retrain → evaluate → promote.

Both are ``RUNNING`` by default because Marquee promises to run itself once ``make ui`` is up
(SPEC §1, issue 8): a schedule a person has to remember to switch on is a schedule that never
runs. Two guards keep that safe: a tick skips (with a reason shown in the UI) while the
warehouse does not exist yet, so a fresh ``$MARQUEE_HOME`` never gets failing runs; and each tick
carries a run key for its scheduled date, so a tick is launched at most once. Runs go through the
instance's queue (one run at a time, see ``marquee.pipeline.DAGSTER_YAML``), so a scheduled run
waits for, rather than fights, another DuckDB writer. The features refresh comes an hour before
the retrain so the model trains on the day's point-in-time training set.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

import dagster as dg

from orchestration.resources import WarehouseResource

TIMEZONE = "UTC"
TRIGGER_TAG = "marquee/trigger"


@dataclass(frozen=True)
class ScheduleConfig:
    """Cron strings for the daily schedules (UTC); override with environment variables."""

    refresh_features_cron: str = "0 2 * * *"
    retrain_cron: str = "0 3 * * *"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ScheduleConfig:
        env = os.environ if env is None else env
        return cls(
            refresh_features_cron=env.get(
                "MARQUEE_REFRESH_FEATURES_CRON", cls.refresh_features_cron
            ),
            retrain_cron=env.get("MARQUEE_RETRAIN_CRON", cls.retrain_cron),
        )


def _daily_schedule(name: str, job, cron: str, description: str) -> dg.ScheduleDefinition:
    @dg.schedule(
        name=name,
        job=job,
        cron_schedule=cron,
        execution_timezone=TIMEZONE,
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description=description,
    )
    def _schedule(
        context: dg.ScheduleEvaluationContext, warehouse: WarehouseResource
    ) -> dg.RunRequest | dg.SkipReason:
        home = warehouse.marquee_home
        if not home.warehouse.exists():
            return dg.SkipReason(f"no warehouse at {home.warehouse} yet: ingest some data first")
        scheduled = context.scheduled_execution_time
        stamp = scheduled.strftime("%Y-%m-%d") if scheduled else "unscheduled"
        return dg.RunRequest(
            run_key=f"{name}:{stamp}",
            tags={TRIGGER_TAG: name, "marquee/scheduled_date": stamp},
        )

    return _schedule


def build_schedules(
    jobs_by_name: Mapping[str, object], config: ScheduleConfig | None = None
) -> list:
    """The daily schedules for the jobs of :func:`orchestration.jobs.build_jobs`."""
    config = config or ScheduleConfig.from_env()
    return [
        _daily_schedule(
            "daily_refresh_features_schedule",
            jobs_by_name["refresh_features_job"],
            config.refresh_features_cron,
            "Daily: re-export the marts, `feast materialize-incremental` into the online store, "
            "rebuild the point-in-time training set.",
        ),
        _daily_schedule(
            "daily_retrain_schedule",
            jobs_by_name["retrain_job"],
            config.retrain_cron,
            "Daily: retrain the retrieval and ranking models, evaluate the candidate against the "
            "baselines and the champion, promote it if it passes the gate, refresh batch "
            "recommendations.",
        ),
    ]
