"""DDL of the raw layer in the DuckDB warehouse (SPEC §3).

``raw.*`` is append-only: every accepted row keeps its source file, line and ingestion batch,
so staging models can deduplicate and replay without the landing files.
"""

from __future__ import annotations

RAW_DDL = """
CREATE SCHEMA IF NOT EXISTS raw;

CREATE TABLE IF NOT EXISTS raw.events (
    event_id      VARCHAR NOT NULL,
    user_id       VARCHAR NOT NULL,
    title_id      VARCHAR NOT NULL,
    event_type    VARCHAR NOT NULL,
    event_ts      TIMESTAMPTZ NOT NULL,
    watch_seconds DOUBLE,
    rating        DOUBLE,
    device        VARCHAR,
    country       VARCHAR,
    "row"         VARCHAR,
    position      INTEGER,
    _source_file  VARCHAR NOT NULL,
    _line         BIGINT,
    _batch_id     BIGINT NOT NULL,
    _ingested_at  TIMESTAMPTZ NOT NULL
);

CREATE TABLE IF NOT EXISTS raw.titles (
    title_id        VARCHAR NOT NULL,
    title           VARCHAR,
    kind            VARCHAR,
    genres          VARCHAR[],
    release_year    INTEGER,
    runtime_minutes INTEGER,
    maturity_rating VARCHAR,
    language        VARCHAR,
    _source_file    VARCHAR NOT NULL,
    _line           BIGINT,
    _batch_id       BIGINT NOT NULL,
    _ingested_at    TIMESTAMPTZ NOT NULL
);

CREATE TABLE IF NOT EXISTS raw.users (
    user_id      VARCHAR NOT NULL,
    signup_date  DATE,
    country      VARCHAR,
    plan         VARCHAR,
    age          INTEGER,
    gender       VARCHAR,
    occupation   VARCHAR,
    _source_file VARCHAR NOT NULL,
    _line        BIGINT,
    _batch_id    BIGINT NOT NULL,
    _ingested_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE IF NOT EXISTS raw.quarantine (
    entity         VARCHAR NOT NULL,
    source_file    VARCHAR NOT NULL,
    line_number    BIGINT,
    raw_text       VARCHAR,
    reason         VARCHAR NOT NULL,
    batch_id       BIGINT NOT NULL,
    quarantined_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE IF NOT EXISTS raw.duplicates (
    entity       VARCHAR NOT NULL,
    key          VARCHAR NOT NULL,
    source_file  VARCHAR NOT NULL,
    line_number  BIGINT,
    batch_id     BIGINT NOT NULL
);

CREATE TABLE IF NOT EXISTS raw.ingestion_log (
    batch_id         BIGINT NOT NULL,
    entity           VARCHAR NOT NULL,
    source_file      VARCHAR NOT NULL,
    content_hash     VARCHAR NOT NULL,
    file_format      VARCHAR,
    size_bytes       BIGINT,
    rows_read        BIGINT NOT NULL,
    rows_accepted    BIGINT NOT NULL,
    rows_quarantined BIGINT NOT NULL,
    rows_duplicate   BIGINT NOT NULL,
    file_error       VARCHAR,
    started_at       TIMESTAMPTZ NOT NULL,
    finished_at      TIMESTAMPTZ NOT NULL
);
"""
