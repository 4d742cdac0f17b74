"""Data-quality checks (issue 3): GX suites and statistics as blocking Dagster asset checks.

Unit tests run the suites on hand-made frames. The scenario runs the real Dagster definitions
(`build_definitions`, plus a probe asset downstream of the marts) four times on one tiny
synthetic data set, injecting bad batches into the landing zone:

1. clean data                         -> every check passes, everything materializes;
2. 30% unknown event types, rating 50 -> raw_events:quarantine_rate fails, dbt is skipped;
3. one user's flood on unknown titles -> raw checks pass again, the marts are rebuilt, but
   referential_coverage and distribution_drift fail and the probe is skipped;
4. the missing titles land            -> every check passes again, the probe materializes.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gzip
import json
import math
import shutil
import time
from dataclasses import dataclass, field
from typing import Any

import duckdb
import pandas as pd
import pytest

from marquee.config import MarqueeHome
from marquee.quality import checks as q
from marquee.quality import drift, store
from marquee.quality.config import QualityConfig
from marquee.quality.runner import validate
from marquee.quality.suites import (
    Bound,
    metrics_suite,
    raw_events_rows_suite,
    raw_events_schema_suite,
)

CONFIG = QualityConfig(data_docs=False)
OUR_CHECKS = {f"{a}:{c}" for a, c, _ in q.CHECK_SPECS}
CHECK_OPS = ("raw_events_gx_suite", "raw_quarantine_rate", "marts_gx_suites", "marts_monitors")


# --- unit: config, statistics, suites on hand-made frames ----------------------------------


def test_config_defaults_env_and_run_config_overrides():
    cfg = QualityConfig.from_env({})
    assert cfg.quarantine_rate_max == 0.01 and cfg.genre_psi_max == 0.2 and cfg.data_docs is True
    cfg = QualityConfig.from_env({"MARQUEE_DQ_QUARANTINE_RATE_MAX": "0.05", "MARQUEE_DQ_DATA_DOCS": "no"})
    assert cfg.quarantine_rate_max == 0.05 and cfg.data_docs is False
    assert cfg.with_overrides({"quarantine_rate_max": 0.2, "genre_psi_max": None}).quarantine_rate_max == 0.2
    with pytest.raises(ValueError, match="MARQUEE_DQ_MAX_ROWS_VALIDATED"):
        QualityConfig.from_env({"MARQUEE_DQ_MAX_ROWS_VALIDATED": "lots"})
    with pytest.raises(ValueError, match="unknown data-quality setting"):
        cfg.with_overrides({"nope": 1})
    # Every threshold can be overridden from Dagster run config.
    from orchestration.assets.quality import DataQualityConfig

    assert set(DataQualityConfig.model_fields) == set(cfg.as_dict())


def test_drift_statistics():
    shares = {"a": 0.5, "b": 0.3, "c": 0.2}
    assert drift.psi(shares, shares) == 0
    assert drift.total_variation(shares, {"a": 0.2, "b": 0.3, "c": 0.5}) == pytest.approx(0.3)
    assert drift.psi(shares, {"a": 0.2, "b": 0.3, "c": 0.5}) > 0.2
    import numpy as np

    values = np.arange(1, 101, dtype=float)
    edges = drift.decile_edges(values)
    assert len(edges) == 9
    assert sum(drift.bin_shares(values, edges).values()) == pytest.approx(1)
    assert drift.psi(drift.bin_shares(values, edges), drift.bin_shares(values * 3, edges)) > 1


def _events(n: int = 200) -> pd.DataFrame:
    start = pd.Timestamp("1997-09-20", tz="UTC")  # MovieLens time: old is fine
    types = ["impression", "play_start", "play_stop", "rating"]
    rows = []
    for i in range(n):
        kind = types[i % 4]
        rows.append({
            "event_id": f"e{i}", "user_id": f"u{i % 17}", "title_id": f"t{i % 13}",
            "event_type": kind, "event_ts": start + pd.Timedelta(minutes=i),
            "watch_seconds": 600.0 if kind == "play_stop" else None,
            "rating": 4.0 if kind == "rating" else None, "device": "tv", "country": "US",
            "row": None, "position": pd.NA, "_source_file": "events/x.jsonl", "_line": i,
            "_batch_id": 1, "_ingested_at": pd.Timestamp("2026-01-01", tz="UTC"),
        })
    df = pd.DataFrame(rows)
    df["position"] = df["position"].astype("Int32")
    return df


def test_raw_events_suite_passes_clean_and_names_what_is_wrong():
    clean = validate(_events(), raw_events_rows_suite(CONFIG), asset="raw_events")
    assert clean.passed and clean.severity is None, clean.summary()

    bad = _events()
    bad.loc[0:59, "event_type"] = "teleport"  # 30% unknown
    bad.loc[3, "rating"] = 50.0
    bad.loc[5, "user_id"] = None
    bad.loc[7, "event_ts"] = pd.Timestamp.now(tz="UTC") + pd.Timedelta(days=2)
    out = validate(bad, raw_events_rows_suite(CONFIG), asset="raw_events")
    assert not out.passed and out.severity == "ERROR"
    failed = {(e.column, e.expectation): e for e in out.failed}
    event_type = failed[("event_type", "expect_column_values_to_be_in_set")]
    assert event_type.unexpected_percent == pytest.approx(30) and "teleport" in event_type.examples
    assert "impression" in event_type.threshold
    assert failed[("rating", "expect_column_values_to_be_between")].examples == ["50"]
    assert ("user_id", "expect_column_values_to_not_be_null") in failed
    assert "not in the future" in failed[("event_ts", "expect_column_values_to_be_between")].line()


def test_raw_events_schema_suite_reads_duckdb_types(tmp_path):
    from marquee.ingestion.schema import RAW_DDL
    from marquee.quality.data import describe

    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    con.execute(RAW_DDL)
    good = describe(con, "raw.events")
    con.execute("ALTER TABLE raw.events ALTER rating TYPE VARCHAR")
    con.execute("ALTER TABLE raw.events ADD COLUMN surprise INTEGER")
    broken = describe(con, "raw.events")
    con.close()
    assert validate(good, raw_events_schema_suite(), asset="s").passed
    out = validate(broken, raw_events_schema_suite(), asset="s")
    assert not out.passed
    text = out.summary()
    assert "('rating', 'VARCHAR')" in text and "surprise" in text


def test_training_set_suite_on_a_hand_made_frame():
    cutoff = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
    ts = pd.date_range("2026-05-01", periods=100, freq="6h", tz="UTC")
    good = pd.DataFrame({
        "event_timestamp": ts, "label": [i % 3 == 0 for i in range(100)],
        "f_plays": range(100), "f_rating": [4.0] * 100,
    })
    kwargs = {"label": "label", "features": ["f_plays", "f_rating"], "cutoff": cutoff}
    ok = q.training_set(good, CONFIG, **kwargs)
    assert ok.passed, ok.description()

    bad = good.copy()
    bad["label"] = True  # no negatives
    bad.loc[:29, "f_rating"] = None  # 30% NULL
    bad.loc[99, "event_timestamp"] = cutoff + pd.Timedelta(days=1)
    out = q.training_set(bad, CONFIG, **kwargs)
    assert not out.passed and out.severity == "ERROR"
    reasons = {e.description: e for e in out.validation.failed}
    assert reasons["label balance: share of positives"].observed == "1"
    assert reasons["feature NULL rate"].column == "f_rating"
    assert reasons["no rows after the cutoff"].unexpected_count == 1


def test_warning_expectations_warn_without_failing():
    frame = pd.DataFrame([{"rating_mean_shift": 0.5, "genre_psi": 0.01}])
    suite = metrics_suite("m", [
        Bound("genre_psi", max_value=0.2),
        Bound("rating_mean_shift", max_value=0.25, severity="warning"),
    ])
    out = q.CheckOutcome("fct_interactions", "distribution_drift", validate(frame, suite, asset="m"))
    assert out.passed and out.severity == "WARN" and out.status == "warned"
    assert "observed 0.5; expected <= 0.25" in out.description()


def test_a_check_that_raises_counts_as_failed(tmp_path):
    home = MarqueeHome(tmp_path / "home").ensure()
    duckdb.connect(str(home.warehouse)).close()  # an empty warehouse: no tables at all
    outcome = q.quarantine_rate(home, CONFIG, q.default_connect(home), "events")
    assert not outcome.passed and outcome.severity == "ERROR"
    assert "CatalogException" in outcome.error and "ingestion_log" in outcome.error
    monitors = q.mart_monitors(home, CONFIG, q.default_connect(home), "m1")
    assert [o.passed for o in monitors] == [False] * 4
    assert all("fct_interactions" in o.error or "dim_" in o.error for o in monitors)


# --- the scenario through Dagster --------------------------------------------------------


@dataclass
class Run:
    run_id: str
    success: bool
    materialized: set[str]
    checks: dict[str, Any]  # "asset:check" -> AssetCheckEvaluation
    gate: Any = None
    summary: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def failed(self) -> set[str]:
        return {k for k, e in self.checks.items() if not e.passed}

    def meta(self, key: str, name: str) -> Any:
        value = self.checks[key].metadata[name]
        return getattr(value, "value", value)


def _probe_definitions(home: MarqueeHome):
    import dagster as dg

    from orchestration.definitions import build_definitions

    @dg.asset(deps=["fct_interactions", "dim_titles", "dim_users"], group_name="probe")
    def downstream_probe():
        """Stands in for features / training / promotion."""
        return dg.MaterializeResult()

    return dg.Definitions.merge(build_definitions(home), dg.Definitions(assets=[downstream_probe]))


def _execute(home: MarqueeHome, defs, ops_config: dict | None = None) -> Run:
    """One run of the real definitions (plus the probe), all assets but the Feast ones."""
    import dagster as dg

    from marquee.pipeline import prepare_dagster_home
    from marquee.quality.gate import data_gate
    from marquee.quality.summary import dq_summary

    prepare_dagster_home(home)
    graph = defs.resolve_asset_graph()
    # Other tests cover the Feast assets and what is built on them (the probe stands in).
    selection = dg.AssetSelection.all() - dg.AssetSelection.groups(
        "features", "training", "evaluation", "serving"
    )
    instance = dg.DagsterInstance.get()
    start = time.perf_counter()
    result = defs.resolve_implicit_global_asset_job_def().execute_in_process(
        instance=instance, raise_on_error=False, asset_selection=sorted(selection.resolve(graph)),
        run_config={
            "loggers": {"console": {"config": {"log_level": "WARNING"}}},
            **({"ops": {op: {"config": ops_config} for op in CHECK_OPS}} if ops_config else {}),
        },
    )
    seconds = time.perf_counter() - start
    run_id = result.run_id
    materialized = {
        e.dagster_event.event_specific_data.materialization.asset_key.to_user_string()
        for e in instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION)
    }
    checks = {}
    for e in instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION):
        ev = e.dagster_event.event_specific_data
        checks[f"{ev.asset_key.to_user_string()}:{ev.check_name}"] = ev
    gate = data_gate(["downstream_probe"], home, definitions=defs, instance=instance)
    downstream_of_raw = {
        k.to_user_string()
        for k in dg.AssetSelection.assets("raw_events").downstream(include_self=False).resolve(graph)
    }
    extra = {"seconds": seconds, "downstream_of_raw_events": downstream_of_raw}
    return Run(run_id, result.success, materialized, checks, gate, dq_summary(home, run_id), extra)


def _write_events(home: MarqueeHome, name: str, events: list[dict]) -> None:
    path = home.landing_dir("events") / name
    path.write_bytes(gzip.compress("".join(json.dumps(e) + "\n" for e in events).encode()))


def _query(home: MarqueeHome, sql: str) -> list[tuple]:
    con = duckdb.connect(str(home.warehouse), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


@pytest.fixture(scope="module")
def scenario(tmp_path_factory) -> dict[str, Any]:
    from marquee.pipeline import prepare_dagster_home
    from marquee.synthetic import GenerationConfig, generate

    home = MarqueeHome(tmp_path_factory.mktemp("dq") / "home").ensure()
    config = GenerationConfig(users=150, titles=100, days=10)
    generate(home, config, progress=False)
    day = dt.datetime.combine(config.end_date, dt.time(12), dt.UTC)
    runs: dict[str, Any] = {"home": home}
    prepare_dagster_home(home)
    defs = _probe_definitions(home)

    runs["clean"] = _execute(home, defs)
    # Later runs skip the Data Docs (seconds each) through Dagster run config.
    no_docs = {"data_docs": False}

    # 2. 30% unknown event types and ratings of 50 (both quarantined by ingestion).
    users = [u for (u,) in _query(home, "SELECT user_id FROM marts.dim_users ORDER BY 1")]
    titles = [t for (t,) in _query(home, "SELECT title_id FROM marts.dim_titles ORDER BY 1")]
    bad = []
    for i in range(200):
        event = {
            "event_id": f"bad-{i}", "user_id": users[i % len(users)], "title_id": titles[i % len(titles)],
            "event_type": "teleport" if i % 10 < 3 else "impression",
            "event_ts": (day + dt.timedelta(seconds=i)).isoformat().replace("+00:00", "Z"),
        }
        if i % 10 == 5:
            event.update(event_type="rating", rating=50)
        bad.append(event)
    _write_events(home, "events-bad-types.jsonl.gz", bad)
    runs["bad_types"] = _execute(home, defs, no_docs)

    # 3. One user floods the service, on titles missing from the catalogue (~2% of rows).
    (fct_rows,) = _query(home, "SELECT count(*) FROM marts.fct_interactions")[0]
    n_missing = max(3, math.ceil(0.02 * fct_rows))
    flooder = users[7]
    flood = []
    for i in range(600):
        kind = ("play_start", "play_stop", "add_to_list")[i % 3]
        event = {
            "event_id": f"flood-{i}", "user_id": flooder, "title_id": f"t-missing-{i % n_missing}",
            "event_type": kind, "device": "web", "country": "US",
            "event_ts": (day + dt.timedelta(minutes=5, seconds=i)).isoformat().replace("+00:00", "Z"),
        }
        if kind == "play_stop":
            event["watch_seconds"] = 300
        flood.append(event)
    _write_events(home, "events-flood.jsonl.gz", flood)
    runs["flood"] = _execute(home, defs, no_docs)
    runs["flood_meta"] = {"flooder": flooder, "n_missing": n_missing, "fct_rows_before": fct_rows}

    # 4. The catalogue catches up: the missing titles land.
    fix = home.landing_dir("titles") / "titles-catch-up.jsonl"
    fix.write_text("".join(
        json.dumps({"title_id": f"t-missing-{i}", "title": f"Late Title {i}", "kind": "movie",
                    "genres": ["Drama"], "release_year": 2026, "runtime_minutes": 90,
                    "maturity_rating": "PG", "language": "en"}) + "\n"
        for i in range(n_missing)
    ))
    runs["fixed"] = _execute(home, defs, no_docs)
    return runs


@pytest.mark.slow
def test_clean_data_passes_every_check(scenario):
    run = scenario["clean"]
    assert run.success, run.failed()
    assert set(run.checks) >= OUR_CHECKS, OUR_CHECKS - set(run.checks)
    assert not run.failed()
    assert {"raw_events", "stg_events", "fct_interactions", "downstream_probe"} <= run.materialized
    assert run.meta("raw_events:quarantine_rate", "quarantine_rate") == 0
    assert run.meta("fct_interactions:distribution_drift", "status") == "passed"
    assert "baseline recorded" in run.checks["fct_interactions:distribution_drift"].description
    assert run.gate.passed, run.gate.reason()
    assert run.summary.startswith("data quality: ") and " 0 failed" in run.summary


@pytest.mark.slow
def test_unknown_event_types_fail_quarantine_rate_and_skip_dbt(scenario):
    run = scenario["bad_types"]
    assert not run.success
    assert run.failed() == {"raw_events:quarantine_rate"}
    ev = run.checks["raw_events:quarantine_rate"]
    assert ev.severity.value == "ERROR"
    assert run.meta("raw_events:quarantine_rate", "quarantine_rate") == pytest.approx(0.4)
    assert run.meta("raw_events:quarantine_rate", "quarantine_rate_max") == 0.01
    table = run.meta("raw_events:quarantine_rate", "failed_expectations")
    assert "0.4" in table and "<= 0.01" in table and "unknown event_type teleport" in table
    assert any("rating out of range" in r for r in run.meta("raw_events:quarantine_rate", "top_reasons"))
    # The accepted rows are still fine: the GX suite on them passes.
    assert run.checks["raw_events:gx_suite"].passed
    # Downstream of raw_events (dbt models, raw_ingestion_log, the probe): nothing materialized.
    assert {"stg_events", "fct_interactions", "downstream_probe"} <= run.extra["downstream_of_raw_events"]
    assert not run.materialized & run.extra["downstream_of_raw_events"]
    assert {"raw_events", "raw_titles", "raw_users"} <= run.materialized
    assert not run.gate.passed
    assert [f"{c.asset}:{c.check}" for c in run.gate.failing] == ["raw_events:quarantine_rate"]
    assert "raw_events:quarantine_rate failed" in run.gate.reason()
    assert " 1 failed" in run.summary and "not run" in run.summary


@pytest.mark.slow
def test_flood_on_unknown_titles_fails_mart_checks_and_blocks_downstream(scenario):
    run, meta = scenario["flood"], scenario["flood_meta"]
    # The raw checks pass again on the next (well-formed) batch; dbt rebuilds the marts ...
    assert run.checks["raw_events:quarantine_rate"].passed
    assert {"stg_events", "fct_interactions", "dim_titles"} <= run.materialized
    # ... but the marts' checks fail and the asset downstream of them is not materialized.
    assert run.failed() == {"fct_interactions:referential_coverage", "fct_interactions:distribution_drift"}
    assert "downstream_probe" not in run.materialized
    assert not run.success

    share = run.meta("fct_interactions:referential_coverage", "missing_title_share")
    rows = run.meta("fct_interactions:referential_coverage", "rows")
    assert rows == meta["fct_rows_before"] + meta["n_missing"]
    assert share == pytest.approx(meta["n_missing"] / rows)
    assert share > run.meta("fct_interactions:referential_coverage", "missing_title_share_max")
    assert "t-missing-" in run.meta("fct_interactions:referential_coverage", "failed_expectations")

    drift_ev = run.checks["fct_interactions:distribution_drift"]
    change = run.meta("fct_interactions:distribution_drift", "top_users_share_change")
    assert change > 0.10
    assert "top-1% users' share" in drift_ev.description and "<= 0.1" in drift_ev.description
    assert run.meta("fct_interactions:distribution_drift", "genre_psi") < 0.2  # the flood, not genres
    assert not run.gate.passed
    failing = {f"{c.asset}:{c.check}" for c in run.gate.failing}
    assert failing == {"fct_interactions:referential_coverage", "fct_interactions:distribution_drift"}


@pytest.mark.slow
def test_fixed_data_passes_again(scenario):
    run = scenario["fixed"]
    assert run.success, {k: run.checks[k].description for k in run.failed()}
    assert not run.failed()
    assert "downstream_probe" in run.materialized
    assert run.meta("fct_interactions:referential_coverage", "missing_title_share") == 0
    assert run.gate.passed, run.gate.reason()


@pytest.mark.slow
def test_results_are_stored_with_data_docs(scenario):
    home = scenario["home"]
    latest = store.load_latest(home)
    assert set(latest) >= OUR_CHECKS
    files = list((store.root(home) / "results" / "raw_events" / "quarantine_rate").glob("*.json"))
    assert len(files) == 4  # one per run
    failed = [json.loads(f.read_text()) for f in files if not json.loads(f.read_text())["passed"]]
    assert len(failed) == 1 and failed[0]["validation"]["gx_result"]["results"]
    assert (store.data_docs_dir(home) / "index.html").exists()
    assert (store.state_dir(home) / drift.STATE_FILE).exists()


@pytest.mark.slow
def test_an_erroring_check_fails_through_dagster(scenario, tmp_path):
    """A missing table: the check reports failed with severity ERROR, and the gate says no."""
    import dagster as dg

    from marquee.ingestion.ingest import connect, ensure_raw_schema
    from marquee.pipeline import prepare_dagster_home
    from marquee.quality.gate import data_gate
    from orchestration.definitions import build_definitions

    source = scenario["home"]
    home = MarqueeHome(tmp_path / "home").ensure()
    target = home.dbt / "target"
    target.mkdir(parents=True)
    for name in ("manifest.json", "marquee-project.sha256"):  # skip `dbt parse`
        shutil.copy(source.dbt / "target" / name, target / name)
    with contextlib.closing(connect(home)) as con:
        ensure_raw_schema(con)  # raw tables but no marts
    prepare_dagster_home(home)
    keys = [dg.AssetCheckKey(dg.AssetKey("fct_interactions"), "gx_suite"),
            dg.AssetCheckKey(dg.AssetKey("fct_interactions"), "distribution_drift")]
    defs = dg.Definitions.merge(
        build_definitions(home),
        dg.Definitions(jobs=[dg.define_asset_job("checks_only", selection=dg.AssetSelection.checks(*keys))]),
    )
    try:
        result = defs.resolve_job_def("checks_only").execute_in_process(
            instance=dg.DagsterInstance.get(), raise_on_error=False
        )
        evaluations = result.get_asset_check_evaluations()
        assert len(evaluations) == 2
        for ev in evaluations:
            assert not ev.passed and ev.severity == dg.AssetCheckSeverity.ERROR
            assert "does not exist" in ev.metadata["error"].value
        verdict = data_gate(["fct_interactions"], home, upstream=False, definitions=defs)
        assert not verdict.passed
        statuses = {c.check: c.status for c in verdict.checks}
        assert statuses["gx_suite"] == "failed" and statuses["referential_coverage"] == "not_run"
    finally:
        prepare_dagster_home(source)  # leave DAGSTER_HOME / MARQUEE_HOME as the scenario set them
