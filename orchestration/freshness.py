"""Freshness checks on the key assets, and the declarative automation that keeps features fresh.

Freshness: Dagster 1.13 also has asset ``FreshnessPolicy`` objects, but in open source they are a
preview that needs ``freshness: enabled`` in ``dagster.yaml`` and show no check status; the
last-update freshness *checks* work on a plain instance, appear beside the other checks on each
asset's page, and fail loudly (WARN) when an asset has not been updated within its threshold.
Their sensor only launches check-only runs (no DuckDB access), so it is ``RUNNING`` by default.

Automation: the landing sensor runs ingestion and dbt; the ``eager`` condition on the feature
assets downstream of the marts then refreshes the offline exports, the online store and the
training set. Only those assets are targeted: the root ``feast_registry`` is left out so a
fresh ``$MARQUEE_HOME`` never starts runs on its own (``eager`` does not fire while a dependency
is missing, so nothing happens until ``marquee run``/``make demo``, ``refresh_features_job`` or
its daily schedule has applied the registry once), and training/evaluation/serving stay on the
daily schedule because they are expensive. The automation runs go through the instance's one-at-a-time queue, so they wait for,
rather than fight, another DuckDB writer; in-process ``marquee run`` never sees them.
"""

from __future__ import annotations

import datetime as dt
import os
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

import dagster as dg

FRESHNESS_SENSOR = "freshness_checks_sensor"
AUTOMATION_SENSOR = "default_automation_condition_sensor"

RAW_EVENTS = dg.AssetKey("raw_events")
INTERACTIONS = dg.AssetKey("fct_interactions")
ONLINE_FEATURES = dg.AssetKey("online_features")
CHAMPION = dg.AssetKey("champion_model")

# Assets kept fresh by the automation sensor: everything downstream of the marts in `features`.
AUTOMATED_GROUPS = ("features",)
AUTOMATION_EXCLUDED = (dg.AssetKey("feast_registry"),)


@contextmanager
def _known_api_warnings() -> Iterator[None]:
    """Silence the superseded/beta notices for the APIs chosen above (see the module docstring):
    they would otherwise print on every definitions load (UI, CLI, each run)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.SupersessionWarning)
        warnings.simplefilter("ignore", dg.BetaWarning)
        yield


@dataclass(frozen=True)
class FreshnessConfig:
    """Hours an asset may go without an update before its freshness check fails.

    Daily schedules plus a couple of hours' slack: 26 h. Override per asset with
    ``MARQUEE_FRESHNESS_<NAME>_HOURS`` (e.g. ``MARQUEE_FRESHNESS_RAW_EVENTS_HOURS=2``).
    """

    raw_events_hours: float = 26.0
    interactions_hours: float = 26.0
    online_features_hours: float = 26.0
    champion_hours: float = 26.0
    sensor_interval_seconds: int = 300

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> FreshnessConfig:
        env = os.environ if env is None else env

        def hours(name: str, default: float) -> float:
            raw = env.get(f"MARQUEE_FRESHNESS_{name}_HOURS")
            return float(raw) if raw else default

        return cls(
            raw_events_hours=hours("RAW_EVENTS", cls.raw_events_hours),
            interactions_hours=hours("INTERACTIONS", cls.interactions_hours),
            online_features_hours=hours("ONLINE_FEATURES", cls.online_features_hours),
            champion_hours=hours("CHAMPION", cls.champion_hours),
        )

    def thresholds(self) -> dict[dg.AssetKey, float]:
        return {
            RAW_EVENTS: self.raw_events_hours,
            INTERACTIONS: self.interactions_hours,
            ONLINE_FEATURES: self.online_features_hours,
            CHAMPION: self.champion_hours,
        }


def build_freshness_checks(
    asset_keys: set[dg.AssetKey], config: FreshnessConfig | None = None
) -> list[dg.AssetChecksDefinition]:
    """One last-update check per key asset present in ``asset_keys``.

    ``champion_model`` (and any other key) is only checked when it is defined, so the same code
    loads before and after the asset lands.
    """
    config = config or FreshnessConfig.from_env()
    checks: list[dg.AssetChecksDefinition] = []
    for key, hours in config.thresholds().items():
        if key in asset_keys:
            with _known_api_warnings():
                checks.extend(
                    dg.build_last_update_freshness_checks(
                        assets=[key], lower_bound_delta=dt.timedelta(hours=hours)
                    )
                )
    return checks


def build_freshness_sensor(
    checks: list[dg.AssetChecksDefinition], config: FreshnessConfig | None = None
) -> dg.SensorDefinition:
    config = config or FreshnessConfig.from_env()
    with _known_api_warnings():
        return dg.build_sensor_for_freshness_checks(
            freshness_checks=checks,
            name=FRESHNESS_SENSOR,
            minimum_interval_seconds=config.sensor_interval_seconds,
            default_status=dg.DefaultSensorStatus.RUNNING,
            tags={"marquee/trigger": FRESHNESS_SENSOR},
        )


def automated_selection() -> dg.AssetSelection:
    """The assets the automation sensor keeps fresh (their checks run with them)."""
    return (
        dg.AssetSelection.groups(*AUTOMATED_GROUPS) - dg.AssetSelection.assets(*AUTOMATION_EXCLUDED)
    ).without_checks()


def build_automation_sensor() -> dg.AutomationConditionSensorDefinition:
    """``eager()`` on the feature assets: after the marts change, refresh what reads them.

    ``default_condition`` leaves the asset definitions untouched (an asset that sets its own
    condition keeps it); it needs the sensor to be evaluated in the code server.
    """
    with _known_api_warnings():
        return _automation_sensor()


def _automation_sensor() -> dg.AutomationConditionSensorDefinition:
    return dg.AutomationConditionSensorDefinition(
        AUTOMATION_SENSOR,
        target=automated_selection(),
        default_condition=dg.AutomationCondition.eager(),
        use_user_code_server=True,
        default_status=dg.DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=30,
        run_tags={"marquee/trigger": AUTOMATION_SENSOR},
        description=(
            "Keeps the feature assets fresh: when the dbt marts they read are updated (by the "
            "landing sensor, a job or a backfill), exports, online store and training set are "
            "refreshed in one run."
        ),
    )
