"""Landing-file readers: any supported format → one uniform DuckDB relation.

DuckDB's own readers do the parsing (no per-row Python on the happy path). Every reader
returns a SELECT over the file yielding ``line_number``, ``raw_text``, ``parse_error``
and, per contract field, ``<field>__t`` (text) and ``<field>__j`` (type tag), and returns the
rows its reader rejected outright (bad encoding, wrong column count) as :class:`Rejected`.
A file that cannot be read at all raises :class:`FileUnreadable` with the reason.
"""

from __future__ import annotations

import csv
import gzip
import io
import zlib
from dataclasses import dataclass
from pathlib import Path

import duckdb

from marquee.contracts import EntityContract

# A byte no valid JSON line contains unescaped: lets DuckDB's CSV reader split JSON Lines
# into whole lines, in parallel, with per-line reject handling.
_LINE_DELIM = "chr(1)"


class FileUnreadable(Exception):
    """The whole file cannot be parsed; it is quarantined whole with this reason."""


@dataclass(frozen=True)
class Rejected:
    line_number: int | None
    raw_text: str | None
    reason: str


@dataclass(frozen=True)
class ReadResult:
    """Rows the reader itself rejected, and a SELECT yielding the uniform landing rows."""

    rejected: list[Rejected]
    sql: str


def file_format(path: Path) -> str | None:
    name = path.name.lower()
    for suffix, fmt in (
        (".jsonl.gz", "jsonl"),
        (".json.gz", "jsonl"),
        (".jsonl", "jsonl"),
        (".json", "jsonl"),
        (".csv.gz", "csv"),
        (".csv", "csv"),
        (".parquet", "parquet"),
    ):
        if name.endswith(suffix):
            return fmt
    return None


def _sql_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _reject_reason(error_type: str, message: str) -> str:
    if error_type == "INVALID ENCODING":
        return "invalid UTF-8 bytes"
    if error_type in ("TOO MANY COLUMNS", "MISSING COLUMNS"):
        return f"malformed row: {message}"
    if error_type == "LINE SIZE OVER MAXIMUM":
        return "line too long"
    return f"unreadable row ({error_type.lower()}): {message}"


def _collect_rejects(con: duckdb.DuckDBPyConnection) -> list[Rejected]:
    # One reason per line: DuckDB may log several errors for the same broken line.
    rows = con.execute(
        "SELECT line, arg_min(csv_line, column_idx), arg_min(error_type, column_idx), "
        "arg_min(error_message, column_idx) FROM reject_errors GROUP BY line ORDER BY line"
    ).fetchall()
    return [Rejected(int(line), text, _reject_reason(et, msg)) for line, text, et, msg in rows]


def _line_numbers_sql(source: str, rejected: list[Rejected], header_lines: int) -> str:
    """Map the reader's k-th surviving row back to its line in the file.

    DuckDB keeps insertion order, so surviving rows are the file's lines minus rejected ones.
    With rejected lines r_1 < r_2 < ..., surviving row k sits on line k + #{j : r_j - j < k}.
    """
    lines = sorted({r.line_number - header_lines for r in rejected if r.line_number})
    gaps = [r - j for j, r in enumerate(lines, start=1)]
    # The staging table keeps insertion order, so rowid is the surviving row's index: no window.
    base = f"(SELECT *, rowid + 1 AS _k FROM {source})"
    if not gaps:
        return f"SELECT * EXCLUDE (_k), _k + {header_lines} AS line_number FROM {base}"
    values = ", ".join(f"({g}, {j})" for j, g in enumerate(gaps, start=1))
    return (
        f"SELECT s.* EXCLUDE (_k), s._k + coalesce(g.j, 0) + {header_lines} AS line_number "
        f"FROM {base} s ASOF LEFT JOIN (SELECT gap, max(j) AS j FROM (VALUES {values}) v(gap, j) "
        f"GROUP BY gap) g ON s._k > g.gap"
    )


def _recover_truncated_gzip(path: Path, scratch: Path) -> tuple[Path, str | None]:
    """Decompress what can be read of a damaged .gz; returns (plain file, trailing partial line)."""
    out = scratch / (path.name.removesuffix(".gz") + ".recovered")
    decomp = zlib.decompressobj(16 + zlib.MAX_WBITS)
    recovered = bytearray()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            try:
                recovered += decomp.decompress(chunk)
            except zlib.error:
                break
    cut = recovered.rfind(b"\n") + 1
    partial = bytes(recovered[cut:]).decode("utf-8", "replace") or None
    out.write_bytes(bytes(recovered[:cut]))
    return out, partial


def load_jsonl_lines(
    con: duckdb.DuckDBPyConnection, path: Path, scratch: Path, table: str
) -> tuple[list[Rejected], str]:
    """Read a JSON Lines file into ``table`` as whole lines.

    Returns the lines DuckDB rejected (bad encoding, a damaged gzip tail) and a SELECT of
    ``line_number, raw_text`` over the table. Parsing is left to :func:`jsonl_rows_sql`, which
    runs over many files at once so DuckDB can use every core.
    """
    extra: list[Rejected] = []
    try:
        _load_lines(con, path, table)
    except duckdb.Error as exc:
        if not (path.name.lower().endswith(".gz") and "gzip" in str(exc).lower()):
            raise FileUnreadable(f"cannot read as JSON Lines: {_first_line(exc)}") from exc
        # A damaged gzip stream: keep every complete line before the damage.
        recovered, partial = _recover_truncated_gzip(path, scratch)
        extra.append(
            Rejected(
                _count_lines(recovered) + 1,
                partial,
                "truncated gzip stream: data after this line could not be decompressed",
            )
        )
        try:
            _load_lines(con, recovered, table)
        finally:
            recovered.unlink(missing_ok=True)
    rejected = _collect_rejects(con) + extra
    return rejected, _line_numbers_sql(table, rejected, header_lines=0)


def jsonl_rows_sql(contract: EntityContract, source: str) -> str:
    """Uniform landing rows from ``source`` (``file_idx, line_number, raw_text``).

    One JSON pass per line extracts every field's raw JSON value; a value's type is read off
    its first character and strings are unquoted without a second parse.
    """
    paths = "[" + ", ".join(_sql_str("$." + f.name) for f in contract.fields) + "]"
    fields = []
    for i, f in enumerate(contract.fields, 1):
        v = f"f{i}"
        fields.append(
            f"CASE WHEN {v} ^@ '\"' THEN CASE WHEN contains({v}, '\\') "
            f"THEN json_extract_string({v}, '$') ELSE {v}[2:-2] END "
            f"WHEN {v} <> 'null' THEN {v} END AS {f.name}__t, "
            f"CASE WHEN {v} ^@ '\"' THEN 'VARCHAR' WHEN {v} ^@ '[' THEN 'ARRAY' "
            f"WHEN {v} ^@ '{{' THEN 'OBJECT' WHEN {v} IN ('true', 'false') THEN 'BOOLEAN' "
            f"WHEN {v} = 'null' THEN 'NULL' WHEN {v} IS NOT NULL THEN 'NUMBER' END AS {f.name}__j"
        )
    unpacked = ", ".join(f"v[{i}]::VARCHAR AS f{i}" for i in range(1, len(contract.fields) + 1))
    return f"""
        WITH parsed AS (
            SELECT file_idx, line_number, raw_text,
                   CASE WHEN ltrim(raw_text) ^@ '{{' THEN try(json_extract(raw_text, {paths})) END AS v
            FROM {source}
            WHERE nullif(trim(raw_text), '') IS NOT NULL
        ),
        extracted AS MATERIALIZED (
            SELECT file_idx, line_number, raw_text,
                   CASE WHEN v IS NOT NULL THEN NULL
                        WHEN json_valid(raw_text) THEN 'not a JSON object'
                        ELSE 'invalid JSON' END AS parse_error,
                   {unpacked}
            FROM parsed
        )
        SELECT file_idx, line_number, raw_text, parse_error, {", ".join(fields)}
        FROM extracted
        """


def _csv_header(path: Path) -> list[str]:
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    try:
        with opener(path, "rb") as fh:
            first = fh.readline()
    except (OSError, EOFError, zlib.error) as exc:
        raise FileUnreadable(f"cannot read CSV header: {exc}") from exc
    if not first.strip():
        raise FileUnreadable("empty file")
    try:
        text = first.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FileUnreadable("CSV header is not valid UTF-8") from exc
    return [h.strip() for h in next(csv.reader(io.StringIO(text)))]


def read_csv(
    con: duckdb.DuckDBPyConnection, path: Path, contract: EntityContract, scratch: Path
) -> ReadResult:
    header = _csv_header(path)
    if len(set(header)) != len(header):
        raise FileUnreadable(f"duplicate CSV columns in header: {header}")
    missing = [name for name in contract.required if name not in header]
    if missing:
        raise FileUnreadable(f"CSV is missing required columns: {', '.join(missing)}")
    columns = "{" + ", ".join(f"{_sql_str(h)}: 'VARCHAR'" for h in header) + "}"
    rows = (
        f"read_csv({_sql_str(str(path))}, columns={columns}, header=true, delim=',', quote='\"', "
        "escape='\"', auto_detect=false, store_rejects=true, compression='auto')"
    )
    _clear_rejects(con)
    try:
        con.execute(f"CREATE OR REPLACE TEMP TABLE _rows AS SELECT * FROM {rows}")
    except duckdb.Error as exc:
        raise FileUnreadable(f"cannot read as CSV: {_first_line(exc)}") from exc
    rejected = _collect_rejects(con)
    numbered = _line_numbers_sql("_rows", rejected, header_lines=1)
    present = [f for f in contract.fields if f.name in header]
    fields = []
    for f in contract.fields:
        if f in present:
            col = f'"{f.name}"'
            fields.append(
                f"{col} AS {f.name}__t, CASE WHEN {col} IS NOT NULL THEN 'TEXT' END AS {f.name}__j"
            )
        else:
            fields.append(f"NULL::VARCHAR AS {f.name}__t, NULL::VARCHAR AS {f.name}__j")
    raw = "concat_ws(',', " + ", ".join(f'coalesce("{h}", \'\')' for h in header) + ")"
    sql = (
        f"SELECT line_number, {raw} AS raw_text, NULL::VARCHAR AS parse_error, "
        f"{', '.join(fields)} FROM ({numbered})"
    )
    return ReadResult(rejected, sql)


def read_parquet(
    con: duckdb.DuckDBPyConnection, path: Path, contract: EntityContract, scratch: Path
) -> ReadResult:
    src = f"read_parquet({_sql_str(str(path))}, file_row_number=true)"
    try:
        schema = dict(con.execute(f"SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM {src})").fetchall())
    except duckdb.Error as exc:
        raise FileUnreadable(f"cannot read as Parquet: {_first_line(exc)}") from exc
    missing = [name for name in contract.required if name not in schema]
    if missing:
        raise FileUnreadable(f"Parquet file is missing required columns: {', '.join(missing)}")
    fields = []
    for f in contract.fields:
        col = f'"{f.name}"'
        ctype = schema.get(f.name)
        if ctype is None:
            fields.append(f"NULL::VARCHAR AS {f.name}__t, NULL::VARCHAR AS {f.name}__j")
            continue
        if ctype.endswith("[]"):
            text, tag = f"to_json({col})::VARCHAR", "'ARRAY'"
        elif ctype == "TIMESTAMP WITH TIME ZONE":
            text, tag = f"strftime({col} AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%S.%fZ')", "'TEXT'"
        else:
            text, tag = f"{col}::VARCHAR", "'TEXT'"
        fields.append(f"{text} AS {f.name}__t, CASE WHEN {col} IS NOT NULL THEN {tag} END AS {f.name}__j")
    keep = [f'"{c}"' for c in schema if c in contract.names]
    raw = "to_json(struct_pack(" + ", ".join(f"{c} := {c}" for c in keep) + "))::VARCHAR"
    sql = (
        f"SELECT file_row_number + 1 AS line_number, {raw} AS raw_text, "
        f"NULL::VARCHAR AS parse_error, {', '.join(fields)} FROM {src}"
    )
    return ReadResult([], sql)


# Per-file readers; JSON Lines go through load_jsonl_lines + jsonl_rows_sql in batches.
READERS = {"csv": read_csv, "parquet": read_parquet}


def _clear_rejects(con: duckdb.DuckDBPyConnection) -> None:
    """DuckDB appends every scan's rejects to the same temp tables: start each file clean."""
    con.execute("DROP TABLE IF EXISTS reject_errors")
    con.execute("DROP TABLE IF EXISTS reject_scans")


def _load_lines(con: duckdb.DuckDBPyConnection, path: Path, table: str) -> None:
    _clear_rejects(con)
    compression = "gzip" if path.name.lower().endswith(".gz") else "none"
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT raw_text FROM "
        f"read_csv({_sql_str(str(path))}, columns={{'raw_text': 'VARCHAR'}}, "
        f"delim={_LINE_DELIM}, quote='', escape='', header=false, auto_detect=false, "
        f"store_rejects=true, compression='{compression}')"
    )


def _count_lines(path: Path) -> int:
    with path.open("rb") as fh:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 22), b""))


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
