"""Data-quality asset checks: Great Expectations suites and statistics beside the dbt tests.

Every check here is ``blocking=True``: a failure with severity ERROR stops the assets
downstream of the checked asset in the same run (a failing check on ``raw_*`` skips the dbt
build; one on a mart skips features / training / promotion). Expectations of severity
``warning`` make the check fail with severity WARN: it shows in the UI and the run goes on.
A check that raises (a bug, a missing table) reports passed=False, severity ERROR.

The logic lives in `marquee.quality.checks` (plain Python); this module maps outcomes to
``AssetCheckResult``s with metadata that says which expectation failed, the observed value and
the threshold, stores every result under ``$MARQUEE_HOME/reports/data_quality/`` and renders GX
Data Docs there.

Thresholds: `marquee.quality.config.QualityConfig` defaults, ``MARQUEE_DQ_*`` environment
variables, then run config per check op, e.g.::

    ops:
      raw_quarantine_rate: {config: {quarantine_rate_max: 0.05}}
      marts_monitors: {config: {genre_psi_max: 0.3}}

Check ops: ``raw_events_gx_suite``, ``raw_quarantine_rate``, ``marts_gx_suites``,
``marts_monitors``.
"""


import datetime as dt
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import dagster as dg

from marquee.quality import checks as q
from marquee.quality import runner, store
from marquee.quality.config import QualityConfig
from orchestration.resources import WarehouseResource

_DESCRIPTIONS = {(a, c): d for a, c, d in q.CHECK_SPECS}


class DataQualityConfig(dg.Config):
    """Run-config overrides of `QualityConfig` (None: its default or MARQUEE_DQ_* value)."""

    quarantine_rate_max: float | None = None
    min_event_ts: str | None = None
    future_tolerance_seconds: int | None = None
    required_null_rate_max: float | None = None
    max_rows_validated: int | None = None
    missing_title_share_max: float | None = None
    missing_user_share_max: float | None = None
    row_count_drop_max: float | None = None
    row_count_growth_max: float | None = None
    genre_psi_max: float | None = None
    interactions_per_user_psi_max: float | None = None
    top_users_share_change_max: float | None = None
    rating_mean_shift_max: float | None = None
    label_positive_rate_min: float | None = None
    label_positive_rate_max: float | None = None
    feature_null_rate_max: float | None = None
    data_docs: bool | None = None


def _quality_config(config: dg.Config) -> QualityConfig:
    return QualityConfig.from_env().with_overrides(config.model_dump())


def _spec(asset: str, check: str) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(
        name=check, asset=asset, blocking=True, description=_DESCRIPTIONS[(asset, check)]
    )


# --- outcome -> AssetCheckResult ------------------------------------------------------------


def _md_escape(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _expectation_table(outcome: q.CheckOutcome) -> str | None:
    v = outcome.validation
    if v is None:
        return None
    bad = v.failed + v.warned
    if not bad:
        return None
    lines = [
        "| severity | column | expectation | observed | threshold | examples |",
        "|---|---|---|---|---|---|",
    ]
    for e in bad[:25]:
        what = e.description or e.expectation
        if e.description:
            what += f" (`{e.expectation}`)"
        lines.append(
            f"| {'ERROR' if e.severity == 'critical' else 'WARN'} | {_md_escape(e.column or '')} | "
            f"{_md_escape(what)} | {_md_escape(e.observed)} | {_md_escape(e.threshold)} | "
            f"{_md_escape(', '.join(e.examples[:3]))}{' -- ' + _md_escape(e.error) if e.error else ''} |"
        )
    return "\n".join(lines)


def _metadata_value(value: Any) -> Any:
    if isinstance(value, bool):
        return dg.MetadataValue.bool(value)
    if isinstance(value, int):
        return dg.MetadataValue.int(value)
    if isinstance(value, float):
        return dg.MetadataValue.float(value)
    if isinstance(value, str):
        return dg.MetadataValue.text(value)
    return dg.MetadataValue.json(value)


def to_result(
    outcome: q.CheckOutcome, home, run_id: str | None, data_docs: bool = False
) -> dg.AssetCheckResult:
    """An AssetCheckResult (and a stored JSON result) for one outcome."""
    metadata: dict[str, Any] = {
        "status": dg.MetadataValue.text(outcome.status),
        "reason": dg.MetadataValue.text(outcome.description()),
    }
    table = _expectation_table(outcome)
    if table:
        metadata["failed_expectations"] = dg.MetadataValue.md(table)
    if outcome.error:
        metadata["error"] = dg.MetadataValue.text(outcome.error)
    v = outcome.validation
    if v is not None:
        metadata["expectations_evaluated"] = len(v.expectations)
        metadata["expectations_failed"] = len(v.failed)
        metadata["expectations_warned"] = len(v.warned)
        metadata["validation_seconds"] = dg.MetadataValue.float(v.seconds)
    for key, value in outcome.metrics.items():
        if value is not None and value != [] and key not in metadata:
            metadata[key] = _metadata_value(value)
    try:
        path = store.record(home, outcome.to_entry(run_id))
        metadata["result_json"] = dg.MetadataValue.path(str(path))
    except OSError as exc:  # a full disk must not turn a verdict into a crash
        metadata["result_json_error"] = dg.MetadataValue.text(str(exc))
    if v is not None and data_docs:
        metadata["data_docs"] = dg.MetadataValue.path(str(store.data_docs_dir(home) / "index.html"))
    severity = dg.AssetCheckSeverity.WARN if outcome.severity == runner.WARN else dg.AssetCheckSeverity.ERROR
    return dg.AssetCheckResult(
        asset_key=dg.AssetKey(outcome.asset),
        check_name=outcome.check,
        passed=outcome.passed,
        severity=severity,
        description=outcome.description()[:1000],
        metadata=metadata,
    )


def _log(context, outcome: q.CheckOutcome) -> None:
    line = f"{outcome.asset}:{outcome.check} {outcome.status} -- {outcome.description()}"
    (context.log.info if outcome.passed and outcome.severity is None else context.log.warning)(line)


def _run(
    context,
    warehouse: WarehouseResource,
    config: dg.Config,
    selected: Iterable[tuple[str, str]],
    produce: Callable[[QualityConfig, Callable], Iterable[q.CheckOutcome]],
) -> Iterator[dg.AssetCheckResult]:
    """Yield one result per selected (asset, check); any exception fails the missing ones."""
    home = warehouse.marquee_home
    run_id = context.run.run_id
    wanted = list(selected)
    done: set[tuple[str, str]] = set()
    docs = False
    try:
        cfg = _quality_config(config)
        docs = cfg.data_docs
        for outcome in produce(cfg, lambda: warehouse.connection(read_only=True)):
            key = (outcome.asset, outcome.check)
            if key in wanted and key not in done:
                done.add(key)
                _log(context, outcome)
                yield to_result(outcome, home, run_id, docs)
        if docs:
            try:
                runner.build_data_docs(store.data_docs_dir(home))
            except Exception as exc:  # noqa: BLE001 - docs are a convenience, never a verdict
                context.log.warning(f"GX Data Docs not rendered: {q.error_text(exc)}")
    except Exception as exc:  # noqa: BLE001 - an erroring check counts as failed
        error = q.error_text(exc)
        for asset, check in wanted:
            if (asset, check) not in done:
                outcome = q.CheckOutcome(asset, check, error=error)
                _log(context, outcome)
                yield to_result(outcome, home, run_id)
    else:
        for asset, check in wanted:
            if (asset, check) not in done:  # a producer bug: never let a check pass silently
                outcome = q.CheckOutcome(asset, check, error="check produced no result")
                yield to_result(outcome, home, run_id)


def _selected(context, specs: list[dg.AssetCheckSpec]) -> list[tuple[str, str]]:
    keys = context.selected_asset_check_keys
    return [
        (s.asset_key.to_user_string(), s.name)
        for s in specs
        if dg.AssetCheckKey(s.asset_key, s.name) in keys
    ]


def _run_start_of_latest_materialization(instance: dg.DagsterInstance, asset: str) -> dt.datetime | None:
    """Start of the run that last materialized ``asset``: its ingestion is 'the latest'."""
    event = instance.get_latest_materialization_event(dg.AssetKey(asset))
    if event is None:
        return None
    record = instance.get_run_record_by_id(event.run_id)
    start = record.start_time if record is not None and record.start_time else event.timestamp
    return dt.datetime.fromtimestamp(start, dt.UTC)


def _materialization_id(instance: dg.DagsterInstance, asset: str) -> str:
    records = instance.fetch_materializations(dg.AssetKey(asset), limit=1).records
    if not records:
        return "never-materialized"
    return f"{records[0].run_id}:{records[0].storage_id}"


# --- the checks -----------------------------------------------------------------------------


@dg.asset_check(
    asset="raw_events",
    name="gx_suite",
    blocking=True,
    description=_DESCRIPTIONS[("raw_events", "gx_suite")],
)
def raw_events_gx_suite(
    context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource, config: DataQualityConfig
) -> dg.AssetCheckResult:
    def produce(cfg, connect):
        since = _run_start_of_latest_materialization(context.instance, "raw_events")
        yield q.raw_events_suite(warehouse.marquee_home, cfg, connect, since)

    (result,) = _run(context, warehouse, config, [("raw_events", "gx_suite")], produce)
    return result


_QUARANTINE_SPECS = [_spec(f"raw_{e}", "quarantine_rate") for e in ("events", "titles", "users")]


@dg.multi_asset_check(
    specs=_QUARANTINE_SPECS,
    name="raw_quarantine_rate",
    can_subset=True,
    description="Quarantine rate of the latest ingestion of each raw entity.",
)
def raw_quarantine_rate(
    context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource, config: DataQualityConfig
) -> Iterator[dg.AssetCheckResult]:
    selected = _selected(context, _QUARANTINE_SPECS)

    def produce(cfg, connect):
        for asset, _ in selected:
            entity = asset.removeprefix("raw_")
            since = _run_start_of_latest_materialization(context.instance, asset)
            yield q.quarantine_rate(warehouse.marquee_home, cfg, connect, entity, since)

    yield from _run(context, warehouse, config, selected, produce)


_MART_SUITE_SPECS = [_spec(m, "gx_suite") for m in q.data.MARTS]


@dg.multi_asset_check(
    specs=_MART_SUITE_SPECS,
    name="marts_gx_suites",
    can_subset=True,
    description="GX suites of the marts: keys unique, value ranges.",
)
def marts_gx_suites(
    context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource, config: DataQualityConfig
) -> Iterator[dg.AssetCheckResult]:
    selected = _selected(context, _MART_SUITE_SPECS)

    def produce(cfg, connect):
        for asset, _ in selected:
            yield q.mart_suite(warehouse.marquee_home, cfg, connect, asset)

    yield from _run(context, warehouse, config, selected, produce)


_MONITOR_SPECS = [
    _spec("fct_interactions", "referential_coverage"),
    *(_spec(m, "row_count_change") for m in q.data.MARTS),
    _spec("fct_interactions", "distribution_drift"),
]


@dg.multi_asset_check(
    specs=_MONITOR_SPECS,
    name="marts_monitors",
    can_subset=True,
    description="Referential coverage, row-count change and distribution drift of the marts.",
)
def marts_monitors(
    context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource, config: DataQualityConfig
) -> Iterator[dg.AssetCheckResult]:
    selected = _selected(context, _MONITOR_SPECS)

    def produce(cfg, connect):
        home = warehouse.marquee_home
        if ("fct_interactions", "referential_coverage") in selected:
            yield q.referential_coverage(home, cfg, connect)
        if any(c in ("row_count_change", "distribution_drift") for _, c in selected):
            mid = _materialization_id(context.instance, "fct_interactions")
            yield from q.mart_monitors(home, cfg, connect, mid)

    yield from _run(context, warehouse, config, selected, produce)


# Columns every training row must carry (catalogue attributes); behavioural features are
# legitimately NULL before a user's first full day (point-in-time), so they are not required.
TRAINING_REQUIRED_FEATURES = ["title_content__genres", "title_content__kind", "title_content__in_catalogue"]


@dg.asset_check(
    asset="training_dataset",
    name="training_set_suite",
    blocking=True,
    description=(
        "GX suite on the point-in-time training set: not empty, label in {0, 1} with a positive "
        "rate within bounds, required catalogue features present, no row after the data cutoff "
        "(the latest interaction in the marts)."
    ),
)
def training_set_suite(
    context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource, config: DataQualityConfig
) -> dg.AssetCheckResult:
    def produce(cfg, connect):
        import pandas as pd

        from marquee.features.paths import training_dir

        path = training_dir(warehouse.marquee_home) / "interactions.parquet"
        frame = pd.read_parquet(path)
        with connect() as con:
            (cutoff,) = con.execute(
                "SELECT max(last_interaction_ts) FROM marts.fct_interactions"
            ).fetchone()
        yield q.training_set(
            frame, cfg, label="label", features=TRAINING_REQUIRED_FEATURES,
            cutoff=pd.Timestamp(cutoff, tz="UTC").to_pydatetime(), asset="training_dataset",
            home=warehouse.marquee_home,
        )

    (result,) = _run(context, warehouse, config, [("training_dataset", "training_set_suite")], produce)
    return result


CHECKS = [raw_events_gx_suite, raw_quarantine_rate, marts_gx_suites, marts_monitors, training_set_suite]
