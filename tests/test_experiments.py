"""Experiments: the config is refused with a reason, assignment is stable and balanced, outcomes
are attributed by hand-checked rules, and the analysis tells a real win from noise."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from marquee.experiments.analysis import analyse, attribute_outcomes, srm_p_value
from marquee.experiments.assignment import assign, bucket
from marquee.experiments.config import (
    DEFAULT_FILE,
    ExperimentConfigError,
    active_on,
    load_experiments,
    parse_experiments,
)

GOOD = """
experiments:
  - name: ranker-test
    surface: home
    start: 2026-12-01T00:00:00Z
    stop: 2026-12-15T00:00:00Z
    primary_metric: play_rate
    guardrails: [{metric: completion_rate, max_relative_drop: 0.05}]
    arms:
      - {name: control, model: champion, traffic: 50}
      - {name: treatment, model: v2, traffic: 50}
"""


def _one(text: str = GOOD, **replace: str):
    for old, new in replace.items():
        text = text.replace(old, new)
    (experiment,) = parse_experiments(text, model_exists=lambda v: v in {"v1", "v2"})
    return experiment


# --------------------------------------------------------------------------- config


def test_a_valid_file_and_the_repos_own_file_load() -> None:
    e = _one()
    assert e.control.name == "control" and [a.traffic for a in e.arms] == [50, 50]
    at = dt.datetime(2026, 12, 5, tzinfo=dt.UTC)
    assert active_on([e], "home", at) is e
    assert active_on([e], "search", at) is None
    assert active_on([e], "home", dt.datetime(2026, 12, 15, tzinfo=dt.UTC)) is None  # stop is exclusive
    assert load_experiments(DEFAULT_FILE) == ()  # shipped with none running


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        (GOOD.replace("traffic: 50}\n      - {name: treatment", "traffic: 60}\n      - {name: treatment"),
         "arm traffic must sum to 100, got 110"),
        (GOOD.replace("model: v2", "model: v9"), "model version 'v9' is not in the registry"),
        (GOOD.replace("name: treatment", "name: control"), "arm names must be unique"),
        (GOOD.replace("primary_metric: play_rate", "primary_metric: clicks"), "primary_metric must be one of"),
        (GOOD.replace("surface: home", "surface: home\n    owner: me"), "owner: Extra inputs are not permitted"),
        (GOOD.replace("2026-12-15T00:00:00Z", "2026-11-15T00:00:00Z"), "stop must be after start"),
        (GOOD.replace("2026-12-01T00:00:00Z", "2026-12-01T00:00:00"), "need a UTC offset"),
        ("experiments: [", "not valid YAML"),
    ],
)
def test_bad_files_are_refused_with_a_reason(text: str, fragment: str) -> None:
    with pytest.raises(ExperimentConfigError, match=None) as info:
        parse_experiments(text, model_exists=lambda v: v in {"v1", "v2"})
    assert fragment in str(info.value), str(info.value)


def test_overlapping_experiments_on_one_surface_are_refused() -> None:
    body = GOOD.split("experiments:\n", 1)[1]
    second = body.replace("ranker-test", "other").replace("2026-12-01", "2026-12-10").replace("2026-12-15", "2026-12-20")
    with pytest.raises(ExperimentConfigError, match="'ranker-test' and 'other' overlap in time on surface 'home'"):
        parse_experiments("experiments:\n" + body + second)
    # Back to back, or on another surface, is fine.
    later = body.replace("ranker-test", "later").replace("2026-12-15", "2026-12-29").replace("2026-12-01", "2026-12-15")
    assert len(parse_experiments("experiments:\n" + body + later)) == 2
    elsewhere = second.replace("surface: home", "surface: search")
    assert len(parse_experiments("experiments:\n" + body + elsewhere)) == 2


# --------------------------------------------------------------------------- assignment


def test_assignment_is_deterministic_balanced_and_independent_between_experiments() -> None:
    e = _one()
    users = [f"u{i:06d}" for i in range(20_000)]
    arms = [assign(e, u).name for u in users]
    assert arms == [assign(e, u).name for u in users]
    counts = pd.Series(arms).value_counts()
    assert stats.chisquare([counts["control"], counts["treatment"]]).pvalue > 0.001
    skewed = _one(GOOD.replace("traffic: 50}\n      - {name: treatment, model: v2, traffic: 50",
                               "traffic: 90}\n      - {name: treatment, model: v2, traffic: 10"))
    share = np.mean([assign(skewed, u).name == "treatment" for u in users])
    assert abs(share - 0.10) < 0.01
    other = _one(GOOD.replace("ranker-test", "another-test"))
    same = np.mean([assign(e, u).name == assign(other, u).name for u in users])
    assert abs(same - 0.5) < 0.02  # a user's arm in one experiment says nothing about the other
    assert 0 <= bucket("x", "y") < 10_000


# --------------------------------------------------------------------------- attribution


def _ts(minutes: float) -> pd.Timestamp:
    return pd.Timestamp("2026-12-05 12:00") + pd.Timedelta(minutes=minutes)


def test_outcomes_are_attributed_by_hand() -> None:
    exposures = pd.DataFrame(
        [
            ("a", "control", "t1", _ts(0)), ("a", "control", "t2", _ts(0)), ("a", "control", "t1", _ts(30)),
            ("b", "treatment", "t1", _ts(0)), ("b", "treatment", "t3", _ts(0)),
        ],
        columns=["user_id", "arm", "title_id", "ts"],
    )
    outcomes = pd.DataFrame(
        [
            ("a", "t1", "play_start", _ts(5), np.nan, False),
            ("a", "t1", "play_start", _ts(6), np.nan, False),       # same title again: one play
            ("a", "t1", "play_stop", _ts(90), 5000.0, True),
            ("a", "t9", "play_start", _ts(5), np.nan, False),       # never shown
            ("b", "t1", "play_start", _ts(-5), np.nan, False),      # before it was shown
            ("b", "t3", "play_start", _ts(25 * 60), np.nan, False),  # after the 24 h window
            ("b", "t3", "play_start", _ts(10), np.nan, False),
            ("b", "t3", "play_stop", _ts(40), 600.0, False),
        ],
        columns=["user_id", "title_id", "event_type", "ts", "watch_seconds", "completed"],
    )
    table = attribute_outcomes(exposures, outcomes).set_index("user_id")
    assert table.loc["a", ["exposures", "plays", "completions", "watch_seconds"]].tolist() == [2, 1, 1, 5000.0]
    assert table.loc["b", ["exposures", "plays", "completions", "watch_seconds"]].tolist() == [2, 1, 0, 600.0]
    assert table.loc["a", "arm"] == "control" and table.loc["b", "arm"] == "treatment"


# --------------------------------------------------------------------------- analysis


def _simulate(p_control: float, p_treatment: float, users: int, seed: int, completion=(0.5, 0.5), exposures: int = 10) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(users):
        arm = "control" if i % 2 == 0 else "treatment"
        p = p_control if arm == "control" else p_treatment
        c = completion[0] if arm == "control" else completion[1]
        plays = rng.binomial(exposures, p)
        done = rng.binomial(plays, c)
        rows.append((f"u{i}", arm, exposures, plays, done, done * 3000.0 + (plays - done) * 600.0))
    frame = pd.DataFrame(rows, columns=["user_id", "arm", "exposures", "plays", "completions", "watch_seconds"])
    frame["users"] = 1.0
    return frame


def test_point_estimates_by_hand() -> None:
    table = pd.DataFrame(
        {"user_id": ["a", "b", "c", "d"], "arm": ["control", "control", "treatment", "treatment"],
         "exposures": [10, 10, 10, 10], "plays": [1, 3, 4, 4], "completions": [1, 1, 2, 2],
         "watch_seconds": [100.0, 300.0, 400.0, 600.0], "users": [1.0] * 4}
    )
    result = analyse(_one(), table, n_boot=200)
    assert result.arms["control"]["play_rate"] == pytest.approx(0.2)
    assert result.arms["treatment"]["play_rate"] == pytest.approx(0.4)
    assert result.arms["control"]["completion_rate"] == pytest.approx(0.5)
    assert result.arms["treatment"]["watch_seconds_per_user"] == pytest.approx(500.0)
    primary = next(c for c in result.comparisons if c.metric == "play_rate")
    assert primary.lift == pytest.approx(1.0)
    assert primary.ci_low <= primary.lift <= primary.ci_high


def test_a_real_win_ships_and_a_worse_arm_stops() -> None:
    win = analyse(_one(), _simulate(0.10, 0.13, 3000, seed=1))
    primary = next(c for c in win.comparisons if c.metric == "play_rate")
    assert primary.ci_low > 0 and win.decision == "ship treatment"
    loss = analyse(_one(), _simulate(0.13, 0.10, 3000, seed=2))
    assert loss.decisions["treatment"] == "stop: treatment worse"


def test_a_a_tests_rarely_find_a_difference() -> None:
    significant = 0
    for seed in range(20):
        result = analyse(_one(), _simulate(0.10, 0.10, 2000, seed=100 + seed), n_boot=1000, seed=seed)
        primary = next(c for c in result.comparisons if c.metric == "play_rate")
        significant += primary.significant
        assert result.decision in ("keep running", "ship treatment", "stop: treatment worse")
    assert significant <= 3  # 5 % of 20 is 1; 3 or fewer has probability > 0.98


def test_guardrail_and_sample_ratio_mismatch_stop_the_experiment() -> None:
    # more plays, but far fewer completions
    guard = analyse(_one(), _simulate(0.10, 0.13, 3000, seed=3, completion=(0.6, 0.3)))
    assert guard.decisions["treatment"] == "stop: guardrail" and guard.decision == "stop: guardrail"
    table = _simulate(0.10, 0.10, 3000, seed=4)
    lopsided = pd.concat([table, table[table["arm"] == "control"].assign(user_id=lambda f: f["user_id"] + "x")])
    result = analyse(_one(), lopsided, n_boot=200)
    assert result.decision == "stop: sample ratio mismatch"
    assert srm_p_value({"control": 3000, "treatment": 1500}, _one()) < 1e-6
    assert srm_p_value({"control": 1500, "treatment": 1500}, _one()) == pytest.approx(1.0)


# --------------------------------------------------------------------------- end to end


@pytest.fixture(scope="module")
def experiment_home(tmp_path_factory: pytest.TempPathFactory):
    """A small synthetic home through the whole pipeline, with a champion (forced if the
    gate refused the candidate on so little data: the experiment needs a served model)."""
    from marquee.config import MarqueeHome
    from marquee.pipeline import run_assets
    from marquee.synthetic import GenerationConfig, generate
    from models.registry import ModelRegistry

    home = MarqueeHome(tmp_path_factory.mktemp("experiments") / "home").ensure()
    generate(home, GenerationConfig(users=500, titles=200, days=14), progress=False)
    result = run_assets(home, quiet=True)
    assert result.success, (result.failed_steps, result.checks_failed)
    registry = ModelRegistry(home.models)
    if registry.champion() is None:
        registry.promote(registry.latest(), {"forced": True, "reasons": ["test: experiment needs a champion"]})
    return home


@pytest.mark.slow
def test_a_simulated_ab_test_finds_the_stronger_arm_and_reconciles(experiment_home) -> None:
    from dbt_helpers import query

    from marquee.experiments.demo import NAME, run_experiment_demo

    out = run_experiment_demo(experiment_home, members=300, rounds=3, seed=0)
    result, sim = out["result"], out["simulation"]
    primary = next(c for c in result["comparisons"] if c["metric"] == "play_rate")
    assert primary["ci_high"] < 0, primary  # the weakened treatment loses, significantly
    assert result["decision"].startswith("stop"), result["decision"]
    assert result["srm_p_value"] > 0.001
    assert set(sim.by_arm) == {"control", "treatment"}  # every answer named its arm
    # Every served list reached the warehouse as impressions, one per title, nothing quarantined.
    (n,) = query(experiment_home.warehouse, f"select count(*) from staging.stg_events where row_name like 'exp:{NAME}:%'")[0]
    assert n == sim.exposures
    (bad,) = query(experiment_home.warehouse, "select count(*) from raw.quarantine where source_file like '%/api/%'")[0]
    assert bad == 0
    assert sum(a["users"] for a in result["arms"].values()) == len({s["user_id"] for s in sim.shown})
    # Every posted play was of a title shown to that member just before: all are attributed.
    posted = {(e["user_id"], e["title_id"]) for e in sim.events if e["event_type"] == "play_start"}
    import duckdb

    from marquee.experiments.analysis import attribute_outcomes
    from marquee.experiments.data import load_experiment_frames

    con = duckdb.connect(str(experiment_home.warehouse), read_only=True)
    try:
        exposures, outcomes = load_experiment_frames(con, NAME)
    finally:
        con.close()
    assert attribute_outcomes(exposures, outcomes)["plays"].sum() == len(posted)


@pytest.mark.slow
def test_a_a_tests_through_the_api_find_no_difference(experiment_home, tmp_path) -> None:
    from marquee.experiments.demo import write_experiment
    from marquee.experiments.simulator import SimulationConfig, frames_from_log, simulate
    from marquee.processes import free_port, start_server, stop_server, wait_for_model

    path = write_experiment(experiment_home, "champion", "champion", name="a-a")
    (experiment,) = load_experiments(path)
    port, log = free_port(), tmp_path / "serve.log"
    proc = start_server(experiment_home.root, port, log, {"MARQUEE_EXPERIMENTS": str(path)})
    significant = []
    try:
        wait_for_model(port, proc, log, ready=lambda h: "a-a" in h["experiments"]["loaded"])
        for seed in (1, 2, 3):
            sim = simulate(f"http://127.0.0.1:{port}", experiment_home, SimulationConfig(members=300, rounds=2, seed=seed))
            result = analyse(experiment, attribute_outcomes(*frames_from_log(sim)), seed=seed)
            primary = next(c for c in result.comparisons if c.metric == "play_rate")
            significant.append(primary.significant)
    finally:
        stop_server(proc)
    assert sum(significant) <= 1, significant  # at 95 %, three A/A runs: 0 expected, 1 tolerated
