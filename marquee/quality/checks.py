"""The data-quality checks in plain Python (Dagster wraps them in orchestration/assets/quality.py).

Every check returns a `CheckOutcome` per (asset, check): the GX validation behind it, the
numbers worth showing, and a one-line reason. `guarded` turns any exception (a bug, a missing
table) into a failed outcome with severity ERROR: a check that cannot run never passes.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from marquee.config import MarqueeHome
from marquee.quality import data, drift, store, suites
from marquee.quality.config import QualityConfig
from marquee.quality.runner import ERROR, WARN, ValidationOutcome, merge, validate
from marquee.quality.suites import Bound

Connect = Callable[[], contextlib.AbstractContextManager]

# (asset, check name, description). Every one is blocking (ERROR stops downstream assets);
# WARN-severity expectations inside them only warn.
CHECK_SPECS: list[tuple[str, str, str]] = [
    ("raw_events", "gx_suite",
     "GX: raw.events columns and types vs the landing contract; rows of the latest ingestion: "
     "event_type set, event time range (not in the future), required fields not NULL, ranges."),
    *(
        (f"raw_{e}", "quarantine_rate",
         "Rows quarantined / rows read over the files of the latest ingestion <= quarantine_rate_max.")
        for e in ("events", "titles", "users")
    ),
    ("fct_interactions", "gx_suite", "GX: keys unique and not NULL, value ranges."),
    ("dim_titles", "gx_suite", "GX: keys unique and not NULL, value ranges."),
    ("dim_users", "gx_suite", "GX: keys unique and not NULL, value ranges."),
    ("fct_interactions", "referential_coverage",
     "Share of interactions whose title / user is not in the catalogue (in_catalogue false)."),
    *(
        (m, "row_count_change",
         "Row count vs the previous materialization: drop <= row_count_drop_max (ERROR), "
         "growth <= row_count_growth_max (WARN).")
        for m in data.MARTS
    ),
    ("fct_interactions", "distribution_drift",
     "Drift vs the previous materialization: genre PSI, interactions-per-user PSI, top-1% users' "
     "share change (ERROR); mean rating shift (WARN)."),
]


@dataclass
class CheckOutcome:
    asset: str
    check: str
    validation: ValidationOutcome | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def passed(self) -> bool:
        return self.error is None and (self.validation is None or self.validation.passed)

    @property
    def severity(self) -> str | None:
        """ERROR (failed: blocks), WARN (warned: run goes on) or None (passed)."""
        if not self.passed:
            return ERROR
        if self.validation is not None and self.validation.warned:
            return WARN
        return None

    @property
    def status(self) -> str:
        return {ERROR: "failed", WARN: "warned", None: "passed"}[self.severity]

    def description(self) -> str:
        if self.error:
            return f"check errored (counts as failed): {self.error}"
        v = self.validation
        bad = (v.failed or v.warned) if v else []
        if bad:
            text = "; ".join(e.line() for e in bad[:3])
            return text + (f" (+{len(bad) - 3} more)" if len(bad) > 3 else "")
        base = f"{len(v.expectations)} expectations passed" if v else "passed"
        return "; ".join([base, *self.notes[:2]])

    def to_entry(self, run_id: str | None = None) -> dict[str, Any]:
        return {
            "asset": self.asset,
            "check": self.check,
            "run_id": run_id,
            "passed": self.passed,
            "severity": self.severity,
            "status": self.status,
            "description": self.description(),
            "metrics": self.metrics,
            "notes": self.notes,
            "error": self.error,
            "validation": self.validation.to_dict() if self.validation else None,
        }


def guarded(asset: str, check: str, fn: Callable[[], CheckOutcome]) -> CheckOutcome:
    """Run ``fn``; an exception becomes a failed (ERROR) outcome carrying the error."""
    try:
        return fn()
    except Exception as exc:  # noqa: BLE001 - by design: an erroring check counts as failed
        return CheckOutcome(asset, check, error=error_text(exc))


def error_text(exc: BaseException) -> str:
    """'Type: first line of the message at file.py:123' (the innermost frame)."""
    last = traceback.extract_tb(exc.__traceback__)[-1:]
    where = f" at {last[0].filename.rsplit('/', 1)[-1]}:{last[0].lineno}" if last else ""
    message = (str(exc).strip().splitlines() or [""])[0][:400]
    return f"{type(exc).__name__}: {message}{where}"


def default_connect(home: MarqueeHome) -> Connect:
    from marquee.ingestion.ingest import connect

    @contextlib.contextmanager
    def _connect() -> Iterator:
        con = connect(home, read_only=True)
        try:
            yield con
        finally:
            con.close()

    return _connect


def _docs(home: MarqueeHome, config: QualityConfig):
    return store.data_docs_dir(home) if config.data_docs else None


# --- raw layer ------------------------------------------------------------------------------


def raw_events_suite(
    home: MarqueeHome, config: QualityConfig, connect: Connect, since: dt.datetime | None = None
) -> CheckOutcome:
    def run() -> CheckOutcome:
        with connect() as con:
            schema = data.describe(con, "raw.events")
            window = data.latest_ingestion(con, "events", since)
            rows, sampled_from = data.raw_events_of_batches(
                con, window.batch_ids, config.max_rows_validated
            )
        docs = _docs(home, config)
        parts = [
            validate(schema, suites.raw_events_schema_suite(), asset="raw_events_schema", data_docs_dir=docs),
            validate(
                rows, suites.raw_events_rows_suite(config), asset="raw_events",
                data_docs_dir=docs, sampled_from=sampled_from,
            ),
        ]
        outcome = CheckOutcome("raw_events", "gx_suite", merge("raw_events", "raw_events", parts))
        outcome.metrics = {
            "rows_validated": len(rows),
            "batches_validated": len(window.batch_ids),
            "latest_ingestion_started_at": window.started_at,
        }
        if sampled_from:
            outcome.notes.append(f"validated a sample of {len(rows):,} of {sampled_from:,} rows")
        outcome.notes.append(f"{len(rows):,} rows of {len(window.batch_ids)} latest batches validated")
        return outcome

    return guarded("raw_events", "gx_suite", run)


def quarantine_rate(
    home: MarqueeHome,
    config: QualityConfig,
    connect: Connect,
    entity: str,
    since: dt.datetime | None = None,
) -> CheckOutcome:
    asset = f"raw_{entity}"

    def run() -> CheckOutcome:
        with connect() as con:
            window = data.latest_ingestion(con, entity, since)
        metrics = {
            "quarantine_rate": window.quarantine_rate,
            "quarantine_rate_max": config.quarantine_rate_max,
            "rows_read": window.rows_read,
            "rows_quarantined": window.rows_quarantined,
            "rows_accepted": window.rows_accepted,
            "files": window.files,
            "files_rejected": window.files_rejected,
            "latest_ingestion_started_at": window.started_at,
        }
        frame = pd.DataFrame([{
            "quarantine_rate": window.quarantine_rate, "files_rejected": window.files_rejected,
        }])
        suite = suites.metrics_suite(
            f"{asset}_quarantine_rate",
            [
                Bound("quarantine_rate", max_value=config.quarantine_rate_max,
                      description="quarantined / read in the latest ingestion"),
                Bound("files_rejected", max_value=0, severity="warning",
                      description="landing files rejected whole (unreadable, empty, wrong type)"),
            ],
        )
        outcome = CheckOutcome(asset, "quarantine_rate", validate(frame, suite, asset=asset, data_docs_dir=_docs(home, config)), metrics)
        if not window.batch_ids:
            outcome.notes.append(f"no {entity} file ingested yet")
        else:
            outcome.notes.append(
                f"{window.rows_quarantined:,} of {window.rows_read:,} rows quarantined "
                f"in {window.files} file(s)"
            )
        if window.top_reasons:
            outcome.metrics["top_reasons"] = [f"{n:,}x {r}" for r, n in window.top_reasons]
            for e in outcome.validation.expectations:
                if not e.success:
                    e.examples = [f"{n:,}x {r[:80]}" for r, n in window.top_reasons[:3]]
        return outcome

    return guarded(asset, "quarantine_rate", run)


# --- marts ------------------------------------------------------------------------------


def mart_suite(home: MarqueeHome, config: QualityConfig, connect: Connect, name: str) -> CheckOutcome:
    def run() -> CheckOutcome:
        with connect() as con:
            df, sampled_from = data.sample_frame(con, data.mart(name), config.max_rows_validated)
        suite = suites.MART_SUITES[name](config)
        outcome = CheckOutcome(
            name, "gx_suite",
            validate(df, suite, asset=name, data_docs_dir=_docs(home, config), sampled_from=sampled_from),
            {"rows_validated": len(df)},
        )
        if sampled_from:
            outcome.notes.append(f"validated a sample of {len(df):,} of {sampled_from:,} rows")
        return outcome

    return guarded(name, "gx_suite", run)


def referential_coverage(home: MarqueeHome, config: QualityConfig, connect: Connect) -> CheckOutcome:
    def run() -> CheckOutcome:
        with connect() as con:
            cov = data.referential_coverage(con)
        frame = pd.DataFrame([{
            "missing_title_share": cov.missing_title_share,
            "missing_user_share": cov.missing_user_share,
        }])
        suite = suites.metrics_suite("fct_interactions_referential_coverage", [
            Bound("missing_title_share", max_value=config.missing_title_share_max,
                  description="share of interactions whose title is not in the catalogue"),
            Bound("missing_user_share", max_value=config.missing_user_share_max,
                  description="share of interactions whose user is not in the catalogue"),
        ])
        outcome = CheckOutcome(
            "fct_interactions", "referential_coverage",
            validate(frame, suite, asset="fct_interactions_coverage", data_docs_dir=_docs(home, config)),
            {
                "rows": cov.rows,
                "rows_missing_title": cov.rows_missing_title,
                "missing_title_share": cov.missing_title_share,
                "missing_title_share_max": config.missing_title_share_max,
                "rows_missing_user": cov.rows_missing_user,
                "missing_user_share": cov.missing_user_share,
                "missing_user_share_max": config.missing_user_share_max,
                "top_missing_titles": cov.missing_titles,
                "top_missing_users": cov.missing_users,
            },
        )
        for e in outcome.validation.expectations:
            if e.column == "missing_title_share":
                e.examples = cov.missing_titles[:3]
            elif e.column == "missing_user_share":
                e.examples = cov.missing_users[:3]
        return outcome

    return guarded("fct_interactions", "referential_coverage", run)


def mart_monitors(
    home: MarqueeHome, config: QualityConfig, connect: Connect, materialization_id: str
) -> list[CheckOutcome]:
    """Row-count change (each mart) and distribution drift (fct_interactions) against the
    previous materialization; records this materialization's profile as the new baseline."""
    state = drift.ProfileState(store.state_dir(home))
    try:
        with connect() as con:
            profile = drift.mart_profile(con)
        baseline = state.baseline_for(materialization_id)
        stats = drift.compare(baseline, profile)
    except Exception as exc:  # noqa: BLE001 - the same error fails every check below
        error = error_text(exc)
        return [CheckOutcome(m, "row_count_change", error=error) for m in data.MARTS] + [
            CheckOutcome("fct_interactions", "distribution_drift", error=error)
        ]
    docs = _docs(home, config)
    outcomes = [guarded(m, "row_count_change", lambda m=m: _row_count(m, config, baseline, profile, stats, docs))
                for m in data.MARTS]
    outcomes.append(guarded("fct_interactions", "distribution_drift",
                            lambda: _drift(config, baseline, profile, stats, docs)))
    state.record(materialization_id, profile)
    return outcomes


def _row_count(name, config, baseline, profile, stats, docs) -> CheckOutcome:
    rows = profile["row_counts"][name]
    before = (baseline or {}).get("row_counts", {}).get(name)
    metrics: dict[str, Any] = {"rows": rows, "previous_rows": before,
                               "row_count_drop_max": config.row_count_drop_max,
                               "row_count_growth_max": config.row_count_growth_max}
    change = stats["row_count_change"].get(name)
    if change is None:
        note = "no previous materialization: baseline recorded" if baseline is None else (
            "previous row count was 0: nothing to compare")
        return CheckOutcome(name, "row_count_change", metrics=metrics, notes=[note])
    metrics["row_count_change"] = change
    frame = pd.DataFrame([{"row_count_change": change}])
    suite = suites.metrics_suite(f"{name}_row_count_change", [
        Bound("row_count_change", min_value=-config.row_count_drop_max,
              description="relative row-count change vs previous materialization (drop)"),
        Bound("row_count_change", max_value=config.row_count_growth_max, severity="warning",
              description="relative row-count change vs previous materialization (growth)"),
    ])
    return CheckOutcome(
        name, "row_count_change",
        validate(frame, suite, asset=f"{name}_volume", data_docs_dir=docs), metrics,
        [f"{before:,} -> {rows:,} rows ({change:+.1%})"],
    )


def _drift(config, baseline, profile, stats, docs) -> CheckOutcome:
    d = stats["drift"]
    metrics: dict[str, Any] = {
        "interactions_per_user_quantiles": profile["interactions_per_user_quantiles"],
        "previous_interactions_per_user_quantiles": (baseline or {}).get("interactions_per_user_quantiles"),
        "top_users_share": profile["top_users_share"],
        "previous_top_users_share": (baseline or {}).get("top_users_share"),
        "rating_mean": profile["rating_mean"],
        "previous_rating_mean": (baseline or {}).get("rating_mean"),
        **{k: v for k, v in d.items()},
        "genre_psi_max": config.genre_psi_max,
        "interactions_per_user_psi_max": config.interactions_per_user_psi_max,
        "top_users_share_change_max": config.top_users_share_change_max,
        "rating_mean_shift_max": config.rating_mean_shift_max,
    }
    if baseline is None:
        return CheckOutcome("fct_interactions", "distribution_drift", metrics=metrics,
                            notes=["no previous materialization: baseline recorded"])
    bounds = [
        Bound("genre_psi", max_value=config.genre_psi_max,
              description="PSI of genre shares of interactions"),
        Bound("interactions_per_user_psi", max_value=config.interactions_per_user_psi_max,
              description="PSI of interactions per user (previous deciles)"),
        Bound("top_users_share_change", max_value=config.top_users_share_change_max,
              description="change of the top-1% users' share of engagement events"),
        Bound("rating_mean_shift", max_value=config.rating_mean_shift_max, severity="warning",
              description="shift of the mean rating (stars)"),
    ]
    bounds = [b for b in bounds if b.metric in d]
    frame = pd.DataFrame([{b.metric: d[b.metric] for b in bounds}])
    outcome = CheckOutcome(
        "fct_interactions", "distribution_drift",
        validate(frame, suites.metrics_suite("fct_interactions_distribution_drift", bounds),
                 asset="fct_interactions_drift", data_docs_dir=docs),
        metrics,
    )
    before, now = baseline.get("top_users_share"), profile["top_users_share"]
    for e in outcome.validation.expectations:
        if e.column == "top_users_share_change" and before is not None:
            e.examples = [f"top {profile['top_users']} user(s): {before:.1%} -> {now:.1%} of events"]
        if e.column == "rating_mean_shift" and baseline.get("rating_mean") is not None:
            e.examples = [f"{baseline['rating_mean']:.3f} -> {profile['rating_mean']:.3f}"]
    return outcome


# --- training sets ----------------------------------------------------------------------


def training_set(
    df: pd.DataFrame,
    config: QualityConfig,
    *,
    label: str,
    features: list[str],
    cutoff: dt.datetime,
    timestamp: str = "event_timestamp",
    asset: str = "training_set",
    home: MarqueeHome | None = None,
) -> CheckOutcome:
    """Validate a training set frame (label balance, feature NULL rates, nothing after cutoff)."""

    def run() -> CheckOutcome:
        suite = suites.training_set_suite(
            config, label=label, features=features, cutoff=cutoff, timestamp=timestamp,
            name=f"{asset}_training_set",
        )
        docs = _docs(home, config) if home is not None else None
        v = validate(df, suite, asset=asset, data_docs_dir=docs)
        positive = float(df[label].mean()) if len(df) and label in df else None
        return CheckOutcome(asset, "training_set_suite", v, {"rows": len(df), "positive_rate": positive})

    return guarded(asset, "training_set_suite", run)
