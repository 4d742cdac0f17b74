"""Run the promotion gate for the newest candidate and write ``reports/evaluation.json``.

The decision itself is `models.promotion.decide` (plain, tested); this module gathers its
inputs -- the registry's candidate and champion, the candidate's recorded evaluation, the data
gate over every blocking check upstream of the model -- and records the outcome: the champion
pointer (atomic), ``models/promotions.jsonl`` and the evaluation report of SPEC §5.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from marquee.config import MarqueeHome
from marquee.reporting import write_report_json
from models.promotion import PromotionPolicy, decide
from models.registry import ModelRegistry, RegistryError

GATED_ASSETS = ("ranking_model",)


def write_candidate_evaluation(home: MarqueeHome, version: str, evaluation: dict[str, Any]) -> Path:
    return write_report_json(home.reports / "evaluations" / f"{version}.json", {"candidate": version, **evaluation})


def evaluation_report(evaluation: dict[str, Any] | None, decision: dict[str, Any], champion_after: str | None) -> dict[str, Any]:
    """The SPEC §5 shape: protocol, k, models, candidate, champion, promoted, reasons."""
    evaluation = evaluation or {}
    return {
        "protocol": evaluation.get("protocol", {}),
        "k": int(evaluation.get("protocol", {}).get("k", 10)),
        "models": evaluation.get("models", {}),
        "candidate": decision["candidate"],
        "champion": decision["champion"],
        "champion_after": champion_after,
        "promoted": bool(decision["promoted"]),
        "forced": bool(decision.get("forced", False)),
        "reasons": list(decision["reasons"]),
        "slice": evaluation.get("slice", {}),
        "evaluated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }


def run_promotion(
    home: MarqueeHome,
    policy: PromotionPolicy | None = None,
    candidate: str | None = None,
    instance: Any = None,
    gate=None,
) -> dict[str, Any]:
    """Decide for ``candidate`` (default: the newest version), promote when allowed, write the
    report. ``gate``: a callable returning ``(ok, reason)`` (default: the Dagster data gate
    over every blocking check upstream of the ranking model)."""
    registry = ModelRegistry(home.models)
    candidate = candidate or registry.latest()
    champion = registry.champion()
    evaluation = champion_eval = None
    problems: list[str] = []
    if candidate is not None:
        problems = registry.problems(candidate)
        try:
            evaluation = registry.manifest(candidate).get("evaluation")
        except RegistryError:
            evaluation = None
        if evaluation is not None and not evaluation.get("models"):
            evaluation = None
    if champion is not None and champion != candidate:
        try:
            champion_eval = registry.manifest(champion).get("evaluation")
        except RegistryError:
            champion_eval = None
    if gate is None:
        ok, reason = _dagster_gate(home, instance)
    else:
        ok, reason = gate()
    decision = decide(candidate, problems, evaluation, ok, reason, champion, champion_eval, policy)
    record = decision.to_dict()
    if decision.promoted and candidate is not None and candidate != champion:
        try:
            registry.promote(candidate, {"forced": decision.forced, "reasons": decision.reasons})
        except RegistryError as exc:
            record.update(promoted=False, forced=False, reasons=[str(exc), *decision.reasons])
    registry.record_decision(record)
    report = evaluation_report(evaluation, record, registry.champion())
    write_report_json(home.reports / "evaluation.json", report)
    return report


def _dagster_gate(home: MarqueeHome, instance: Any) -> tuple[bool, str]:
    from marquee.quality.gate import data_gate

    try:
        verdict = data_gate(list(GATED_ASSETS), home, instance=instance)
    except Exception as exc:  # a gate that cannot be evaluated refuses
        return False, f"the data gate could not be evaluated: {exc}"
    return bool(verdict), verdict.reason()
