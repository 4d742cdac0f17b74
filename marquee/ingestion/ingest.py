"""Landing zone → ``raw.*``: new files only, per-row quarantine, accounting that reconciles.

New files are read one by one into a staging table (so a broken file is quarantined whole
without touching the others), then validated, deduplicated and written in one vectorised pass
per chunk of files. Each chunk commits in a single transaction: accepted rows, quarantined
rows, duplicates and the ``raw.ingestion_log`` lines land together or not at all, so a crash
never leaves a half-ingested file and a content hash is only recorded once its data is in.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from marquee.config import ENTITIES, MarqueeHome
from marquee.contracts import CONTRACTS, EntityContract
from marquee.ingestion.readers import (
    READERS,
    FileUnreadable,
    Rejected,
    file_format,
    jsonl_rows_sql,
    load_jsonl_lines,
)
from marquee.ingestion.schema import RAW_DDL
from marquee.ingestion.validation import validated_select

# Files are committed in chunks of at most this many bytes on disk (compressed size).
CHUNK_BYTES = 256 * 1024 * 1024


@dataclass
class FileOutcome:
    entity: str
    source_file: str
    batch_id: int
    rows_read: int
    rows_accepted: int
    rows_quarantined: int
    rows_duplicate: int
    file_error: str | None


@dataclass
class IngestionResult:
    entity: str
    files: list[FileOutcome] = field(default_factory=list)
    skipped_known: list[str] = field(default_factory=list)

    def total(self, attr: str) -> int:
        return sum(getattr(f, attr) for f in self.files)


@dataclass
class _Pending:
    path: Path
    source: str
    digest: str
    fmt: str | None
    size: int
    error: str | None = None
    rejected: list[Rejected] = field(default_factory=list)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()


def ensure_raw_schema(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(RAW_DDL)


def connect(home: MarqueeHome, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open the warehouse (UTC session). Close it before dbt runs: DuckDB has one writer."""
    home.root.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(home.warehouse), read_only=read_only)
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_progress_bar = false")
    if not read_only:
        ensure_raw_schema(con)
    return con


def landing_files(home: MarqueeHome, entity: str) -> list[Path]:
    """Every file under landing/<entity>/ (recursively), in a stable order; hidden files are
    in-flight writes and are left alone."""
    folder = home.landing_dir(entity)
    if not folder.exists():
        return []
    return sorted(
        p
        for p in folder.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )


def _known_hashes(con: duckdb.DuckDBPyConnection, entity: str) -> set[str]:
    rows = con.execute(
        "SELECT content_hash FROM raw.ingestion_log WHERE entity = ?", [entity]
    ).fetchall()
    return {h for (h,) in rows}


def ingest_entity(
    home: MarqueeHome, entity: str, con: duckdb.DuckDBPyConnection | None = None
) -> IngestionResult:
    """Ingest every landing file of ``entity`` whose content has not been ingested before."""
    if entity not in ENTITIES:
        raise ValueError(f"unknown entity {entity!r}")
    own = con is None
    con = con or connect(home)
    try:
        ensure_raw_schema(con)
        result = IngestionResult(entity)
        known = _known_hashes(con, entity)
        pending: list[_Pending] = []
        for path in landing_files(home, entity):
            digest = sha256_file(path)
            if digest in known:
                result.skipped_known.append(str(path))
                continue
            known.add(digest)  # the same content twice in one run is ingested once
            source = str(path.relative_to(home.landing))
            pending.append(_Pending(path, source, digest, file_format(path), path.stat().st_size))
        for chunk in _chunks(pending):
            result.files.extend(_ingest_chunk(con, home, CONTRACTS[entity], chunk))
        return result
    finally:
        if own:
            con.close()


def _chunks(pending: list[_Pending]) -> Iterator[list[_Pending]]:
    chunk: list[_Pending] = []
    size = 0
    for item in pending:
        if chunk and size + item.size > CHUNK_BYTES:
            yield chunk
            chunk, size = [], 0
        chunk.append(item)
        size += item.size
    if chunk:
        yield chunk


def _stage(
    con: duckdb.DuckDBPyConnection, home: MarqueeHome, contract: EntityContract, files: list[_Pending]
) -> None:
    """Read and validate every file of the chunk into ``_staged``; record whole-file failures.

    Parsing happens here, outside the transaction: a reader error must not abort it. Only
    typed values are kept, plus the raw text of rows that will be quarantined. JSON Lines
    files are read line by line per file, then parsed and validated together in one
    statement (a single small file would keep DuckDB on one core).
    """
    typed = ", ".join(f'"{n}"' for n in contract.names)
    keep = f"line_number, CASE WHEN len(reasons) > 0 THEN raw_text END, reasons, {typed}"
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _staged AS SELECT 0 AS file_idx, 0::BIGINT AS line_number, "
        f"NULL::VARCHAR AS raw_text, []::VARCHAR[] AS reasons, {typed} FROM raw.{contract.entity} LIMIT 0"
    )
    jsonl_parts: list[str] = []
    with tempfile.TemporaryDirectory(dir=home.root, prefix=".ingest-") as scratch:
        for idx, item in enumerate(files):
            if item.fmt is None:
                item.error = (
                    f"unsupported file type {item.path.name!r}: "
                    "expected .jsonl[.gz], .csv[.gz] or .parquet"
                )
                continue
            if item.size == 0:
                item.error = "empty file"
                continue
            try:
                if item.fmt == "jsonl":
                    rejected, numbered = load_jsonl_lines(con, item.path, Path(scratch), f"_lines_{idx}")
                    jsonl_parts.append(f"SELECT {idx} AS file_idx, line_number, raw_text FROM ({numbered})")
                else:
                    read = READERS[item.fmt](con, item.path, contract, Path(scratch))
                    rejected = read.rejected
                    con.execute(
                        f"INSERT INTO _staged SELECT {idx}, {keep} "
                        f"FROM ({validated_select(contract, '(' + read.sql + ')')})"
                    )
            except FileUnreadable as exc:
                item.error = str(exc)
                continue
            except duckdb.Error as exc:
                item.error = f"cannot read file: {str(exc).strip().splitlines()[0]}"
                continue
            item.rejected = rejected
    if jsonl_parts:
        con.execute("CREATE OR REPLACE TEMP TABLE _jsonl AS " + "\nUNION ALL\n".join(jsonl_parts))
        for idx in range(len(files)):
            con.execute(f"DROP TABLE IF EXISTS _lines_{idx}")
        rows = "(" + jsonl_rows_sql(contract, "_jsonl") + ")"
        con.execute(f"INSERT INTO _staged SELECT file_idx, {keep} FROM ({validated_select(contract, rows)})")
        con.execute("DROP TABLE _jsonl")


def _ingest_chunk(
    con: duckdb.DuckDBPyConnection, home: MarqueeHome, contract: EntityContract, files: list[_Pending]
) -> list[FileOutcome]:
    started = datetime.now(UTC)
    entity, key = contract.entity, contract.key
    _stage(con, home, contract, files)
    # First occurrence of a key wins (file order, then line); for events a key already in raw
    # is a duplicate too, while titles and users may be re-sent later as updates. Both lookups
    # are small hash aggregates/joins; the classification itself is a view over the stage.
    ordinal = "(file_idx::BIGINT * 10000000000 + line_number)"
    con.execute(
        f'CREATE OR REPLACE TEMP TABLE _repeated AS SELECT "{key}" AS k, min({ordinal}) AS first '
        f'FROM _staged WHERE len(reasons) = 0 GROUP BY "{key}" HAVING count(*) > 1'
    )
    if entity == "events":
        con.execute(
            f'CREATE OR REPLACE TEMP TABLE _prior AS SELECT DISTINCT s."{key}" AS k FROM _staged s '
            f'SEMI JOIN raw.{entity} r ON s."{key}" = r."{key}" WHERE len(s.reasons) = 0'
        )
    else:
        con.execute("CREATE OR REPLACE TEMP TABLE _prior AS SELECT NULL::VARCHAR AS k LIMIT 0")
    con.execute(
        f"""
        CREATE OR REPLACE TEMP VIEW _classified AS
        SELECT s.*,
               CASE WHEN len(s.reasons) > 0 THEN 'quarantine'
                    WHEN p.k IS NOT NULL THEN 'duplicate'
                    WHEN r.k IS NOT NULL AND r.first <> {ordinal} THEN 'duplicate'
                    ELSE 'accept' END AS outcome
        FROM _staged s
        LEFT JOIN _repeated r ON s."{key}" = r.k
        LEFT JOIN _prior p ON s."{key}" = p.k
        """
    )
    con.execute("BEGIN TRANSACTION")
    try:
        first_batch = int(
            con.execute("SELECT coalesce(max(batch_id), 0) + 1 FROM raw.ingestion_log").fetchone()[0]
        )
        con.execute("CREATE OR REPLACE TEMP TABLE _files (file_idx INT, source_file VARCHAR, batch_id BIGINT)")
        con.executemany(
            "INSERT INTO _files VALUES (?, ?, ?)",
            [[i, f.source, first_batch + i] for i, f in enumerate(files)],
        )
        columns = ", ".join(f'c."{n}"' for n in contract.names)
        con.execute(
            f"INSERT INTO raw.{entity} SELECT {columns}, f.source_file, c.line_number, f.batch_id, ? "
            "FROM _classified c JOIN _files f USING (file_idx) WHERE outcome = 'accept'",
            [started],
        )
        con.execute(
            "INSERT INTO raw.quarantine SELECT ?, f.source_file, c.line_number, c.raw_text, "
            "array_to_string(c.reasons, '; '), f.batch_id, ? "
            "FROM _classified c JOIN _files f USING (file_idx) WHERE outcome = 'quarantine'",
            [entity, started],
        )
        con.execute(
            f'INSERT INTO raw.duplicates SELECT ?, c."{key}", f.source_file, c.line_number, f.batch_id '
            "FROM _classified c JOIN _files f USING (file_idx) WHERE outcome = 'duplicate'",
            [entity],
        )
        extra_rows = [
            [entity, f.source, r.line_number, r.raw_text, r.reason, first_batch + i, started]
            for i, f in enumerate(files)
            for r in f.rejected
        ] + [
            [entity, f.source, None, None, f"file rejected: {f.error}", first_batch + i, started]
            for i, f in enumerate(files)
            if f.error is not None
        ]
        if extra_rows:
            con.executemany("INSERT INTO raw.quarantine VALUES (?, ?, ?, ?, ?, ?, ?)", extra_rows)
        counts = {
            idx: (read, acc, quar, dup)
            for idx, read, acc, quar, dup in con.execute(
                "SELECT file_idx, count(*), count(*) FILTER (outcome = 'accept'), "
                "count(*) FILTER (outcome = 'quarantine'), count(*) FILTER (outcome = 'duplicate') "
                "FROM _classified GROUP BY file_idx"
            ).fetchall()
        }
        outcomes = []
        finished = datetime.now(UTC)
        for i, f in enumerate(files):
            read, acc, quar, dup = counts.get(i, (0, 0, 0, 0))
            read += len(f.rejected)
            quar += len(f.rejected)
            outcomes.append(FileOutcome(entity, f.source, first_batch + i, read, acc, quar, dup, f.error))
        con.executemany(
            "INSERT INTO raw.ingestion_log VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                [o.batch_id, entity, f.source, f.digest, f.fmt, f.size, o.rows_read, o.rows_accepted,
                 o.rows_quarantined, o.rows_duplicate, o.file_error, started, finished]
                for o, f in zip(outcomes, files, strict=True)
            ],
        )
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    finally:
        con.execute("DROP VIEW IF EXISTS _classified")
        for table in ("_staged", "_repeated", "_prior", "_files", "_lines", "_rows"):
            con.execute(f"DROP TABLE IF EXISTS {table}")
    return outcomes
