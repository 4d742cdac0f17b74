"""Ingestion assets: landing files → DuckDB ``raw.*`` (thin wrappers over marquee.ingestion)."""


import dagster as dg

from marquee.ingestion.accounting import unreconciled_files
from marquee.ingestion.ingest import IngestionResult, ingest_entity
from orchestration.resources import WarehouseResource

GROUP = "ingestion"


def _file_table(result: IngestionResult) -> str:
    if not result.files:
        return "_No new files._"
    lines = [
        "| file | read | accepted | quarantined | duplicates | file error |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for f in result.files[:50]:
        lines.append(
            f"| `{f.source_file}` | {f.rows_read:,} | {f.rows_accepted:,} | "
            f"{f.rows_quarantined:,} | {f.rows_duplicate:,} | {f.file_error or ''} |"
        )
    if len(result.files) > 50:
        lines.append(f"| … {len(result.files) - 50} more files | | | | | |")
    return "\n".join(lines)


def _ingest(context: dg.AssetExecutionContext, warehouse: WarehouseResource, entity: str) -> dg.MaterializeResult:
    with warehouse.connection() as con:
        result = ingest_entity(warehouse.marquee_home, entity, con)
        (table_rows,) = con.execute(f"SELECT count(*) FROM raw.{entity}").fetchone()
    context.log.info(
        f"{entity}: {len(result.files)} new files, {result.total('rows_accepted'):,} accepted, "
        f"{result.total('rows_quarantined'):,} quarantined, {result.total('rows_duplicate'):,} "
        f"duplicates; {len(result.skipped_known)} files already ingested"
    )
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": dg.MetadataValue.int(int(table_rows)),
            "new_files": len(result.files),
            "files_already_ingested": len(result.skipped_known),
            "rows_read": result.total("rows_read"),
            "rows_accepted": result.total("rows_accepted"),
            "rows_quarantined": result.total("rows_quarantined"),
            "rows_duplicate": result.total("rows_duplicate"),
            "files_rejected": sum(1 for f in result.files if f.file_error),
            "files": dg.MetadataValue.md(_file_table(result)),
        }
    )


def _raw_asset(entity: str, description: str) -> dg.AssetsDefinition:
    @dg.asset(
        name=f"raw_{entity}",
        group_name=GROUP,
        kinds={"duckdb", "python"},
        owners=["team:data-platform"],
        description=description,
        tags={"layer": "raw"},
    )
    def _asset(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
        return _ingest(context, warehouse, entity)

    return _asset


raw_titles = _raw_asset(
    "titles",
    "Title catalogue files from `landing/titles/` appended to `raw.titles` (new files only, by "
    "content hash). Invalid rows go to `raw.quarantine` with a reason.",
)
raw_users = _raw_asset(
    "users",
    "User files from `landing/users/` appended to `raw.users` (new files only, by content hash). "
    "Invalid rows go to `raw.quarantine` with a reason.",
)
raw_events = _raw_asset(
    "events",
    "Viewing events from `landing/events/` appended to `raw.events`: new files only (by content "
    "hash), duplicates by `event_id` kept once, invalid rows quarantined with a reason.",
)


@dg.asset(
    group_name=GROUP,
    deps=[raw_titles, raw_users, raw_events],
    kinds={"duckdb"},
    owners=["team:data-platform"],
    description=(
        "`raw.ingestion_log` and `raw.quarantine`: per-file accounting (rows read = accepted + "
        "quarantined + duplicates) and every rejected row with its source, line and reason."
    ),
    tags={"layer": "raw"},
)
def raw_ingestion_log(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    with warehouse.connection() as con:
        files, read, accepted, quarantined, duplicates = con.execute(
            "SELECT count(*), coalesce(sum(rows_read), 0), coalesce(sum(rows_accepted), 0), "
            "coalesce(sum(rows_quarantined), 0), coalesce(sum(rows_duplicate), 0) FROM raw.ingestion_log"
        ).fetchone()
        reasons = con.execute(
            "SELECT entity, reason, count(*) AS n FROM raw.quarantine GROUP BY ALL ORDER BY n DESC LIMIT 15"
        ).fetchall()
        broken = unreconciled_files(con)
    table = ["| entity | reason | rows |", "|---|---|---:|"] + [
        f"| {e} | {r[:120]} | {n:,} |" for e, r, n in reasons
    ]
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": dg.MetadataValue.int(int(files)),
            "files_ingested": int(files),
            "rows_read": int(read),
            "rows_accepted": int(accepted),
            "rows_quarantined": int(quarantined),
            "rows_duplicate": int(duplicates),
            "unreconciled_files": len(broken),
            "quarantine_reasons": dg.MetadataValue.md("\n".join(table) if reasons else "_Nothing quarantined._"),
        }
    )


@dg.asset_check(asset=raw_ingestion_log, blocking=True, description="Every file's accounting reconciles with the rows stored.")
def ingestion_accounting_reconciles(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    with warehouse.connection() as con:
        broken = unreconciled_files(con)
    return dg.AssetCheckResult(
        passed=not broken,
        metadata={
            "unreconciled_files": len(broken),
            "examples": dg.MetadataValue.json([{k: str(v) for k, v in row.items()} for row in broken[:5]]),
        },
    )


ASSETS = [raw_titles, raw_users, raw_events, raw_ingestion_log]
CHECKS = [ingestion_accounting_reconciles]
