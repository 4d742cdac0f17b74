"""Retrieval stage (models/): split, baselines, two-tower training, numpy export, cold start,
artifacts. Small synthetic data with planted structure, built here; the whole file runs in
well under a minute on 2 cores."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import duckdb  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from models.baselines import ItemCooccurrenceBaseline, PopularityBaseline  # noqa: E402
from models.metrics import recall_at_k  # noqa: E402
from models.retrieval.artifacts import (  # noqa: E402
    ArtifactError,
    list_versions,
    load_artifacts,
    save_artifacts,
)
from models.retrieval.config import RetrievalConfig  # noqa: E402
from models.retrieval.data import (  # noqa: E402
    interaction_data_from_training_set,
    load_interactions,
    make_interaction_data,
)
from models.retrieval.evaluate import build_targets, evaluate_split  # noqa: E402
from models.retrieval.features import sequential_histories  # noqa: E402
from models.retrieval.index import exact_top_k  # noqa: E402
from models.retrieval.retriever import title_forward  # noqa: E402
from models.splits import time_split  # noqa: E402

N_GENRES = 6
CONFIG = RetrievalConfig(
    embedding_dim=32,
    id_dim=16,
    history_dim=16,
    hidden_dim=64,
    history_length=10,
    batch_size=256,
    learning_rate=5e-3,
    max_epochs=12,
    patience=3,
    val_k=10,
    seed=7,
)


def planted_data(n_users=320, n_new_users=40, n_titles=120, per_user=16, seed=0):
    """Users like one genre (8x weight), which their occupation reveals for 80% of them;
    titles have lognormal popularity. The last ``n_new_users`` (4 interactions each) only
    appear in the last hours: cold-start users of the test slice."""
    rng = np.random.default_rng(seed)
    title_genre = rng.integers(0, N_GENRES, n_titles)
    weight = rng.lognormal(0.0, 1.0, n_titles)
    n_all = n_users + n_new_users
    user_genre = rng.integers(0, N_GENRES, n_all)
    start = np.datetime64("2026-01-01T00:00:00", "ns")
    rows = []
    for u in range(n_all):
        p = weight * np.where(title_genre == user_genre[u], 8.0, 1.0)
        new = u >= n_users
        n = 4 if new else per_user
        items = rng.choice(n_titles, size=n, replace=False, p=p / p.sum())
        days = rng.uniform(59.8, 60, n) if new else rng.uniform(0, 60, n)
        ts = start + (days * 86400e9).astype("timedelta64[ns]")
        rows += [(f"u{u:04d}", f"t{i:04d}", t) for i, t in zip(items, ts, strict=True)]
    interactions = pd.DataFrame(rows, columns=["user_id", "title_id", "ts"])
    informative = rng.random(n_all) < 0.8
    occupation = np.where(informative, [f"occ{g}" for g in user_genre], "other")
    users = pd.DataFrame(
        {
            "user_id": [f"u{u:04d}" for u in range(n_all)],
            "occupation": occupation,
            "gender": rng.choice(["F", "M"], n_all),
            "age_bucket": rng.choice(["18-24", "25-34", "unknown"], n_all),
        }
    )
    titles = pd.DataFrame(
        {
            "title_id": [f"t{i:04d}" for i in range(n_titles)],
            "genres": [[f"g{g}"] for g in title_genre],
            "release_year": rng.integers(1980, 2026, n_titles),
            "kind": rng.choice(["movie", "series"], n_titles),
            "in_catalogue": True,
        }
    )
    device_days = pd.DataFrame(
        {
            "user_id": [f"u{u:04d}" for u in range(n_all)],
            "device": np.where(user_genre % 2 == 0, "tv", "mobile"),
            "day": start,
            "n_events": 3,
        }
    )
    return make_interaction_data(interactions, users, titles, device_days, {"kind": "test"})


@pytest.fixture(scope="module")
def data():
    return planted_data()


@pytest.fixture(scope="module")
def split(data):
    return time_split(data.timestamps, 0.1, 0.1)


@pytest.fixture(scope="module")
def fit(data, split):
    from models.retrieval.model import train_two_tower

    return train_two_tower(data, split, CONFIG)


# ----------------------------------------------------------------------------- data & split
def test_time_split_has_no_leakage(data, split):
    ts = data.timestamps
    assert ts[split.train].max() < split.val_start <= ts[split.val].min()
    assert ts[split.val].max() < split.test_start <= ts[split.test].min()
    assert not (split.train & split.val).any() and not (split.val & split.test).any()
    assert (split.train | split.val | split.test).all()
    assert split.test.mean() == pytest.approx(0.1, abs=0.01)
    # ties at the cutoff all go to the later slice
    tied = np.array(["2026-01-01", "2026-01-02", "2026-01-02", "2026-01-03"], "datetime64[ns]")
    s = time_split(tied, val_fraction=0.0, test_fraction=0.5)
    assert s.train.tolist() == [True, False, False, False]
    assert s.test.tolist() == [False, True, True, True]
    no_test = time_split(ts, 0.1, 0.0)
    assert no_test.test_start is None and not no_test.test.any() and no_test.val.any()


def test_sequential_history_is_strictly_earlier():
    user = np.array([0, 0, 0, 1, 0])
    item = np.array([5, 6, 7, 8, 9])
    ts = np.array([1, 2, 2, 1, 3], dtype="datetime64[s]").astype("datetime64[ns]")
    hist = sequential_histories(user, item, ts, length=3)
    assert hist.tolist() == [[0, 0, 0], [0, 0, 5], [0, 0, 5], [0, 0, 0], [5, 6, 7]]


def _tiny_warehouse(tmp_path):
    path = tmp_path / "warehouse.duckdb"
    con = duckdb.connect(str(path))
    con.execute("create schema marts; create schema staging")
    con.execute(
        """create table marts.fct_interactions as select * from (values
           ('u1', 't1', timestamp '2026-01-01 10:00', 1.5, true),
           ('u1', 't2', timestamp '2026-01-02 10:00', -0.5, false),
           ('u2', 't1', timestamp '2026-01-03 10:00', 1.0, true))
           t(user_id, title_id, first_interaction_ts, interaction_strength, is_positive)"""
    )
    con.execute(
        """create table marts.dim_users as select * from (values
           ('u1', '25-34', 'F', 'DE'), ('u2', 'unknown', null, null))
           t(user_id, age_bucket, gender, country)"""
    )
    con.execute(
        """create table marts.dim_titles as select * from (values
           ('t1', ['Drama', 'Comedy'], 2020, 'movie', true),
           ('t2', []::varchar[], null, null, false),
           ('t3', ['Drama'], 1999, 'series', true))
           t(title_id, genres, release_year, kind, in_catalogue)"""
    )
    con.execute(
        """create table staging.stg_events as select * from (values
           ('u1', 'tv', date '2026-01-01'), ('u1', 'tv', date '2026-01-01'),
           ('u2', null, date '2026-01-02')) t(user_id, device, event_date)"""
    )
    con.close()
    return path


def test_load_interactions_from_a_warehouse(tmp_path):
    path = _tiny_warehouse(tmp_path)
    d = load_interactions(path)
    assert d.interactions["title_id"].tolist() == ["t1", "t2", "t1"]
    assert d.interactions["is_positive"].tolist() == [True, False, True]
    assert d.titles["title_id"].tolist() == ["t1", "t2", "t3"]  # the whole catalogue
    assert d.titles.loc[0, "genres"] == ["Drama", "Comedy"] and d.titles.loc[1, "genres"] == []
    u = d.users.set_index("user_id")
    assert u.loc["u1", "country"] == "DE" and u.loc["u2", "age_bucket"] is None
    assert u.loc["u1", "occupation"] is None  # column absent in the warehouse
    assert d.device_days[["user_id", "device", "n_events"]].values.tolist() == [["u1", "tv", 2]]
    assert len(d.source["fingerprint"]) == 16
    duckdb.connect(str(path)).close()  # the loader closed its connection


def test_interactions_from_the_feast_training_set(tmp_path):
    """Interactions are the training set's real rows (positives = its label=1 rows), user
    attributes come from its Feast columns point-in-time, demographics and titles from the marts."""
    path = _tiny_warehouse(tmp_path)
    utc = lambda s: pd.Timestamp(s, tz="UTC")  # noqa: E731
    frame = pd.DataFrame(
        {
            "user_id": ["u1", "u1", "u1", "u2", "u2"],
            "title_id": ["t1", "t3", "t2", "t1", "t2"],
            "event_timestamp": [
                utc("2026-01-01 10:00"),
                utc("2026-01-01 10:00"),
                utc("2026-01-02 10:00"),
                utc("2026-01-03 10:00"),
                utc("2026-01-03 10:00"),
            ],
            "label": [1, 0, 0, 1, 0],
            "interaction_strength": [1.5, 0.0, -0.5, 1.0, 0.0],
            "sampled_negative": [False, True, False, False, True],
            "user_engagement__lifetime_interactions": [None, None, 3, 0, 0],
            "user_engagement__interactions_30d": [None, None, 25, 0, 0],
            "user_engagement__primary_device_30d": [None, None, "tv", None, None],
            "user_genre_affinity__top_genres": [None, None, ["Drama", "Comedy"], [], []],
            "title_content__genres": [["Drama"], ["Drama"], [], ["Drama"], []],
        }
    )
    parquet = tmp_path / "interactions.parquet"
    frame.to_parquet(parquet)
    d = interaction_data_from_training_set(parquet, path)
    real = frame[~frame["sampled_negative"]]
    got = d.interactions
    assert list(zip(got["user_id"], got["title_id"], strict=True)) == list(
        zip(real["user_id"], real["title_id"], strict=True)
    )
    expected_ts = real["event_timestamp"].dt.tz_convert(None).astype("datetime64[ns]")
    assert (got["ts"].to_numpy() == expected_ts.to_numpy()).all()
    positives = got[got["is_positive"]]
    labelled = frame[frame["label"] == 1]
    assert (
        positives[["user_id", "title_id"]].values.tolist()
        == labelled[["user_id", "title_id"]].values.tolist()
    )
    only = interaction_data_from_training_set(parquet, path, positives_only=True)
    assert (
        only.interactions[["user_id", "title_id"]].values.tolist()
        == labelled[["user_id", "title_id"]].values.tolist()
    )
    # Same rows as the marts give the same snapshot fingerprint.
    assert d.source["fingerprint"] == load_interactions(path).source["fingerprint"]
    assert d.source["kind"] == "feast_training_set" and d.source["training_set_rows"] == 5

    # Latest Feast values per user; demographics from dim_users; nulls -> unknown (None).
    u = d.users.set_index("user_id")
    assert u.loc["u1", "top_genre"] == "Drama" and u.loc["u1", "second_genre"] == "Comedy"
    assert u.loc["u1", "engagement_level"] == "1-9" and u.loc["u1", "activity_30d"] == "20-59"
    assert u.loc["u1", "primary_device"] == "tv" and u.loc["u1", "country"] == "DE"
    assert u.loc["u2", "engagement_level"] == "0" and u.loc["u2", "top_genre"] is None
    assert u.loc["u2", "primary_device"] is None and u.loc["u2", "age_bucket"] is None
    # Point in time: before u1's second row, only the all-null first snapshot is known.
    early = d.as_of("2026-01-02 10:00").users.set_index("user_id")
    assert early.loc["u1", "top_genre"] is None and early.loc["u1", "engagement_level"] is None
    assert early.loc["u1", "country"] == "DE" and early.loc["u2", "engagement_level"] is None
    assert d.as_of(None) is d and load_interactions(path).as_of("2026-01-02") is not None


# ----------------------------------------------------------------------------- baselines
def test_exact_top_k_excludes_and_pads():
    idx, val = exact_top_k(np.array([0.1, 0.9, 0.5, 0.9]), 3, exclude=[3])
    assert idx.tolist() == [1, 2, 0]
    idx, _ = exact_top_k(np.array([[1.0, 2.0, 3.0]]), 5, exclude=[[2]])
    assert idx.tolist() == [[1, 0, -1, -1, -1]]


def test_baselines_by_hand():
    # users 0, 1 watched {0, 1}; user 2 watched {1, 2}; item 3 never.
    users, items = np.array([0, 0, 1, 1, 2, 2]), np.array([0, 1, 0, 1, 1, 2])
    pop = PopularityBaseline().fit(items, 4)
    assert pop.scores.tolist() == [2, 3, 1, 0]
    assert pop.recommend(1, 2, exclude=[[1]]).tolist() == [[0, 2]]
    cooc = ItemCooccurrenceBaseline(alpha=0.0).fit(users, items, 3, 4)
    # history {0}: co-occurs with 1 twice, with 2 never -> 1, then popularity for the rest
    assert cooc.recommend([np.array([0])], 3, [np.array([0])]).tolist() == [[1, 2, 3]]
    # no history: popularity
    assert cooc.recommend([np.array([], dtype=int)], 2).tolist() == [[1, 0]]


# ----------------------------------------------------------------------------- two-tower
def test_training_is_deterministic_for_a_seed(fit, data, split):
    from models.retrieval.model import fit_two_tower

    # Re-run the fixture's last stage (refit on train + validation): bit-identical.
    again = fit_two_tower(data, split.history, split.test_start, CONFIG, epochs=fit.best_epoch)
    assert [r["loss"] for r in again.learning_curve] == [
        r["loss"] for r in fit.learning_curve if r.get("stage") == "refit"
    ]
    for key, w in fit.retriever.user_weights.items():
        np.testing.assert_array_equal(w, again.retriever.user_weights[key])
    np.testing.assert_array_equal(fit.retriever.title_embeddings, again.retriever.title_embeddings)
    other = fit_two_tower(data, split.history, split.test_start, CONFIG.replace(seed=8), epochs=1)
    assert not np.array_equal(fit.retriever.title_embeddings, other.retriever.title_embeddings)


def test_numpy_towers_equal_keras(fit, data, split):
    r = fit.retriever
    _, inputs = r.space.user_inputs(data, split.history, split.test_start)
    keras_user = np.asarray(fit.user_tower(inputs))
    np.testing.assert_allclose(r.user_embeddings(inputs), keras_user, atol=1e-5)
    titles = r.space.title_inputs(data, split.history, split.test_start)
    keras_titles = np.asarray(fit.title_tower(titles))
    np.testing.assert_allclose(title_forward(r.title_weights, titles), keras_titles, atol=1e-5)
    np.testing.assert_allclose(r.title_embeddings, keras_titles, atol=1e-5)
    assert np.allclose(np.linalg.norm(r.title_embeddings, axis=1), 1.0, atol=1e-5)


def test_learning_curve_and_refit(fit):
    stages = [s["stage"] for s in fit.stages]
    assert stages == ["early_stopping", "refit"]
    first = [r for r in fit.learning_curve if "stage" not in r]
    assert all({"epoch", "loss", "val_recall@10", "val_ndcg@10"} <= set(r) for r in first)
    assert 1 <= fit.best_epoch <= len(first)
    assert fit.as_of == str(pd.Timestamp(fit.retriever.space.as_of))


def test_beats_popularity_on_planted_structure(fit, data, split):
    r = fit.retriever
    targets = build_targets(data, r.catalogue, split.history, split.test)
    tt = r.recommend_users(targets.user_ids, 10)[0]
    rows = data.interactions[split.history]
    pop = PopularityBaseline().fit(r.space.catalogue_index(rows["title_id"]), len(r.catalogue))
    pop_rec = pop.recommend(len(targets.user_ids), 10, targets.history)
    tt_recall = recall_at_k(tt, targets.relevant, 10)
    pop_recall = recall_at_k(pop_rec, targets.relevant, 10)
    assert tt_recall > pop_recall + 0.05, (tt_recall, pop_recall)
    # the cold (features-only) users benefit too: occupation reveals their genre
    cold = targets.cold
    assert cold.sum() >= 20
    cold_rel = [t for t, c in zip(targets.relevant, cold, strict=True) if c]
    assert recall_at_k(tt[cold], cold_rel, 10) > recall_at_k(pop_rec[cold], cold_rel, 10)


def test_evaluate_split_reports_every_model(fit, data, split):
    res = evaluate_split(data, split, CONFIG, ks=(10, 50), fit=fit, latency=False)
    assert set(res["models"]) == {"two_tower", "popularity", "popularity_recent", "cooccurrence"}
    for m in res["models"].values():
        assert {"recall@10", "recall@50", "ndcg@10", "coverage@100", "novelty@10"} <= set(m)
    assert res["test_users"] > 0 and res["cold_test_users"] > 0


# ----------------------------------------------------------------------------- cold start
def test_cold_start_and_bad_input_never_raise(fit, data, split):
    r = fit.retriever
    known = data.interactions[split.history]["user_id"].iloc[0]
    rec = r.recommend(known, k=20)
    assert rec.source == "two_tower" and len(rec.title_ids) == 20
    seen = set(
        data.interactions[split.history & (data.interactions["user_id"] == known)]["title_id"]
    )
    assert not seen & set(rec.title_ids)
    # unknown user, nothing known: popularity
    rec = r.recommend("nobody", k=5)
    assert rec.source == "popularity" and len(rec.title_ids) == 5
    # unknown user with features: features-only embedding
    rec = r.recommend("nobody", features={"occupation": "occ2", "device_mix": {"tv": 1}}, k=5)
    assert rec.source == "features_only" and len(rec.title_ids) == 5
    # features missing, None, NaN, unknown values, wrong types: still defined
    for features in (
        None,
        {},
        {"occupation": None},
        {"gender": float("nan")},
        {"occupation": "astronaut", "age_bucket": 42},
        {"device_mix": "toaster"},
        {"device_mix": {"tv": "a lot"}},
        ["not", "a", "dict"],
    ):
        rec = r.recommend("nobody", features=features, k=3)
        assert len(rec.title_ids) == 3
    # empty history, unknown titles in it, None in it
    assert r.recommend(None, history=[], k=3).source == "popularity"
    rec = r.recommend(None, history=["no-such-title", None, "t0001"], k=3)
    assert rec.source == "two_tower" and "t0001" not in rec.title_ids
    # a known user with an explicit empty history still uses the id embedding
    assert r.recommend(known, history=[], k=3).source == "two_tower"
    # odd k and exclusions
    assert r.recommend(known, k=0).title_ids == []
    assert len(r.recommend(known, k=10_000).title_ids) <= len(r.catalogue)
    assert r.recommend(known, k="ten").title_ids  # defaults
    assert "t0002" not in r.recommend("nobody", k=200, exclude=["t0002", None]).title_ids
    # batch path: unknown ids get popularity
    idx, _, source = r.recommend_users([known, "nobody"], k=5)
    assert source.tolist() == ["two_tower", "popularity"] and (idx >= 0).all()


def test_new_titles_get_content_embeddings(fit):
    r = fit.retriever
    new = pd.DataFrame(
        {
            "title_id": ["brand-new", "no-metadata"],
            "genres": [["g1"], None],
            "release_year": [2026, None],
            "kind": ["series", None],
        }
    )
    emb = r.embed_titles(new)
    assert emb.shape == (2, r.title_embeddings.shape[1]) and np.isfinite(emb).all()
    bigger = r.add_titles(new)
    assert len(bigger.catalogue) == len(r.catalogue) + 2
    assert bigger.space.title_index(["brand-new"]).tolist() == [0]  # OOV id: content only
    rec = bigger.recommend(None, history=["t0001"], k=len(bigger.catalogue))
    assert "brand-new" in rec.title_ids and "no-metadata" in rec.title_ids
    assert len(r.catalogue) + 2 == len(bigger.catalogue)  # the original is unchanged


# ----------------------------------------------------------------------------- artifacts
def test_artifacts_round_trip(fit, data, tmp_path):
    manifest = {
        "config": fit.config.to_dict(),
        "data": data.source,
        "metrics": {"x": 1.0},
        "learning_curve": fit.learning_curve,
    }
    path = save_artifacts(fit.retriever, tmp_path / "retrieval", manifest)
    assert list_versions(tmp_path / "retrieval") == [path]
    loaded, m = load_artifacts(path)
    assert (
        m["config"]["seed"] == CONFIG.seed
        and m["data"]["fingerprint"] == data.source["fingerprint"]
    )
    assert m["learning_curve"] and m["metrics"] == {"x": 1.0}
    users = data.users["user_id"].tolist()[:50] + ["nobody"]
    a, sa, _ = fit.retriever.recommend_users(users, 20)
    b, sb, _ = loaded.recommend_users(users, 20)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(sa, sb, rtol=1e-6)
    assert loaded.recommend(users[0], k=5) == fit.retriever.recommend(users[0], k=5)
    # a corrupted version is refused, not half-loaded
    (path / "arrays.npz").write_bytes(b"garbage")
    with pytest.raises(ArtifactError):
        load_artifacts(path)
    with pytest.raises(ArtifactError):
        load_artifacts(tmp_path / "missing")
