"""End to end through the Dagster definitions: landing files → raw → dbt marts."""

from __future__ import annotations

from pathlib import Path

import duckdb

from marquee.config import MarqueeHome
from marquee.pipeline import run_assets
from marquee.synthetic import GenerationConfig, generate


def _count(home: MarqueeHome, table: str) -> int:
    con = duckdb.connect(str(home.warehouse), read_only=True)
    try:
        return con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    finally:
        con.close()


def test_movielens_100k_exact_counts(ml100k_home: MarqueeHome) -> None:
    home = ml100k_home
    assert _count(home, "marts.fct_interactions") == 100_000
    assert _count(home, "marts.dim_users") == 943
    assert _count(home, "marts.dim_titles") == 1_682
    con = duckdb.connect(str(home.warehouse), read_only=True)
    try:
        title = con.execute(
            "SELECT title, genres, release_year FROM marts.dim_titles WHERE title_id = '1'"
        ).fetchone()
        user = con.execute("SELECT age, gender, occupation FROM marts.dim_users WHERE user_id = '1'").fetchone()
    finally:
        con.close()
    assert title == ("Toy Story (1995)", ["Animation", "Children's", "Comedy"], 1995)
    assert user == (24, "M", "technician")


def test_synthetic_run_is_idempotent(tmp_path: Path) -> None:
    home = MarqueeHome(tmp_path / "home").ensure()
    generate(home, GenerationConfig(users=120, titles=80, days=7), progress=False)
    first = run_assets(home)
    assert first.success, (first.failed_steps, first.checks_failed)
    tables = ["raw.events", "staging.stg_events", "marts.fct_interactions", "marts.fct_user_daily_features"]
    before = {t: _count(home, t) for t in tables}
    assert before["raw.events"] > 300
    # Same data again: generator writes byte-identical files, ingestion skips them.
    generate(home, GenerationConfig(users=120, titles=80, days=7), progress=False)
    second = run_assets(home)
    assert second.success
    assert {t: _count(home, t) for t in tables} == before
    assert _count(home, "raw.ingestion_log") == before_files(home)


def before_files(home: MarqueeHome) -> int:
    return sum(1 for entity in ("events", "titles", "users") for _ in home.landing_dir(entity).iterdir())
