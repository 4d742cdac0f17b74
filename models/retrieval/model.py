"""Two-tower retrieval in Keras 3 (TensorFlow backend): towers, loss, training loop.

User tower: user-id embedding (index 0 = out of vocabulary) + mean-pooled embeddings of the
last ``history_length`` titles and of the last ``short_history`` ones + one embedding per
categorical attribute + device mix -> Dense(ReLU) -> Dense -> L2 normalise.
Title tower: title-id embedding + genre projection of the multi-hot genres + release-year
bucket, kind, language and popularity-decile embeddings + two popularity numbers -> Dense(ReLU) ->
Dense -> L2 normalise. Score = dot product (cosine).

Loss: in-batch softmax over the batch's titles (plus ``extra_negatives`` uniformly sampled
catalogue titles), logits = u.v / temperature - logq_weight * log Q(title), where Q is the
expected number of times the title is among the batch's candidates (B * p(title as a positive)
+ M / n_catalogue): the sampling-popularity (logQ) correction, so frequent titles are not
over-penalised as negatives. Candidates equal to the row's positive (duplicates in the batch)
are masked. Examples: one per training interaction, the user's inputs as they were just
before it (history strictly earlier). A share of examples use the OOV user id / title id so the
feature and content paths learn to stand alone (cold start).

Early stopping on validation recall@``val_k`` computed with the numpy export (the same code as
serving). Deterministic for a seed: `keras.utils.set_random_seed` +
`tf.config.experimental.enable_op_determinism` (process-wide) + numpy generators from the seed.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402
from keras import layers, ops  # noqa: E402

from models.metrics import ndcg_at_k, recall_at_k  # noqa: E402
from models.retrieval.config import RetrievalConfig  # noqa: E402
from models.retrieval.data import InteractionData  # noqa: E402
from models.retrieval.features import N_POP_BUCKETS as N_POP  # noqa: E402
from models.retrieval.features import FeatureSpace, TitleInputs, UserInputs  # noqa: E402
from models.retrieval.index import exact_top_k  # noqa: E402
from models.retrieval.retriever import (  # noqa: E402
    TwoTowerRetriever,
    decayed_counts,
    score_prior,
    title_forward,
    user_forward,
)
from models.splits import TimeSplit  # noqa: E402

_MASKED = -1e9


def _pool(emb, mask):
    total = ops.sum(emb * mask, axis=1)
    return total / ops.maximum(ops.sum(mask, axis=1), 1.0)


def _l2_normalize(x):
    return x * ops.rsqrt(ops.maximum(ops.sum(x * x, axis=-1, keepdims=True), 1e-12))


class _Exportable:
    """Weights by stable name <-> numpy (the serving format, see `retriever`)."""

    def export(self) -> dict[str, np.ndarray]:
        return {
            k: np.array(ops.convert_to_numpy(v), dtype=np.float32)
            for k, v in self.named_variables().items()
        }

    def restore(self, weights: dict[str, np.ndarray]) -> None:
        for k, v in self.named_variables().items():
            v.assign(weights[k])


class UserTower(_Exportable, keras.Model):
    def __init__(self, space: FeatureSpace, cfg: RetrievalConfig, **kwargs):
        super().__init__(name="user_tower", **kwargs)
        self.short_history = cfg.short_history
        self.id_emb = layers.Embedding(space.n_users, cfg.id_dim, name="id_emb")
        self.hist_emb = layers.Embedding(space.n_titles, cfg.history_dim, name="hist_emb")
        self.field_embs = [
            layers.Embedding(size, cfg.feature_dim, name=f"field_{j}")
            for j, size in enumerate(space.field_sizes)
        ]
        self.dense1 = layers.Dense(cfg.hidden_dim, activation="relu", name="dense1")
        self.dense2 = layers.Dense(cfg.embedding_dim, name="dense2")

    def call(self, inputs):
        hist = inputs["history"]
        mask = ops.expand_dims(ops.cast(hist > 0, "float32"), -1)
        h = self.hist_emb(hist)
        s = self.short_history
        parts = [self.id_emb(inputs["id"]), _pool(h, mask), _pool(h[:, -s:], mask[:, -s:])]
        parts += [emb(inputs["fields"][:, j]) for j, emb in enumerate(self.field_embs)]
        parts.append(ops.cast(inputs["devices"], "float32"))
        x = ops.concatenate(parts, axis=-1)
        return _l2_normalize(self.dense2(self.dense1(x)))

    def named_variables(self) -> dict[str, Any]:
        w = {
            "id_emb": self.id_emb.embeddings,
            "hist_emb": self.hist_emb.embeddings,
            "dense1_kernel": self.dense1.kernel,
            "dense1_bias": self.dense1.bias,
            "dense2_kernel": self.dense2.kernel,
            "dense2_bias": self.dense2.bias,
        }
        w.update({f"field_{j}": e.embeddings for j, e in enumerate(self.field_embs)})
        return w


class TitleTower(_Exportable, keras.Model):
    def __init__(self, space: FeatureSpace, cfg: RetrievalConfig, **kwargs):
        super().__init__(name="title_tower", **kwargs)
        self.id_emb = layers.Embedding(space.n_titles, cfg.id_dim, name="id_emb")
        self.genre = layers.Dense(cfg.genre_dim, use_bias=False, name="genre")
        self.year_emb = layers.Embedding(space.n_years, cfg.feature_dim, name="year_emb")
        self.kind_emb = layers.Embedding(space.n_kinds, cfg.feature_dim, name="kind_emb")
        self.language_emb = layers.Embedding(
            space.n_languages, cfg.feature_dim, name="language_emb"
        )
        self.pop_emb = layers.Embedding(N_POP, cfg.feature_dim, name="pop_emb")
        self.dense1 = layers.Dense(cfg.hidden_dim, activation="relu", name="dense1")
        self.dense2 = layers.Dense(cfg.embedding_dim, name="dense2")

    def call(self, inputs):
        x = ops.concatenate(
            [
                self.id_emb(inputs["id"]),
                self.genre(ops.cast(inputs["genres"], "float32")),
                self.year_emb(inputs["year"]),
                self.kind_emb(inputs["kind"]),
                self.language_emb(inputs["language"]),
                self.pop_emb(inputs["pop_bucket"]),
                ops.cast(inputs["pop"], "float32"),
            ],
            axis=-1,
        )
        return _l2_normalize(self.dense2(self.dense1(x)))

    def named_variables(self) -> dict[str, Any]:
        return {
            "id_emb": self.id_emb.embeddings,
            "genre_kernel": self.genre.kernel,
            "year_emb": self.year_emb.embeddings,
            "kind_emb": self.kind_emb.embeddings,
            "language_emb": self.language_emb.embeddings,
            "pop_emb": self.pop_emb.embeddings,
            "dense1_kernel": self.dense1.kernel,
            "dense1_bias": self.dense1.bias,
            "dense2_kernel": self.dense2.kernel,
            "dense2_bias": self.dense2.bias,
        }


def _apply(optimizer, grads, variables) -> None:
    # Dense gradients: the embedding tables are small, and Keras' sparse (IndexedSlices)
    # Adam path is slower here than a dense update.
    grads = [tf.convert_to_tensor(g) for g in grads]
    optimizer.apply_gradients(zip(grads, variables, strict=True))


def _spec(inputs: dict[str, np.ndarray]) -> dict[str, tf.TensorSpec]:
    """Signature with a free batch dimension: one trace per fit, whatever the batch size."""
    return {k: tf.TensorSpec([None, *v.shape[1:]], tf.as_dtype(v.dtype)) for k, v in inputs.items()}


def _take(inputs: dict[str, np.ndarray], rows: np.ndarray) -> dict[str, np.ndarray]:
    return {k: v[rows] for k, v in inputs.items()}


def make_deterministic(seed: int) -> None:
    """Seed Python/numpy/TF and make TF ops deterministic (process-wide setting)."""
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


@dataclass
class TwoTowerFit:
    """Result of one fit: the numpy retriever, the Keras towers and the learning curve."""

    retriever: TwoTowerRetriever
    user_tower: UserTower
    title_tower: TitleTower
    learning_curve: list[dict[str, Any]]
    best_epoch: int
    epochs_run: int
    best_val: dict[str, float]
    train_seconds: float
    config: RetrievalConfig
    as_of: str
    n_examples: int
    stages: list[dict[str, Any]] = field(default_factory=list)
    # the early-stopping fit on the train slice alone (as of the validation cutoff), kept so
    # that a second stage can learn from its candidates on the validation slice
    early_stopping_retriever: TwoTowerRetriever | None = None


@dataclass
class ValidationSet:
    """Users of a validation slice, their inputs as of its start, targets and exclusions."""

    inputs: UserInputs
    relevant: list[np.ndarray]
    exclude: list[np.ndarray]

    @classmethod
    def build(
        cls,
        data: InteractionData,
        space: FeatureSpace,
        history_mask: np.ndarray,
        target_mask: np.ndarray,
        as_of,
        positives_only: bool = False,
    ) -> ValidationSet:
        inter = data.interactions
        target = target_mask & (inter["is_positive"].to_numpy() if positives_only else True)
        rows = inter[target]
        user_ids = np.array(sorted(rows["user_id"].unique()), dtype=str)
        _, inputs = space.user_inputs(data, history_mask, as_of, user_ids)
        pos = pd.Index(user_ids)
        relevant = _group(
            pos.get_indexer(rows["user_id"].to_numpy()),
            space.catalogue_index(rows["title_id"].to_numpy()),
            len(user_ids),
        )
        hist = inter[history_mask]
        exclude = _group(
            pos.get_indexer(hist["user_id"].to_numpy()),
            space.catalogue_index(hist["title_id"].to_numpy()),
            len(user_ids),
        )
        return cls(inputs=inputs, relevant=relevant, exclude=exclude)

    def evaluate(
        self,
        user_w,
        title_emb,
        short_history: int,
        k: int,
        scale: float = 1.0,
        bias: np.ndarray | float = 0.0,
        chunk: int = 2048,
    ) -> dict[str, float]:
        n = len(self.relevant)
        top = []
        for start in range(0, n, chunk):
            sl = slice(start, start + chunk)
            u = user_forward(user_w, {k_: v[sl] for k_, v in self.inputs.items()}, short_history)
            scores = (u @ title_emb.T) * np.float32(scale) + bias
            top.append(exact_top_k(scores, max(k, 10), self.exclude[sl])[0])
        rec = np.concatenate(top) if top else np.zeros((0, k), dtype=np.int64)
        return {
            f"recall@{k}": recall_at_k(rec, self.relevant, k),
            "ndcg@10": ndcg_at_k(rec, self.relevant, 10),
        }


def _group(rows: np.ndarray, items: np.ndarray, n: int) -> list[np.ndarray]:
    keep = (rows >= 0) & (items >= 0)
    rows, items = rows[keep], items[keep]
    order = np.argsort(rows, kind="stable")
    rows, items = rows[order], items[order]
    bounds = np.searchsorted(rows, np.arange(n + 1))
    return [items[bounds[i] : bounds[i + 1]] for i in range(n)]


def build_retriever(
    data: InteractionData,
    space: FeatureSpace,
    user_w: dict[str, np.ndarray],
    title_w: dict[str, np.ndarray],
    history_mask: np.ndarray,
    as_of,
    cfg: RetrievalConfig,
    titles: TitleInputs | None = None,
) -> TwoTowerRetriever:
    """Package exported weights with the per-user state as of ``as_of``."""
    if titles is None:
        titles = space.title_inputs(data, history_mask, as_of)
    rows = data.interactions[history_mask]
    cat_idx = space.catalogue_index(rows["title_id"].to_numpy())
    counts = np.bincount(cat_idx[cat_idx >= 0], minlength=len(space.catalogue)).astype(float)
    recent_pop = decayed_counts(
        cat_idx, rows["ts"].to_numpy(), as_of, len(space.catalogue), cfg.prior_half_life_days
    )
    cutoff = np.datetime64(as_of, "ns") - np.timedelta64(space.recent_days, "D")
    recent = (cat_idx >= 0) & (rows["ts"].to_numpy() >= cutoff)
    recent_max = np.bincount(cat_idx[recent], minlength=len(space.catalogue)).max(initial=0)
    user_ids, state = space.user_inputs(data, history_mask, as_of)
    seen = _group(
        pd.Index(user_ids).get_indexer(rows["user_id"].to_numpy()), cat_idx, len(user_ids)
    )
    indptr = np.concatenate([[0], np.cumsum([len(s) for s in seen])]).astype(np.int64)
    items = np.concatenate(seen).astype(np.int64) if seen else np.zeros(0, dtype=np.int64)
    return TwoTowerRetriever(
        space=space,
        user_weights=user_w,
        title_weights=title_w,
        title_embeddings=title_forward(title_w, titles),
        popularity=counts,
        state_user_ids=user_ids,
        state_inputs=state,
        seen_indptr=indptr,
        seen_items=items,
        short_history=cfg.short_history,
        recent_popularity=recent_pop,
        temperature=cfg.temperature,
        prior_weight=cfg.prior_weight,
        info={
            "as_of": str(pd.Timestamp(as_of)),
            "count_scale": [float(counts.max(initial=0.0)), float(recent_max)],
        },
    )


def fit_two_tower(
    data: InteractionData,
    train_mask: np.ndarray,
    as_of,
    config: RetrievalConfig | None = None,
    val_mask: np.ndarray | None = None,
    epochs: int | None = None,
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
) -> TwoTowerFit:
    """Train on the interactions of ``train_mask`` (all strictly before ``as_of``).

    With ``val_mask``: validation recall@val_k after each epoch, early stopping with
    ``patience``, best epoch's weights kept. ``epochs`` fixes the number of epochs (refit).
    """
    cfg = config or RetrievalConfig()
    started = time.perf_counter()
    make_deterministic(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    as_of = np.datetime64(pd.Timestamp(as_of).to_datetime64(), "ns")
    ts = data.timestamps
    if train_mask.any() and ts[train_mask].max() >= as_of:
        raise ValueError("training interactions must be strictly before as_of")

    space = FeatureSpace.build(data, train_mask, as_of, cfg.history_length, cfg.recent_days)
    ex_user, ex_item = space.training_examples(data, train_mask, as_of)
    keep = ex_item >= 0
    ex_user, ex_item = _take(ex_user, keep), ex_item[keep]
    n_ex = len(ex_item)
    if n_ex == 0:
        raise ValueError("no training interactions")
    ex_weight = np.ones(n_ex, dtype=np.float32)
    if cfg.example_half_life_days:
        age = (as_of - ts[train_mask][keep]) / np.timedelta64(1, "D")
        ex_weight = (0.5 ** (age / cfg.example_half_life_days)).astype(np.float32)
        ex_weight /= ex_weight.mean()
    titles = space.title_inputs(data, train_mask, as_of)
    n_cat = len(space.catalogue)
    batch = min(cfg.batch_size, n_ex)
    p_pos = np.bincount(ex_item, minlength=n_cat) / n_ex
    m = cfg.extra_negatives
    expected = batch * p_pos + (m / n_cat if m else 0.0)
    correction = (cfg.logq_weight * np.log(np.maximum(expected, 1e-12))).astype(np.float32)

    user_tower, title_tower = UserTower(space, cfg), TitleTower(space, cfg)
    user_tower(_take(ex_user, np.arange(2)))
    title_tower(_take(titles, np.arange(2)))
    variables = user_tower.trainable_variables + title_tower.trainable_variables
    optimizer = keras.optimizers.Adam(learning_rate=cfg.learning_rate)
    optimizer.build(variables)
    inv_t = np.float32(1.0 / cfg.temperature)

    def loss_fn(u_in, t_in, items, corr, weight, n_in, n_items, n_corr):
        u = user_tower(u_in, training=True)
        v = title_tower(t_in, training=True)
        logits = tf.matmul(u, v, transpose_b=True) * inv_t - corr[None, :]
        b = tf.shape(items)[0]
        dup = tf.logical_and(
            tf.equal(items[:, None], items[None, :]), tf.logical_not(tf.eye(b, dtype=tf.bool))
        )
        logits = tf.where(dup, _MASKED, logits)
        if n_in is not None:
            vn = title_tower(n_in, training=True)
            ln = tf.matmul(u, vn, transpose_b=True) * inv_t - n_corr[None, :]
            ln = tf.where(tf.equal(items[:, None], n_items[None, :]), _MASKED, ln)
            logits = tf.concat([logits, ln], axis=1)
        labels = tf.range(b)
        ce = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
        return tf.reduce_sum(ce * weight) / tf.reduce_sum(weight)

    u_spec, t_spec = _spec(ex_user), _spec(titles)
    vec = tf.TensorSpec([None], tf.int64), tf.TensorSpec([None], tf.float32)
    fvec = tf.TensorSpec([None], tf.float32)

    @tf.function(input_signature=[u_spec, t_spec, *vec, fvec])
    def step(u_in, t_in, items, corr, weight):
        with tf.GradientTape() as tape:
            loss = loss_fn(u_in, t_in, items, corr, weight, None, None, None)
        _apply(optimizer, tape.gradient(loss, variables), variables)
        return loss

    @tf.function(input_signature=[u_spec, t_spec, *vec, fvec, t_spec, *vec])
    def step_neg(u_in, t_in, items, corr, weight, n_in, n_items, n_corr):
        with tf.GradientTape() as tape:
            loss = loss_fn(u_in, t_in, items, corr, weight, n_in, n_items, n_corr)
        _apply(optimizer, tape.gradient(loss, variables), variables)
        return loss

    validation = None
    if val_mask is not None and val_mask.any() and epochs is None:
        validation = ValidationSet.build(data, space, train_mask, val_mask, as_of)
        train_rows = data.interactions[train_mask]
        val_bias = score_prior(
            decayed_counts(
                space.catalogue_index(train_rows["title_id"].to_numpy()),
                train_rows["ts"].to_numpy(),
                as_of,
                n_cat,
                cfg.prior_half_life_days,
            ),
            cfg.prior_weight,
        )
    max_epochs = epochs if epochs is not None else cfg.max_epochs
    curve: list[dict[str, Any]] = []
    best = (-1.0, 0, user_tower.export(), title_tower.export(), {})
    bad_epochs = 0
    epoch = 0
    for epoch in range(1, max_epochs + 1):
        t0 = time.perf_counter()
        perm = rng.permutation(n_ex)
        losses = []
        for start in range(0, n_ex, batch):
            rows = perm[start : start + batch]
            if len(rows) < 2:
                continue
            u_in = _take(ex_user, rows)
            if cfg.user_id_dropout > 0:
                u_in["id"] = np.where(rng.random(len(rows)) < cfg.user_id_dropout, 0, u_in["id"])
            items = ex_item[rows]
            t_in = _take(titles, items)
            if cfg.title_id_dropout > 0:
                t_in["id"] = np.where(rng.random(len(rows)) < cfg.title_id_dropout, 0, t_in["id"])
            if m:
                neg = rng.integers(0, n_cat, size=m)
                loss = step_neg(
                    u_in,
                    t_in,
                    items,
                    correction[items],
                    ex_weight[rows],
                    _take(titles, neg),
                    neg,
                    correction[neg],
                )
            else:
                loss = step(u_in, t_in, items, correction[items], ex_weight[rows])
            losses.append(float(loss))
        record: dict[str, Any] = {"epoch": epoch, "loss": float(np.mean(losses))}
        if validation is not None:
            uw, tw = user_tower.export(), title_tower.export()
            scores = validation.evaluate(
                uw,
                title_forward(tw, titles),
                cfg.short_history,
                cfg.val_k,
                1.0 / cfg.temperature,
                val_bias,
            )
            record.update({f"val_{k}": v for k, v in scores.items()})
            metric = scores[f"recall@{cfg.val_k}"]
            if metric > best[0]:
                best, bad_epochs = (metric, epoch, uw, tw, scores), 0
            else:
                bad_epochs += 1
        record["seconds"] = round(time.perf_counter() - t0, 3)
        curve.append(record)
        if on_epoch is not None:
            on_epoch(record)
        if validation is not None and bad_epochs >= cfg.patience:
            break
    if validation is None:
        best = (float("nan"), epoch, user_tower.export(), title_tower.export(), {})
    _, best_epoch, user_w, title_w, best_val = best
    if best_epoch != epoch:  # the Keras towers hold the best epoch's weights too
        user_tower.restore(user_w)
        title_tower.restore(title_w)
    retriever = build_retriever(data, space, user_w, title_w, train_mask, as_of, cfg, titles)
    return TwoTowerFit(
        retriever=retriever,
        user_tower=user_tower,
        title_tower=title_tower,
        learning_curve=curve,
        best_epoch=best_epoch,
        epochs_run=epoch,
        best_val=best_val,
        train_seconds=time.perf_counter() - started,
        config=cfg,
        as_of=str(pd.Timestamp(as_of)),
        n_examples=n_ex,
    )


def end_of_data(data: InteractionData) -> np.datetime64:
    """A cutoff just after the last interaction (for fits on all data)."""
    ts = data.timestamps
    last = ts.max() if len(ts) else np.datetime64("1970-01-01", "ns")
    return last + np.timedelta64(1, "s")


def train_two_tower(
    data: InteractionData,
    split: TimeSplit,
    config: RetrievalConfig | None = None,
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
) -> TwoTowerFit:
    """Fit with early stopping on the validation slice, then (``config.refit``) retrain from
    scratch on train + validation for the best number of epochs.

    The returned model's cutoff is ``split.test_start`` (or the end of the data when the split
    has no test slice): it may be scored on the test slice, or served.
    """
    cfg = config or RetrievalConfig()
    final_as_of = split.test_start if split.test_start is not None else end_of_data(data)
    if split.val_start is None or not split.val.any():
        fit = fit_two_tower(data, split.history, final_as_of, cfg, on_epoch=on_epoch)
        fit.stages = [{"stage": "fit", "epochs": fit.epochs_run, "seconds": fit.train_seconds}]
        return fit
    first = fit_two_tower(data, split.train, split.val_start, cfg, split.val, on_epoch=on_epoch)
    stages = [
        {
            "stage": "early_stopping",
            "as_of": first.as_of,
            "epochs": first.epochs_run,
            "best_epoch": first.best_epoch,
            "seconds": round(first.train_seconds, 3),
        }
    ]
    if not cfg.refit:
        if split.test_start is not None:
            # Same weights, state (history, popularity) moved forward to the test cutoff.
            first.retriever = build_retriever(
                data,
                first.retriever.space,
                first.retriever.user_weights,
                first.retriever.title_weights,
                split.history,
                final_as_of,
                cfg,
            )
        first.stages = stages
        return first
    second = fit_two_tower(data, split.history, final_as_of, cfg, epochs=max(first.best_epoch, 1))
    stages.append(
        {
            "stage": "refit",
            "as_of": second.as_of,
            "epochs": second.epochs_run,
            "seconds": round(second.train_seconds, 3),
        }
    )
    second.learning_curve = first.learning_curve + [
        {**r, "stage": "refit"} for r in second.learning_curve
    ]
    second.best_epoch, second.best_val = first.best_epoch, first.best_val
    second.train_seconds = first.train_seconds + second.train_seconds
    second.stages = stages
    second.early_stopping_retriever = first.retriever
    return second
