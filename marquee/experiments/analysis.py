"""Per-arm outcomes, lifts with 95 % bootstrap intervals, a sample-ratio test, a decision.

The unit of randomization is the user, so every interval resamples users: each metric is a
ratio of per-user sums (plays / exposures, completions / plays, watch seconds / users) and a
bootstrap replicate draws each arm's users with replacement (seeded) and recomputes the
ratios and the lift ``treatment / control - 1``. The 95 % interval is the 2.5th and 97.5th
percentiles of the replicates.

Decision, for each treatment arm against the control (the first arm):

- ``stop: sample ratio mismatch`` -- the users per arm differ from the configured traffic
  (chi-square, p < 0.001): the assignment or the logging is broken, no metric can be trusted;
- ``stop: guardrail`` -- a guardrail metric dropped by more than its allowed relative drop
  and the drop is significant (the interval lies below zero);
- ``ship`` -- the primary metric's lift interval lies above zero;
- ``stop: treatment worse`` -- it lies below zero;
- ``keep running`` -- otherwise (not significant yet).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from marquee.experiments.config import Experiment

SRM_ALPHA = 0.001
ATTRIBUTION_WINDOW = pd.Timedelta(hours=24)
# metric -> (numerator column, denominator column) of the per-user table
RATIOS = {
    "play_rate": ("plays", "exposures"),
    "completion_rate": ("completions", "plays"),
    "watch_seconds_per_user": ("watch_seconds", "users"),
}


def attribute_outcomes(
    exposures: pd.DataFrame, outcomes: pd.DataFrame, window: pd.Timedelta = ATTRIBUTION_WINDOW
) -> pd.DataFrame:
    """Per user: arm, exposures (distinct titles shown), plays (distinct shown titles started
    within ``window`` after they were first shown), completions (of those, finished) and watch
    seconds (on those titles, within the window).

    ``exposures``: user_id, arm, title_id, ts. ``outcomes``: user_id, title_id, event_type
    (``play_start`` / ``play_stop``), ts, watch_seconds, completed (bool, play_stop rows)."""
    first = (
        exposures.groupby(["user_id", "arm", "title_id"], as_index=False)["ts"].min()
        .rename(columns={"ts": "shown_at"})
    )
    joined = outcomes.merge(first, on=["user_id", "title_id"], how="inner")
    joined = joined[(joined["ts"] >= joined["shown_at"]) & (joined["ts"] < joined["shown_at"] + window)]
    starts = joined[joined["event_type"] == "play_start"].drop_duplicates(["user_id", "title_id"])
    stops = joined[joined["event_type"] == "play_stop"]
    per_user = first.groupby(["user_id", "arm"], as_index=False).agg(exposures=("title_id", "size"))
    plays = starts.groupby("user_id").size().rename("plays")
    done = stops[stops["completed"].fillna(False).astype(bool)].drop_duplicates(["user_id", "title_id"])
    completions = done.groupby("user_id").size().rename("completions")
    watch = stops.groupby("user_id")["watch_seconds"].sum().rename("watch_seconds")
    out = per_user.join(plays, on="user_id").join(completions, on="user_id").join(watch, on="user_id")
    out[["plays", "completions", "watch_seconds"]] = out[["plays", "completions", "watch_seconds"]].fillna(0)
    out["users"] = 1.0
    return out.sort_values("user_id").reset_index(drop=True)


def _ratio(table: np.ndarray, num: int, den: int, idx: np.ndarray | None = None) -> np.ndarray | float:
    if idx is None:
        d = table[:, den].sum()
        return float(table[:, num].sum() / d) if d else float("nan")
    n = table[idx, num].sum(axis=-1)
    d = table[idx, den].sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(d > 0, n / d, np.nan)


@dataclass
class Comparison:
    arm: str
    metric: str
    control: float
    treatment: float
    lift: float
    ci_low: float
    ci_high: float

    @property
    def significant(self) -> bool:
        return self.ci_low > 0 or self.ci_high < 0


@dataclass
class Analysis:
    experiment: str
    arms: dict[str, dict[str, float]]
    comparisons: list[Comparison]
    srm_p: float
    decisions: dict[str, str]
    decision: str
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "experiment": self.experiment,
            "arms": self.arms,
            "comparisons": [{**c.__dict__, "significant": c.significant} for c in self.comparisons],
            "srm_p_value": self.srm_p,
            "decisions": self.decisions,
            "decision": self.decision,
            "notes": self.notes,
        }


def srm_p_value(users: dict[str, int], experiment: Experiment) -> float:
    observed = np.array([users.get(a.name, 0) for a in experiment.arms], dtype=float)
    if observed.sum() == 0:
        return float("nan")
    expected = observed.sum() * np.array([a.traffic for a in experiment.arms]) / 100.0
    return float(stats.chisquare(observed, expected).pvalue)


def analyse(
    experiment: Experiment, per_user: pd.DataFrame, n_boot: int = 2000, seed: int = 0
) -> Analysis:
    """The analysis of one experiment from `attribute_outcomes`' table."""
    columns = ["plays", "exposures", "completions", "watch_seconds", "users"]
    pos = {c: i for i, c in enumerate(columns)}
    rng = np.random.default_rng(seed)
    tables = {a.name: per_user.loc[per_user["arm"] == a.name, columns].to_numpy(float) for a in experiment.arms}
    users = {name: len(t) for name, t in tables.items()}
    arms = {
        name: {"users": users[name], **{m: _ratio(t, pos[n], pos[d]) if len(t) else float("nan") for m, (n, d) in RATIOS.items()}}
        for name, t in tables.items()
    }
    srm = srm_p_value(users, experiment)
    control = experiment.control.name
    metrics = [experiment.primary_metric, *[g.metric for g in experiment.guardrails if g.metric != experiment.primary_metric]]
    comparisons: list[Comparison] = []
    decisions: dict[str, str] = {}
    notes: list[str] = []
    c_table = tables[control]
    c_idx = rng.integers(0, max(len(c_table), 1), size=(n_boot, len(c_table))) if len(c_table) else None
    for arm in experiment.arms[1:]:
        t_table = tables[arm.name]
        t_idx = rng.integers(0, max(len(t_table), 1), size=(n_boot, len(t_table))) if len(t_table) else None
        by_metric = {}
        for metric in metrics:
            num, den = RATIOS[metric]
            c, t = arms[control][metric], arms[arm.name][metric]
            if c_idx is None or t_idx is None or not np.isfinite(c) or not c:
                comp = Comparison(arm.name, metric, c, t, float("nan"), float("nan"), float("nan"))
            else:
                with np.errstate(divide="ignore", invalid="ignore"):
                    lifts = _ratio(t_table, pos[num], pos[den], t_idx) / _ratio(c_table, pos[num], pos[den], c_idx) - 1
                lifts = lifts[np.isfinite(lifts)]
                low, high = (np.percentile(lifts, [2.5, 97.5]) if len(lifts) else (np.nan, np.nan))
                comp = Comparison(arm.name, metric, c, t, t / c - 1, float(low), float(high))
            comparisons.append(comp)
            by_metric[metric] = comp
        decisions[arm.name] = _decide(experiment, by_metric, srm)
    winners = [
        (by.lift, name)
        for name, d in decisions.items()
        if d == "ship"
        for by in comparisons
        if by.arm == name and by.metric == experiment.primary_metric
    ]
    if np.isfinite(srm) and srm < SRM_ALPHA:
        decision = "stop: sample ratio mismatch"
        notes.append(f"users per arm {users} do not match the traffic split (chi-square p = {srm:.2g})")
    elif winners:
        decision = f"ship {max(winners)[1]}"
    elif any(d.startswith("stop") for d in decisions.values()):
        decision = next(d for d in decisions.values() if d.startswith("stop"))
    else:
        decision = "keep running"
    return Analysis(experiment.name, arms, comparisons, srm, decisions, decision, notes)


def _decide(experiment: Experiment, by_metric: dict[str, Comparison], srm: float) -> str:
    if np.isfinite(srm) and srm < SRM_ALPHA:
        return "stop: sample ratio mismatch"
    for g in experiment.guardrails:
        comp = by_metric.get(g.metric)
        if comp is not None and comp.ci_high < 0 and comp.lift < -g.max_relative_drop:
            return "stop: guardrail"
    primary = by_metric[experiment.primary_metric]
    if primary.ci_low > 0:
        return "ship"
    if primary.ci_high < 0:
        return "stop: treatment worse"
    return "keep running"
