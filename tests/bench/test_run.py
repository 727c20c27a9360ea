"""The runner end to end on the toy corridor: results, determinism, failures, resume after a kill."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from agentgym.bench.run import run_suite
from agentgym.bench.suite import Suite, expand
from agentgym.core.errors import AgentGymError, SpecError, UnknownNameError

TESTS = Path(__file__).resolve().parents[1]
TOY_ENVS = TESTS / "data" / "toy_envs"


def _suite(env_id: str, **overrides) -> Suite:
    data = {"name": "toy", "version": 1, "envs": [env_id], "agents": ["random", "oracle"], "rewards": ["env"],
            "split": "test", "episodes": 10}
    data.update(overrides)
    return Suite.model_validate(data)


def _metric(results, agent, name, reward="env"):
    (cell,) = [c for c in results["cells"] if c["agent"] == agent and c["reward"] == reward]
    return cell["metrics"][name]


def _numbers(results):
    return [(cell["cell"], cell["metrics"]) for cell in results["cells"]], results["aggregates"]


def test_run_writes_results_with_references(tmp_path, corridor):
    outcome = run_suite(_suite(corridor), tmp_path / "run", progress=False, print_table=False)
    results = outcome.results
    assert results["n_episodes"] == 20 and results["n_failed"] == 0
    assert _metric(results, "oracle", "success_rate")["mean"] == 1.0
    assert _metric(results, "oracle", "normalized_score")["mean"] == pytest.approx(1.0)
    assert _metric(results, "random", "normalized_score")["mean"] == pytest.approx(0.0, abs=1e-9)
    assert _metric(results, "oracle", "score_gap")["mean"] == 0.0
    lines = (tmp_path / "run" / "episodes.jsonl").read_text().splitlines()
    assert len(lines) == 20 and len({json.loads(line)["key"] for line in lines}) == 20


def test_reference_cells_are_added(corridor):
    suite = _suite(corridor, agents=[{"name": "walker", "entry_point": "agentgym.agents.baselines:OracleAgent"}])
    cells = expand(suite).cells
    assert [(c.agent.name, c.reference) for c in cells] == [("walker", False), ("random", True), ("oracle", True)]


def test_same_suite_same_numbers_across_executors(tmp_path, corridor):
    suite = _suite(corridor, rewards=["env", "sparse"], batch_size=3)
    local = run_suite(suite, tmp_path / "local", progress=False, print_table=False).results
    again = run_suite(suite, tmp_path / "again", progress=False, print_table=False).results
    pooled = run_suite(suite, tmp_path / "pool", executor="process", workers=2, progress=False,
                       print_table=False).results
    assert _numbers(local) == _numbers(again) == _numbers(pooled)


def test_failures_are_recorded_and_the_run_goes_on(tmp_path, corridor):
    from agentgym.testing import toy as toy_env

    crashing = toy_env.register("toy/CrashingCorridor-v0", crash_at_step=2)
    suite = _suite(corridor, envs=[corridor, crashing], references=False,
                   agents=["oracle", {"name": "picky", "entry_point": "agentgym.testing.toy:SlowRandomAgent",
                                      "kwargs": {"delay": 0, "fail_seed": 103}}])
    results = run_suite(suite, tmp_path / "run", progress=False, print_table=False).results
    cells = {c["cell"]: c for c in results["cells"]}
    assert cells[f"{crashing}|oracle|env|test"]["failed"] == 10
    assert cells[f"{corridor}|oracle|env|test"]["failed"] == 0
    # the agent's own failure is its loss (scored, success 0), not a hole in the cell; batch-mates went on
    picky = cells[f"{corridor}|picky|env|test"]
    assert picky["failed"] == 0 and picky["n_agent_errors"] == 1 and picky["episodes"] == 10
    assert cells[f"{crashing}|oracle|env|test"]["incomplete"] is True
    records = [json.loads(line) for line in (tmp_path / "run" / "episodes.jsonl").read_text().splitlines()]
    failed = [r for r in records if r["status"] == "failed"]
    assert any("corridor collapsed" in r["error"] for r in failed)
    [agent_error] = [r for r in records if r["status"] == "agent_error" and r["env"] == corridor]
    assert agent_error["seed"] == 103 and "cannot handle seed 103" in agent_error["error"]
    assert agent_error["success"] is False and agent_error["progress"] == 0.0


def test_existing_run_needs_resume(tmp_path, corridor):
    run_suite(_suite(corridor), tmp_path / "run", progress=False, print_table=False)
    with pytest.raises(AgentGymError, match="--resume"):
        run_suite(_suite(corridor), tmp_path / "run", progress=False, print_table=False)
    outcome = run_suite(_suite(corridor), tmp_path / "run", resume=True, progress=False, print_table=False)
    assert outcome.ran == 0 and outcome.skipped == 20
    with pytest.raises(AgentGymError, match="different suite"):
        run_suite(_suite(corridor, episodes=5), tmp_path / "run", resume=True, progress=False, print_table=False)


def test_resume_drops_a_torn_last_line(tmp_path, corridor):
    clean = run_suite(_suite(corridor), tmp_path / "clean", progress=False, print_table=False).results
    run_suite(_suite(corridor), tmp_path / "run", progress=False, print_table=False)
    episodes = tmp_path / "run" / "episodes.jsonl"
    lines = episodes.read_text().splitlines(keepends=True)
    episodes.write_text("".join(lines[:7]) + lines[7][:25])  # a kill in the middle of a write
    outcome = run_suite(_suite(corridor), tmp_path / "run", resume=True, progress=False, print_table=False)
    assert outcome.ran == 13
    keys = [json.loads(line)["key"] for line in episodes.read_text().splitlines()]
    assert len(keys) == len(set(keys)) == 20
    assert _numbers(outcome.results) == _numbers(clean)


@pytest.mark.slow
def test_resume_after_kill_loses_and_repeats_nothing(tmp_path):
    suite = {"name": "killme", "version": 1, "envs": ["toy/YamlCorridor-v0"], "references": False, "episodes": 20,
             "batch_size": 4, "agents": [{"name": "slow", "entry_point": "agentgym.testing.toy:SlowRandomAgent",
                                          "kwargs": {"delay": 0.05}}]}
    suite_path = tmp_path / "suite.yaml"
    suite_path.write_text(yaml.safe_dump(suite))
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(TESTS)}
    command = [sys.executable, "-m", "agentgym.cli.main", "run", str(suite_path), "--out", str(out),
               "--envs", str(TOY_ENVS), "--executor", "local", "--no-progress"]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    episodes = out / "episodes.jsonl"
    deadline = time.time() + 60
    while time.time() < deadline and (not episodes.exists() or len(episodes.read_text().splitlines()) < 5):
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    before = len(episodes.read_text().splitlines())
    assert 5 <= before < 20, "the run was not killed midway"
    finished = subprocess.run([*command, "--resume"], env=env, capture_output=True, text=True, timeout=120)
    assert finished.returncode == 0, finished.stderr
    keys = [json.loads(line)["key"] for line in episodes.read_text().splitlines()]
    assert len(keys) == len(set(keys)) == 20
    results = json.loads((out / "results.json").read_text())
    assert results["n_episodes"] == 20


def test_unknown_names_say_did_you_mean(corridor):
    with pytest.raises(UnknownNameError, match="did you mean 'toy/Corridor-v0'"):
        expand(_suite("toy/Coridor-v0"))
    with pytest.raises(UnknownNameError, match="did you mean 'random'"):
        expand(_suite(corridor, agents=["randon"]))
    with pytest.raises(UnknownNameError, match="did you mean 'sparse'"):
        expand(_suite(corridor, rewards=["sparce"]))
    with pytest.raises(SpecError, match="has 20 seeds"):
        expand(_suite(corridor, episodes=50))


def test_an_env_entry_may_set_its_own_episode_count(corridor):
    cells = expand(_suite(corridor, episodes=50, envs=[{"id": corridor, "episodes": 5}])).cells
    assert {len(cell.seeds) for cell in cells} == {5}


def test_an_env_entry_may_run_a_subset_of_the_agents(corridor):
    walker = {"name": "walker", "entry_point": "agentgym.agents.baselines:OracleAgent"}
    suite = _suite(corridor, agents=[walker, "random"], envs=[{"id": corridor, "agents": ["walker"]}])
    assert [(c.agent.name, c.reference) for c in expand(suite).cells] == [
        ("walker", False), ("random", True), ("oracle", True)]  # random still runs, as the reference
    with pytest.raises(SpecError, match=r"lists agents \['walkr'\] that the suite does not run"):
        expand(_suite(corridor, envs=[{"id": corridor, "agents": ["walkr"]}]))


def test_process_workers_share_the_cores(monkeypatch):
    torch = pytest.importorskip("torch")
    from agentgym.bench import executors

    before = torch.get_num_threads()
    monkeypatch.setattr(executors.os, "cpu_count", lambda: 4)
    monkeypatch.setenv("OMP_NUM_THREADS", "")
    try:
        executors._share_cores(2)
        assert os.environ["OMP_NUM_THREADS"] == "2" and torch.get_num_threads() == 2
        executors._share_cores(8)
        assert os.environ["OMP_NUM_THREADS"] == "1" and torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_with_agents_renames_changed_agents_and_keeps_env_picks(corridor):
    from agentgym.bench.suite import with_agents

    suite = _suite(corridor, agents=["random", "oracle"], envs=[{"id": corridor, "agents": ["random"]}])
    changed = with_agents(suite, ["random"], {"seed": 3})
    (spec,) = changed.agents
    assert spec.name.startswith("random-") and spec.kwargs["seed"] == 3
    assert changed.envs[0].agents == [spec.name]  # the env's pick follows the rename
    assert with_agents(suite, ["random"], {"seed": 3}).agents[0].name == spec.name  # stable name
    assert with_agents(suite, ["random"], {"seed": 4}).agents[0].name != spec.name
    assert with_agents(suite, ["oracle"]).envs[0].agents == []  # the env picked an agent no longer run
    with pytest.raises(SpecError, match="one agent and its kwargs"):
        with_agents(suite, ["random", "oracle"], {"seed": 1}, name="two")
    with pytest.raises(SpecError, match="must not contain '/'"):
        with_agents(suite, ["random"], {"seed": 1}, name="a/b")
