"""Stable-Baselines3 agents behind the one agent protocol.

An :class:`SB3Agent` either loads saved models (``checkpoint`` / ``checkpoints``) or gets one model
per env id the first time it meets that env from :mod:`agentgym.train.sb3`, which trains it on the
env card's *train* seeds only, or loads it from the cache. Example spec (``agents/ppo.yaml``)::

    name: ppo
    entry_point: agentgym.agents.sb3:SB3Agent
    kwargs:
      algo: PPO
      train: {total_timesteps: 20000, seed: 0, hyperparams: {n_steps: 256}}
      per_env: {agentgym/CartPole-v0: {total_timesteps: 50000}}
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import gymnasium as gym
import numpy as np

from agentgym.agents.base import Agent, Decision, EpisodeContext, Turn
from agentgym.core.errors import AgentGymError
from agentgym.train.sb3 import algo_class, resolve_train_config, train_or_load


class SB3Agent(Agent):
    """A Stable-Baselines3 policy, one model per env id, answering all turns of an env in one batch.

    Args:
        algo: "PPO", "A2C", "DQN" or "MaskablePPO".
        policy: SB3 policy name.
        deterministic: take the policy's most likely action instead of sampling.
        checkpoint: a saved model (``.zip``) used for every env.
        checkpoints: ``{env_id: path}`` of saved models; other envs fall back to training.
        train: the train config (see :data:`TRAIN_DEFAULTS`) for envs without a checkpoint.
        per_env: ``{env_id: {train key: value}}`` overrides of ``train``.
        curve: ``{"every": N, "episodes": M}``: record a learning curve when a model trains.
    """

    view = "vector"
    name = "sb3"

    def __init__(
        self,
        algo: str = "PPO",
        policy: str = "MlpPolicy",
        deterministic: bool = True,
        checkpoint: str | None = None,
        checkpoints: dict[str, str] | None = None,
        train: dict[str, Any] | None = None,
        per_env: dict[str, dict[str, Any]] | None = None,
        curve: dict[str, int] | None = None,
    ) -> None:
        algo_class(algo)  # fail at construction on an unknown algo or a missing sb3-contrib
        if checkpoint is not None and checkpoints is not None:
            raise AgentGymError("give either `checkpoint` (every env) or `checkpoints` ({env_id: path}), not both")
        self.algo = algo
        self.policy = policy
        self.deterministic = deterministic
        self.checkpoint = self._existing(checkpoint) if checkpoint is not None else None
        self.checkpoints = {env_id: self._existing(path) for env_id, path in (checkpoints or {}).items()}
        self.train = resolve_train_config(train)  # validate keys now, not after an hour of evaluation
        self.per_env = {env_id: dict(o) for env_id, o in (per_env or {}).items()}
        self.curve = dict(curve) if curve else None
        for overrides in self.per_env.values():
            resolve_train_config(train, overrides)
        self.models: dict[str, Any] = {}
        self.sources: dict[str, str] = {}
        """Per env id: where its model came from ("trained", "cache" or "checkpoint")."""
        self.model_paths: dict[str, Path] = {}

    @staticmethod
    def _existing(path: str | os.PathLike) -> Path:
        resolved = Path(path).expanduser()
        if not resolved.is_file():
            raise AgentGymError(f"SB3 checkpoint not found: {resolved} (resolved to {resolved.absolute()})")
        return resolved

    def train_config(self, env_id: str) -> dict[str, Any]:
        """The full train config used for ``env_id`` (``train`` with its ``per_env`` overrides)."""
        return resolve_train_config(self.train, self.per_env.get(env_id))

    def model(self, env_id: str) -> Any:
        """The model for ``env_id``: loaded, read from the cache, or trained now."""
        if env_id not in self.models:
            path = self.checkpoint or self.checkpoints.get(env_id)
            if path is not None:
                try:
                    self.models[env_id] = algo_class(self.algo).load(str(path), device="cpu")
                except Exception as exc:  # SB3 raises many kinds on a foreign or corrupt zip
                    raise AgentGymError(f"cannot load SB3 {self.algo} checkpoint {path} for {env_id}: {exc}") from exc
                self.sources[env_id], self.model_paths[env_id] = "checkpoint", path
            else:
                model, path, trained = train_or_load(env_id, self.algo, self.policy, self.train_config(env_id),
                                                      self.curve)
                self.models[env_id] = model
                self.sources[env_id], self.model_paths[env_id] = ("trained" if trained else "cache"), path
        return self.models[env_id]

    def reset(self, episode: EpisodeContext) -> None:
        if not isinstance(episode.action_space, gym.spaces.Discrete):
            raise AgentGymError(
                f"SB3Agent({self.algo}) needs the Discrete actions of the vector view; "
                f"{episode.env_id} has {episode.action_space}"
            )
        model = self.model(episode.env_id)
        if not (_same_shape(model.action_space, episode.action_space)
                and _same_shape(model.observation_space, episode.observation_space)):
            raise AgentGymError(
                f"SB3 model for {episode.env_id} ({self.model_paths.get(episode.env_id)}) expects observations "
                f"{model.observation_space} and actions {model.action_space}; the env has "
                f"{episode.observation_space} and {episode.action_space}"
            )

    def act(self, turns: Sequence[Turn]) -> list[Decision]:
        groups: dict[str, list[int]] = {}
        for position, turn in enumerate(turns):
            groups.setdefault(turn.episode.env_id, []).append(position)
        decisions: list[Decision | None] = [None] * len(turns)
        for env_id, positions in groups.items():
            model = self.model(env_id)
            group = [turns[p] for p in positions]
            kwargs: dict[str, Any] = {"deterministic": self.deterministic}
            if self.algo == "MaskablePPO":
                kwargs["action_masks"] = np.stack([self._mask(turn, model) for turn in group])
            actions, _ = model.predict(_stack([turn.observation for turn in group]), **kwargs)
            for position, action in zip(positions, np.asarray(actions).reshape(len(group), -1)[:, 0]):
                decisions[position] = Decision(int(action), {"algo": self.algo})
        return decisions  # type: ignore[return-value]

    @staticmethod
    def _mask(turn: Turn, model: Any) -> np.ndarray:
        env = turn.episode.env
        if env is None:  # no live env, no mask: every action allowed, the env judges validity
            return np.ones(model.action_space.n, dtype=bool)
        return np.asarray(env.get_wrapper_attr("action_masks")(), dtype=bool)

    def close(self) -> None:
        self.models.clear()


def _same_shape(expected: gym.Space, given: gym.Space) -> bool:
    """Whether a model made for ``expected`` can read ``given`` (bounds may differ, sizes may not)."""
    if isinstance(expected, gym.spaces.Discrete) or isinstance(given, gym.spaces.Discrete):
        return (isinstance(given, type(expected))
                and int(cast(gym.spaces.Discrete, expected).n) == int(cast(gym.spaces.Discrete, given).n))
    if isinstance(expected, gym.spaces.Dict) and isinstance(given, gym.spaces.Dict):
        return expected.keys() == given.keys() and all(_same_shape(expected[k], given[k]) for k in expected.keys())
    return type(expected) is type(given) and expected.shape == given.shape


def _stack(observations: list[Any]) -> Any:
    """A batch SB3's ``predict`` accepts: stacked arrays, or a dict of them for Dict spaces."""
    if isinstance(observations[0], dict):
        return {key: np.stack([np.asarray(o[key]) for o in observations]) for key in observations[0]}
    return np.stack([np.asarray(o) for o in observations])
