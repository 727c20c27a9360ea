"""`irl`: maximum-entropy inverse RL (Ziebart et al. 2008) from oracle demonstrations on tabular envs.

The reward is linear in one-hot state features, ``r(s) = theta[s]``, and a trajectory
``s_0 .. s_k`` (``k`` at most the horizon ``H``; it stops early where the model terminates) has
probability proportional to ``exp(sum_t theta[s_t])`` times the dynamics. Learning is gradient ascent on
the demonstrations' log-likelihood: the gradient is the demonstrations' mean state-visit counts minus
the model's expected visit counts, which come from finite-horizon soft value iteration (backward,
a time-dependent soft-optimal policy) and a forward pass from the demonstrations' start states.

Needs the env's tabular transition model ``P`` (Gymnasium's toy-text format, on the env or its
``_inner`` Gymnasium env) over a ``Discrete`` observation space: FrozenLake and Taxi. Demonstrations
are oracle episodes on the card's train seeds. The learned ``theta`` is cached like `learned`; the
wrapper pays ``theta[s']`` on every step into ``s'``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import gymnasium as gym
import numpy as np
from scipy import sparse
from scipy.special import logsumexp

from agentgym.envs.base import env_card
from agentgym.rewards.basic import VariantReward
from agentgym.rewards.learned import cached, env_identity, rollouts


class TabularModel(NamedTuple):
    """``transition[s, a, s']`` probabilities, ``reward[s, a, s']`` native rewards, ``done[s, a, s']`` terminates."""

    transition: np.ndarray
    reward: np.ndarray
    done: np.ndarray


def tabular_model(env: gym.Env) -> TabularModel:
    """The env's transition model as dense arrays; a clear error for envs without one."""
    inner = env.unwrapped
    table = getattr(inner, "P", None)
    if table is None:
        table = getattr(getattr(inner, "_inner", None), "P", None)
    space = getattr(inner, "vector_observation_space", inner.observation_space)
    if not isinstance(table, dict) or not isinstance(space, gym.spaces.Discrete) or len(table) != space.n:
        raise TypeError(f"{type(inner).__name__} is not tabular: `irl` (and tabular checks) need a transition "
                        "model P over a Discrete observation space, as FrozenLake and Taxi have")
    n_states, n_actions = int(space.n), len(table[0])
    transition = np.zeros((n_states, n_actions, n_states))
    reward = np.zeros_like(transition)
    done = np.zeros(transition.shape, dtype=bool)
    for state, by_action in table.items():
        for action, outcomes in by_action.items():
            for probability, following, native, terminated in outcomes:
                transition[state, action, following] += probability
                reward[state, action, following] = native
                done[state, action, following] |= bool(terminated)
    return TabularModel(transition, reward, done)


def _split(model: TabularModel):
    """(continuing, ending) transition matrices [S*A, S]: mass that goes on, mass that terminates."""
    n_states, n_actions, _ = model.transition.shape
    flat = model.transition.reshape(n_states * n_actions, n_states)
    ending = model.done.reshape(flat.shape)
    continuing, ending = flat * ~ending, flat * ending
    if flat.size > 100_000:  # large tables are sparse (a few successors per action)
        return sparse.csr_matrix(continuing), sparse.csr_matrix(ending)
    return continuing, ending


def soft_policy(theta: np.ndarray, model: TabularModel, horizon: int, split=None) -> np.ndarray:
    """Time-dependent MaxEnt policy ``policy[t, s, a]``, ``t = 0 .. horizon - 1``, by soft value iteration."""
    continuing, ending = split or _split(model)
    n_states, n_actions, _ = model.transition.shape
    value = theta.copy()  # at the horizon a state collects its reward and the trajectory stops
    policy = np.zeros((horizon, n_states, n_actions))
    for t in reversed(range(horizon)):
        q = theta[:, None] + (ending @ theta + continuing @ value).reshape(n_states, n_actions)
        value = logsumexp(q, axis=1)
        policy[t] = np.exp(q - value[:, None])
    return policy


def expected_visits(policy: np.ndarray, model: TabularModel, start: np.ndarray, split=None) -> np.ndarray:
    """Expected visit count of each state (``s_0`` and every state entered) under ``policy`` from ``start``."""
    continuing, ending = split or _split(model)
    density, counts = start.astype(float), start.astype(float)
    for step_policy in policy:
        flow = (density[:, None] * step_policy).ravel()
        density = continuing.T @ flow
        counts = counts + density + ending.T @ flow
    return counts


def visit_counts(demos: list[list[int]], n_states: int, horizon: int) -> tuple[np.ndarray, np.ndarray]:
    """(mean visit counts, start distribution) of state sequences, each cut to ``horizon`` steps."""
    counts, start = np.zeros(n_states), np.zeros(n_states)
    for states in demos:
        np.add.at(counts, np.asarray(states[: horizon + 1], dtype=int), 1.0)
        start[states[0]] += 1.0
    return counts / len(demos), start / len(demos)


def maxent_irl(model: TabularModel, demos: list[list[int]], horizon: int | None = None, *, iterations: int = 300,
               lr: float = 0.1, l2: float = 0.01) -> np.ndarray:
    """MaxEnt IRL: the state reward ``theta`` under which the demonstrations (state sequences) are most likely."""
    n_states = model.transition.shape[0]
    horizon = horizon or max(len(states) - 1 for states in demos)
    empirical, start = visit_counts(demos, n_states, horizon)
    theta = np.zeros(n_states)
    moment, second, split = np.zeros(n_states), np.zeros(n_states), _split(model)
    for step in range(1, iterations + 1):  # Adam on the log-likelihood
        policy = soft_policy(theta, model, horizon, split)
        gradient = empirical - expected_visits(policy, model, start, split) - l2 * theta
        moment = 0.9 * moment + 0.1 * gradient
        second = 0.999 * second + 0.001 * gradient**2
        theta = theta + lr * (moment / (1 - 0.9**step)) / (np.sqrt(second / (1 - 0.999**step)) + 1e-8)
    return theta


class MaxEntIRLReward(VariantReward):
    """`irl`: the MaxEnt IRL reward ``theta[s']`` learned from oracle demonstrations.

    Kwargs (all part of the cache key): ``demos`` (oracle episodes on the train seeds, default 100),
    ``horizon`` (default: the longest demonstration), ``iterations``, ``lr``, ``l2``, ``seed``.
    """

    def __init__(self, env: gym.Env, demos: int = 100, horizon: int | None = None, iterations: int = 300,
                 lr: float = 0.1, l2: float = 0.01, seed: int = 0) -> None:
        super().__init__(env)
        model = tabular_model(env)
        env_id, env_kwargs = env_identity(env)
        card = env_card(env)
        assert card is not None, "built by make(): the env has its card"
        config = {"env": env_id, "env_kwargs": env_kwargs, "card_version": card.version,
                  "demos": demos, "horizon": horizon, "iterations": iterations, "lr": lr, "l2": l2, "seed": seed}

        def build() -> tuple[dict[str, np.ndarray], dict[str, Any]]:
            episodes = rollouts(env_id, env_kwargs, demos, (0.0,), seed)
            states = [[int(o) for o in episode["observations"]] for episode in episodes]
            theta = maxent_irl(model, states, horizon, iterations=iterations, lr=lr, l2=l2)
            report = {"demos": len(states), "horizon": horizon or max(len(s) - 1 for s in states),
                      "demo_success": float(np.mean([episode["progress"][-1] == 1.0 for episode in episodes]))}
            return {"theta": theta}, report

        arrays, self.report = cached("irl_rewards", config, build)
        self.theta = arrays["theta"]

    def variant_reward(self, env_reward, terminated, truncated, info):
        return float(self.theta[int(self.env.unwrapped.vector_observation())])
