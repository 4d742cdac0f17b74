"""The data gate: did every blocking check on the data behind a model pass?

    from marquee.quality.gate import data_gate
    verdict = data_gate(["fct_interactions", "fct_user_daily_features"], home)
    if not verdict:                 # GateResult is truthy only when every check passed
        print(verdict.reason())     # "2 of 41 blocking checks not passed: ..."

``source="dagster"`` (default) reads the Dagster instance under ``$MARQUEE_HOME/dagster``: for
every blocking asset check (ours and the dbt tests of severity error) on the given assets and,
with ``upstream=True``, on everything upstream of them, the latest completed evaluation must
have passed (or failed with severity WARN) *on the asset's latest materialization*. A check
that never completed, failed with severity ERROR, or last evaluated an older materialization
than the latest (its step was skipped or crashed after the asset changed) counts as failed.
A check skipped in a run that did not rebuild its asset keeps its earlier verdict.

``source="reports"`` reads ``reports/data_quality/latest.json`` instead (only the checks of
`marquee.quality.checks.CHECK_SPECS`; no dbt tests, no staleness test) -- for callers without a
Dagster instance.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from marquee.config import MarqueeHome
from marquee.quality import store
from marquee.quality.checks import CHECK_SPECS

OK_STATUSES = ("passed", "warned")


@dataclass
class CheckVerdict:
    asset: str
    check: str
    status: str  # passed | warned | failed | not_run | stale
    description: str = ""
    run_id: str | None = None

    @property
    def ok(self) -> bool:
        return self.status in OK_STATUSES

    def line(self) -> str:
        text = f"{self.asset}:{self.check} {self.status}"
        return f"{text} ({self.description})" if self.description else text


@dataclass
class GateResult:
    passed: bool
    assets: list[str]
    checks: list[CheckVerdict] = field(default_factory=list)
    source: str = "dagster"

    def __bool__(self) -> bool:
        return self.passed

    @property
    def failing(self) -> list[CheckVerdict]:
        return [c for c in self.checks if not c.ok]

    def reason(self) -> str:
        if not self.checks:
            return f"no blocking check covers {', '.join(self.assets)}"
        if self.passed:
            warned = sum(c.status == "warned" for c in self.checks)
            return f"all {len(self.checks)} blocking checks passed ({warned} warned)"
        bad = self.failing
        head = "; ".join(c.line()[:200] for c in bad[:5])
        more = f" (+{len(bad) - 5} more)" if len(bad) > 5 else ""
        return f"{len(bad)} of {len(self.checks)} blocking checks not passed: {head}{more}"


def data_gate(
    asset_keys: Iterable[Any],
    home: MarqueeHome | None = None,
    *,
    upstream: bool = True,
    source: str = "dagster",
    definitions: Any = None,
    instance: Any = None,
    require_checks: bool = True,
) -> GateResult:
    """Did every blocking check on ``asset_keys`` (and, with ``upstream``, on the assets they
    are built from) pass on the latest data? See the module docstring.

    ``definitions`` / ``instance`` default to ``build_definitions(home)`` and the instance in
    ``$MARQUEE_HOME/dagster``. With ``require_checks`` (default) a gate that finds no blocking
    check at all does not pass.
    """
    import dagster as dg

    home = home or MarqueeHome.from_env()
    keys = [k if isinstance(k, dg.AssetKey) else dg.AssetKey.from_user_string(str(k)) for k in asset_keys]
    if definitions is None and (upstream or source == "dagster"):
        from orchestration.definitions import build_definitions

        definitions = build_definitions(home)
    covered = set(keys)
    graph = None
    if definitions is not None:
        graph = definitions.resolve_asset_graph()
        unknown = [k.to_user_string() for k in keys if not graph.has(k)]
        if unknown:
            raise ValueError(f"unknown asset(s): {', '.join(unknown)}")
        if upstream:
            covered = set(dg.AssetSelection.assets(*keys).upstream().resolve(graph))
    names = sorted(k.to_user_string() for k in covered)
    if source == "reports":
        verdicts = _from_reports(home, covered)
    elif source == "dagster":
        verdicts = _from_dagster(home, graph, covered, instance)
    else:
        raise ValueError(f"unknown source {source!r}: expected 'dagster' or 'reports'")
    passed = all(v.ok for v in verdicts) and (bool(verdicts) or not require_checks)
    return GateResult(passed, names, verdicts, source)


def _from_reports(home: MarqueeHome, covered: set) -> list[CheckVerdict]:
    latest = store.load_latest(home)
    names = {k.to_user_string() for k in covered}
    verdicts = []
    for asset, check, _ in CHECK_SPECS:
        if asset not in names:
            continue
        entry = latest.get(f"{asset}:{check}")
        if entry is None:
            verdicts.append(CheckVerdict(asset, check, "not_run", "no stored result"))
            continue
        status = entry.get("status") or ("passed" if entry.get("passed") else "failed")
        verdicts.append(
            CheckVerdict(asset, check, status, entry.get("description", ""), entry.get("run_id"))
        )
    return verdicts


def _from_dagster(home: MarqueeHome, graph, covered: set, instance) -> list[CheckVerdict]:
    import dagster as dg
    from dagster._core.storage.asset_check_execution_record import (
        AssetCheckExecutionRecordStatus as Status,
    )

    own_instance = instance is None
    if own_instance:
        home.dagster_home.mkdir(parents=True, exist_ok=True)
        instance = dg.DagsterInstance.from_config(str(home.dagster_home))
    try:
        check_keys = sorted(
            (ck for ck in graph.asset_check_keys
             if ck.asset_key in covered and graph.get_check_spec(ck).blocking),
            key=lambda ck: ck.to_user_string(),
        )
        latest = instance.event_log_storage.get_latest_asset_check_execution_by_key(check_keys)
        materialized: dict = {}
        verdicts = []
        for ck in check_keys:
            asset, name = ck.asset_key.to_user_string(), ck.name
            if latest.get(ck) is None:
                verdicts.append(CheckVerdict(asset, name, "not_run", "never executed"))
                continue
            # The latest *completed* evaluation: a check planned in a later run but skipped
            # (its asset was not rebuilt) still speaks for the data it evaluated -- the
            # staleness test below catches the case where the asset did change.
            done = instance.event_log_storage.get_asset_check_execution_history(
                ck, limit=1, status={Status.SUCCEEDED, Status.FAILED}
            )
            record = done[0] if done else None
            evaluation = record.event.asset_check_evaluation if record and record.event else None
            if evaluation is None:
                run = latest[ck].run_id
                verdicts.append(CheckVerdict(
                    asset, name, "not_run",
                    f"planned in run {run[:8]} but produced no result (skipped or crashed)", run,
                ))
                continue
            description = evaluation.description or _metadata_text(evaluation.metadata, "reason")
            if ck.asset_key not in materialized:
                found = instance.fetch_materializations(ck.asset_key, limit=1).records
                materialized[ck.asset_key] = found[0] if found else None
            latest_mat = materialized[ck.asset_key]
            target = evaluation.target_materialization_data
            if latest_mat is not None and (
                (target is not None and target.storage_id != latest_mat.storage_id)
                or (target is None and record.event.timestamp < latest_mat.timestamp)
            ):
                verdicts.append(CheckVerdict(
                    asset, name, "stale",
                    f"last evaluated before the latest materialization (run {latest_mat.run_id[:8]})",
                    record.run_id,
                ))
                continue
            if evaluation.passed:
                status = "passed"
            elif evaluation.severity == dg.AssetCheckSeverity.WARN:
                status = "warned"
            else:
                status = "failed"
            verdicts.append(CheckVerdict(asset, name, status, description or "", record.run_id))
        return verdicts
    finally:
        if own_instance:
            instance.dispose()


def _metadata_text(metadata, key: str) -> str:
    value = (metadata or {}).get(key)
    return str(getattr(value, "value", value) or "") if value is not None else ""
