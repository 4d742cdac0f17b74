"""Evaluation and promotion: the candidate's metrics beside the baselines, then the gate."""

import dagster as dg

from marquee.plots import bar_chart_svg, svg_markdown
from orchestration.resources import WarehouseResource

GROUP = "evaluation"


def _segment_table(models: dict) -> str:
    lines = ["| model | segment | users | ndcg@10 | recall@10 |", "|---|---|---:|---:|---:|"]
    for name, m in models.items():
        for seg, s in m.get("segments", {}).items():
            lines.append(f"| {name} | {seg} | {s['users']} | {s['ndcg@10']:.4f} | {s['recall@10']:.4f} |")
    return "\n".join(lines)


@dg.asset(
    group_name=GROUP,
    deps=[dg.AssetKey("ranking_model")],
    kinds={"python"},
    owners=["team:ml"],
    description=(
        "Offline evaluation of the newest candidate on the time hold-out: popularity, recent "
        "popularity, co-occurrence, the two-tower alone and the two-stage ranker; NDCG, "
        "precision, recall and MAP at 10, catalogue coverage and novelty, overall and for "
        "cold / light / heavy users. Written to `reports/evaluations/<version>.json`."
    ),
    check_specs=[dg.AssetCheckSpec("ranker_beats_baselines", asset="model_evaluation")],
)
def model_evaluation(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    from marquee.model_versions import metric_rows
    from marquee.promotion import write_candidate_evaluation
    from models.registry import ModelRegistry

    home = warehouse.marquee_home
    registry = ModelRegistry(home.models)
    version = registry.latest()
    if version is None:
        raise dg.Failure("no candidate version in the registry: materialize ranking_model first")
    evaluation = registry.manifest(version).get("evaluation") or {}
    models = evaluation.get("models", {})
    path = write_candidate_evaluation(home, version, evaluation)
    ndcg = {name: float(m["ndcg@10"]) for name, m in models.items()}
    yield dg.MaterializeResult(
        metadata={
            "candidate_version": version,
            "path": dg.MetadataValue.path(str(path)),
            "metrics": dg.MetadataValue.md(metric_rows(models)),
            "segments": dg.MetadataValue.md(_segment_table(models)),
            "ndcg_plot": dg.MetadataValue.md(
                svg_markdown(bar_chart_svg(ndcg, "Hold-out NDCG@10 by model"), "ndcg@10")
            ),
            "test_users": int(evaluation.get("slice", {}).get("users", 0)),
            "candidate_recall": float(evaluation.get("slice", {}).get("candidate_recall", 0.0)),
            **{f"ranker_{k}": float(v) for k, v in models.get("ranker", {}).items() if isinstance(v, float)},
        }
    )
    ranker = ndcg.get("ranker", float("nan"))
    beaten = [n for n in ("popularity", "retrieval") if n in ndcg and ranker > ndcg[n]]
    yield dg.AssetCheckResult(
        check_name="ranker_beats_baselines",
        passed=len(beaten) == 2,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"ranker_ndcg@10": ranker, **{f"{n}_ndcg@10": v for n, v in ndcg.items()}},
        description=f"ranker NDCG@10 {ranker:.4f} beats {', '.join(beaten) or 'nothing'}",
    )


class PromotionConfig(dg.Config):
    force: bool = False
    tolerance: float = 0.01
    metric: str = "ndcg@10"


@dg.asset(
    group_name=GROUP,
    deps=[model_evaluation],
    kinds={"python"},
    owners=["team:ml"],
    description=(
        "The promotion gate: the newest candidate becomes the champion only when its artifacts "
        "are complete, every blocking data check behind it passed, its ranker beats the "
        "baselines, and it does not fall below the champion by more than the tolerance "
        "(config `force` overrides all but the artifacts, recorded as forced). Writes "
        "`reports/evaluation.json` and switches `models/champion.json` atomically."
    ),
)
def champion_model(
    context: dg.AssetExecutionContext, config: PromotionConfig, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    from marquee.promotion import run_promotion
    from models.promotion import PromotionPolicy

    home = warehouse.marquee_home
    policy = PromotionPolicy(metric=config.metric, tolerance=config.tolerance, force=config.force)
    report = run_promotion(home, policy, instance=context.instance)
    for reason in report["reasons"]:
        context.log.info(f"promotion: {reason}")
    verdict = "promoted" if report["promoted"] else "kept the champion"
    if report.get("forced"):
        verdict = "promoted (forced)"
    reasons = "\n".join(f"- {r}" for r in report["reasons"])
    return dg.MaterializeResult(
        metadata={
            "decision": verdict,
            "candidate": str(report["candidate"]),
            "champion": str(report["champion_after"]),
            "previous_champion": str(report["champion"]),
            "promoted": bool(report["promoted"]),
            "forced": bool(report.get("forced", False)),
            "reasons": dg.MetadataValue.md(reasons),
            "evaluation_report": dg.MetadataValue.path(str(home.reports / "evaluation.json")),
        }
    )


def _experiment_table(result: dict) -> str:
    lines = ["| arm | users | play_rate | completion_rate | watch_seconds_per_user |", "|---|---:|---:|---:|---:|"]
    for arm, m in result["arms"].items():
        lines.append(
            f"| {arm} | {m['users']} | {m['play_rate']:.4f} | {m['completion_rate']:.4f} | {m['watch_seconds_per_user']:.1f} |"
        )
    lines += ["", "| arm | metric | lift | 95% CI | significant |", "|---|---|---:|---|---|"]
    for c in result["comparisons"]:
        lines.append(
            f"| {c['arm']} | {c['metric']} | {c['lift']:+.2%} | [{c['ci_low']:+.2%}, {c['ci_high']:+.2%}] | {c['significant']} |"
        )
    return "\n".join(lines)


@dg.asset(
    group_name=GROUP,
    deps=[dg.AssetKey("stg_events"), dg.AssetKey("stg_titles")],
    kinds={"python", "duckdb"},
    owners=["team:ml"],
    description=(
        "Online experiments of the experiments file: exposures (impressions the API logged "
        "with `row = exp:<experiment>:<arm>`) and the plays, completions and watch time that "
        "followed within 24 h, per arm; lift against the control with 95% bootstrap intervals "
        "(users resampled), a sample-ratio-mismatch test and the decision (ship / keep running "
        "/ stop). Written to `reports/experiments/<name>.json`."
    ),
)
def experiment_analysis(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    from marquee.experiments.analysis import analyse, attribute_outcomes
    from marquee.experiments.config import load_experiments
    from marquee.experiments.data import load_experiment_frames
    from marquee.reporting import write_report_json

    home = warehouse.marquee_home
    experiments = load_experiments()
    results, tables = {}, []
    for experiment in experiments:
        with warehouse.connection(read_only=True) as con:
            exposures, outcomes = load_experiment_frames(con, experiment.name)
        if exposures.empty:
            context.log.info(f"experiment {experiment.name}: no exposures yet")
            continue
        result = analyse(experiment, attribute_outcomes(exposures, outcomes)).to_dict()
        results[experiment.name] = result
        write_report_json(home.reports / "experiments" / f"{experiment.name}.json", result)
        tables.append(f"### {experiment.name}: **{result['decision']}**\n\n{_experiment_table(result)}")
        context.log.info(f"experiment {experiment.name}: {result['decision']}")
    return dg.MaterializeResult(
        metadata={
            "experiments": len(experiments),
            "analysed": len(results),
            "decisions": dg.MetadataValue.json({n: r["decision"] for n, r in results.items()}),
            "results": dg.MetadataValue.md("\n\n".join(tables) or "(no experiment with exposures)"),
        }
    )


ASSETS = [model_evaluation, champion_model, experiment_analysis]
