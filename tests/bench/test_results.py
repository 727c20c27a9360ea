"""build_results: the one function the runner and ``submit`` share; results_differences; provenance; tables."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from agentgym.bench.provenance import command_line, provenance
from agentgym.bench.results import build_results, order_records, results_differences
from agentgym.bench.tables import format_interval, format_number, format_table
from agentgym.leaderboard import validate_results

TESTS = Path(__file__).resolve().parents[1]
PROV = {"agentgym_version": "0.1.0", "git_commit": None, "python": "3.11", "platform": "x",
        "created_at": "2026-11-23T04:00:00+00:00", "executor": "local", "workers": 1}
SUITE = {"name": "s", "version": 1, "hash": "0" * 64}


def record(env: str, agent: str, seed: int, status: str = "ok", repeat: int = 0) -> dict:
    cell = f"{env}|{agent}|env|test"
    win = (seed * 31 + len(agent)) % 3 == 0 if agent != "oracle" else True
    return {"key": f"{cell}/{seed}/{repeat}", "cell": cell, "env": env, "agent": agent, "reward": "env",
            "split": "test", "seed": seed, "repeat": repeat, "reference": agent in ("random", "oracle"),
            "status": status, "error": None if status == "ok" else "boom", "success": win if status == "ok" else None,
            "progress": 1.0 if win else 0.0, "steps": 4 if win else 9, "env_return": 1.0 if win else 0.0,
            "proxy_return": 1.0 if win else 0.0, "reward_vector": {}, "invalid_actions": 0, "terminated": win,
            "truncated": not win, "agent_info": {}, "wall_seconds": 0.0}


def records(statuses: dict | None = None) -> list[dict]:
    statuses = statuses or {}
    return [record(env, agent, seed, statuses.get((env, agent, seed), "ok"))
            for env in ("e/A-v0", "e/B-v0") for agent in ("random", "oracle", "mine") for seed in range(6)]


@pytest.fixture()
def episodes(tmp_path) -> Path:
    path = tmp_path / "episodes.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records()))
    return path


def test_the_order_episodes_finished_in_does_not_matter(episodes):
    ordered = build_results(records(), SUITE, episodes, PROV)
    shuffled = records()
    random.Random(3).shuffle(shuffled)
    cell_order = list(dict.fromkeys(r["cell"] for r in records()))
    assert build_results(shuffled, SUITE, episodes, PROV, cell_order=cell_order) == ordered
    assert [r["key"] for r in order_records(shuffled, cell_order)] == [r["key"] for r in records()]
    validate_results(ordered)


def test_counts_follow_the_one_definition(episodes):
    statuses = {("e/A-v0", "mine", 2): "failed", ("e/B-v0", "mine", 3): "agent_error"}
    results = build_results(records(statuses), SUITE, episodes, PROV)
    cells = {c["cell"]: c for c in results["cells"]}
    assert (cells["e/A-v0|mine|env|test"]["episodes"], cells["e/A-v0|mine|env|test"]["failed"]) == (5, 1)
    assert cells["e/A-v0|mine|env|test"]["incomplete"] is True
    assert (cells["e/B-v0|mine|env|test"]["episodes"], cells["e/B-v0|mine|env|test"]["failed"]) == (6, 0)
    assert (results["n_episodes"], results["n_failed"]) == (35, 1)
    assert "incomplete: 1 cell with failed episodes (e/A-v0|mine|env|test)" in format_table(results)


def test_differences_name_the_cell_and_the_metric(episodes):
    results = build_results(records(), SUITE, episodes, PROV)
    claimed = json.loads(json.dumps(results))
    assert results_differences(claimed, results) == []
    claimed["cells"][2]["metrics"]["success_rate"]["mean"] = 0.9
    claimed["aggregates"]["by_agent"]["mine|env"]["envs"].append("e/C-v0|test")
    claimed["cells"][0]["metrics"]["bonus"] = {"mean": 1.0, "ci_low": 1.0, "ci_high": 1.0}
    claimed["n_episodes"] += 1
    claimed["extra"] = 1
    found = results_differences(claimed, results)
    assert any(line.startswith("cell 'e/A-v0|mine|env|test'.metrics.success_rate.mean: results say 0.9, the episodes "
                               "give 0.333") for line in found)
    assert "aggregates.by_agent.mine|env.envs: 3 items, the episodes give 2" in found
    assert any(line.startswith("cell 'e/A-v0|random|env|test'.metrics.bonus: not computed") for line in found)
    assert "n_episodes: results say 37, the episodes give 36" in found
    assert "extra: not computed from the episodes" in found
    del claimed["cells"][1]
    assert "cell 'e/A-v0|oracle|env|test': in the episodes but not in the results" in results_differences(
        claimed, results)


def test_provenance_is_redacted():
    prov = provenance("local", 1, ["/x/agentgym", "run", "s", "--api-key", "sk-SECRET",
                                   "--agent-kwargs", '{"base_url": "https://u:SECRET@h/v1?token=SECRET"}'])
    assert "SECRET" not in json.dumps(prov)
    assert prov["command"].startswith("agentgym run s --api-key ")
    assert command_line([]) == ""


def test_numbers_always_format():
    for value in (10**400, float("nan"), float("inf"), "0.5", True, None, [], {}):
        assert format_number(value) == "?"
    assert format_number(1e300) == "1.000e+300"
    assert format_interval({"mean": 10**400, "ci_low": 1, "ci_high": None}) == "? [1.000, ?]"
    assert format_interval(None) == format_interval({"mean": None}) == format_interval(3) == "-"
