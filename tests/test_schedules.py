"""Schedules, freshness checks and declarative automation, evaluated with built contexts."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pytest

from marquee.config import MarqueeHome
from orchestration.freshness import (
    AUTOMATION_SENSOR,
    CHAMPION,
    FRESHNESS_SENSOR,
    INTERACTIONS,
    ONLINE_FEATURES,
    RAW_EVENTS,
    FreshnessConfig,
    build_automation_sensor,
    build_freshness_checks,
    build_freshness_sensor,
)
from orchestration.jobs import build_jobs
from orchestration.resources import WarehouseResource
from orchestration.schedules import ScheduleConfig, build_schedules

TICK = datetime(2026, 6, 1, 3, 0, tzinfo=UTC)


def _schedules() -> dict[str, dg.ScheduleDefinition]:
    jobs = {job.name: job for job in build_jobs()}
    return {s.name: s for s in build_schedules(jobs, ScheduleConfig())}


def _tick(schedule: dg.ScheduleDefinition, home: MarqueeHome):
    context = dg.build_schedule_context(
        scheduled_execution_time=TICK,
        resources={"warehouse": WarehouseResource(home=str(home.root))},
    )
    return schedule.evaluate_tick(context)


@pytest.mark.parametrize(
    ("name", "job", "cron"),
    [
        ("daily_retrain_schedule", "retrain_job", "0 3 * * *"),
        ("daily_refresh_features_schedule", "refresh_features_job", "0 2 * * *"),
    ],
)
def test_daily_schedule_targets_its_job_and_skips_until_there_is_data(
    tmp_path: Path, name: str, job: str, cron: str
) -> None:
    schedule = _schedules()[name]
    assert schedule.job_name == job
    assert schedule.cron_schedule == cron
    assert schedule.execution_timezone == "UTC"
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING

    home = MarqueeHome(tmp_path / "home").ensure()
    empty = _tick(schedule, home)
    assert not empty.run_requests
    assert "no warehouse" in (empty.skip_message or "")

    home.warehouse.touch()
    (request,) = _tick(schedule, home).run_requests
    # One run per scheduled day, whatever the number of evaluations of that tick.
    assert request.run_key == f"{name}:2026-06-01"
    assert request.tags["marquee/trigger"] == name
    assert request.tags["marquee/scheduled_date"] == "2026-06-01"


def test_schedule_crons_come_from_the_environment() -> None:
    config = ScheduleConfig.from_env({"MARQUEE_RETRAIN_CRON": "30 4 * * 1"})
    assert config.retrain_cron == "30 4 * * 1"
    assert config.refresh_features_cron == ScheduleConfig.refresh_features_cron
    jobs = {job.name: job for job in build_jobs()}
    retrain = {s.name: s for s in build_schedules(jobs, config)}["daily_retrain_schedule"]
    assert retrain.cron_schedule == "30 4 * * 1"


def test_retrain_job_selects_training_evaluation_and_serving_even_when_groups_are_empty() -> None:
    @dg.asset(group_name="training")
    def ranking_model() -> None: ...

    @dg.asset(group_name="ingestion")
    def raw_events() -> None: ...

    defs = dg.Definitions(assets=[ranking_model, raw_events], jobs=build_jobs())
    dg.Definitions.validate_loadable(defs)
    job = defs.resolve_job_def("retrain_job")
    assert {n.name for n in job.nodes} == {"ranking_model"}


def test_freshness_thresholds_from_env_and_champion_only_when_defined() -> None:
    config = FreshnessConfig.from_env({"MARQUEE_FRESHNESS_RAW_EVENTS_HOURS": "2"})
    assert config.raw_events_hours == 2
    assert config.interactions_hours == 26

    before = build_freshness_checks({RAW_EVENTS, INTERACTIONS, ONLINE_FEATURES}, config)
    keys = {key for c in before for key in c.check_keys}
    assert {k.asset_key for k in keys} == {RAW_EVENTS, INTERACTIONS, ONLINE_FEATURES}
    after = build_freshness_checks({RAW_EVENTS, INTERACTIONS, ONLINE_FEATURES, CHAMPION}, config)
    assert CHAMPION in {key.asset_key for c in after for key in c.check_keys}
    # Unrelated assets get no check.
    assert build_freshness_checks({dg.AssetKey("dim_users")}, config) == []


def _stub_graph() -> list[dg.AssetsDefinition]:
    """The shape of Marquee's graph around the automated assets, without the real work."""

    @dg.asset(group_name="ingestion")
    def raw_events() -> None: ...

    @dg.asset(group_name="transform", deps=[raw_events])
    def fct_interactions() -> None: ...

    @dg.asset(group_name="features")
    def feast_registry() -> None: ...

    @dg.asset(group_name="features", deps=[feast_registry, fct_interactions])
    def feature_exports() -> None: ...

    @dg.asset(group_name="features", deps=[feast_registry, feature_exports])
    def online_features() -> None: ...

    @dg.asset(group_name="training", deps=[feature_exports])
    def ranking_model() -> None: ...

    return [
        raw_events,
        fct_interactions,
        feast_registry,
        feature_exports,
        online_features,
        ranking_model,
    ]


def test_freshness_sensor_requests_check_runs_and_checks_pass_after_an_update() -> None:
    assets = _stub_graph()
    checks = build_freshness_checks({RAW_EVENTS, INTERACTIONS, ONLINE_FEATURES}, FreshnessConfig())
    sensor = build_freshness_sensor(checks, FreshnessConfig())
    assert sensor.name == FRESHNESS_SENSOR
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    defs = dg.Definitions(assets=assets, asset_checks=checks, sensors=[sensor])
    dg.Definitions.validate_loadable(defs)

    with dg.instance_for_test() as instance:
        context = dg.build_sensor_context(
            instance=instance, repository_def=defs.get_repository_def()
        )
        request = sensor(context)
        # Never evaluated: the sensor asks for a check-only run of every freshness check.
        assert isinstance(request, dg.RunRequest)
        assert {k.asset_key for k in request.asset_check_keys} == {
            RAW_EVENTS,
            INTERACTIONS,
            ONLINE_FEATURES,
        }
        assert not request.asset_selection

        # The update runs the asset's freshness check with it (as `marquee run` does): fresh.
        own_checks = build_freshness_checks({RAW_EVENTS, INTERACTIONS}, FreshnessConfig())
        result = dg.materialize([*assets[:2], *own_checks], instance=instance)
        assert result.success
        evaluations = {e.asset_key: e.passed for e in result.get_asset_check_evaluations()}
        assert evaluations == {RAW_EVENTS: True, INTERACTIONS: True}


def test_automation_refreshes_features_after_the_marts_change_and_nothing_else() -> None:
    assets = _stub_graph()
    sensor = build_automation_sensor()
    assert sensor.name == AUTOMATION_SENSOR
    defs = dg.Definitions(assets=assets, sensors=[sensor])
    dg.Definitions.validate_loadable(defs)
    repo = defs.get_repository_def()

    def tick(instance: dg.DagsterInstance, cursor: str | None) -> dg.SensorResult:
        return sensor(
            dg.build_sensor_context(instance=instance, repository_def=repo, cursor=cursor)
        )

    def requested(result: dg.SensorResult) -> set[str]:
        return {k.to_user_string() for r in result.run_requests for k in r.asset_selection or []}

    with dg.instance_for_test() as instance:
        # A fresh home: nothing is requested (roots are not targeted, deps are missing).
        first = tick(instance, None)
        assert requested(first) == set()

        # Ingestion + dbt + registry ran (the landing sensor's run): features follow, in one run.
        assert dg.materialize(assets[:3], instance=instance).success
        second = tick(instance, first.cursor)
        assert requested(second) == {"feature_exports", "online_features"}
        (run,) = second.run_requests
        assert run.tags["marquee/trigger"] == AUTOMATION_SENSOR

        # Training is left to the daily schedule; nothing new upstream: nothing requested.
        assert dg.materialize(assets[3:5], instance=instance).success
        third = tick(instance, second.cursor)
        assert requested(third) == set()


def test_marquee_definitions_load_with_schedules_checks_and_sensors(tmp_path: Path) -> None:
    from orchestration.definitions import build_definitions

    defs = build_definitions(MarqueeHome(tmp_path / "home"))
    dg.Definitions.validate_loadable(defs)
    repo = defs.get_repository_def()
    assert {s.name for s in repo.schedule_defs} == {
        "daily_retrain_schedule",
        "daily_refresh_features_schedule",
    }
    assert {
        "landing_zone_sensor",
        "run_failure_alert_sensor",
        FRESHNESS_SENSOR,
        AUTOMATION_SENSOR,
    } <= {s.name for s in repo.sensor_defs}
    graph = defs.resolve_asset_graph()
    freshness = {k.asset_key for k in graph.asset_check_keys if k.name == "freshness_check"}
    expected = {RAW_EVENTS, INTERACTIONS, ONLINE_FEATURES}
    if graph.has(CHAMPION):
        expected.add(CHAMPION)
    assert freshness == expected
    retrain = defs.resolve_job_def("retrain_job")
    assert "retrieval_model" in {n.name for n in retrain.nodes}
