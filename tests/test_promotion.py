"""The registry and the promotion gate: every refusal has a reason and leaves the champion alone.

Versions here are registered with placeholder retrieval files: promotion checks artifacts by
presence and checksum, never by loading them, so these tests need no trained model.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from marquee.config import MarqueeHome
from marquee.promotion import run_promotion
from models.promotion import PromotionPolicy, decide
from models.ranking.ranker import RankerConfig, booster_bytes, load_booster, predict, train_ranker
from models.registry import ModelRegistry, RegistryError


def _evaluation(ranker: float, popularity: float = 0.20, retrieval: float = 0.25) -> dict:
    models = {
        name: {"ndcg@10": v, "precision@10": v / 2, "recall@10": v / 3, "map@10": v / 4, "coverage": 0.1}
        for name, v in (("popularity", popularity), ("retrieval", retrieval), ("ranker", ranker))
    }
    return {"protocol": {"k": 10, "split": "time"}, "models": models}


def _register(registry: ModelRegistry, tmp: Path, evaluation: dict | None, tag: str = "a") -> str:
    src = tmp / f"retrieval-{tag}"
    src.mkdir(parents=True, exist_ok=True)
    (src / "arrays.npz").write_bytes(b"placeholder arrays " + tag.encode())
    (src / "manifest.json").write_text(json.dumps({"version": tag}))
    manifest = {"lineage": {"data": {"fingerprint": f"fp{tag}"}}}
    if evaluation is not None:
        manifest["evaluation"] = evaluation
    path = registry.save_version(src, b'{"booster": "placeholder"}', {"a": np.arange(3)}, {"1": "One"}, manifest)
    return path.name


def _passing_gate():
    return True, "all 3 blocking checks passed"


@pytest.fixture
def home(tmp_path: Path) -> MarqueeHome:
    return MarqueeHome(tmp_path / "home").ensure()


# --------------------------------------------------------------------------- decide()


def test_first_candidate_that_beats_the_baselines_is_promoted() -> None:
    d = decide("v1", [], _evaluation(0.30), True, "ok", None, None)
    assert d.promoted and not d.forced
    assert "ranker ndcg@10 0.3000 beats popularity 0.2000" in d.reasons
    assert "no champion yet" in d.reasons


@pytest.mark.parametrize(
    ("evaluation", "data_ok", "fragment"),
    [
        (None, True, "no evaluation recorded"),
        ({"models": {}}, True, "has no ndcg@10 for model 'ranker'"),
        (_evaluation(0.30), False, "data checks: 1 blocking check failed"),
        (_evaluation(0.22), True, "does not beat retrieval 0.2500"),
        (_evaluation(0.25), True, "does not beat retrieval 0.2500"),  # a tie is not a win
    ],
)
def test_refusals_name_their_reason(evaluation, data_ok, fragment) -> None:
    d = decide("v2", [], evaluation, data_ok, "1 blocking check failed", None, None)
    assert not d.promoted
    assert any(fragment in r for r in d.reasons), d.reasons


def test_champion_tolerance_is_an_absolute_drop() -> None:
    champion = _evaluation(0.40)
    within = decide("v2", [], _evaluation(0.391), True, "ok", "v1", champion, PromotionPolicy(tolerance=0.01))
    beyond = decide("v2", [], _evaluation(0.389), True, "ok", "v1", champion, PromotionPolicy(tolerance=0.01))
    assert within.promoted
    assert not beyond.promoted
    assert any("falls below champion v1 0.4000 by more than the tolerance 0.01" in r for r in beyond.reasons)


def test_force_overrides_metrics_and_data_but_not_broken_artifacts() -> None:
    forced = decide("v2", [], _evaluation(0.10), False, "check x failed", "v1", _evaluation(0.4), PromotionPolicy(force=True))
    assert forced.promoted and forced.forced
    assert forced.reasons[0] == "forced promotion (config force=true)"
    assert any(r.startswith("overridden: data checks") for r in forced.reasons)
    broken = decide("v2", ["missing artifact ranker.json"], _evaluation(0.5), True, "ok", None, None, PromotionPolicy(force=True))
    assert not broken.promoted and not broken.forced
    assert broken.reasons == ["candidate artifacts incomplete: missing artifact ranker.json"]


# --------------------------------------------------------------------------- registry


def test_versions_are_complete_and_checked(home: MarqueeHome, tmp_path: Path) -> None:
    registry = ModelRegistry(home.models)
    v = _register(registry, tmp_path, _evaluation(0.3))
    assert registry.versions() == [v] and registry.problems(v) == []
    manifest = registry.manifest(v)
    assert manifest["code_version"] and set(manifest["files"]) >= {"ranker.json", "retrieval/arrays.npz"}
    (registry.version_path(v) / "ranker.json").write_bytes(b"tampered")
    (registry.version_path(v) / "context.npz").unlink()
    assert registry.problems(v) == [
        "artifact ranker.json does not match its recorded checksum",
        "missing artifact context.npz",
    ]
    with pytest.raises(RegistryError, match="cannot promote"):
        registry.promote(v)
    assert registry.champion() is None
    with pytest.raises(RegistryError, match="not a version name"):
        registry.version_path("../escape")


def test_a_crash_mid_promotion_keeps_the_old_champion(home: MarqueeHome, tmp_path: Path, monkeypatch) -> None:
    registry = ModelRegistry(home.models)
    v1 = _register(registry, tmp_path, _evaluation(0.3), "a")
    v2 = _register(registry, tmp_path, _evaluation(0.4), "b")
    registry.promote(v1)
    before = registry.champion_file.read_bytes()

    def crash(src, dst):
        raise OSError("power cut")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="power cut"):
        registry.promote(v2)
    monkeypatch.undo()
    assert registry.champion_file.read_bytes() == before
    assert registry.champion() == v1
    assert registry.promote(v2)["previous"] == v1 and registry.champion() == v2


# --------------------------------------------------------------------------- run_promotion


def _report(home: MarqueeHome) -> dict:
    return json.loads((home.reports / "evaluation.json").read_text())


def test_promotion_writes_the_spec_report_and_judges_against_the_champion(home: MarqueeHome, tmp_path: Path) -> None:
    registry = ModelRegistry(home.models)
    v1 = _register(registry, tmp_path, _evaluation(0.40), "a")
    first = run_promotion(home, gate=_passing_gate)
    assert first["promoted"] and registry.champion() == v1
    report = _report(home)
    assert {"protocol", "k", "models", "candidate", "champion", "promoted", "reasons"} <= set(report)
    assert report["k"] == 10 and report["candidate"] == v1 and report["champion"] is None
    assert {"popularity", "retrieval", "ranker"} <= set(report["models"])

    v2 = _register(registry, tmp_path, _evaluation(0.30), "b")
    second = run_promotion(home, gate=_passing_gate)
    assert not second["promoted"] and registry.champion() == v1
    assert _report(home)["champion"] == v1
    assert any(f"falls below champion {v1}" in r for r in second["reasons"])
    decisions = [json.loads(line) for line in registry.promotions_file.read_text().splitlines()]
    assert [(d["candidate"], d["promoted"]) for d in decisions] == [(v1, True), (v2, False)]


def test_missing_evaluation_is_refused(home: MarqueeHome, tmp_path: Path) -> None:
    registry = ModelRegistry(home.models)
    champion = _register(registry, tmp_path, _evaluation(0.3), "a")
    registry.promote(champion)
    candidate = _register(registry, tmp_path, None, "b")
    report = run_promotion(home, gate=_passing_gate)
    assert not report["promoted"] and registry.champion() == champion
    assert f"no evaluation recorded for candidate {candidate}" in report["reasons"]


@pytest.mark.parametrize(
    "gate",
    [
        lambda: (False, "check raw_events/accounting_reconciles failed"),
        lambda: (False, "check fct_interactions/dbt_tests errored"),
    ],
)
def test_failed_or_errored_data_checks_are_refused(home: MarqueeHome, tmp_path: Path, gate) -> None:
    registry = ModelRegistry(home.models)
    _register(registry, tmp_path, _evaluation(0.9))
    report = run_promotion(home, gate=gate)
    assert not report["promoted"] and registry.champion() is None
    assert any(r.startswith("data checks: check ") for r in report["reasons"])


def test_a_data_gate_that_cannot_be_evaluated_refuses(home: MarqueeHome, tmp_path: Path, monkeypatch) -> None:
    import marquee.quality.gate as gate_module

    def broken(*args, **kwargs):
        raise RuntimeError("instance unavailable")

    monkeypatch.setattr(gate_module, "data_gate", broken)
    _register(ModelRegistry(home.models), tmp_path, _evaluation(0.9))
    report = run_promotion(home)
    assert not report["promoted"]
    assert "data checks: the data gate could not be evaluated: instance unavailable" in report["reasons"]


def test_incomplete_candidate_is_refused_even_when_forced(home: MarqueeHome, tmp_path: Path) -> None:
    registry = ModelRegistry(home.models)
    champion = _register(registry, tmp_path, _evaluation(0.3), "a")
    registry.promote(champion)
    candidate = _register(registry, tmp_path, _evaluation(0.9), "b")
    (registry.version_path(candidate) / "ranker.json").unlink()
    report = run_promotion(home, PromotionPolicy(force=True), gate=_passing_gate)
    assert not report["promoted"] and registry.champion() == champion
    assert report["reasons"] == ["candidate artifacts incomplete: missing artifact ranker.json"]


def test_forced_promotion_is_recorded_as_forced(home: MarqueeHome, tmp_path: Path) -> None:
    registry = ModelRegistry(home.models)
    candidate = _register(registry, tmp_path, _evaluation(0.1))
    report = run_promotion(home, PromotionPolicy(force=True), gate=_passing_gate)
    assert report["promoted"] and report["forced"] and registry.champion() == candidate
    assert registry.champion_record()["forced"] is True


def test_no_candidate_at_all(home: MarqueeHome) -> None:
    report = run_promotion(home, gate=_passing_gate)
    assert not report["promoted"] and report["reasons"] == ["no candidate version to promote"]


# --------------------------------------------------------------------------- ranker


def test_ranker_learns_a_planted_signal_and_round_trips() -> None:
    """Relevance is driven by feature 0 alone: the ranker must put it first and rank by it."""
    rng = np.random.default_rng(0)
    sizes = np.full(120, 20)
    x = rng.normal(size=(sizes.sum(), 3)).astype(np.float32)
    y = (x[:, 0] > 1.0).astype(np.float32)
    fit = train_ranker(x, y, sizes, ["signal", "noise_a", "noise_b"], RankerConfig(n_estimators=60, seed=1))
    assert next(iter(fit.importance)) == "signal" and fit.importance["signal"] > 0.8
    assert fit.curve and 1 <= fit.best_iteration <= 60
    scores = predict(fit.booster, x)
    groups = np.repeat(np.arange(len(sizes)), sizes)
    top_hits = [y[groups == g][np.argmax(scores[groups == g])] for g in range(len(sizes)) if y[groups == g].any()]
    assert np.mean(top_hits) > 0.95  # the best-scored candidate is a relevant one
    again = load_booster(booster_bytes(fit.booster))
    np.testing.assert_allclose(predict(again, x), scores, rtol=1e-6)
    same = train_ranker(x, y, sizes, ["signal", "noise_a", "noise_b"], RankerConfig(n_estimators=60, seed=1))
    np.testing.assert_array_equal(predict(same.booster, x), scores)


def test_ranker_refuses_groups_without_positives() -> None:
    with pytest.raises(ValueError, match="no query group has a relevant candidate"):
        train_ranker(np.zeros((10, 2), np.float32), np.zeros(10, np.float32), np.array([5, 5]), ["a", "b"])
