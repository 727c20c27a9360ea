"""Checks of per-cell metrics, references and aggregates built from episode records."""

from __future__ import annotations

import json

import numpy as np
import pytest

from agentgym.core.errors import UnknownNameError
from agentgym.metrics import METRICS, References, summarize

FAST = {"n_resamples": 300}


def rec(agent, *, env="toy", reward="env", split="test", seed=0, repeat=0, success=True, steps=4, env_return=1.0,
        status="ok", **extra):
    """One episode record as the runner writes it (only the fields the metrics read matter)."""
    cell = f"{env}|{agent}|{reward}|{split}"
    record = {
        "key": f"{cell}/{seed}/{repeat}", "cell": cell, "env": env, "agent": agent, "reward": reward,
        "split": split, "seed": seed, "repeat": repeat, "status": status, "error": None, "success": success,
        "progress": 1.0 if success else 0.5, "steps": steps, "env_return": env_return, "proxy_return": 2 * env_return,
        "reward_vector": {"task": env_return}, "invalid_actions": 0, "terminated": bool(success),
        "truncated": not success, "agent_info": {}, "wall_seconds": 0.01,
    }
    record.update(extra)
    if status != "ok":  # a failed episode carries no outcome
        record.update(error="boom", success=None, progress=None, env_return=None, proxy_return=None)
    return record


def references_run(env="toy", split="test", seeds=3):
    """Random always scores 0 in 10 steps and fails; oracle scores 1 in 3 + seed steps and succeeds."""
    out = []
    for seed in range(seeds):
        out.append(rec("random", env=env, split=split, seed=seed, success=False, steps=10, env_return=0.0))
        out.append(rec("oracle", env=env, split=split, seed=seed, success=True, steps=3 + seed, env_return=1.0))
    return out


def metrics_of(cells, cell):
    return next(c for c in cells if c["cell"] == cell)["metrics"]


def test_registry_lists_metrics_and_suggests_names():
    expected = {"success_rate", "return", "proxy_return", "progress", "steps", "normalized_score", "score_gap",
                "excess_steps", "value_regret", "invalid_action_rate"}
    assert expected <= set(METRICS.names())
    assert "regret" not in METRICS.names()  # replaced by score_gap / excess_steps / value_regret (issue 10, point 7)
    with pytest.raises(UnknownNameError, match="did you mean 'score_gap'"):
        METRICS.get("score_gaps")


def test_references_from_records():
    records = [*references_run(), rec("oracle", reward="sparse", env_return=50.0), rec("random", status="failed")]
    refs = References.from_records(records)
    assert refs.score_kind("toy") == "success"  # an env this install does not know, with a success notion
    assert refs.random_scores == {("toy", "test"): [0.0, 0.0, 0.0]}
    assert refs.oracle_scores == {("toy", "test"): [1.0, 1.0, 1.0]}  # the sparse-reward oracle is no reference
    assert refs.oracle_episodes[("toy", "test", 2, 0)]["steps"] == 5
    norm = refs.normalizer("toy", "test")
    assert (norm.defined, norm.random, norm.oracle) == (True, 0.0, 1.0)
    assert not refs.normalizer("toy", "train").defined


def test_normalized_score_random_zero_oracle_one():
    records = references_run() + [rec("ppo", seed=s, env_return=v) for s, v in enumerate([0.25, 0.5, 0.75])]
    cells, _ = summarize(records, scores={"toy": "return"}, **FAST)
    assert metrics_of(cells, "toy|random|env|test")["normalized_score"] == {"mean": 0.0, "ci_low": 0.0, "ci_high": 0.0}
    assert metrics_of(cells, "toy|oracle|env|test")["normalized_score"] == {"mean": 1.0, "ci_low": 1.0, "ci_high": 1.0}
    score = metrics_of(cells, "toy|ppo|env|test")["normalized_score"]
    assert score["mean"] == pytest.approx(0.5)
    assert score["ci_low"] <= 0.5 <= score["ci_high"]


def test_normalized_score_null_without_usable_references():
    only_random = [rec("random", env_return=0.0), rec("ppo", env_return=1.0)]
    cells, _ = summarize(only_random, **FAST)
    ppo = next(c for c in cells if c["agent"] == "ppo")
    assert ppo["metrics"]["normalized_score"] is None
    assert ppo["normalization"]["reason"] == "no oracle reference episodes with a success score"
    tied = [rec("random", env_return=1.0), rec("oracle", env_return=1.0), rec("ppo", env_return=1.0)]
    cells, _ = summarize(tied, **FAST)
    assert metrics_of(cells, "toy|ppo|env|test")["normalized_score"] is None


def test_normalization_is_split_aware():
    records = [*references_run(split="train"), rec("random", split="test", env_return=-1.0),
               rec("oracle", split="test", env_return=3.0),
               rec("ppo", split="test", env_return=1.0),
               rec("ppo", split="train", env_return=1.0)]
    cells, _ = summarize(records, scores={"toy": "return"}, **FAST)
    assert metrics_of(cells, "toy|ppo|env|test")["normalized_score"]["mean"] == pytest.approx(0.5)
    assert metrics_of(cells, "toy|ppo|env|train")["normalized_score"]["mean"] == pytest.approx(1.0)


def test_simple_per_episode_metrics():
    records = [rec("ppo", seed=0, steps=4, invalid_actions=1, env_return=2.0, success=True),
               rec("ppo", seed=1, steps=0, invalid_actions=0, env_return=0.0, success=False),
               rec("ppo", seed=2, steps=10, invalid_actions=5, env_return=4.0, success=None, progress=None)]
    metrics = metrics_of(summarize(records, **FAST)[0], "toy|ppo|env|test")
    assert metrics["invalid_action_rate"]["mean"] == pytest.approx((0.25 + 0.0 + 0.5) / 3)
    assert metrics["success_rate"]["mean"] == pytest.approx(0.5)  # success None is left out
    assert metrics["progress"]["mean"] == pytest.approx(0.75)
    assert metrics["return"]["mean"] == pytest.approx(2.0)
    assert metrics["proxy_return"]["mean"] == pytest.approx(4.0)
    assert metrics["steps"]["mean"] == pytest.approx(14 / 3)


def test_failed_records_are_counted_but_excluded():
    records = [rec("ppo", seed=0, success=True), rec("ppo", seed=1, status="failed"),
               rec("ppo", seed=2, success=False), rec("bad", status="failed")]
    cells, aggregates = summarize(records, **FAST)
    ppo, bad = cells
    assert (ppo["episodes"], ppo["failed"], ppo["incomplete"], ppo["complete"]) == (2, 1, True, False)
    assert ppo["failed_keys"] == ["toy|ppo|env|test/1/0"]
    assert ppo["metrics"]["success_rate"]["mean"] == 0.5
    assert (bad["episodes"], bad["failed"]) == (0, 1)
    assert all(v is None for k, v in bad["metrics"].items() if k != "n_excess_steps_pairs")
    assert aggregates["by_agent"]["bad|env"] == {
        "envs": [], "iqm_normalized_score": None, "iqm": {"n_runs": 0, "interval_over": None, "envs": [],
                                                          "undefined": {}},
        "mean_success_rate": None, "complete": False}


def test_pass_hat_k_emitted_only_with_repeats():
    single = summarize([rec("ppo", seed=s) for s in range(3)], **FAST)[0][0]["metrics"]
    assert not any(name.startswith("pass^") for name in single)
    # Seed 0: 3 of 4 succeed; seed 1: 2 of 2; seed 2: one repeat failed (harness), leaving 1 trial.
    outcomes = {0: [True, True, True, False], 1: [True, True], 2: [False]}
    records = [rec("ppo", seed=s, repeat=r, success=ok) for s, oks in outcomes.items() for r, ok in enumerate(oks)]
    records.append(rec("ppo", seed=2, repeat=1, status="failed"))
    metrics = summarize(records, **FAST)[0][0]["metrics"]
    assert [n for n in metrics if n.startswith("pass^")] == ["pass^1", "pass^2", "pass^3", "pass^4"]
    assert metrics["pass^1"]["mean"] == pytest.approx((0.75 + 1 + 0) / 3)
    # Every seed counts for every k (issue 10, point 7): seed 2 contributes 0, it has fewer than k successes.
    assert metrics["pass^2"]["mean"] == pytest.approx((0.5 + 1 + 0) / 3)  # C(3,2)/C(4,2), C(2,2)/C(2,2), 0
    assert metrics["pass^4"]["mean"] == 0.0 and metrics["pass^4"]["ci_high"] > 0  # Wilson over 3 seeds, not [0, 0]


def test_aggregates():
    records = references_run("a") + references_run("b", seeds=5)
    # ppo: normalized 0.5 everywhere; succeeds on all of a (3 episodes) and 1 of 4 on b.
    records += [rec("ppo", env="a", seed=s, env_return=0.5) for s in range(3)]
    records += [rec("ppo", env="b", seed=s, env_return=0.5, success=s == 0) for s in range(4)]
    cells, aggregates = summarize(records, scores={"a": "return", "b": "return"}, **FAST)
    assert [c["cell"] for c in cells] == ["a|random|env|test", "a|oracle|env|test", "b|random|env|test",
                                          "b|oracle|env|test", "a|ppo|env|test", "b|ppo|env|test"]
    by_agent = aggregates["by_agent"]
    assert set(by_agent) == {"random|env", "oracle|env", "ppo|env"}
    assert by_agent["ppo|env"]["envs"] == ["a|test", "b|test"]
    assert by_agent["ppo|env"]["iqm_normalized_score"] == {"mean": 0.5, "ci_low": 0.5, "ci_high": 0.5}
    assert by_agent["ppo|env"]["iqm"] == {"n_runs": 1, "interval_over": "episodes", "envs": ["a|test", "b|test"],
                                          "undefined": {}}
    assert by_agent["oracle|env"]["iqm_normalized_score"]["mean"] == 1.0
    success = by_agent["ppo|env"]["mean_success_rate"]
    assert success["mean"] == pytest.approx((1.0 + 0.25) / 2)  # tasks weigh equally, not episodes
    assert success["ci_low"] <= success["mean"] <= success["ci_high"]

    pairs = {(p["x"], p["y"]): p for p in aggregates["probability_of_improvement"]}
    assert len(pairs) == 6
    assert pairs[("oracle|env", "random|env")]["mean"] == 1.0
    assert pairs[("random|env", "oracle|env")]["mean"] == 0.0
    assert pairs[("ppo|env", "random|env")]["envs"] == ["a|test", "b|test"]
    forward, backward = pairs[("ppo|env", "oracle|env")], pairs[("oracle|env", "ppo|env")]
    assert forward["mean"] + backward["mean"] == pytest.approx(1)
    assert forward["ci_low"] + backward["ci_high"] == pytest.approx(1)


def test_summary_is_json_clean_and_deterministic():
    rng = np.random.default_rng(0)
    records = references_run() + [rec("ppo", seed=s, repeat=r, env_return=float(rng.random()),
                                      success=bool(rng.random() < 0.5)) for s in range(4) for r in range(2)]
    records += [rec("ppo", seed=9, status="failed"), rec("random", reward="env", env="other")]
    first = summarize(records, seed=3, **FAST)
    text = json.dumps(first, allow_nan=False)
    assert json.dumps(summarize(records, seed=3, **FAST), allow_nan=False) == text
    assert json.dumps(summarize(records, seed=4, **FAST)) != text


def test_token_metrics_only_for_agents_that_report_tokens():
    llm = [rec("llm", seed=s, success=s < 2, agent_info={"prompt_tokens": 100.0 * (s + 1), "completion_tokens": 10.0})
           for s in range(4)]  # 110, 210, 310, 410 tokens; two successes
    cells, _ = summarize(references_run() + llm, **FAST)
    usage = metrics_of(cells, "toy|llm|env|test")
    assert usage["tokens"]["mean"] == pytest.approx(260.0)
    assert usage["tokens_per_success"]["mean"] == pytest.approx(1040.0 / 2)
    assert usage["tokens_per_success"]["ci_low"] <= 520.0
    assert "cost_usd" not in usage  # a local model charges nothing
    assert "tokens" not in metrics_of(cells, "toy|random|env|test")
    json.dumps(cells, allow_nan=False)


def test_tokens_per_success_is_undefined_without_successes_and_costs_show_when_charged():
    llm = [rec("llm", seed=s, success=False, agent_info={"prompt_tokens": 50.0, "cost_usd": 0.002}) for s in range(3)]
    cells, _ = summarize(references_run() + llm, **FAST)
    usage = metrics_of(cells, "toy|llm|env|test")
    assert usage["tokens"]["mean"] == 50.0 and usage["tokens_per_success"] is None
    assert usage["cost_usd"]["mean"] == pytest.approx(0.002)
