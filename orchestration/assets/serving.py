"""Serving assets: the champion's top-N for every known user, in the warehouse."""

import dagster as dg

from orchestration.resources import WarehouseResource

GROUP = "serving"


class BatchRecommendationsConfig(dg.Config):
    k: int = 20


@dg.asset(
    group_name=GROUP,
    deps=[dg.AssetKey("champion_model")],
    kinds={"duckdb", "xgboost"},
    owners=["team:ml"],
    description=(
        "Top-N titles for every user the champion knows, seen titles excluded, written to "
        "`serving.batch_recommendations` (user_id, rank, title_id, score, model_version, "
        "generated_at): what e-mails, home-page caches and `marquee export-recommendations` use. "
        "Not materialized while no model has been promoted."
    ),
    output_required=False,
)
def batch_recommendations(
    context: dg.AssetExecutionContext, config: BatchRecommendationsConfig, warehouse: WarehouseResource
):
    from marquee.batch import batch_frame, write_batch
    from models.registry import ModelRegistry

    home = warehouse.marquee_home
    if ModelRegistry(home.models).champion() is None:
        # Refusing a candidate is a normal outcome of the gate, not a failure of this step.
        context.log.warning("no champion model yet (nothing promoted): batch recommendations skipped")
        return
    frame, version = batch_frame(home, config.k)
    with warehouse.connection() as con:
        write_batch(con, frame, version)
    sample = frame[frame["user_id"] == frame["user_id"].iloc[0]].head(10) if len(frame) else frame
    yield dg.MaterializeResult(
        metadata={
            "model_version": version,
            "rows": len(frame),
            "users": int(frame["user_id"].nunique()) if len(frame) else 0,
            "distinct_titles": int(frame["title_id"].nunique()) if len(frame) else 0,
            "sample": dg.MetadataValue.md(sample.to_markdown(index=False) if len(sample) else "(none)"),
        }
    )


ASSETS = [batch_recommendations]
