"""The simplest reward variants: the env's own scalar, sparse success, weighted aspects."""

from __future__ import annotations

from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np

from agentgym.core.errors import ConfigError
from agentgym.envs.base import agentgym_env, env_card


class VariantReward(gym.Wrapper):
    """Base of reward variants: records the env's own reward, replaces the scalar via one hook."""

    def step(self, action: Any):
        observation, env_reward, terminated, truncated, info = self.env.step(action)
        info["env_reward"] = env_reward
        return observation, self.variant_reward(env_reward, terminated, truncated, info), terminated, truncated, info

    def variant_reward(self, env_reward: SupportsFloat, terminated: bool, truncated: bool,
                       info: dict[str, Any]) -> SupportsFloat:
        raise NotImplementedError  # abstract hook


class EnvReward(VariantReward):
    """`env`: the env's own scalar reward, unchanged."""

    def variant_reward(self, env_reward, terminated, truncated, info):
        return env_reward


class SparseReward(VariantReward):
    """`sparse`: 1 at the end of a successful episode, else 0."""

    def variant_reward(self, env_reward, terminated, truncated, info):
        return 1.0 if (terminated or truncated) and info.get("success") else 0.0


class WeightedReward(VariantReward):
    """`weighted`: a linear scalarisation of the reward vector.

    Weights default to the card's ``reward_weights`` (1 for aspects it does not name).
    As MO-Gymnasium's ``LinearReward`` does, ``info["vector_reward"]`` holds the vector as a
    float32 array in the card's aspect order and ``info["reward_weights"]`` the weights.
    """

    def __init__(self, env: gym.Env, weights: dict[str, float] | None = None) -> None:
        super().__init__(env)
        card = env_card(env)
        names = list(card.aspects) if card is not None else list(agentgym_env(env).aspects)
        given = {**(card.reward_weights if card is not None else {}), **(weights or {})}
        unknown = set(given) - set(names)
        if unknown:
            raise ConfigError(f"weights name unknown aspects {sorted(unknown)}; aspects: {names}")
        self.aspect_names = names
        self.weights = np.array([given.get(name, 1.0) for name in names], dtype=np.float32)
        self.reward_dim = len(names)
        if card is not None:
            low = np.array([card.aspects[name].low for name in names], dtype=np.float32)
            high = np.array([card.aspects[name].high for name in names], dtype=np.float32)
            self.reward_space = gym.spaces.Box(low, high, dtype=np.float32)

    def variant_reward(self, env_reward, terminated, truncated, info):
        vector = np.array([info["reward_vector"][name] for name in self.aspect_names], dtype=np.float32)
        info["vector_reward"] = vector
        info["reward_weights"] = self.weights
        return float(np.dot(vector, self.weights))
