"""`judge`: oracle judges by default, any callable by name, scores cached so the env stays deterministic."""

from __future__ import annotations

import numpy as np
import pytest

import agentgym
from agentgym.core.errors import AgentGymError
from agentgym.rewards import judge as judge_module
from agentgym.testing import toy as toy_env

LAKE = "agentgym/FrozenLake-v0"


def _episode(env, actions, seed=0):
    env.reset(seed=seed)
    steps = []
    for action in actions:
        action = env.unwrapped.oracle() if action is None else action
        steps.append(env.step(action))
        if steps[-1][2] or steps[-1][3]:
            break
    return steps


@pytest.mark.parametrize("view", ["vector", "text"])
def test_oracle_judge_pays_one_for_the_oracle_action(view):
    env = agentgym.make(LAKE, reward="judge", view=view)
    steps = _episode(env, [None] * 20)
    assert [reward for _, reward, *_ in steps] == [1.0] * 6 and steps[-1][4]["success"]
    wrong = "up" if view == "text" else 3
    assert _episode(env, [wrong])[0][1] == 0.0  # the oracle never walks into the top edge
    if view == "text":
        assert _episode(env, ["fly"])[0][1] == 0.0  # invalid: no index to match


def test_judge_sees_the_state_acted_on_the_action_and_the_oracle():
    calls = []

    def spy(observation, action, info):
        calls.append((observation, action, info["action_index"], info["oracle_action"], info["env_reward"]))
        return 0.25

    env = agentgym.make(LAKE, reward="judge", reward_kwargs={"judge": spy, "scale": 2.0, "persist": False})
    observation, _ = env.reset(seed=0)
    oracle = env.unwrapped.oracle_action()
    _, reward, *_ = env.step(3)
    assert reward == 0.5 and calls == [(observation, 3, 3, oracle, 0.0)] and oracle in (1, 2)


def test_episode_judge_pays_the_share_of_oracle_steps_at_the_end():
    env = agentgym.make(LAKE, reward="judge", reward_kwargs={"per": "episode"})
    steps = _episode(env, [3] + [None] * 20)  # one wasted step, then the oracle
    rewards = [reward for _, reward, *_ in steps]
    assert rewards[:-1] == [0.0] * (len(rewards) - 1) and rewards[-1] == pytest.approx(6 / 7)
    assert steps[-1][4]["success"] and len(env.transcript) == 7
    assert env.transcript[0]["action"] == 3 and env.transcript[0]["info"]["oracle_action"] != 3


def test_judge_by_entry_point_and_bad_names():
    env = agentgym.make(LAKE, reward="judge", reward_kwargs={"judge": "agentgym.rewards.judge:oracle_judge"})
    assert _episode(env, [None])[0][1] == 1.0
    with pytest.raises(AgentGymError, match="no attribute"):
        agentgym.make(LAKE, reward="judge", reward_kwargs={"judge": "agentgym.rewards.judge:nope"})
    with pytest.raises(ValueError, match="per"):
        agentgym.make(LAKE, reward="judge", reward_kwargs={"per": "turn"})


def noisy_judge(observation, action, info):
    """A stand-in for a sampling LLM judge: a different score on every call."""
    noisy_judge.calls += 1
    return float(np.random.default_rng().random())


noisy_judge.calls = 0


def test_sampling_judges_are_cached_by_input_in_memory_and_on_disk(monkeypatch, tmp_path):
    monkeypatch.setenv("AGENTGYM_CACHE", str(tmp_path))  # a cache of our own: this judge must start unseen
    monkeypatch.setattr(judge_module, "_SCORES", {})
    monkeypatch.setattr(judge_module, "_LOADED", set())
    make = lambda: agentgym.make(LAKE, reward="judge", reward_kwargs={"judge": noisy_judge})  # noqa: E731
    first = [step[1] for step in _episode(make(), [None] * 6)]
    calls = noisy_judge.calls
    second = [step[1] for step in _episode(make(), [None] * 6)]
    assert first == second and noisy_judge.calls == calls == 6  # same inputs, same scores, no new calls
    judge_module._SCORES.clear()  # a fresh process: scores come back from the cache file
    judge_module._LOADED.clear()
    third = [step[1] for step in _episode(make(), [None] * 6)]
    assert third == first and noisy_judge.calls == 6
    different = _episode(make(), [3])[0][1]  # a new input is judged
    assert noisy_judge.calls == 7 and 0.0 <= different <= 1.0


def test_oracle_judge_needs_an_oracle():
    card = toy_env.CARD.model_copy(update={"oracle": "none", "oracle_always_succeeds": False})
    agentgym.register_env(id="toy/NoOracle-v0", entry_point="agentgym.testing.toy:CorridorEnv", card=card,
                          max_episode_steps=12)
    with pytest.raises(ValueError, match="has none"):
        agentgym.make("toy/NoOracle-v0", reward="judge")
    env = agentgym.make("toy/NoOracle-v0", reward="judge", reward_kwargs={"judge": lambda o, a, i: 1.0})
    assert _episode(env, [1])[0][1] == 1.0
