"""Training recipes as suite cells: one SB3 agent per reward variant and training seed."""

from __future__ import annotations

import json

import numpy as np
import pytest

from agentgym.bench.run import run_suite
from agentgym.bench.suite import Suite, expand
from agentgym.metrics.recipes import hierarchical_bootstrap_ci
from agentgym.train.sb3 import learning_curve, model_path, resolve_train_config

RECIPE = {"name": "ppo", "algo": "PPO", "seeds": [0, 1], "curve": {"every": 1000, "episodes": 3},
          "train": {"total_timesteps": 2000, "hyperparams": {"n_steps": 128, "batch_size": 64}}}


def _suite(env_id):
    return Suite.model_validate({"name": "recipes", "envs": [env_id], "recipes": [RECIPE],
                                 "rewards": ["env", "sparse"], "episodes": 6})


def test_recipes_expand_to_one_agent_per_reward_and_seed(corridor):
    cells = [c for c in expand(_suite(corridor)).cells if c.recipe]
    assert [(c.agent.name, c.reward, c.train_seed) for c in cells] == [
        ("ppo-env-s0", "env", 0), ("ppo-env-s1", "env", 1), ("ppo-sparse-s0", "sparse", 0),
        ("ppo-sparse-s1", "sparse", 1)]
    assert cells[2].agent.kwargs["train"]["reward"] == "sparse" and cells[3].agent.kwargs["train"]["seed"] == 1


@pytest.mark.slow
def test_recipe_suite_trains_scores_and_records_curves(tmp_path, corridor):
    results = run_suite(_suite(corridor), tmp_path / "run", progress=False, print_table=False).results
    rows = {row["reward"]: row for row in results["aggregates"]["recipes"]}
    assert set(rows) == {"env", "sparse"} and rows["env"]["train_seeds"] == [0, 1]
    assert rows["env"]["episodes"] == 12 and rows["env"]["probability_of_improvement_vs_env"] is None
    assert rows["sparse"]["probability_of_improvement_vs_env"] is not None
    assert 0.0 <= rows["sparse"]["metrics"]["success_rate"]["mean"] <= 1.0
    records = [json.loads(line) for line in (tmp_path / "run" / "episodes.jsonl").read_text().splitlines()]
    assert {r["train_seed"] for r in records if r.get("recipe") == "ppo"} == {0, 1}
    config = resolve_train_config({**RECIPE["train"], "seed": 1, "reward": "sparse"})
    curve = learning_curve(model_path(corridor, "PPO", "MlpPolicy", config))
    assert [p["timesteps"] for p in curve["points"]][-1] >= 2000
    assert {"proxy_return", "success_rate", "env_return"} <= set(curve["points"][0])


def test_hierarchical_bootstrap_counts_the_spread_between_seeds():
    rng = np.random.default_rng(0)
    same = {s: rng.normal(0.5, 0.1, 50) for s in range(3)}
    apart = {0: same[0] - 0.4, 1: same[1], 2: same[2] + 0.4}
    narrow, wide = hierarchical_bootstrap_ci(same), hierarchical_bootstrap_ci(apart)
    assert narrow.mean == pytest.approx(wide.mean)
    assert wide.high - wide.low > 3 * (narrow.high - narrow.low)
    assert hierarchical_bootstrap_ci({0: np.array([2.0, 2.0])}) == (2.0, 2.0, 2.0)


@pytest.mark.slow
def test_train_command_writes_checkpoint_curve_and_plot(tmp_path, corridor):
    from agentgym.cli.main import main

    code = main(["train", corridor, "--steps", "1000", "--eval-every", "500", "--eval-episodes", "2",
                 "--reward", "sparse", "--hyperparams", '{"n_steps": 128, "batch_size": 64}',
                 "--out", str(tmp_path / "train")])
    assert code == 0
    for name in ("model.zip", "config.json", "curve.json", "learning_curve.png"):
        assert (tmp_path / "train" / name).exists(), name
    curve = json.loads((tmp_path / "train" / "curve.json").read_text())
    assert len(curve["points"]) >= 2 and curve["points"][-1]["timesteps"] >= 1000
