"""``agentgym train``: one SB3 algorithm on one env under one reward variant, for a budget and seed.

The model trains on the env card's train split (cached by config: a second call with the same
config trains nothing), and the run folder receives the checkpoint, the learning curve (proxy
return of the reward variant and true success rate on held-out seeds, at intervals) and the
config (the CLI adds a plot of the curve).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentgym.agents.sb3 import CONFIG_FILE, CURVE_FILE, MODEL_FILE, learning_curve, resolve_train_config, train_sb3
from agentgym.core.errors import AgentGymError


@dataclass
class TrainOutcome:
    out_dir: Path
    model_path: Path
    curve: dict[str, Any] | None


def train_recipe(env_id: str, out_dir: str | Path, *, algo: str = "PPO", policy: str = "MlpPolicy",
                 reward: str = "env", reward_kwargs: dict[str, Any] | None = None, total_timesteps: int = 20000,
                 seed: int = 0, n_envs: int = 1, hyperparams: dict[str, Any] | None = None,
                 eval_every: int = 0, eval_episodes: int = 20) -> TrainOutcome:
    """Train (or fetch from the cache) and copy the artifacts into ``out_dir``."""
    import agentgym

    agentgym.env_spec(env_id)  # unknown ids fail here, with a did-you-mean hint
    config = resolve_train_config({"total_timesteps": total_timesteps, "seed": seed, "n_envs": n_envs,
                                   "reward": reward, "reward_kwargs": reward_kwargs or {},
                                   "hyperparams": hyperparams or {}})
    curve_request = {"every": eval_every or max(total_timesteps // 10, 1), "episodes": eval_episodes}
    _, cached_model = train_sb3(env_id, algo, policy, config, curve=curve_request)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for name in (MODEL_FILE, CONFIG_FILE, CURVE_FILE):
        source = cached_model.with_name(name)
        if source.exists():
            shutil.copyfile(source, out / name)
    curve = learning_curve(cached_model)
    if curve is None:
        raise AgentGymError(f"{cached_model} was cached by a run without a learning curve; "
                            "delete that cache folder to retrain with one")
    return TrainOutcome(out, out / MODEL_FILE, curve)


def format_curve(curve: dict[str, Any]) -> str:
    lines = [f"{'timesteps':>10}  {'proxy return':>12}  {'env return':>10}  {'success':>7}  {'progress':>8}"]
    for point in curve["points"]:
        lines.append(f"{point['timesteps']:>10}  {point['proxy_return']:>12.3f}  {point['env_return']:>10.3f}  "
                     f"{point['success_rate']:>7.2f}  {point['progress']:>8.2f}")
    return "\n".join(lines)
