"""Feature store assets (group ``features``): thin wrappers over ``marquee.features``.

    feast_registry ──┐
    marts ──> feature_exports ──> online_features
                     └──────────> training_dataset

``feast_registry`` applies ``feature_repo/`` (idempotent: unchanged objects are not touched);
``feature_exports`` writes the offline store's Parquet sources; ``online_features``
materializes them (explicit first window in data time, then incremental);
``training_dataset`` joins the ``ranking`` features point-in-time onto the interactions.
"""

import time
from typing import TYPE_CHECKING

import dagster as dg

from marquee.config import MarqueeHome
from marquee.features import names as N
from marquee.features.config import environment, feature_store
from marquee.features.exports import EXPORT_DEPENDENCIES, TRAINING_DEPENDENCIES, export_marts
from orchestration.resources import WarehouseResource

if TYPE_CHECKING:
    from feast import FeatureStore

# Feast takes seconds to import: the helpers that need it are imported inside the assets,
# so loading the definitions (UI, `marquee run`, tests) does not pay for it.

GROUP = "features"
OWNERS = ["team:data-platform"]


class FeastResource(dg.ConfigurableResource):
    """The Feast feature store of a Marquee home (config rendered for ``MARQUEE_ENV``)."""

    home: str

    @property
    def marquee_home(self) -> MarqueeHome:
        return MarqueeHome.from_env(self.home)

    def store(self) -> "FeatureStore":
        return feature_store(self.marquee_home)


def feast_resources(home: MarqueeHome) -> dict:
    return {"feast": FeastResource(home=str(home.root))}


def _md_table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join("" if v is None else str(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


@dg.asset(
    group_name=GROUP,
    kinds={"feast", "python"},
    owners=OWNERS,
    description=(
        "The Feast registry (`$MARQUEE_HOME/feast/registry.db`) in sync with `feature_repo/`: "
        "entities, sources, feature views and services added, updated or deleted as "
        "`feast apply` would. Safe to re-run: unchanged objects keep their materialization history."
    ),
)
def feast_registry(context: dg.AssetExecutionContext, feast: FeastResource) -> dg.MaterializeResult:
    from marquee.features.repo import apply_repo

    started = time.perf_counter()
    store = feast.store()
    summary = apply_repo(store, feast.marquee_home)
    context.log.info(f"feast apply: {summary.diff}")
    return dg.MaterializeResult(
        metadata={
            "changed": summary.changed or summary.infra_changed,
            "environment": environment(),
            "feature_views": dg.MetadataValue.json(summary.feature_views),
            "feature_services": dg.MetadataValue.json(summary.feature_services),
            "entities": dg.MetadataValue.json(summary.entities),
            "data_sources": dg.MetadataValue.json(summary.data_sources),
            "deleted": dg.MetadataValue.json(summary.deleted),
            "diff": dg.MetadataValue.md(f"```\n{summary.diff}\n```"),
            "registry": dg.MetadataValue.path(store.config.registry.path),
            "seconds": round(time.perf_counter() - started, 2),
        }
    )


@dg.asset(
    group_name=GROUP,
    deps=[dg.AssetKey(name) for name in EXPORT_DEPENDENCIES],
    kinds={"feast", "parquet", "duckdb"},
    owners=OWNERS,
    description=(
        "The offline store's sources: the dbt marts exported to Parquet under "
        "`$MARQUEE_HOME/feast/offline/` (user activity with device mix and recent history, user "
        "genre affinity, title daily features, title content), timestamps in UTC."
    ),
)
def feature_exports(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    home = warehouse.marquee_home
    with warehouse.connection(read_only=True) as con:
        summary = export_marts(home, con)
    rows = [
        [f"`{f.name}`", f"{f.rows:,}", f"{f.entities:,}", f.min_event_timestamp, f.max_event_timestamp, f"{f.seconds:.2f}"]
        for f in summary.files.values()
    ]
    context.log.info(f"exported {summary.rows:,} rows to {len(summary.files)} Parquet files")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": dg.MetadataValue.int(summary.rows),
            **{f"rows_{f.name}": f.rows for f in summary.files.values()},
            "files": dg.MetadataValue.md(
                _md_table(["export", "rows", "entities", "first valid", "last valid", "seconds"], rows)
            ),
            "path": dg.MetadataValue.path(str(home.feast / "offline")),
        }
    )


@dg.asset(
    group_name=GROUP,
    deps=[feast_registry, feature_exports],
    kinds={"feast", "sqlite"},
    owners=OWNERS,
    description=(
        "The online store (`$MARQUEE_HOME/feast/online.db`): the latest row of every entity per "
        "feature view. First run: an explicit window over all the data, in data time (Feast's "
        "incremental start of now - TTL would load nothing for old data); then incremental, with "
        "late-arriving rows replayed."
    ),
)
def online_features(context: dg.AssetExecutionContext, feast: FeastResource) -> dg.MaterializeResult:
    from marquee.features.materialize import materialize_all

    started = time.perf_counter()
    store = feast.store()
    results = materialize_all(store, feast.marquee_home)
    for r in results:
        context.log.info(f"{r.feature_view}: {r.mode} {r.start} -> {r.end}, {r.entities_in_window:,} entities")
    rows = [
        [f"`{r.feature_view}`", r.mode, r.start, r.end, f"{r.rows_in_window:,}", f"{r.entities_in_window:,}", f"{r.seconds:.2f}"]
        for r in results
    ]
    return dg.MaterializeResult(
        metadata={
            "feature_views": dg.MetadataValue.md(
                _md_table(["feature view", "mode", "window start", "window end", "rows", "entities", "seconds"], rows)
            ),
            "entities_written": sum(r.entities_in_window for r in results),
            "modes": dg.MetadataValue.json({r.feature_view: r.mode for r in results}),
            "online_store": store.config.online_store.type,
            "seconds": round(time.perf_counter() - started, 2),
        }
    )


@dg.asset(
    group_name=GROUP,
    deps=[feast_registry, feature_exports, *(dg.AssetKey(name) for name in TRAINING_DEPENDENCIES)],
    kinds={"feast", "parquet"},
    owners=["team:ml"],
    description=(
        "`$MARQUEE_HOME/feast/training/interactions.parquet`: every user x title interaction at the "
        "moment of its first engagement (label = is_positive) plus one hash-sampled unseen title "
        "per interaction (label 0), with the `ranking` service's features joined point-in-time "
        "(`get_historical_features`): only snapshots valid before that moment."
    ),
)
def training_dataset(
    context: dg.AssetExecutionContext, feast: FeastResource, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    from marquee.features.training import build_training_set, training_entities

    with warehouse.connection(read_only=True) as con:
        entities = training_entities(con)
    summary = build_training_set(feast.store(), feast.marquee_home, entities, N.RANKING)
    context.log.info(f"training set: {summary.rows:,} rows in {summary.seconds:.1f}s -> {summary.path}")
    by_view: dict[str, list[float]] = {}
    for column, share in summary.null_share.items():
        by_view.setdefault(column.split("__")[0], []).append(share)
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": dg.MetadataValue.int(summary.rows),
            "positives": summary.positives,
            "sampled_negatives": summary.sampled_negatives,
            "users": summary.users,
            "titles": summary.titles,
            "first_event": summary.min_event_timestamp,
            "last_event": summary.max_event_timestamp,
            "feature_service": summary.feature_service,
            "feature_columns": len(summary.feature_columns),
            "null_share_by_view": dg.MetadataValue.md(
                _md_table(
                    ["feature view", "mean null share"],
                    [[f"`{v}`", f"{sum(s) / len(s):.1%}"] for v, s in by_view.items()],
                )
            ),
            "path": dg.MetadataValue.path(summary.path),
            "seconds": summary.seconds,
        }
    )


@dg.asset_check(
    asset=online_features,
    description=(
        "For up to 50 users and 50 titles per feature view, the online value equals the latest "
        "row of the offline export. (Live pushes since the last materialization also differ.)"
    ),
)
def online_matches_latest_offline(feast: FeastResource) -> dg.AssetCheckResult:
    from marquee.features.materialize import online_mismatches

    result = online_mismatches(feast.store(), feast.marquee_home, sample=50)
    mismatches = result["mismatches"]
    return dg.AssetCheckResult(
        passed=not mismatches,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "entities_checked": result["entities_checked"],
            "mismatches": len(mismatches),
            "examples": dg.MetadataValue.json(
                [{k: str(v) for k, v in m.items()} for m in mismatches[:5]]
            ),
        },
    )


ASSETS = [feast_registry, feature_exports, online_features, training_dataset]
CHECKS = [online_matches_latest_offline]
