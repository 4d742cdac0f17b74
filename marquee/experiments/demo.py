"""`marquee experiment-demo` (`make experiment`): a short simulated A/B test, end to end.

The champion against a deliberately weakened copy of it (`challengers.weakened_copy`), 50/50,
through a real `marquee serve` process: simulated members (`simulator`) ask for
recommendations, play what suits their ground-truth tastes and post the events; the server
logs every list as impressions. Then ingestion and staging take it all in and
`experiment_analysis` computes the result, which is printed. The experiment's file lives under
``$MARQUEE_HOME/reports/experiments/`` (the repo's `experiments/experiments.yaml` is for real
experiments).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
from collections.abc import Iterator

import yaml

from marquee.config import MarqueeHome
from marquee.errors import MarqueeUserError
from marquee.experiments.challengers import weakened_copy
from marquee.experiments.config import FILE_ENV
from marquee.experiments.simulator import SimulationConfig, simulate
from marquee.processes import free_port, start_server, stop_server, wait_for_model

NAME = "demo-champion-vs-weakened"


@contextlib.contextmanager
def _env(name: str, value: str) -> Iterator[None]:
    old = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = old


def write_experiment(home: MarqueeHome, control: str, treatment: str, name: str = NAME) -> os.PathLike:
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    spec = {
        "experiments": [
            {
                "name": name,
                "surface": "home",
                "start": (now - dt.timedelta(minutes=1)).isoformat().replace("+00:00", "Z"),
                "stop": (now + dt.timedelta(days=1)).isoformat().replace("+00:00", "Z"),
                "primary_metric": "play_rate",
                "guardrails": [{"metric": "completion_rate", "max_relative_drop": 0.05}],
                "arms": [
                    {"name": "control", "model": control, "traffic": 50},
                    {"name": "treatment", "model": treatment, "traffic": 50},
                ],
            }
        ]
    }
    path = home.reports / "experiments" / f"{name}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def _experiment_loaded(health: dict) -> bool:
    info = health.get("experiments") or {}
    if info.get("error"):
        raise MarqueeUserError(f"the server refused the experiment: {info['error']}")
    return NAME in info.get("loaded", [])


def run_experiment_demo(home: MarqueeHome, members: int = 400, rounds: int = 3, seed: int = 0) -> dict:
    from marquee.pipeline import run_assets
    from models.registry import ModelRegistry

    registry = ModelRegistry(home.models)
    champion = registry.champion()
    if champion is None:
        raise MarqueeUserError("no champion model yet: run `make demo` (or `marquee run`) first")
    weak = weakened_copy(registry, champion, seed=seed)
    path = write_experiment(home, "champion", weak)
    port = free_port()
    log_path = home.reports / "experiments" / "serve.log"
    proc = start_server(home.root, port, log_path, {FILE_ENV: str(path), "MARQUEE_SERVE_RELOAD_INTERVAL_S": "0.5"})
    try:
        wait_for_model(port, proc, log_path, ready=_experiment_loaded)
        sim = simulate(f"http://127.0.0.1:{port}", home, SimulationConfig(members=members, rounds=rounds, seed=seed))
    finally:
        stop_server(proc)  # publishes the exposure log
    # Only what the analysis reads (ingestion and staging): the marts and models follow with
    # the next scheduled or sensor run, through their own checks.
    select = "group:ingestion or key:stg_events or key:stg_titles or key:experiment_analysis"
    with _env(FILE_ENV, str(path)):
        summary = run_assets(home, select=select, quiet=True)
    if not summary.success:
        raise MarqueeUserError(f"the pipeline run after the experiment failed: {summary.failed_steps}")
    result = json.loads((home.reports / "experiments" / f"{NAME}.json").read_text())
    return {"simulation": sim, "result": result, "champion": champion, "weakened": weak}


def print_result(out: dict) -> None:
    sim, result = out["simulation"], out["result"]
    print(f"== experiment {result['experiment']}: champion {out['champion']} (control) vs weakened copy {out['weakened']} (treatment)")
    print(f"   {sim.requests} lists served to simulated members ({dict(sim.by_arm)}), {sim.exposures} exposures, {sim.plays} plays posted")
    print(f"   {'arm':<10}{'users':>8}{'play_rate':>12}{'completion':>12}{'watch s/user':>14}")
    for arm, m in result["arms"].items():
        print(f"   {arm:<10}{m['users']:>8}{m['play_rate']:>12.4f}{m['completion_rate']:>12.4f}{m['watch_seconds_per_user']:>14.1f}")
    for c in result["comparisons"]:
        print(f"   {c['arm']} {c['metric']}: lift {c['lift']:+.1%} (95% CI {c['ci_low']:+.1%} .. {c['ci_high']:+.1%})")
    print(f"   sample-ratio test p = {result['srm_p_value']:.3f}; decision: {result['decision']}")
