"""Learning curves of SB3 training: proxy return and true outcome on held-out seeds, at intervals.

The curve shows the two numbers a reward-design study needs side by side: the return under
the reward variant being optimised (the proxy) and the true success rate. Evaluation uses
its own envs and the policy's deterministic action, so it does not change the training run.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from stable_baselines3.common.callbacks import BaseCallback


def evaluate_policy_outcome(model: Any, env_id: str, seeds: list[int], *, reward: str = "env",
                            reward_kwargs: dict[str, Any] | None = None, masked: bool = False) -> dict[str, float]:
    """Mean proxy return, env return, success and progress of ``model`` over one episode per seed."""
    import agentgym

    env = agentgym.make(env_id, reward=reward, view="vector", reward_kwargs=reward_kwargs)
    totals = {"proxy_return": 0.0, "env_return": 0.0, "success_rate": 0.0, "progress": 0.0}
    try:
        for seed in seeds:
            observation, info = env.reset(seed=seed)
            done = False
            while not done:
                kwargs = {"action_masks": env.get_wrapper_attr("action_masks")()} if masked else {}
                action, _ = model.predict(np.asarray(observation), deterministic=True, **kwargs)
                observation, reward_value, terminated, truncated, info = env.step(int(action))
                totals["proxy_return"] += float(reward_value)
                totals["env_return"] += float(info.get("env_reward", reward_value))
                done = terminated or truncated
            totals["success_rate"] += float(bool(info.get("success")))
            totals["progress"] += float(info.get("progress") or 0.0)
    finally:
        env.close()
    return {name: value / len(seeds) for name, value in totals.items()}


class LearningCurve(BaseCallback):
    """Evaluates the policy every ``every`` timesteps (and at the end) into ``self.points``."""

    def __init__(self, env_id: str, seeds: list[int], every: int, *, reward: str, reward_kwargs: dict[str, Any],
                 masked: bool) -> None:
        super().__init__()
        self.env_id, self.seeds, self.every = env_id, seeds, every
        self.reward, self.reward_kwargs, self.masked = reward, reward_kwargs, masked
        self.points: list[dict[str, float]] = []
        self._next = every

    def _evaluate(self) -> None:
        point = evaluate_policy_outcome(self.model, self.env_id, self.seeds, reward=self.reward,
                                        reward_kwargs=self.reward_kwargs, masked=self.masked)
        self.points.append({"timesteps": int(self.num_timesteps), **point})

    def _on_step(self) -> bool:
        if self.num_timesteps >= self._next:
            self._next += self.every
            self._evaluate()
        return True

    def _on_training_end(self) -> None:
        if not self.points or self.points[-1]["timesteps"] != self.num_timesteps:
            self._evaluate()
