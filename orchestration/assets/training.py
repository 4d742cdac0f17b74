"""Training assets: the two-tower retrieval model (thin wrapper over models.retrieval)."""

import dagster as dg

from marquee.plots import bar_chart_svg, line_chart_svg, svg_markdown
from orchestration.resources import WarehouseResource

GROUP = "training"


def _fmt(value: object) -> str:
    return f"{value:.4f}" if isinstance(value, float) else ("" if value is None else str(value))


def _curve_table(curve: list[dict]) -> str:
    lines = [
        "| stage | epoch | loss | val recall@100 | val ndcg@10 | seconds |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in curve:
        cells = [r.get(k) for k in ("stage", "epoch", "loss", "val_recall@100", "val_ndcg@10", "seconds")]
        lines.append("| " + " | ".join(_fmt(c) for c in cells) + " |")
    return "\n".join(lines)


def load_training_data(home, log):
    """The Feast point-in-time training set (marts for the rest), or the marts alone."""
    from marquee.features.paths import training_dir
    from marquee.features.training import TRAINING_FILE
    from models.retrieval.data import interaction_data_from_training_set, load_interactions

    training_set = training_dir(home) / TRAINING_FILE
    if training_set.exists():
        log.info(f"training on the Feast training set {training_set}")
        return interaction_data_from_training_set(training_set, home.warehouse)
    log.warning(f"no Feast training set at {training_set}; reading the marts")
    return load_interactions(home.warehouse)


class RetrievalTrainingConfig(dg.Config):
    seed: int = 0
    evaluate: bool = True


@dg.asset(
    group_name=GROUP,
    deps=[
        dg.AssetKey("training_dataset"),
        dg.AssetKey("fct_interactions"),
        dg.AssetKey("dim_users"),
        dg.AssetKey("dim_titles"),
    ],
    kinds={"tensorflow", "python"},
    owners=["team:ml"],
    description=(
        "Two-tower retrieval model (Keras 3 on TensorFlow), trained on the Feast point-in-time "
        "training set (`feast/training/interactions.parquet`; user features from its Feast columns, "
        "demographics and titles from the marts; the marts alone when the set is missing) with in-batch softmax and logQ "
        "correction, early-stopped on a later time slice, evaluated against popularity and item "
        "co-occurrence on the held-out slice, refit on all data and saved as a new version under "
        "`$MARQUEE_HOME/models/retrieval/` (user tower as NumPy, title embeddings, exact top-K index)."
    ),
)
def retrieval_model(
    context: dg.AssetExecutionContext, config: RetrievalTrainingConfig, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    from models.retrieval.config import RetrievalConfig
    from models.retrieval.evaluate import format_table
    from models.retrieval.train import train_retrieval

    home = warehouse.marquee_home
    data = load_training_data(home, context.log)
    out = train_retrieval(
        home.warehouse,
        home.models / "retrieval",
        RetrievalConfig(seed=config.seed),
        evaluate=config.evaluate,
        data=data,
        on_epoch=lambda row: context.log.info(f"epoch {row}"),
    )
    manifest = out["manifest"]
    curve = [r for r in manifest.get("learning_curve", []) if r.get("stage") != "final"]
    plot = line_chart_svg(
        {
            "loss": [r.get("loss") for r in curve],
            "val recall@100": [r.get("val_recall@100") for r in curve],
            "val ndcg@10": [r.get("val_ndcg@10") for r in curve],
        },
        title="Two-tower learning curve (early-stopping run)",
    )
    source = manifest.get("data", {})
    metadata: dict = {
        "version": out["version"],
        "data_source": source.get("kind", "warehouse"),
        "data_path": dg.MetadataValue.path(str(source.get("path", home.warehouse))),
        "training_rows": int(source.get("n_interactions", 0)),
        "path": dg.MetadataValue.path(str(out["path"])),
        "learning_curve_plot": dg.MetadataValue.md(svg_markdown(plot, "learning curve")),
        "learning_curve": dg.MetadataValue.md(_curve_table(manifest.get("learning_curve", []))),
        "learning_curve_json": dg.MetadataValue.json(manifest.get("learning_curve", [])),
    }
    if "training_set_rows" in source:
        metadata["training_set_rows"] = int(source["training_set_rows"])
        metadata["user_fields_from_feast"] = dg.MetadataValue.json(
            source.get("user_fields_from_feast", {})
        )
    if out.get("evaluation"):
        models = out["evaluation"].get("models", {})
        metadata["holdout_metrics"] = dg.MetadataValue.md(format_table(out["evaluation"]))
        recall = {name: float(m["recall@100"]) for name, m in models.items() if "recall@100" in m}
        metadata["holdout_recall_plot"] = dg.MetadataValue.md(
            svg_markdown(bar_chart_svg(recall, "Hold-out recall@100"), "recall@100 by model")
        )
        two_tower = out["evaluation"].get("models", {}).get("two_tower", {})
        for key in ("recall@100", "ndcg@10"):
            if key in two_tower:
                metadata[f"two_tower_{key}"] = float(two_tower[key])
    return dg.MaterializeResult(metadata=metadata)


class RankingTrainingConfig(dg.Config):
    seed: int = 0
    use_feast_features: bool = True


def _importance_table(importance: dict[str, float], top: int = 20) -> str:
    lines = ["| feature | share of gain |", "|---|---:|"]
    lines += [f"| `{k}` | {v:.3f} |" for k, v in list(importance.items())[:top]]
    return "\n".join(lines)


@dg.asset(
    group_name=GROUP,
    deps=[retrieval_model, dg.AssetKey("feast_registry"), dg.AssetKey("dim_titles")],
    kinds={"xgboost", "python"},
    owners=["team:ml"],
    description=(
        "XGBoost learning-to-rank (`rank:ndcg`, one group per user) over two-tower candidates "
        "merged with co-occurrence and popular titles; features from Feast as of each cutoff "
        "(point in time) plus cross features (genre match, segment popularity, recency of "
        "similar titles, retrieval score and rank). Early-stopped on held-out users, evaluated "
        "on the retrieval model's test slice, refit on every label, and saved as a candidate "
        "version in the registry (`$MARQUEE_HOME/models/versions/`) with lineage."
    ),
)
def ranking_model(
    context: dg.AssetExecutionContext, config: RankingTrainingConfig, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    from marquee.features.config import feature_store
    from marquee.features.ranking_source import OfflineRankingFeatures
    from marquee.model_versions import train_candidate

    home = warehouse.marquee_home
    data = load_training_data(home, context.log)
    feast = OfflineRankingFeatures(feature_store(home)) if config.use_feast_features else None
    out = train_candidate(home, data, feast, seed=config.seed, log=context.log.info)
    manifest = out["manifest"]
    importance = manifest["ranker"]["importance"]
    top = dict(list(importance.items())[:15])
    return dg.MaterializeResult(
        metadata={
            "candidate_version": out["version"],
            "path": dg.MetadataValue.path(str(out["path"])),
            "retrieval_version": manifest["lineage"]["retrieval_version"],
            "ranker_rounds": int(manifest["ranker"]["best_iteration"]),
            "training_rows": int(manifest["ranker"]["rows"]),
            "feature_importance": dg.MetadataValue.md(_importance_table(importance)),
            "feature_importance_plot": dg.MetadataValue.md(
                svg_markdown(bar_chart_svg(top, "Ranker feature importance (gain share)"), "importance")
            ),
            "stages": dg.MetadataValue.json(manifest["stages"]),
            "test_ndcg@10": float(manifest["evaluation"]["models"]["ranker"]["ndcg@10"]),
        }
    )


ASSETS = [retrieval_model, ranking_model]
