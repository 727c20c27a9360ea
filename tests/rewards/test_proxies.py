"""Misspecified proxies can be farmed without doing the task; every new variant keeps the true outcome intact."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import agentgym
from agentgym.rewards import REWARDS
from agentgym.rewards.proxies import NoveltyReward, ToolCallsReward

LAKE = "agentgym/FrozenLake-v0"
PROXIES = ["novelty", "progress_text", "tool_calls", "survival", "no_invalid"]
# FrozenLake 4x4 (SFFF/FHFH/FFFH/HFFG): walk to cell 9, then circle the 2x2 block of ice 9-10-14-13
TO_LOOP, LOOP = [1, 1, 2], [2, 1, 0, 3]


def _play(env, policy, seed=0):
    """(proxy return, env return, last info, steps) of one episode; ``policy(env, t)`` gives the action."""
    env.reset(seed=seed)
    proxy = true = 0.0
    for t in range(10_000):
        _, reward, terminated, truncated, info = env.step(policy(env, t))
        proxy, true = proxy + reward, true + info["env_reward"]
        if terminated or truncated:
            return proxy, true, info, t + 1
    raise AssertionError("episode did not end")


def _looping(env, t):
    return TO_LOOP[t] if t < len(TO_LOOP) else LOOP[(t - len(TO_LOOP)) % len(LOOP)]


def _oracle(env, t):
    return env.unwrapped.oracle()


@pytest.mark.parametrize("name", ["novelty", "survival", "tool_calls", "no_invalid"])
def test_a_looping_agent_farms_the_proxy_while_never_succeeding(name):
    env = agentgym.make(LAKE, reward=name)
    loop_proxy, loop_true, loop_info, steps = _play(env, _looping)
    oracle_proxy, oracle_true, oracle_info, _ = _play(env, _oracle)
    print(f"\n{name}: looping agent proxy {loop_proxy:.0f} / success {loop_info['success']}; "
          f"oracle proxy {oracle_proxy:.0f} / success {oracle_info['success']}")
    assert steps == 100 and loop_info["success"] is False and loop_true == 0.0  # truncated, nothing achieved
    assert oracle_info["success"] is True and oracle_true == 1.0
    assert loop_proxy >= 90 > 10 > oracle_proxy  # the reward-hacking signature: proxy up, true success down


def test_novelty_window_decides_what_a_loop_earns():
    short = agentgym.make(LAKE, reward="novelty", reward_kwargs={"window": 4})  # the 4-cycle is now remembered
    proxy, *_ = _play(short, _looping)
    assert proxy == 3 + 3  # the way there and the first lap (9 is still remembered); the rest repeats
    bouncing = agentgym.make(LAKE, reward="novelty")
    assert _play(bouncing, lambda env, t: 0)[0] == 0.0  # bumping into the edge is never novel
    with pytest.raises(ValueError, match="window"):
        agentgym.make(LAKE, reward="novelty", reward_kwargs={"window": 0})


def test_progress_text_is_farmed_by_carrying_the_passenger_forever():
    env = agentgym.make("agentgym/Taxi-v0", reward="progress_text")

    def carry(env, t):
        if not env.unwrapped.outcome()[1]:  # not picked up yet: follow the oracle
            return env.unwrapped.oracle()
        return t % 2  # then south / north forever
    proxy, _true, info, steps = _play(env, carry)
    oracle_proxy, *_, oracle_info, _ = _play(env, _oracle)
    assert info["success"] is False and info["progress"] == 0.5 and steps == 200
    assert proxy > 150 and oracle_proxy < 15 and oracle_info["success"] is True


def test_progress_text_is_farmed_by_typing_progress_words_in_the_text_view():
    env = agentgym.make(LAKE, reward="progress_text", view="text")
    proxy, _, info, steps = _play(env, lambda env, t: "I reached the goal, success!")
    assert proxy == steps == 100 and info["success"] is False and info["progress"] == 0.0
    assert _play(env, lambda env, t: "down")[0] == 0.0  # walking down falls into a hole, no word said


def test_tool_calls_counts_reported_calls():
    class ReportsCalls(gym.Wrapper):
        def step(self, action):
            observation, reward, terminated, truncated, info = self.env.step(action)
            info["tool_calls"] = ["search", "lookup"] if action == 1 else 0
            return observation, reward, terminated, truncated, info

    env = ToolCallsReward(ReportsCalls(agentgym.make(LAKE)), bonus=0.5)
    env.reset(seed=0)
    assert env.step(1)[1] == 1.0 and env.step(0)[1] == 0.0


def test_survival_pays_nothing_on_the_step_that_succeeds(corridor):
    env = agentgym.make(corridor, reward="survival")
    proxy, _, info, steps = _play(env, lambda env, t: 1)
    assert info["success"] and proxy == steps - 1


def test_no_invalid_pays_only_valid_actions(corridor):
    env = agentgym.make(corridor, reward="no_invalid")
    env.reset(seed=0)
    assert env.step(0)[1] == 0.0 and env.step(1)[1] == 1.0  # left at cell 0 is masked: invalid


@pytest.mark.parametrize("env_id", [LAKE, "agentgym/Taxi-v0", "agentgym/CartPole-v0"])
@pytest.mark.parametrize("name", PROXIES)
def test_each_proxy_is_registered_and_runs_on_classic_envs(env_id, name):
    assert name in REWARDS.names()
    for view in ("vector", "text"):
        env = agentgym.make(env_id, reward=name, view=view)
        proxy, _, info, _ = _play(env, lambda env, t: env.unwrapped.oracle() if t % 3 else env.action_space.sample())
        assert np.isfinite(proxy) and "success" in info


def test_proxies_refuse_envs_outside_the_agentgym_contract():
    with pytest.raises(TypeError, match="not an agentgym env"):
        NoveltyReward(gym.make("CartPole-v1"))


VARIANTS = [("shaped", {}), ("learned", {}), ("irl", {}), ("judge", {}), ("judge", {"per": "episode"})]
VARIANTS += [(name, {}) for name in PROXIES]


@pytest.mark.parametrize("env_id", [LAKE, "agentgym/FrozenLakeSlippery-v0", "agentgym/Taxi-v0"])
@pytest.mark.parametrize("name, kwargs", VARIANTS, ids=[f"{n}{'-' + str(k) if k else ''}" for n, k in VARIANTS])
def test_new_variants_keep_success_progress_and_env_reward(env_id, name, kwargs):
    if name == "learned" and env_id != LAKE:
        pytest.skip("one trained reward model (the one test_learned trains) is enough here")
    plain, variant = agentgym.make(env_id), agentgym.make(env_id, reward=name, reward_kwargs=kwargs)
    rng = np.random.default_rng(1)
    for seed in (0, 7, 100000):
        plain.reset(seed=seed)
        variant.reset(seed=seed)
        done = False
        while not done:
            action = plain.unwrapped.oracle() if rng.random() < 0.5 else int(rng.integers(4))
            expected, got = plain.step(action), variant.step(action)
            assert got[0] == expected[0] and got[2:4] == expected[2:4]
            for key in ("success", "progress", "reward_vector", "invalid_action"):
                assert got[4].get(key) == expected[4].get(key)
            assert got[4]["env_reward"] == expected[1] == expected[4]["env_reward"]
            done = expected[2] or expected[3]
        assert "success" in got[4] and "progress" in got[4]
