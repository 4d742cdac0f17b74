"""Hyper-parameters of the two-tower retrieval model (recorded with every version).

Defaults were chosen on the *validation* slice (the 10% of interactions before the test
cutoff) of ml-100k and of the synthetic demo data, never on the test slice; see
`models.retrieval.evaluate.tune`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any


@dataclass(frozen=True)
class RetrievalConfig:
    # towers
    embedding_dim: int = 64  # output of both towers (L2-normalised)
    id_dim: int = 32  # user-id / title-id embeddings
    history_dim: int = 32  # embeddings of the titles in the user's history
    feature_dim: int = 8  # each categorical feature (user fields, year, kind, popularity)
    genre_dim: int = 16  # projection of the multi-hot genres
    hidden_dim: int = 128  # one ReLU layer per tower
    history_length: int = 30  # last N titles pooled (mean) ...
    short_history: int = 3  # ... plus the mean of the last few (recency)
    recent_days: int = 7  # window of the "recent popularity" title feature
    # loss
    temperature: float = 0.2
    logq_weight: float = 1.0  # 0 = no sampling-popularity correction, 1 = full logQ
    extra_negatives: int = 0  # uniformly sampled catalogue titles added to each batch
    # serving score = cosine / temperature + prior_weight * log(recent popularity share):
    # the logQ-corrected model scores "more than its popularity"; the prior adds back the
    # popularity as of the cutoff, decayed with this half-life (0 weight = pure model score)
    prior_weight: float = 1.0
    prior_half_life_days: float = 7.0
    # training
    batch_size: int = 512
    learning_rate: float = 3e-3
    max_epochs: int = 30
    patience: int = 2
    val_k: int = 100  # early stopping on validation recall@val_k
    user_id_dropout: float = 0.1  # share of examples trained with the OOV user id (cold start)
    title_id_dropout: float = 0.1  # share trained with the OOV title id (new titles)
    example_half_life_days: float | None = None  # weight examples 0.5 ** (age / half-life)
    refit: bool = True  # after early stopping, retrain on train + validation for best_epoch
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any] | None) -> RetrievalConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in (values or {}).items() if k in known})

    def replace(self, **changes: Any) -> RetrievalConfig:
        return replace(self, **changes)
