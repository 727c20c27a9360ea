"""The TextArena plugin: every id passes the env contract, oracles win, the wrapper mends what TextArena
breaks (shared global random state, a crashing reset, rewards below 0), text moves parse, and the package
installs into a fresh environment from its folder and runs a suite there."""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

import agentgym
from agentgym.envs.registration import env_spec
from agentgym.testing.check_env import check_env_contract, format_report

PLUGIN = Path(__file__).resolve().parents[1]
ROOT = PLUGIN.parents[1]
IDS = sorted(i for i in agentgym.env_ids() if i.startswith("agentgym/TA-"))
TWO_PLAYER = {"agentgym/TA-TicTacToe-v0", "agentgym/TA-TicTacToeHeuristic-v0", "agentgym/TA-Nim-v0",
              "agentgym/TA-NimOptimal-v0"}


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    if "AGENTGYM_CACHE" not in os.environ:
        monkeypatch.setenv("AGENTGYM_CACHE", str(tmp_path_factory.getbasetemp() / "agentgym-cache"))


def _play(env, seed, policy, limit=200):
    observation, info = env.reset(seed=seed)
    trace = [observation]
    for _ in range(limit):
        observation, reward, terminated, truncated, info = env.step(policy(env))
        trace += [observation, reward]
        if terminated or truncated:
            break
    return trace, info


def test_ids_five_puzzles_and_two_games():
    assert len(set(IDS) - TWO_PLAYER) >= 5 and TWO_PLAYER <= set(IDS)
    for env_id in IDS:
        card = env_spec(env_id).card
        assert card.family == "textarena" and set(card.views) == {"text", "vector"} and card.oracle != "none"
        assert set(card.aspects) == {"task", "rules", "validity"}
        assert card.score == ("progress" if env_id in TWO_PLAYER else "success")


@pytest.mark.parametrize("env_id", IDS)
def test_conformance(env_id):
    results = check_env_contract(env_id)
    assert all(r.passed for r in results), format_report(env_id, results)


@pytest.mark.parametrize("env_id", IDS)
def test_oracle(env_id):
    spec = env_spec(env_id)
    env = agentgym.make(env_id, view="vector")
    for seed in spec.card.splits["test"].seeds()[:15]:
        _, info = _play(env, seed, lambda e: e.unwrapped.oracle())
        if spec.card.oracle_always_succeeds:
            assert info["success"], (env_id, seed)
        else:  # minimax never loses
            assert info["progress"] >= 0.5, (env_id, seed)
        assert info["reward_vector"]["rules"] == 0.0
    env.close()


def test_lockstep_episodes_do_not_share_textarena_randomness():
    """TextArena seeds and draws from Python's global ``random``: Minesweeper places its mines at the
    first reveal from it. Raw games stepped in turn change each other's boards; wrapped ones do not."""
    import textarena as ta

    def raw_board(interleave: bool) -> list[list[int]]:
        first, second = ta.make("Minesweeper-v0-raw", rows=5, cols=5, num_mines=5), ta.make("Minesweeper-v0-raw")
        first.reset(num_players=1, seed=3)
        second.reset(num_players=1, seed=4)
        if interleave:
            second.step("[0 0]")
        first.step("[2 2]")
        return [row[:] for row in first.grid]

    assert raw_board(False) != raw_board(True)  # the third-party failure is real

    def wrapped(interleave: bool) -> list:
        first, second = agentgym.make("agentgym/TA-Minesweeper-v0"), agentgym.make("agentgym/TA-Minesweeper-v0")
        first.reset(seed=3)
        second.reset(seed=4)
        random.seed(99)  # the caller's own use of the global generator changes nothing either
        if interleave:
            second.step(0)
        observation, *_ = first.step(12)
        return [row[:] for row in first.unwrapped.game.grid] + [list(observation)]

    assert wrapped(False) == wrapped(True)


def test_text_moves_parse_with_or_without_brackets():
    env = agentgym.make("agentgym/TA-TowerOfHanoi-v0", view="text")
    env.reset(seed=0)
    read = env.unwrapped.read_action
    labels = env.unwrapped.action_labels()
    assert read("[A C]") == read("a, c") == read("I move [a c].") == read(" 'A C' ") == labels.index("[A C]")
    assert read("[C A]") is None and read("[A D]") is None and read("move it") is None and read(3) is None
    _, _, _, _, info = env.step("[C A]")  # C is empty: masked, never passed to TextArena
    assert info["invalid_action"] and info["reward_vector"]["validity"] == -1.0
    assert env.unwrapped.state.error_count == 0 and env.unwrapped.state.turn == 0
    numbers = agentgym.make("agentgym/TA-GuessTheNumber-v0", view="text")
    numbers.reset(seed=0)
    assert numbers.unwrapped.read_action("5") == numbers.unwrapped.action_labels().index("[5]")  # a move, not an index


def test_rule_penalty_and_second_in_a_row_ends_the_game():
    env = agentgym.make("agentgym/TA-Sudoku-v0", view="vector")
    env.reset(seed=1000000)
    game = env.unwrapped.game
    right = env.unwrapped.oracle()
    r, c, n = env.unwrapped.moves[right]
    wrong = env.unwrapped.moves.index((r, c, n % 9 + 1))
    _, _, terminated, _, info = env.step(wrong)
    assert info["reward_vector"]["rules"] == -1.0 and not terminated and not info["invalid_action"]
    _, _, terminated, _, info = env.step(wrong)
    assert terminated and not info["success"] and info["reward_vector"]["rules"] == -1.0
    assert game.state.game_info[0]["invalid_move"]


def test_lights_out_degenerate_scramble_is_rerolled_and_rewards_clipped():
    env = agentgym.make("agentgym/TA-LightsOut-v0", view="vector")
    observation, _ = env.reset(seed=10067)  # TextArena's own reset divides by zero on this seed
    assert env.unwrapped.game_seed != 10067 and observation[:25].sum() > 0
    again, _ = env.reset(seed=10067)
    assert (again == observation).all()
    negative = 0
    for seed in range(40):
        env.reset(seed=seed)
        for press in range(20):
            _, _reward, terminated, _truncated, info = env.step(press)
            if terminated:
                break
        assert 0.0 <= info["reward_vector"]["task"] <= 1.0 and 0.0 <= info["progress"] <= 1.0
        negative += info.get("textarena_reward", 0.0) < 0
    assert negative > 0  # TextArena's completion share does go below 0


def test_two_player_observation_shows_the_opponent_move():
    env = agentgym.make("agentgym/TA-TicTacToe-v0", view="text")
    env.reset(seed=1000000)
    observation, _, _, _, info = env.step("[4]")
    assert "Player 1 played:" in observation and len(info["admissible_actions"]) == 7


def _fresh_environment(tmp_path: Path) -> tuple[Path, Path]:
    """A new virtual environment with this plugin installed (non-editable, from a copy of its folder) and
    nothing else; agentgym (source tree) and the third-party packages come from this interpreter by a .pth
    file, whose editable-install hooks are not run there."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               check=True, capture_output=True, text=True).stdout.strip())
    (site / "agentgym_test_deps.pth").write_text(f"{ROOT}\n{sysconfig.get_paths()['purelib']}\n")
    source = tmp_path / "source"
    skip = shutil.ignore_patterns("*.egg-info", "build", "__pycache__", ".pytest_cache")
    shutil.copytree(PLUGIN, source, ignore=skip)
    install = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index",
                              "-q", "--target", str(site), str(source)], capture_output=True, text=True, timeout=300)
    assert install.returncode == 0, install.stderr
    return python, site


@pytest.mark.slow
def test_installs_into_a_fresh_environment_and_runs_a_suite(tmp_path):
    python, site = _fresh_environment(tmp_path)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["AGENTGYM_CACHE"] = str(tmp_path / "cache")
    probe = ("import agentgym, agentgym_textarena as p, sys; assert p.__file__.startswith(sys.argv[1]), p.__file__; "
             "print(len([i for i in agentgym.env_ids() if i.startswith('agentgym/TA-')]))")
    found = subprocess.run([str(python), "-c", probe, str(site)], capture_output=True, text=True, env=env,
                           cwd=tmp_path, timeout=300)
    assert found.returncode == 0, found.stderr
    assert int(found.stdout.strip()) == len(IDS)
    cli = "import sys; from agentgym.cli.main import main; sys.exit(main(sys.argv[1:]))"
    check = subprocess.run([str(python), "-c", cli, "check-env", "agentgym/TA-Nim-v0"], capture_output=True,
                           text=True, env=env, cwd=tmp_path, timeout=300)
    assert check.returncode == 0, check.stdout + check.stderr
    out = tmp_path / "run"
    run = subprocess.run([str(python), "-c", cli, "run", str(PLUGIN / "suites" / "ta-smoke.yaml"), "--out", str(out)],
                         capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    results = json.loads((out / "results.json").read_text())
    assert results["n_failed"] == 0 and results["n_episodes"] == 18
    for cell in results["cells"]:
        if cell["agent"] == "oracle":
            assert cell["metrics"]["success_rate"]["mean"] == 1.0, cell["cell"]


@pytest.mark.slow
def test_episodes_do_not_depend_on_the_process():
    probe = ("import agentgym, hashlib, sys\n"
             "digest = hashlib.sha256()\n"
             "for env_id in sys.argv[1:]:\n"
             "    env = agentgym.make(env_id, view='text')\n"
             "    for seed in (0, 1000000):\n"
             "        digest.update(env.reset(seed=seed)[0].encode())\n"
             "        for _ in range(3):\n"
             "            observation, _, done, cut, _ = env.step(env.unwrapped.oracle())\n"
             "            digest.update(observation.encode())\n"
             "            if done or cut:\n"
             "                break\n"
             "print(digest.hexdigest())\n")
    outputs = set()
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        result = subprocess.run([sys.executable, "-c", probe, *IDS], capture_output=True, text=True, env=env,
                                timeout=600)
        assert result.returncode == 0, result.stderr[-2000:]
        outputs.add(result.stdout.strip().splitlines()[-1])
    assert len(outputs) == 1
