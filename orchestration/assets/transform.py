"""Transform assets: the dbt project (staging → intermediate → marts), tests as asset checks."""


import json
from collections.abc import Mapping
from typing import Any

import dagster as dg
from dagster_dbt import (
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtCliResource,
    DbtProject,
    dbt_assets,
)

from orchestration.partitions import daily_partitions, window_vars

GROUP = "transform"


class MarqueeDbtTranslator(DagsterDbtTranslator):
    """dbt models land in the `transform` group with a layer tag and the dbt/duckdb kinds."""

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        if dbt_resource_props.get("resource_type") == "source":
            return None
        return GROUP

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props.get("resource_type") == "source":
            return super().get_asset_key(dbt_resource_props)
        return dg.AssetKey(dbt_resource_props["name"])

    def get_tags(self, dbt_resource_props: Mapping[str, Any]) -> Mapping[str, str]:
        tags = dict(super().get_tags(dbt_resource_props))
        fqn = dbt_resource_props.get("fqn") or []
        if len(fqn) > 2:
            tags["layer"] = fqn[1]
        return tags

    def get_owners(self, dbt_resource_props: Mapping[str, Any]) -> list[str]:
        return ["team:data-platform"]


DAILY_SELECTION = "tag:daily"
# Dagster runs the unpartitioned models in two steps around the daily ones (its subsets of
# `marquee_dbt`). dbt's default (eager) indirect selection would run a test as soon as any
# of its parents is selected, e.g. a relationships test of fct_title_daily_features in the
# step that builds dim_titles, before the fact table is rebuilt. "buildable" runs a test in
# the step where its last parent is built.
BUILD = ["build", "--indirect-selection", "buildable"]


def build_dbt_assets(project: DbtProject) -> list[dg.AssetsDefinition]:
    """Two definitions over one manifest: the daily-activity models, partitioned by UTC day
    (orchestration/partitions.py), and every other model, unpartitioned."""
    translator = MarqueeDbtTranslator(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True))

    @dbt_assets(
        manifest=project.manifest_path,
        project=project,
        dagster_dbt_translator=translator,
        name="marquee_dbt",
        exclude=DAILY_SELECTION,
    )
    def marquee_dbt(context: dg.AssetExecutionContext, dbt: DbtCliResource):
        yield from dbt.cli(BUILD, context=context).stream()

    @dbt_assets(
        manifest=project.manifest_path,
        project=project,
        dagster_dbt_translator=translator,
        name="marquee_dbt_daily",
        select=DAILY_SELECTION,
        partitions_def=daily_partitions(),
        backfill_policy=dg.BackfillPolicy.single_run(),
    )
    def marquee_dbt_daily(context: dg.AssetExecutionContext, dbt: DbtCliResource):
        args = list(BUILD)
        window = window_vars(context)
        if window is not None:
            context.log.info(f"rebuilding the days {window['min_date']} <= day < {window['max_date']}")
            args += ["--vars", json.dumps(window)]
        yield from dbt.cli(args, context=context).stream()

    return [marquee_dbt, marquee_dbt_daily]
