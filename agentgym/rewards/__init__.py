"""Reward variants: each is a Gymnasium wrapper that changes only the scalar reward.

The true outcome (``info["success"]``, ``info["progress"]``) and the env's own reward
(``info["env_reward"]``) pass through untouched, so decisions are always scored on them.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym

from agentgym.core.registry import Registry

REWARDS: Registry[type[gym.Wrapper]] = Registry("reward", entry_point_group="agentgym.rewards")

DIAGNOSTIC_KEYS = ("reward_model_accuracy",)
"""``info`` keys a variant may set to describe itself (not the episode); the runner keeps them in
the episode record's ``reward_diagnostics`` and results show them beside the variant."""
REWARDS.add("env", "agentgym.rewards.basic:EnvReward")
REWARDS.add("sparse", "agentgym.rewards.basic:SparseReward")
REWARDS.add("weighted", "agentgym.rewards.basic:WeightedReward")


def register_reward(name: str, *, override: bool = False):
    """Decorator registering a reward-variant wrapper class under ``name`` (a known name needs ``override``)."""
    return REWARDS.register(name, override=override)


def make_reward(env: gym.Env, name: str, **kwargs: Any) -> gym.Env:
    """Wrap ``env`` in the reward variant ``name``."""
    return REWARDS.get(name)(env, **kwargs)
REWARDS.add("shaped", "agentgym.rewards.shaped:ShapedReward")
REWARDS.add("learned", "agentgym.rewards.learned:LearnedReward")
REWARDS.add("irl", "agentgym.rewards.irl:MaxEntIRLReward")
REWARDS.add("judge", "agentgym.rewards.judge:JudgeReward")
REWARDS.add("novelty", "agentgym.rewards.proxies:NoveltyReward")
REWARDS.add("progress_text", "agentgym.rewards.proxies:ProgressTextReward")
REWARDS.add("tool_calls", "agentgym.rewards.proxies:ToolCallsReward")
REWARDS.add("survival", "agentgym.rewards.proxies:SurvivalReward")
REWARDS.add("no_invalid", "agentgym.rewards.proxies:NoInvalidReward")
