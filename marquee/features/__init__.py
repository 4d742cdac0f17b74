"""Feast feature store helpers (plain Python; the Dagster assets are thin wrappers).

- ``config``: ``feature_store.yaml`` per environment and ``feature_store(home)``.
- ``repo``: load ``feature_repo/`` for a home and apply it to the registry.
- ``exports``: marts -> Parquet sources under ``$MARQUEE_HOME/feast/offline/``.
- ``materialize``: explicit first window from the data's own timestamps, then incremental.
- ``training``: point-in-time correct feature joins that keep every entity row, in order.
- ``online``: online reads for ranking and validated pushes of live user activity.
"""
