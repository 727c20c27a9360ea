"""`irl`: MaxEnt IRL recovers the ranking of a known reward and rewards the goal of the classic envs."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import spearmanr

import agentgym
from agentgym.rewards.irl import TabularModel, expected_visits, maxent_irl, soft_policy, tabular_model


def _chain(n_states: int = 5) -> TabularModel:
    """A deterministic chain: left, stay, right; no state terminates."""
    transition = np.zeros((n_states, 3, n_states))
    for s in range(n_states):
        for a, move in enumerate((-1, 0, 1)):
            transition[s, a, min(n_states - 1, max(0, s + move))] = 1.0
    return TabularModel(transition, np.zeros_like(transition), np.zeros(transition.shape, dtype=bool))


def _sample(policy, model, starts, rng):
    demos = []
    for start in starts:
        states = [int(start)]
        for step_policy in policy:
            action = rng.choice(step_policy.shape[1], p=step_policy[states[-1]])
            states.append(int(rng.choice(model.transition.shape[2], p=model.transition[states[-1], action])))
        demos.append(states)
    return demos


def test_maxent_irl_ranks_chain_states_by_the_true_reward():
    model, rng, horizon = _chain(), np.random.default_rng(0), 6
    true_reward = np.array([0.0, 0.3, 0.6, 0.9, 1.2])
    demos = _sample(soft_policy(true_reward, model, horizon), model, rng.integers(0, 5, 1500), rng)
    learned = maxent_irl(model, demos, horizon, iterations=300, l2=0.0)
    correlation = spearmanr(learned, true_reward).statistic
    centred = np.round(learned - learned.mean(), 2)
    print(f"\nMaxEnt IRL on a 5-state chain: learned {centred}, Spearman {correlation:.3f}")
    assert correlation == pytest.approx(1.0) and learned.argmax() == 4
    # identifiable up to a constant: the differences are close to the true ones
    np.testing.assert_allclose(learned - learned.mean(), true_reward - true_reward.mean(), atol=0.25)


def test_expected_visits_sum_to_the_trajectory_length_without_termination():
    model = _chain()
    policy = soft_policy(np.zeros(5), model, 4)
    np.testing.assert_allclose(policy.sum(axis=2), 1.0)
    assert expected_visits(policy, model, np.full(5, 0.2)).sum() == pytest.approx(5.0)  # s_0 .. s_4


@pytest.mark.parametrize("env_id", ["agentgym/FrozenLake-v0", "agentgym/FrozenLakeSlippery-v0"])
def test_irl_gives_the_frozenlake_goal_the_highest_reward(env_id):
    env = agentgym.make(env_id, reward="irl")
    theta = env.theta
    print(f"\nMaxEnt IRL on {env_id}:\n{np.round(theta.reshape(4, 4), 2)}")
    assert theta.argmax() == 15 and theta[15] > theta[[5, 7, 11, 12]].max()
    env.reset(seed=100000)
    for action in [1, 1, 2, 1, 2, 2]:
        observation, reward, terminated, _, info = env.step(action)
        assert reward == pytest.approx(theta[int(observation)])
        if terminated:
            break
    if env_id == "agentgym/FrozenLake-v0":
        assert terminated and info["success"] and info["env_reward"] == 1.0


def test_irl_reward_prefers_oracle_to_random_behaviour_on_taxi():
    env = agentgym.make("agentgym/Taxi-v0", reward="irl")
    rng = np.random.default_rng(0)

    def episode_return(seed: int, oracle: bool) -> float:
        env.reset(seed=seed)
        total, done = 0.0, False
        while not done:
            action = env.unwrapped.oracle_action() if oracle else int(rng.integers(6))
            _, reward, terminated, truncated, _ = env.step(action)
            total, done = total + reward, terminated or truncated
        return total

    test_seeds = env.unwrapped.card.splits["test"].seeds()[:10]
    oracle = np.mean([episode_return(seed, True) for seed in test_seeds])
    random = np.mean([episode_return(seed, False) for seed in test_seeds])
    print(f"\nMaxEnt IRL on Taxi: learned return of the oracle {oracle:.2f}, of a random policy {random:.2f}")
    assert oracle > random


def test_irl_is_cached():
    first = agentgym.make("agentgym/FrozenLake8x8-v0", reward="irl")
    second = agentgym.make("agentgym/FrozenLake8x8-v0", reward="irl")
    np.testing.assert_array_equal(first.theta, second.theta)
    assert first.report == second.report and first.report["demo_success"] == 1.0


def test_irl_refuses_non_tabular_envs():
    with pytest.raises(TypeError, match="not tabular"):
        agentgym.make("agentgym/CartPole-v0", reward="irl")
    with pytest.raises(TypeError, match="not tabular"):
        tabular_model(agentgym.make("agentgym/CartPole-v0"))
