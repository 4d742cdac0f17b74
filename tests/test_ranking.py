"""The two-stage model on ml-100k as the pipeline builds it: evaluation, registry, batch, CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from dbt_helpers import query

from marquee.config import REPO_ROOT, MarqueeHome
from models.registry import ModelRegistry

pytestmark = pytest.mark.slow


def _marquee(home: MarqueeHome, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "MARQUEE_HOME": str(home.root)}
    return subprocess.run(
        [str(Path(sys.executable).parent / "marquee"), *args],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300,
    )


def _query(home: MarqueeHome, sql: str) -> list[tuple]:
    return query(home.warehouse, sql)


def test_evaluation_orders_ranker_over_retrieval_over_popularity(ml100k_home: MarqueeHome) -> None:
    report = json.loads((ml100k_home.reports / "evaluation.json").read_text())
    assert {"protocol", "k", "models", "candidate", "champion", "promoted", "reasons"} <= set(report)
    assert report["k"] == 10 and report["promoted"] is True
    models = report["models"]
    for name in ("popularity", "retrieval", "ranker"):
        assert {"ndcg@10", "precision@10", "recall@10", "map@10", "coverage", "novelty"} <= set(models[name])
        assert set(models[name]["segments"]) <= {"cold", "light", "heavy"}
    ndcg = {name: models[name]["ndcg@10"] for name in models}
    assert ndcg["ranker"] > ndcg["retrieval"] > ndcg["popularity"], ndcg
    assert report["protocol"]["seen_removed"] is True


def test_the_champion_has_lineage_and_learned_from_all_the_data(ml100k_home: MarqueeHome) -> None:
    registry = ModelRegistry(ml100k_home.models)
    champion = registry.champion()
    assert champion == registry.latest() and registry.problems(champion) == []
    manifest = registry.manifest(champion)
    lineage = manifest["lineage"]
    assert lineage["data"]["fingerprint"] and lineage["retrieval_version"]
    assert lineage["feature_views"] and all(len(v) == 12 for v in lineage["feature_views"].values())
    assert manifest["code_version"]
    # The served context is as of the end of the data: every user and every interaction.
    rec = registry.load(champion)
    assert len(rec.context.user_ids) == 943
    (last,) = _query(ml100k_home, "select max(last_interaction_ts) from marts.fct_interactions")[0]
    assert pd.Timestamp(lineage["as_of"]) > pd.Timestamp(last)


def test_batch_recommendations_exclude_seen_titles(ml100k_home: MarqueeHome) -> None:
    rows = _query(ml100k_home, "select count(*), count(distinct user_id), max(rank) from serving.batch_recommendations")
    assert rows == [(943 * 20, 943, 20)]
    overlap = _query(
        ml100k_home,
        "select count(*) from serving.batch_recommendations b join marts.fct_interactions i "
        "using (user_id, title_id)",
    )
    assert overlap == [(0,)]


def test_cli_recommend_export_and_status(ml100k_home: MarqueeHome, tmp_path: Path) -> None:
    champion = ModelRegistry(ml100k_home.models).champion()
    out = _marquee(ml100k_home, "recommend", "1", "-k", "5")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert champion in lines[0] and len(lines) == 6
    seen = {r[0] for r in _query(ml100k_home, "select title_id from marts.fct_interactions where user_id = '1'")}
    assert not {line.split()[1] for line in lines[1:]} & seen

    target = tmp_path / "recs.csv"
    out = _marquee(ml100k_home, "export-recommendations", "--k", "3", "--out", str(target))
    assert out.returncode == 0, out.stderr
    frame = pd.read_csv(target, dtype={"user_id": str, "title_id": str})
    assert list(frame.columns) == ["user_id", "rank", "title_id", "score"]
    assert len(frame) == 943 * 3 and set(frame["rank"]) == {1, 2, 3}
    first = frame.groupby("user_id")["score"].apply(lambda s: list(s) == sorted(s, reverse=True))
    assert first.all()

    out = _marquee(ml100k_home, "status")
    assert out.returncode == 0 and f"champion: {champion}" in out.stdout and "ranker" in out.stdout

    for args, fragment in (
        (("recommend", "../etc"), "user id"),
        (("recommend", "1", "-k", "101"), "between 1 and 100"),
        (("export-recommendations", "--k", "3", "--out", str(tmp_path / "x.txt")), ".csv or .parquet"),
    ):
        out = _marquee(ml100k_home, *args)
        assert out.returncode != 0 and fragment in out.stderr and "Traceback" not in out.stderr
        assert len(out.stderr.strip().splitlines()) == 1, out.stderr
