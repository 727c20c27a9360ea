"""The three ways to register an env, one mechanism, and helpful errors."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import gymnasium as gym
import pytest

import agentgym
from agentgym.core.errors import SpecError, UnknownNameError
from agentgym.testing.check_env import check_env_contract

TESTS = Path(__file__).resolve().parents[1]
TOY_ENVS = TESTS / "data" / "toy_envs"


def _cli(*args: str, extra_path: list[Path] = (), **env: str) -> subprocess.CompletedProcess:
    path = os.pathsep.join(str(p) for p in [TESTS, *extra_path])
    return subprocess.run([sys.executable, "-m", "agentgym.cli.main", *args], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": path, **env}, timeout=300)


def test_python_registration_and_make(corridor):
    env = agentgym.make(corridor, view="text")
    assert env.unwrapped.card.family == "toy"
    observation, info = env.reset(seed=100)
    assert isinstance(observation, str) and info["admissible_actions"] == ["right", "wait"]
    assert "toy/Corridor-v0" in agentgym.env_ids()
    assert gym.make(corridor).unwrapped.view == "vector"  # mirrored into gymnasium's registry


def test_gymnasium_make_still_reports_the_outcome_at_the_step_limit(corridor):
    env = gym.make(corridor)
    env.reset(seed=100)
    for _ in range(12):
        _, _, terminated, truncated, info = env.step(2)  # wait until the limit
    assert truncated and not terminated and info["success"] is False and 0 <= info["progress"] < 1


def test_unknown_id_says_did_you_mean(corridor):
    with pytest.raises(UnknownNameError, match="did you mean 'toy/Corridor-v0'"):
        agentgym.make("toy/corridor-v0")


def test_yaml_folder_registration(tmp_path):
    specs = agentgym.load_env_specs(TOY_ENVS)
    assert [s.id for s in specs] == ["toy/YamlCorridor-v0"]
    assert all(r.passed for r in check_env_contract("toy/YamlCorridor-v0"))


def test_malformed_yaml_spec_names_the_file_and_field(tmp_path):
    (tmp_path / "bad.yaml").write_text(
        "id: x/Bad-v0\nentry_point: agentgym.testing.toy:CorridorEnv\ncard: {family: toy}\n")
    with pytest.raises(SpecError, match=r"bad.yaml.*card.aspects"):
        agentgym.load_env_specs(tmp_path)
    (tmp_path / "bad.yaml").write_text("id: [unclosed\n")
    with pytest.raises(SpecError, match="not valid YAML"):
        agentgym.load_env_specs(tmp_path)


def test_cards_refuse_overlapping_splits():
    with pytest.raises(ValueError, match="overlap"):
        agentgym.EnvCard(family="toy", aspects={"task": {"meaning": "m", "low": 0, "high": 1}},
                         splits={"train": {"start": 0, "count": 10}, "test": {"start": 5, "count": 10}})


@pytest.mark.slow
def test_env_folder_by_cli_flag_and_variable():
    by_flag = _cli("check-env", "toy/YamlCorridor-v0", "--envs", str(TOY_ENVS))
    assert by_flag.returncode == 0, by_flag.stdout + by_flag.stderr
    assert "4 passed, 0 failed" in by_flag.stdout
    by_variable = _cli("list", "envs", AGENTGYM_ENVS=str(TOY_ENVS))
    assert "toy/YamlCorridor-v0" in by_variable.stdout


@pytest.mark.slow
def test_third_party_package_entry_point(tmp_path):
    """A package that declares the `agentgym.envs` entry-point group, as `pip install` would leave it."""
    site = tmp_path / "site"
    (site / "lakeplugin").mkdir(parents=True)
    (site / "lakeplugin" / "__init__.py").write_text(textwrap.dedent("""
        import agentgym

        def register():
            from agentgym.testing import toy as toy_env
            agentgym.register_env(id="plugin/Corridor-v0", entry_point="agentgym.testing.toy:CorridorEnv",
                                  card=toy_env.CARD, max_episode_steps=12)
        """))
    dist = site / "lakeplugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: lakeplugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[agentgym.envs]\ncorridor = lakeplugin:register\n")
    listed = _cli("list", "envs", extra_path=[site])
    assert "plugin/Corridor-v0" in listed.stdout, listed.stderr
    checked = _cli("check-env", "plugin/Corridor-v0", extra_path=[site])
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_check_env_exits_non_zero_with_a_report(tmp_path):
    (tmp_path / "broken.yaml").write_text((TOY_ENVS / "corridor.yaml").read_text()
                                          .replace("toy/YamlCorridor-v0", "toy/Broken-v0")
                                          .replace("validity: {meaning: -1 per invalid action, low: -1, high: 0}",
                                                   "safety: {meaning: never, low: -1, high: 0}"))
    result = _cli("check-env", "toy/Broken-v0", "--envs", str(tmp_path))
    assert result.returncode == 1
    assert "[FAIL] views and reward vector" in result.stdout and "reward_vector keys" in result.stdout


@pytest.mark.parametrize("text", ["²", "٣", "1", "99", "-1", ""])
def test_digit_like_text_never_crashes(corridor, text):
    env = agentgym.make(corridor, view="text")
    env.reset(seed=100)
    _, _, _, _, info = env.step(text)
    assert info["invalid_action"] == (text != "1")  # "1" is the second admissible action, "wait"
