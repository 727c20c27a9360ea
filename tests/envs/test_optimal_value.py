"""Exact optimal values V*(s0) (FrozenLake by finite-horizon DP, Taxi by its optimal plan): `value_regret`."""

from __future__ import annotations

import numpy as np

import agentgym
from agentgym.bench.run import run_suite
from agentgym.bench.suite import Suite

SLIPPERY = "agentgym/FrozenLake8x8Slippery-v0"


def test_the_oracle_reaches_its_optimal_value_on_average():
    env = agentgym.make(SLIPPERY)
    values, successes = [], []
    for seed in range(300):
        env.reset(seed=seed)
        values.append(env.unwrapped.optimal_value())
        done = False
        while not done:
            _, _, terminated, truncated, info = env.step(env.get_wrapper_attr("oracle")())
            done = terminated or truncated
        successes.append(info["success"])
    assert len(set(values)) == 1 and 0.5 < values[0] < 1.0  # one start state, a real chance of failing
    standard_error = np.sqrt(values[0] * (1 - values[0]) / len(successes))
    assert abs(np.mean(successes) - values[0]) < 4 * standard_error


def test_value_regret_is_reported_and_near_zero_for_the_oracle(tmp_path):
    suite = Suite.model_validate({"name": "regret", "version": 1, "envs": [SLIPPERY], "agents": ["random", "oracle"],
                                  "rewards": ["env"], "split": "test", "episodes": 30, "references": False})
    results = run_suite(suite, tmp_path / "run", progress=False, print_table=False).results
    regret = {cell["agent"]: cell["metrics"]["value_regret"] for cell in results["cells"]}
    assert regret["random"]["mean"] > 0.5  # random almost never reaches the goal
    assert regret["oracle"]["ci_low"] <= 0.0 <= regret["oracle"]["ci_high"]  # the oracle plays V*


def test_taxi_optimal_value_is_what_the_oracle_earns(tmp_path):
    suite = Suite.model_validate({"name": "taxi", "version": 1, "envs": ["agentgym/Taxi-v0"], "agents": ["oracle"],
                                  "rewards": ["env"], "split": "test", "episodes": 10, "references": False})
    results = run_suite(suite, tmp_path / "run", progress=False, print_table=False).results
    (cell,) = results["cells"]
    assert cell["metrics"]["value_regret"]["mean"] == 0.0  # deterministic: V* is exactly the oracle's return
