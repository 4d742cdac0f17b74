"""Marquee's models as plain Python (no Dagster): metrics, time splits, baselines, retrieval.

- `models.metrics`: recall / precision / NDCG / MAP @K, catalogue coverage, novelty.
- `models.splits`: global time-cutoff hold-out (`time_split`).
- `models.baselines`: popularity and item-item co-occurrence recommenders.
- `models.retrieval`: the two-tower retrieval stage (Keras for training, numpy for serving).

Importing this package does not import TensorFlow; only `models.retrieval.model` (training)
does.
"""
