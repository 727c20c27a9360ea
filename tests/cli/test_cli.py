"""The command line end to end: run a real suite, submit it, see it ranked."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]


def agentgym(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "agentgym.cli.main", *args], capture_output=True, text=True,
                          cwd=cwd, env={**os.environ, "PYTHONPATH": str(TESTS)}, timeout=600)


@pytest.mark.slow
def test_run_submit_leaderboard(tmp_path):
    run = agentgym("run", "smoke", "--out", "runs/smoke", "--executor", "process", "--workers", "2",
                   "--no-progress", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "success" in run.stdout and "[" in run.stdout  # the table, with confidence intervals
    results_path = tmp_path / "runs" / "smoke" / "results.json"
    results = json.loads(results_path.read_text())
    assert results["suite"]["name"] == "smoke" and results["n_failed"] == 0
    oracle = next(c for c in results["cells"] if c["agent"] == "oracle" and "FrozenLake" in c["env"])
    assert oracle["metrics"]["success_rate"]["mean"] == 1.0

    board = tmp_path / "board" / "leaderboard.json"
    submit = agentgym("submit", str(results_path), "--leaderboard", str(board), cwd=tmp_path)
    assert submit.returncode == 0, submit.stderr
    again = agentgym("submit", str(results_path), "--leaderboard", str(board), cwd=tmp_path)
    assert again.returncode != 0 and "duplicate" in again.stderr.lower()
    shown = agentgym("leaderboard", "--leaderboard", str(board), cwd=tmp_path)
    assert shown.returncode == 0 and "oracle" in shown.stdout
    rows = json.loads(agentgym("leaderboard", "--leaderboard", str(board), "--json", cwd=tmp_path).stdout)
    assert rows[0]["agent"] == "oracle"


def test_errors_are_one_clear_line(tmp_path):
    result = agentgym("run", "no-such-suite", cwd=tmp_path)
    assert result.returncode == 2 and result.stderr.startswith("error: suite 'no-such-suite'")
    result = agentgym("check-env", "agentgym/FrozenLak-v0", cwd=tmp_path)
    assert result.returncode == 2 and "did you mean 'agentgym/FrozenLake-v0'" in result.stderr


def test_run_swaps_in_agents_from_the_command_line(tmp_path):
    run = agentgym("run", "smoke", "--out", "runs/swap", "--agent", "random", "--agent-kwargs", '{"seed": 7}',
                   "--agent-name", "random-s7", "--no-progress", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    results = json.loads((tmp_path / "runs" / "swap" / "results.json").read_text())
    agents = {(c["agent"], c.get("reference", False)) for c in results["cells"]}
    assert agents == {("random-s7", False), ("random", True), ("oracle", True)}
    suite = json.loads((tmp_path / "runs" / "swap" / "suite.json").read_text())  # what ran, as run
    spec = next(a for a in suite["spec"]["agents"] if a["name"] == "random-s7")
    assert spec["kwargs"] == {"view": "vector", "seed": 7}
    bad = agentgym("run", "smoke", "--agent", "random", "--agent-kwargs", "{seed: 7}", cwd=tmp_path)
    assert bad.returncode == 2 and "--agent-kwargs is not valid JSON" in bad.stderr
    lonely = agentgym("run", "smoke", "--agent-name", "x", cwd=tmp_path)
    assert lonely.returncode == 2 and "go with --agent" in lonely.stderr


def test_arena_command_rates_three_agents(tmp_path):
    result = agentgym("arena", "random", "heuristic", "perfect", "--games", "6", "--out", "arena.json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Bradley-Terry" in result.stdout
    ratings = json.loads((tmp_path / "arena.json").read_text())
    assert ratings  # the JSON form of the same result
    alone = agentgym("arena", "random", cwd=tmp_path)
    assert alone.returncode == 2 and "at least two agents" in alone.stderr
