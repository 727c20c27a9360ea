"""`shaped` is potential-based: policy invariant (value iteration on the tabular models) and telescoping."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import agentgym
from agentgym.envs.classic.taxi import IN_TAXI, decode
from agentgym.rewards.irl import tabular_model
from agentgym.rewards.shaped import potential, potential_at

GAMMA = 0.99


def _value_iteration(transition, reward, done, shaping=None, gamma=GAMMA):
    """Optimal Q[s, a] of the model (optionally plus shaping[s, a, s']): iterate to convergence."""
    reward = reward if shaping is None else reward + shaping
    expected = (transition * reward).sum(axis=2)
    going_on = transition * ~done
    value = np.zeros(transition.shape[0])
    for _ in range(20000):
        q = expected + gamma * going_on @ value
        updated = q.max(axis=1)
        if np.max(np.abs(updated - value)) < 1e-12:
            return q
        value = updated
    raise AssertionError("value iteration did not converge")


def _shaping(phi, done, gamma=GAMMA):
    """F[s, a, s'] = gamma * Phi(s') * (not terminated) - Phi(s): the wrapper's convention."""
    return gamma * phi[None, None, :] * ~done - phi[:, None, None]


def _assert_invariant(q, q_shaped, phi):
    np.testing.assert_allclose(q_shaped + phi[:, None], q, atol=1e-7)  # Q-values differ exactly by Phi(s)
    best, best_shaped = q >= q.max(axis=1, keepdims=True) - 1e-7, q_shaped >= q_shaped.max(axis=1, keepdims=True) - 1e-7
    np.testing.assert_array_equal(best, best_shaped)  # the same greedy (optimal) actions
    np.testing.assert_array_equal(q.argmax(axis=1), q_shaped.argmax(axis=1))


@pytest.mark.parametrize("env_id", ["agentgym/FrozenLake8x8-v0", "agentgym/FrozenLakeSlippery-v0"])
@pytest.mark.parametrize("scale", [1.0, 5.0])
def test_shaping_leaves_the_optimal_policy_of_frozenlake_unchanged(env_id, scale):
    env = agentgym.make(env_id, reward="shaped", reward_kwargs={"gamma": GAMMA, "scale": scale})
    env.reset(seed=0)
    model = tabular_model(env)
    phi = np.array([potential_at(env, scale, _state=s) for s in range(model.transition.shape[0])])
    assert phi.max() == pytest.approx(scale) and len(set(phi.round(6))) > 3  # a real, non-constant potential
    q = _value_iteration(*model)
    q_shaped = _value_iteration(*model, shaping=_shaping(phi, model.done))
    _assert_invariant(q, q_shaped, phi)
    # and the wrapper pays exactly that shaping term along a trajectory
    rng = np.random.default_rng(0)
    state = int(env.reset(seed=1)[0])
    for _ in range(60):
        following, reward, terminated, truncated, info = env.step(int(rng.integers(4)))
        expected = GAMMA * (0.0 if terminated else phi[following]) - phi[state]
        assert info["shaping"] == pytest.approx(expected) and reward == pytest.approx(info["env_reward"] + expected)
        if terminated or truncated:
            state = int(env.reset(seed=int(rng.integers(1000)))[0])
        else:
            state = int(following)


def test_shaping_leaves_the_optimal_policy_of_taxi_unchanged():
    """Taxi's progress remembers a pick-up, so Phi lives on (state, picked-up flag): value iteration on that product."""
    env = agentgym.make("agentgym/Taxi-v0", reward="shaped")
    env.reset(seed=0)
    transition, reward, done = tabular_model(env)
    n_states, n_actions, _ = transition.shape
    successor = transition.argmax(axis=2)  # Taxi is deterministic
    product = np.zeros((2 * n_states, n_actions, 2 * n_states))
    product_reward, product_done = np.zeros_like(product), np.zeros(product.shape, dtype=bool)
    for flag in (0, 1):
        for s in range(n_states):
            for a in range(n_actions):
                following = successor[s, a]
                following_flag = int(flag or decode(following)[2] == IN_TAXI)
                i, j = flag * n_states + s, following_flag * n_states + following
                product[i, a, j] = 1.0
                product_reward[i, a, j], product_done[i, a, j] = reward[s, a, following], done[s, a, following]
    phi = np.array([potential_at(env, 1.0, _state=s, _picked_up=bool(flag), _delivered=False)
                    for flag in (0, 1) for s in range(n_states)])
    assert set(phi) == {0.0, 0.5}
    q = _value_iteration(product, product_reward, product_done)
    q_shaped = _value_iteration(product, product_reward, product_done, shaping=_shaping(phi, product_done))
    _assert_invariant(q, q_shaped, phi)
    q_plain = _value_iteration(transition, reward, done)  # the flag changes nothing but the potential
    np.testing.assert_allclose(q[:n_states], q_plain, atol=1e-7)
    np.testing.assert_allclose(q[n_states:], q_plain, atol=1e-7)


@settings(max_examples=40, deadline=None)
@given(env_id=st.sampled_from(["agentgym/FrozenLakeSlippery-v0", "agentgym/FrozenLake8x8Slippery-v0",
                               "agentgym/Taxi-v0"]),
       seed=st.integers(0, 10_000), actions=st.lists(st.integers(0, 3), min_size=1, max_size=60),
       gamma=st.one_of(st.just(1.0), st.floats(0.0, 1.0)), scale=st.floats(0.1, 10.0))
def test_shaping_terms_telescope(env_id, seed, actions, gamma, scale):
    env = agentgym.make(env_id, reward="shaped", reward_kwargs={"gamma": gamma, "scale": scale})
    env.reset(seed=seed)
    potentials, terms, terminated = [potential(env, scale)], [], False
    for action in actions:
        _, reward, terminated, truncated, info = env.step(action)
        terms.append(reward - info["env_reward"])
        potentials.append(0.0 if terminated else potential(env, scale))
        if terminated or truncated:
            break
    steps = len(terms)
    for start in range(steps):  # from every start: sum_t gamma^(t - start) F_t = gamma^(T - start) Phi_T - Phi_start
        discounted = sum(gamma ** (t - start) * terms[t] for t in range(start, steps))
        assert discounted == pytest.approx(gamma ** (steps - start) * potentials[-1] - potentials[start], abs=1e-9)
    if gamma == 1.0:
        assert sum(terms) == pytest.approx(potentials[-1] - potentials[0], abs=1e-9)


def test_shaped_validates_gamma(corridor):
    with pytest.raises(ValueError, match="gamma"):
        agentgym.make(corridor, reward="shaped", reward_kwargs={"gamma": 1.5})
