"""`shaped`: potential-based reward shaping (Ng, Harada & Russell 1999) with the env's own progress.

The shaped reward of a step ``s -> s'`` is ``r + gamma * Phi(s') - Phi(s)`` with the potential
``Phi(s) = scale * progress(s)``, ``progress`` being the env's true progress measure
(``env.unwrapped.outcome()[1]``). Shaping of this form leaves the optimal policy of the
(gamma-discounted) task unchanged: every optimal Q-value moves by exactly ``-Phi(s)``.

Convention at the end of an episode: a **terminated** step leads to an absorbing state
whose potential is 0, so its shaping term is ``-Phi(s)``. This is the convention under which the
invariance theorem holds for episodic tasks: otherwise the shaped return of a trajectory would
carry ``gamma**T * Phi(s_T)``, which differs between terminal states (goal and hole) and can
change which one the optimal policy prefers. A **truncated** step (time limit) is not absorbing:
a learner bootstraps from ``s'`` there, so ``Phi(s')`` is used as on any other step. Over an
episode the discounted shaping terms therefore telescope to
``gamma**T * Phi(s_T) * (not terminated) - Phi(s_0)``.

The potential is read from the env at each step, so where the env's progress depends on the
history as well as on the current observation (Taxi: 0.5 once the passenger has *ever* been
picked up), the shaping is potential-based on that augmented state, whose optimal policy is the
original one's (the extra flag changes neither dynamics nor reward).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym

from agentgym.core.errors import ConfigError
from agentgym.envs.base import agentgym_env
from agentgym.rewards.basic import VariantReward


def potential(env: gym.Env, scale: float = 1.0) -> float:
    """``Phi`` of the env's current state: ``scale`` times its true progress."""
    return float(scale) * float(agentgym_env(env).outcome()[1])


def potential_at(env: gym.Env, scale: float = 1.0, **state: Any) -> float:
    """``Phi`` of an arbitrary state: set the unwrapped env's attributes ``state``, read :func:`potential`, restore.

    For the classic tabular envs the state is ``_state=s`` (FrozenLake), plus ``_picked_up`` and
    ``_delivered`` (Taxi). Used to tabulate the exact potential the wrapper applies, e.g. to
    check policy invariance by value iteration on the env's transition model.
    """
    inner = env.unwrapped
    missing = [name for name in state if not hasattr(inner, name)]
    if missing:
        raise AttributeError(f"{type(inner).__name__} has no state attribute(s) {missing}")
    saved = {name: getattr(inner, name) for name in state}
    try:
        for name, value in state.items():
            setattr(inner, name, value)
        return potential(env, scale)
    finally:
        for name, value in saved.items():
            setattr(inner, name, value)


class ShapedReward(VariantReward):
    """`shaped`: ``r + gamma * Phi(s') - Phi(s)``, ``Phi = scale * progress``, ``Phi(terminated) = 0``.

    Args:
        gamma: the discount of the shaping term; use the learner's discount for exact policy
            invariance (default 0.99).
        scale: the potential's scale (default 1.0: progress in [0, 1]).

    ``info["shaping"]`` holds the step's shaping term ``gamma * Phi(s') - Phi(s)``.
    """

    def __init__(self, env: gym.Env, gamma: float = 0.99, scale: float = 1.0) -> None:
        super().__init__(env)
        if not 0.0 <= gamma <= 1.0:
            raise ConfigError(f"gamma must lie in [0, 1], not {gamma}")
        self.gamma = float(gamma)
        self.scale = float(scale)
        self.last_potential = 0.0

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        observation, info = super().reset(seed=seed, options=options)
        self.last_potential = potential(self.env, self.scale)
        return observation, info

    def variant_reward(self, env_reward, terminated, truncated, info):
        following = 0.0 if terminated else potential(self.env, self.scale)
        shaping = self.gamma * following - self.last_potential
        self.last_potential = following
        info["shaping"] = shaping
        return float(env_reward) + shaping
