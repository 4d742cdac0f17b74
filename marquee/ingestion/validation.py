"""Contract validation as one vectorised SQL pass (SPEC §3).

Readers turn any landing format into a relation with, per contract field, its text
(``<field>__t``) and a type tag (``<field>__j``: DuckDB's JSON type for JSON Lines, ``'TEXT'``
for CSV and Parquet where every value arrives as text). This module writes the SQL that checks
each row and produces, for every row, either typed values or the reasons it was rejected.
"""

from __future__ import annotations

from marquee.contracts import (
    EVENT_TYPES,
    FUTURE_TOLERANCE_SECONDS,
    ISO_COUNTRIES,
    MAX_RATING,
    MAX_WATCH_SECONDS,
    MIN_RATING,
    RFC3339_PATTERN,
    TITLE_KINDS,
    EntityContract,
    Field,
)

_NUMERIC_JSON = "('NUMBER', 'TEXT')"


def _q(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _in_list(values: tuple[str, ...] | frozenset[str]) -> str:
    return "(" + ", ".join(_q(v) for v in sorted(values)) + ")"


def present(f: Field) -> str:
    """The field has a non-null value (a JSON null counts as absent)."""
    return f"({f.name}__t IS NOT NULL AND coalesce({f.name}__j, '') <> 'NULL')"


def typed_expr(f: Field) -> str:
    """SQL that turns the field's text into its typed value; NULL when absent or wrong type."""
    t, j = f"{f.name}__t", f"{f.name}__j"
    if f.type == "string":
        return f"CASE WHEN {j} IN ('VARCHAR', 'TEXT') THEN nullif(trim({t}), '') END"
    if f.type == "number":
        return f"CASE WHEN {j} IN {_NUMERIC_JSON} THEN TRY_CAST({t} AS DOUBLE) END"
    if f.type == "integer":
        return (
            f"CASE WHEN {j} IN {_NUMERIC_JSON} AND TRY_CAST({t} AS DOUBLE) = floor(TRY_CAST({t} AS DOUBLE)) "
            f"THEN TRY_CAST(TRY_CAST({t} AS DOUBLE) AS INTEGER) END"
        )
    if f.type == "timestamp":
        return (
            f"CASE WHEN {j} IN ('VARCHAR', 'TEXT') AND regexp_full_match(trim({t}), {_q(RFC3339_PATTERN)}) "
            f"THEN TRY_CAST(trim({t}) AS TIMESTAMPTZ) END"
        )
    if f.type == "date":
        return (
            f"CASE WHEN {j} IN ('VARCHAR', 'TEXT') AND regexp_full_match(trim({t}), '^\\d{{4}}-\\d{{2}}-\\d{{2}}$') "
            f"THEN TRY_CAST(trim({t}) AS DATE) END"
        )
    if f.type == "string_list":
        return (
            f"CASE WHEN {j} = 'ARRAY' THEN TRY_CAST(json({t}) AS VARCHAR[]) "
            f"WHEN {j} IN ('VARCHAR', 'TEXT') THEN "
            f"list_filter(list_transform(string_split({t}, '|'), lambda g: trim(g)), lambda g: g <> '') END"
        )
    raise ValueError(f"unknown field type {f.type}")


def _type_reason(f: Field) -> str:
    article = {
        "string": "a string",
        "number": "a number",
        "integer": "an integer",
        "timestamp": "an RFC 3339 timestamp with offset",
        "date": "a date (YYYY-MM-DD)",
        "string_list": "a list of strings",
    }[f.type]
    return f"CASE WHEN {present(f)} AND {_ident(f.name)} IS NULL THEN '{f.name} is not {article}' END"


def _rule_reasons(contract: EntityContract) -> list[str]:
    """Business rules beyond types, per entity. Each yields a reason string or NULL."""
    v = {f.name: _ident(f.name) for f in contract.fields}
    if contract.entity == "events":
        return [
            f"CASE WHEN {v['event_type']} IS NOT NULL AND {v['event_type']} NOT IN {_in_list(EVENT_TYPES)} "
            f"THEN 'unknown event_type ' || {v['event_type']} END",
            f"CASE WHEN {v['event_ts']} > now() + INTERVAL {FUTURE_TOLERANCE_SECONDS} SECOND "
            "THEN 'event_ts is in the future' END",
            f"CASE WHEN {v['event_type']} = 'play_stop' AND {v['watch_seconds']} IS NULL "
            "AND NOT (watch_seconds__t IS NOT NULL AND coalesce(watch_seconds__j, '') <> 'NULL') "
            "THEN 'watch_seconds is required on play_stop' END",
            f"CASE WHEN {v['watch_seconds']} NOT BETWEEN 0 AND {MAX_WATCH_SECONDS} "
            f"THEN 'watch_seconds out of range [0, {MAX_WATCH_SECONDS}]' END",
            f"CASE WHEN {v['event_type']} <> 'play_stop' AND {present(_field(contract, 'watch_seconds'))} "
            "THEN 'watch_seconds is only allowed on play_stop' END",
            f"CASE WHEN {v['event_type']} = 'rating' AND {v['rating']} IS NULL "
            "AND NOT (rating__t IS NOT NULL AND coalesce(rating__j, '') <> 'NULL') "
            "THEN 'rating is required on rating events' END",
            f"CASE WHEN {v['rating']} NOT BETWEEN {MIN_RATING} AND {MAX_RATING} "
            f"THEN 'rating out of range [{MIN_RATING}, {MAX_RATING}]' END",
            f"CASE WHEN {v['event_type']} <> 'rating' AND {present(_field(contract, 'rating'))} "
            "THEN 'rating is only allowed on rating events' END",
            f"CASE WHEN upper({v['country']}) NOT IN {_in_list(ISO_COUNTRIES)} "
            "THEN 'country is not an ISO 3166 alpha-2 code' END",
            f"CASE WHEN {v['position']} < 0 THEN 'position is negative' END",
        ]
    if contract.entity == "titles":
        return [
            f"CASE WHEN lower({v['kind']}) NOT IN {_in_list(TITLE_KINDS)} "
            "THEN 'kind must be movie or series' END",
            f"CASE WHEN {v['release_year']} NOT BETWEEN 1870 AND 2100 THEN 'release_year out of range' END",
            f"CASE WHEN {v['runtime_minutes']} < 0 THEN 'runtime_minutes is negative' END",
        ]
    if contract.entity == "users":
        return [
            f"CASE WHEN upper({v['country']}) NOT IN {_in_list(ISO_COUNTRIES)} "
            "THEN 'country is not an ISO 3166 alpha-2 code' END",
            f"CASE WHEN {v['age']} NOT BETWEEN 0 AND 120 THEN 'age out of range [0, 120]' END",
        ]
    return []


def _field(contract: EntityContract, name: str) -> Field:
    return next(f for f in contract.fields if f.name == name)


def reasons_expr(contract: EntityContract) -> str:
    """A VARCHAR[] of every reason the row is rejected (empty when the row is valid)."""
    parts = ["parse_error"]
    for f in contract.fields:
        if f.required:
            blank = f" OR nullif(trim({f.name}__t), '') IS NULL" if f.type == "string" else ""
            parts.append(
                f"CASE WHEN NOT {present(f)}{blank} THEN 'missing required field {f.name}' END"
            )
    parts += [_type_reason(f) for f in contract.fields]
    parts += _rule_reasons(contract)
    return "list_filter([" + ",\n  ".join(parts) + "], lambda r: r IS NOT NULL)"


def validated_select(contract: EntityContract, source: str) -> str:
    """SELECT over a reader relation: its columns, the typed contract fields and ``reasons``.

    Typed values are computed once in a CTE; every rule then reads the typed columns.
    """
    typed = ",\n  ".join(f"{typed_expr(f)} AS {_ident(f.name)}" for f in contract.fields)
    return (
        f"WITH typed AS MATERIALIZED (SELECT *,\n  {typed}\nFROM {source} AS src)\n"
        f"SELECT typed.*, CASE WHEN parse_error IS NOT NULL THEN [parse_error] "
        f"ELSE {reasons_expr(contract)} END AS reasons\nFROM typed"
    )


def _ident(name: str) -> str:
    return f'"{name}"'
