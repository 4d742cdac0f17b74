"""The promotion gate: may a candidate version replace the champion? Every reason recorded.

A candidate is promoted only when

1. its artifacts are complete and match their checksums (never overridable: a broken version
   cannot be served);
2. it has an evaluation with the gate metric for the ranker and every required baseline;
3. every blocking data check behind it passed (failed, errored or never-run checks refuse);
4. the ranker beats every required baseline on the gate metric;
5. it does not fall below the champion's recorded metric by more than ``tolerance``.

``force=True`` overrides 2-5 (not 1) and the decision is recorded as forced, with the reasons
that would have refused it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class PromotionPolicy:
    metric: str = "ndcg@10"
    model: str = "ranker"
    baselines: tuple[str, ...] = ("popularity", "retrieval")
    tolerance: float = 0.01  # absolute drop of ``metric`` allowed below the champion
    force: bool = False


@dataclass
class Decision:
    candidate: str | None
    champion: str | None
    promoted: bool
    forced: bool = False
    reasons: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _metric(evaluation: dict[str, Any] | None, model: str, metric: str) -> float | None:
    try:
        value = evaluation["models"][model][metric]  # type: ignore[index]
    except (KeyError, TypeError):
        return None
    return float(value) if isinstance(value, int | float) else None


def decide(
    candidate: str | None,
    artifact_problems: list[str],
    evaluation: dict[str, Any] | None,
    data_ok: bool,
    data_reason: str,
    champion: str | None,
    champion_evaluation: dict[str, Any] | None,
    policy: PromotionPolicy | None = None,
) -> Decision:
    p = policy or PromotionPolicy()
    if candidate is None:
        return Decision(None, champion, False, reasons=["no candidate version to promote"])
    if artifact_problems:
        return Decision(
            candidate,
            champion,
            False,
            reasons=[f"candidate artifacts incomplete: {'; '.join(artifact_problems)}"],
        )
    refusals: list[str] = []
    notes: list[str] = []
    ours = _metric(evaluation, p.model, p.metric)
    if evaluation is None:
        refusals.append(f"no evaluation recorded for candidate {candidate}")
    elif ours is None:
        refusals.append(f"the evaluation has no {p.metric} for model {p.model!r}")
    if data_ok:
        notes.append(f"data checks: {data_reason}")
    else:
        refusals.append(f"data checks: {data_reason}")
    if ours is not None:
        for name in p.baselines:
            theirs = _metric(evaluation, name, p.metric)
            if theirs is None:
                refusals.append(f"baseline {name!r} has no {p.metric} in the evaluation")
            elif ours > theirs:
                notes.append(f"{p.model} {p.metric} {ours:.4f} beats {name} {theirs:.4f}")
            else:
                refusals.append(f"{p.model} {p.metric} {ours:.4f} does not beat {name} {theirs:.4f}")
        if champion is None:
            notes.append("no champion yet")
        elif champion == candidate:
            notes.append("candidate is already the champion")
        else:
            best = _metric(champion_evaluation, p.model, p.metric)
            if best is None:
                notes.append(f"champion {champion} has no recorded {p.metric}; not compared")
            elif ours >= best - p.tolerance:
                notes.append(
                    f"{p.metric} {ours:.4f} vs champion {champion} {best:.4f} "
                    f"(tolerance {p.tolerance})"
                )
            else:
                refusals.append(
                    f"{p.metric} {ours:.4f} falls below champion {champion} {best:.4f} "
                    f"by more than the tolerance {p.tolerance}"
                )
    if refusals and p.force:
        return Decision(
            candidate,
            champion,
            True,
            forced=True,
            reasons=["forced promotion (config force=true)", *[f"overridden: {r}" for r in refusals], *notes],
        )
    if refusals:
        return Decision(candidate, champion, False, reasons=[*refusals, *notes])
    return Decision(candidate, champion, True, reasons=notes)
