"""The reasoning-gym plugin: every id passes the env contract, scores come from reasoning-gym, the seed
splits are disjoint in content, answers a verifier would eval never reach it, and the package installs
into a fresh environment from its folder and runs a suite there."""

from __future__ import annotations

import contextlib
import io
import json
import os
import random
import shutil
import string
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import numpy as np
import pytest

import agentgym
from agentgym.envs.registration import env_spec
from agentgym.testing.check_env import check_env_contract, format_report

PLUGIN = Path(__file__).resolve().parents[1]
ROOT = PLUGIN.parents[1]
IDS = sorted(i for i in agentgym.env_ids() if i.startswith("agentgym/RG-"))
CATEGORIES = {"arithmetic", "logic", "graphs", "games"}


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    if "AGENTGYM_CACHE" not in os.environ:
        monkeypatch.setenv("AGENTGYM_CACHE", str(tmp_path_factory.getbasetemp() / "agentgym-cache"))


def _env(env_id: str, view: str = "text", **kwargs):
    return agentgym.make(env_id, view=view, **kwargs)


def test_ids_cover_ten_tasks_across_the_four_categories():
    tasks = {env_spec(i).kwargs["task"] for i in IDS}
    assert len(tasks) >= 10, tasks
    from reasoning_gym.factory import DATASETS

    categories = {DATASETS[task][0].__module__.split(".")[1] for task in tasks}  # reasoning_gym.<category>.<task>
    assert CATEGORIES <= categories, categories
    for env_id in IDS:
        card = env_spec(env_id).card
        assert card.family == "reasoning-gym" and card.version == 0 and card.changelog
        assert set(card.aspects) == {"task", "progress", "validity"}
        # a vector view exactly where the answers are enumerable
        assert ("vector" in card.views) == bool(env_spec(env_id).kwargs.get("answers")), env_id


@pytest.mark.parametrize("env_id", IDS)
def test_conformance(env_id):
    results = check_env_contract(env_id)
    assert all(r.passed for r in results), format_report(env_id, results)


@pytest.mark.parametrize("env_id", IDS)
def test_reference_answer_scores_full_and_lies_in_the_answer_list(env_id):
    spec = env_spec(env_id)
    env = _env(env_id)
    answers = spec.kwargs.get("answers")
    for split in ("train", "test"):
        for seed in spec.card.splits[split].seeds()[:10]:
            env.reset(seed=seed)
            oracle = env.unwrapped.oracle()
            assert set(oracle) <= set(string.printable)
            _, reward, terminated, _, info = env.step(oracle)
            assert terminated and info["success"] and info["progress"] == 1.0 and reward == 1.0, (seed, oracle)
            if answers:
                assert oracle in answers
    env.close()


def test_seed_splits_are_disjoint_in_content():
    """Tower of Hanoi has under a hundred distinct questions: mapped directly, 95% of test seeds repeat a
    train question; the content-disjoint mapping leaves none."""
    for env_id in ("agentgym/RG-TowerOfHanoi-v0", "agentgym/RG-SelfReference-v0", "agentgym/RG-GCD-v0"):
        spec, env = env_spec(env_id), _env(env_id)
        questions = {}
        for split in ("train", "test"):
            questions[split] = set()
            for seed in spec.card.splits[split].seeds()[:120]:
                _observation, info = env.reset(seed=seed)
                questions[split].add(env.unwrapped._question)
                assert info["dataset_seed"] // 64 == seed
        assert not questions["train"] & questions["test"], env_id
        env.close()


def test_same_seed_same_question_whatever_the_global_generators_do():
    env = _env("agentgym/RG-KnightsKnaves-v0")
    first, _ = env.reset(seed=1000003)
    before = (random.getstate(), np.random.get_state()[1].copy())
    random.seed(12345)
    np.random.seed(54321)
    other = _env("agentgym/RG-ZebraPuzzles-v0")
    other.reset(seed=7)
    again, _ = env.reset(seed=1000003)
    assert first == again
    random.setstate(before[0])
    state = random.getstate()
    env.reset(seed=1000004)  # generation leaves the caller's global generator untouched
    assert random.getstate() == state


def test_several_attempts_with_feedback():
    env = _env("agentgym/RG-ChainSum-v0", attempts=3)
    observation, _ = env.reset(seed=1000000)
    assert "Attempts left: 3 of 3" in observation
    right = env.unwrapped.oracle()
    wrong = str(int(right) + 1)
    observation, reward, terminated, _, info = env.step(wrong)
    assert not terminated and reward == 0.0 and info["score"] == 0.0
    assert "Attempt 1:" in observation and "not correct" in observation and "Attempts left: 2 of 3" in observation
    observation, reward, terminated, _, info = env.step(right)
    assert terminated and info["success"] and reward == 1.0 and info["reward_vector"]["task"] == 1.0
    # all attempts wrong: the episode ends after the last one, progress is the best score
    env.reset(seed=1000001)
    for _ in range(3):
        _, _, terminated, _, info = env.step("-999999999")
    assert terminated and info["success"] is False and info["progress"] == 0.0


def test_vector_view_multiple_attempts_marks_tried_answers():
    env = _env("agentgym/RG-Syllogism-v0", view="vector", attempts=2)
    observation, _ = env.reset(seed=1000000)
    assert env.observation_space.contains(observation) and env.action_space.n == 2
    wrong = 1 - env.unwrapped.oracle()
    observation, _, terminated, _, _ = env.step(wrong)
    assert not terminated and observation[256 + wrong] == 1.0 and observation[-1] == 0.5
    _, reward, terminated, _, info = env.step(env.unwrapped.oracle())
    assert terminated and info["success"] and reward == 1.0


def test_invalid_answers_use_no_attempt():
    env = _env("agentgym/RG-GCD-v0")
    env.reset(seed=1000000)
    for bad in ("", "   ", 7, None, "9" * 20000):
        _, _reward, terminated, _, info = env.step(bad)
        assert info["invalid_action"] and info["reward_vector"]["validity"] == -1.0 and not terminated
    _, _, terminated, _, info = env.step(env.unwrapped.oracle())
    assert terminated and info["success"]


@pytest.mark.parametrize("env_id", ["agentgym/RG-NQueens-v0", "agentgym/RG-Countdown-v0", "agentgym/RG-Puzzle24-v0"])
def test_answers_a_verifier_would_eval_never_reach_it(env_id):
    """reasoning-gym's n_queens calls eval() on the answer and countdown/puzzle24 sympy's parse_expr (which
    evaluates Python): code in an answer would run, and an exponent tower hangs the verifier."""
    env = _env(env_id, attempts=3)
    env.reset(seed=1000000)
    printed = io.StringIO()
    start = time.monotonic()
    with contextlib.redirect_stdout(printed):
        _, _, _, _, info = env.step("__import__('builtins').print('PWNED')")
        assert info["score_note"] == "screened"
        _, _, _, _, info = env.step("9**9**9**9")
        assert info["score_note"] == "screened"
    assert "PWNED" not in printed.getvalue() and time.monotonic() - start < 5
    _, _, terminated, _, info = env.step(env.unwrapped.oracle())
    assert info["success"] and terminated


def test_verifier_that_raises_scores_zero():
    env = _env("agentgym/RG-PrimeFactorization-v0")
    env.reset(seed=1000000)
    _, reward, terminated, _, info = env.step("not a product")
    assert terminated and reward == 0.0 and info["score_note"].startswith("verifier raised")


def test_text_observations_are_printable_and_symbols_map_back():
    env = _env("agentgym/RG-QuantumLock-v0")
    observation, _ = env.reset(seed=1000000)
    assert "->" in observation and env.observation_space.contains(observation)
    oracle = env.unwrapped.oracle()
    assert "->" in oracle and env.action_space.contains(oracle)


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
    probe = ("import agentgym, agentgym_reasoning_gym as p, sys; "
             "assert p.__file__.startswith(sys.argv[1]), p.__file__; "
             "print(len([i for i in agentgym.env_ids() if i.startswith('agentgym/RG-')]))")
    found = subprocess.run([str(python), "-c", probe, str(site)], capture_output=True, text=True, env=env,
                           cwd=tmp_path, timeout=300)
    assert found.returncode == 0, found.stderr
    assert int(found.stdout.strip()) == len(IDS)
    cli = "import sys; from agentgym.cli.main import main; sys.exit(main(sys.argv[1:]))"
    check = subprocess.run([str(python), "-c", cli, "check-env", "agentgym/RG-Syllogism-v0"], capture_output=True,
                           text=True, env=env, cwd=tmp_path, timeout=300)
    assert check.returncode == 0, check.stdout + check.stderr
    out = tmp_path / "run"
    run = subprocess.run([str(python), "-c", cli, "run", str(PLUGIN / "suites" / "rg-smoke.yaml"), "--out", str(out)],
                         capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    results = json.loads((out / "results.json").read_text())
    assert results["n_failed"] == 0 and results["n_episodes"] == 18
    for cell in results["cells"]:
        if cell["agent"] == "oracle-text":
            assert cell["metrics"]["success_rate"]["mean"] == 1.0, cell["cell"]


def test_enumerable_answers_match_the_list_or_are_invalid():
    env = _env("agentgym/RG-Syllogism-v0", attempts=2)
    env.reset(seed=1000000)
    read = env.unwrapped.read_action
    assert read(" 'yes.' ") == "Yes" and read("NO") == "No"
    assert read("Yes, it follows") is None and read("1") is None and read("9" * 5000) is None
    assert env.unwrapped.free_text_answers is False
    assert _env("agentgym/RG-GCD-v0").unwrapped.free_text_answers is True


@pytest.mark.slow
def test_questions_do_not_depend_on_the_process():
    """Five reasoning-gym tasks (knight_swap, isomorphic_strings, ...) give other questions under another
    PYTHONHASHSEED; none of the registered ones may."""
    probe = ("import agentgym, hashlib, sys\n"
             "digest = hashlib.sha256()\n"
             "for env_id in sys.argv[1:]:\n"
             "    env = agentgym.make(env_id, view='text')\n"
             "    for seed in (0, 1, 1000000):\n"
             "        digest.update(env.reset(seed=seed)[0].encode())\n"
             "print(digest.hexdigest())\n")
    outputs = set()
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        result = subprocess.run([sys.executable, "-c", probe, *IDS], capture_output=True, text=True, env=env,
                                timeout=600)
        assert result.returncode == 0, result.stderr[-2000:]
        outputs.add(result.stdout.strip().splitlines()[-1])
    assert len(outputs) == 1
