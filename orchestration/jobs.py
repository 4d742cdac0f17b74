"""Jobs named for what they do."""

from __future__ import annotations

import dagster as dg


def build_jobs() -> list:
    ingest_job = dg.define_asset_job(
        "ingest_job",
        selection=dg.AssetSelection.groups("ingestion"),
        description="Ingest new landing files into raw.* (quarantine and accounting included).",
    )
    transform_job = dg.define_asset_job(
        "transform_job",
        selection=dg.AssetSelection.groups("ingestion", "transform"),
        description="Ingest, then rebuild and test the dbt marts.",
    )
    refresh_features_job = dg.define_asset_job(
        "refresh_features_job",
        selection=dg.AssetSelection.groups("features"),
        description="Re-export the marts and materialize new feature rows into the online store.",
    )
    retrain_job = dg.define_asset_job(
        "retrain_job",
        # Groups, not keys: an empty group (e.g. before serving assets exist) selects nothing
        # instead of failing to load.
        selection=dg.AssetSelection.groups("training", "evaluation", "serving"),
        description=(
            "Retrain the retrieval and ranking models, evaluate the candidate, promote it if it "
            "passes the gate, and refresh the batch recommendations."
        ),
    )
    return [ingest_job, transform_job, refresh_features_job, retrain_job]
