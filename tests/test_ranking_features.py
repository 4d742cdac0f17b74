"""Ranking building blocks by hand: EASE weights, per-user relative scores, the boosting prior."""

from __future__ import annotations

import numpy as np

from models.ranking.context import fit_ease
from models.ranking.features import _per_user_relative
from models.ranking.ranker import RankerConfig, _group_ndcg, choose_prior, train_ranker


def test_ease_matches_the_closed_form_by_hand() -> None:
    # users x items: u0 {0, 1}, u1 {1, 2}, u2 {0, 1, 2}
    users = np.array([0, 0, 1, 1, 2, 2, 2])
    items = np.array([0, 1, 1, 2, 0, 1, 2])
    b = fit_ease(users, items, 3, 3, l2=1.0)
    x = np.array([[1, 1, 0], [0, 1, 1], [1, 1, 1]], dtype=float)
    p = np.linalg.inv(x.T @ x + np.eye(3))
    expected = -p / np.diag(p)
    np.fill_diagonal(expected, 0.0)
    np.testing.assert_allclose(b, expected, rtol=1e-5)
    assert np.all(np.diag(b) == 0)
    # a repeated (user, item) pair counts once
    np.testing.assert_allclose(fit_ease(np.r_[users, 0], np.r_[items, 0], 3, 3, 1.0), b, rtol=1e-6)


def test_scores_are_relative_to_each_users_best_candidate() -> None:
    values = np.array([2.0, 1.0, -4.0, 0.0, 0.0, 3.0])
    rows = np.array([0, 0, 1, 1, 2, 2])
    np.testing.assert_allclose(_per_user_relative(values, rows, 3), [1.0, 0.5, -1.0, 0.0, 0.0, 1.0])
    assert not np.isnan(_per_user_relative(np.zeros(2), np.array([0, 0]), 1)).any()


def test_group_ndcg_by_hand() -> None:
    # one group, relevant at positions 2 and 3 of the ordering by score
    scores = np.array([0.9, 0.8, 0.7, 0.1])
    y = np.array([0.0, 1.0, 1.0, 0.0])
    dcg = 1 / np.log2(3) + 1 / np.log2(4)
    idcg = 1 + 1 / np.log2(3)
    assert abs(_group_ndcg(scores, y, np.array([4]), 10) - dcg / idcg) < 1e-9


def test_the_prior_is_the_column_that_orders_best_and_is_used_in_prediction() -> None:
    rng = np.random.default_rng(3)
    sizes = np.full(80, 25)
    n = int(sizes.sum())
    signal = rng.normal(size=n)
    y = (signal + 0.3 * rng.normal(size=n) > 1.2).astype(np.float32)
    x = np.stack([rng.normal(size=n), signal, rng.normal(size=n)], axis=1).astype(np.float32)
    names = ["rt_score", "ease_score", "cooc_score"]
    prior, scores = choose_prior(x, y, sizes, names, RankerConfig())
    assert prior == "ease_score" and scores["ease_score"] > max(scores["rt_score"], scores["cooc_score"])
    fit = train_ranker(x, y, sizes, names, RankerConfig(n_estimators=30))
    assert fit.prior == "ease_score" and fit.prior_weight == 3.0
    np.testing.assert_allclose(fit.margin(x), 3.0 * x[:, 1])
    refit = train_ranker(x, y, sizes, names, RankerConfig(), rounds=5, prior=fit.prior)
    assert refit.prior == "ease_score" and refit.best_iteration == 5
    off = train_ranker(x, y, sizes, names, RankerConfig(n_estimators=30, prior_weight=0.0))
    assert off.prior is None and off.margin(x) is None
