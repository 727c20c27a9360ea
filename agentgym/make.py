"""``make(env_id, reward, view)``: the one place that composes an env, its card and a reward variant."""

from __future__ import annotations

from typing import Any

import gymnasium as gym

from agentgym.envs.registration import build_env
from agentgym.rewards import make_reward


def make(env_id: str, *, reward: str = "env", view: str = "vector",
         reward_kwargs: dict[str, Any] | None = None, **kwargs: Any) -> gym.Env:
    """Build a registered env with a reward variant and a view.

    Args:
        env_id: a registered id such as ``"agentgym/FrozenLake-v0"``.
        reward: name of a reward variant (``agentgym list rewards``); ``"env"`` keeps the env's own.
        view: ``"vector"`` (numeric observations, ``Discrete`` actions) or ``"text"``.
        reward_kwargs: keyword arguments of the reward variant.
        **kwargs: override the spec's env keyword arguments.

    Example:
        >>> import agentgym
        >>> env = agentgym.make("agentgym/FrozenLake-v0", view="text")
        >>> obs, info = env.reset(seed=0)
        >>> sorted(info["reward_vector"])
        ['efficiency', 'safety', 'task']
    """
    return make_reward(build_env(env_id, view=view, **kwargs), reward, **(reward_kwargs or {}))
