"""Ranking metrics against hand-computed values (models/metrics.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from models.metrics import (
    catalogue_coverage,
    hit_matrix,
    map_at_k,
    ndcg_at_k,
    novelty,
    precision_at_k,
    ranking_metrics,
    recall_at_k,
)

L3, L4, L6 = math.log2(3), math.log2(4), math.log2(6)

# One user, ranks 1..5 = items 1..5, relevant {2, 5, 9}: hits at ranks 2 and 5.
REC = [[1, 2, 3, 4, 5]]
REL = [{2, 5, 9}]


def test_precision_recall_by_hand():
    assert precision_at_k(REC, REL, 5) == pytest.approx(2 / 5)
    assert recall_at_k(REC, REL, 5) == pytest.approx(2 / 3)
    assert precision_at_k(REC, REL, 2) == pytest.approx(1 / 2)
    assert recall_at_k(REC, REL, 2) == pytest.approx(1 / 3)
    assert precision_at_k(REC, REL, 1) == 0.0


def test_ndcg_by_hand():
    dcg = 1 / L3 + 1 / L6
    idcg = 1 + 1 / L3 + 1 / L4  # R = 3 relevant, k = 5: ideal fills ranks 1..3
    assert ndcg_at_k(REC, REL, 5) == pytest.approx(dcg / idcg)
    assert ndcg_at_k(REC, REL, 5) == pytest.approx(0.477624, abs=1e-6)
    # k = 2: ideal = two hits at ranks 1, 2
    assert ndcg_at_k(REC, REL, 2) == pytest.approx((1 / L3) / (1 + 1 / L3))


def test_map_by_hand():
    # AP@5 = (P@2 + P@5) / min(R=3, 5) = (1/2 + 2/5) / 3
    assert map_at_k(REC, REL, 5) == pytest.approx(0.3)
    # AP@2 = P@2 / min(3, 2)
    assert map_at_k(REC, REL, 2) == pytest.approx(0.25)


def test_perfect_and_empty_rankings():
    assert ndcg_at_k([[4, 2]], [{2, 4}], 2) == pytest.approx(1.0)
    assert map_at_k([[4, 2]], [{2, 4}], 2) == pytest.approx(1.0)
    assert recall_at_k([[1, 3]], [{2, 4}], 2) == 0.0
    assert ndcg_at_k([[1, 3]], [{2, 4}], 2) == 0.0


def test_user_without_relevant_items_is_excluded():
    rec = [[1, 2], [3, 4]]
    rel = [{1}, set()]
    per_user = recall_at_k(rec, rel, 2, reduce=False)
    assert per_user[0] == 1.0 and np.isnan(per_user[1])
    assert recall_at_k(rec, rel, 2) == 1.0
    assert precision_at_k(rec, rel, 2) == 0.5
    assert ndcg_at_k(rec, rel, 2) == 1.0
    assert map_at_k(rec, rel, 2) == 1.0
    # nobody has a relevant item: undefined, not 0 and not an exception
    assert math.isnan(recall_at_k(rec, [set(), set()], 2))
    assert math.isnan(ndcg_at_k(rec, [[], []], 2))


def test_k_larger_than_the_list():
    rec, rel = [[7, 3]], [{3, 8}]
    assert precision_at_k(rec, rel, 5) == pytest.approx(1 / 5)  # always divided by k
    assert recall_at_k(rec, rel, 5) == pytest.approx(1 / 2)
    assert ndcg_at_k(rec, rel, 5) == pytest.approx((1 / L3) / (1 + 1 / L3))
    assert map_at_k(rec, rel, 5) == pytest.approx(0.25)  # P@2 / min(2, 5)
    # ragged lists and explicit -1 padding are the same thing
    ragged = recall_at_k([[7, 3], [1]], [{3}, {1}], 10)
    padded = recall_at_k(np.array([[7, 3], [1, -1]]), [{3}, {1}], 10)
    assert ragged == padded == 1.0


def test_duplicates_count_once_and_padding_never_hits():
    hits, n_rel = hit_matrix([[5, 5, 6, -1]], [{5, -1}], 4)
    assert hits.tolist() == [[True, False, False, False]]
    assert n_rel.tolist() == [2]
    assert precision_at_k([[5, 5, 6]], [{5}], 3) == pytest.approx(1 / 3)


def test_coverage_by_hand():
    rec = np.array([[0, 1], [1, 2], [-1, -1]])
    assert catalogue_coverage(rec, 10) == pytest.approx(0.3)
    assert catalogue_coverage(rec, 10, k=1) == pytest.approx(0.2)
    assert catalogue_coverage([[]], 10) == 0.0


def test_novelty_by_hand():
    counts = np.array([50, 10, 0])  # p = 0.5, 0.1, floor 1/100
    rec = [[0, 1], [2, -1]]
    user1 = (1.0 + -math.log2(0.1)) / 2
    user2 = -math.log2(0.01)
    assert novelty(rec, counts, n_users=100) == pytest.approx((user1 + user2) / 2)
    assert novelty(rec, counts, n_users=100, k=1) == pytest.approx((1.0 + user2) / 2)


def test_ranking_metrics_matches_single_functions():
    out = ranking_metrics(REC, REL, ks=(2, 5))
    assert set(out) == {f"{m}@{k}" for m in ("recall", "precision", "ndcg", "map") for k in (2, 5)}
    assert out["ndcg@5"] == pytest.approx(ndcg_at_k(REC, REL, 5))
    assert out["map@2"] == pytest.approx(0.25)
    with pytest.raises(ValueError):
        ranking_metrics(REC, REL, metrics=("auc",))


def _naive(rec_row, rel, k):
    rec_row = [x for x in rec_row[:k]]
    seen, hits = set(), []
    for x in rec_row:
        hits.append(x in rel and x not in seen and x >= 0)
        seen.add(x)
    hits += [False] * (k - len(hits))
    n_hit = sum(hits)
    dcg = sum(1 / math.log2(i + 2) for i, h in enumerate(hits) if h)
    idcg = sum(1 / math.log2(i + 2) for i in range(min(len(rel), k)))
    ap = sum(sum(hits[: i + 1]) / (i + 1) for i, h in enumerate(hits) if h) / min(len(rel), k)
    return n_hit / len(rel), n_hit / k, dcg / idcg, ap


def test_vectorised_equals_a_naive_loop():
    rng = np.random.default_rng(0)
    rec = np.stack([rng.permutation(40)[:15] for _ in range(30)])
    rel = [set(rng.choice(40, size=rng.integers(1, 8), replace=False).tolist()) for _ in range(30)]
    for k in (1, 5, 15, 20):
        naive = np.array([_naive(list(r), s, k) for r, s in zip(rec, rel, strict=True)])
        assert recall_at_k(rec, rel, k) == pytest.approx(naive[:, 0].mean())
        assert precision_at_k(rec, rel, k) == pytest.approx(naive[:, 1].mean())
        assert ndcg_at_k(rec, rel, k) == pytest.approx(naive[:, 2].mean())
        assert map_at_k(rec, rel, k) == pytest.approx(naive[:, 3].mean())
