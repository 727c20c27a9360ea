"""Issue 10, points 6 and 8, through the runner: agents meet the same randomness on the same seed under
every reward variant (paired comparisons), and identical episodes are counted as one."""

from __future__ import annotations

import json

from agentgym.bench.run import run_suite
from agentgym.bench.suite import Suite


def _records(folder):
    return [json.loads(line) for line in (folder / "episodes.jsonl").read_text().splitlines()]


def test_random_agent_is_paired_across_reward_variants(tmp_path):
    suite = Suite.model_validate({"name": "paired", "version": 1, "envs": ["agentgym/FrozenLake8x8Slippery-v0"],
                                  "agents": ["random"], "rewards": ["env", "sparse"], "split": "test",
                                  "episodes": 12, "references": False})
    run_suite(suite, tmp_path / "run", progress=False, print_table=False)
    by_variant: dict[str, dict[int, tuple]] = {}
    for record in _records(tmp_path / "run"):
        by_variant.setdefault(record["reward"], {})[record["seed"]] = (record["trace_hash"], record["success"],
                                                                        record["steps"])
    assert by_variant["env"] == by_variant["sparse"]  # same actions, same episode, whatever the reward
    assert len({trace for trace, _, _ in by_variant["env"].values()}) > 1  # and the episodes do differ by seed


def test_identical_episodes_are_counted_once(tmp_path):
    suite = Suite.model_validate({"name": "distinct", "version": 1, "envs": ["agentgym/FrozenLake-v0"],
                                  "agents": ["oracle"], "rewards": ["env"], "split": "test", "episodes": 10,
                                  "references": False})
    results = run_suite(suite, tmp_path / "run", progress=False, print_table=False).results
    (cell,) = results["cells"]
    assert cell["episodes"] == 10 and cell["n_distinct"] == 1  # a fixed map: one episode played ten times
    assert any("distinct" in warning for warning in cell["warnings"])
    assert len({record["trace_hash"] for record in _records(tmp_path / "run")}) == 1
