"""Stable-Baselines3 agents behind the one agent protocol, with a disk cache of trained models.

An :class:`SB3Agent` either loads saved models (``checkpoint`` / ``checkpoints``) or trains
one model per env id the first time it meets that env, on the env card's *train* seeds only.
Trained models are cached under ``cache_dir("sb3", KEY)``, where ``KEY`` hashes everything
that can change the model (see :func:`cache_key`), so a second run with the same config
loads instead of training. Example spec (``agents/ppo.yaml``)::

    name: ppo
    entry_point: agentgym.agents.sb3:SB3Agent
    kwargs:
      algo: PPO
      train: {total_timesteps: 20000, seed: 0, hyperparams: {n_steps: 256}}
      per_env: {agentgym/CartPole-v0: {total_timesteps: 50000}}
"""

from __future__ import annotations

import copy
import importlib
import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from agentgym.agents.base import Agent, Decision, EpisodeContext, Turn
from agentgym.core.errors import AgentGymError
from agentgym.core.files import canonical_json, sha256_text, write_json_atomic
from agentgym.core.paths import cache_dir

logger = logging.getLogger(__name__)

ALGOS: dict[str, str] = {
    "PPO": "stable_baselines3:PPO",
    "A2C": "stable_baselines3:A2C",
    "DQN": "stable_baselines3:DQN",
    "MaskablePPO": "sb3_contrib:MaskablePPO",
}
"""Supported algorithms and where they live."""

TRAIN_DEFAULTS: dict[str, Any] = {
    "total_timesteps": 20000,
    "seed": 0,
    "n_envs": 1,
    "reward": "env",
    "reward_kwargs": {},
    "hyperparams": {},
}
"""Keys of a ``train`` config and their defaults."""

MODEL_FILE = "model.zip"
CONFIG_FILE = "config.json"
LOCK_FILE = "train.lock"


def algo_class(algo: str) -> type:
    """The SB3 class of ``algo`` ("PPO", "A2C", "DQN" or "MaskablePPO")."""
    if algo not in ALGOS:
        raise AgentGymError(f"unknown SB3 algo {algo!r}; expected one of {sorted(ALGOS)}")
    module_name, _, name = ALGOS[algo].partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise AgentGymError(f"SB3 algo {algo} needs {module_name}: pip install 'agentgym[sb3]' ({exc})") from exc
    return getattr(module, name)


def resolve_train_config(train: dict[str, Any] | None, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """A full ``train`` config: defaults, then ``train``, then per-env ``overrides``.

    ``hyperparams`` merge key by key, so a per-env override may change one of them only.
    """
    config = copy.deepcopy(TRAIN_DEFAULTS)
    for layer in (train or {}, overrides or {}):
        unknown = set(layer) - set(TRAIN_DEFAULTS)
        if unknown:
            raise AgentGymError(f"unknown SB3 train keys {sorted(unknown)}; expected some of {sorted(TRAIN_DEFAULTS)}")
        for key, value in copy.deepcopy(layer).items():
            if key in ("hyperparams", "reward_kwargs"):
                config[key] = {**config[key], **(value or {})}
            else:
                config[key] = value
    if int(config["n_envs"]) < 1 or int(config["total_timesteps"]) < 1:
        raise AgentGymError(f"SB3 train config needs n_envs >= 1 and total_timesteps >= 1, got {config}")
    return config


def _library_versions(algo: str) -> dict[str, str]:
    import stable_baselines3

    versions = {"stable_baselines3": stable_baselines3.__version__}
    if ALGOS.get(algo, "").startswith("sb3_contrib"):
        import sb3_contrib

        versions["sb3_contrib"] = sb3_contrib.__version__
    return versions


def cache_key(env_id: str, algo: str, policy: str, train_config: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The cache key of a trained model and the record it hashes.

    The record holds the algo, policy, full train config, env id, env card version,
    agentgym version and SB3 (and sb3-contrib) versions: anything that can change the model.
    """
    import agentgym

    record = {
        "algo": algo,
        "policy": policy,
        "train": resolve_train_config(train_config),
        "env_id": env_id,
        "env_version": agentgym.env_spec(env_id).card.version,
        "agentgym": agentgym.__version__,
        **_library_versions(algo),
    }
    return sha256_text(canonical_json(record)), record


class TrainSplitSeeds(gym.Wrapper):
    """Makes every reset use a seed of the given (train) split, whatever seed the caller passes.

    Seeds are drawn in shuffled rounds over the split, so every train seed is used equally
    often; the order is fixed by ``seed`` (and re-fixed by a seed passed to ``reset``, as
    SB3's vec envs do once), so training is reproducible and never sees a test seed.

    Example:
        >>> env = TrainSplitSeeds(gym.make("CartPole-v1"), seeds=[0, 1, 2], seed=0)
        >>> _ = env.reset(seed=1234)
        >>> env.last_seed in (0, 1, 2)
        True
    """

    def __init__(self, env: gym.Env, seeds: Sequence[int], seed: int = 0) -> None:
        super().__init__(env)
        if not seeds:
            raise ValueError("TrainSplitSeeds needs at least one seed")
        self.seeds = [int(s) for s in seeds]
        self.last_seed: int | None = None
        self._reseed(seed)

    def _reseed(self, seed: int) -> None:
        self._rng = np.random.default_rng(seed)
        self._queue: list[int] = []

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        if seed is not None:
            self._reseed(seed)  # the caller's seed orders the draws; it never becomes an episode seed
        if not self._queue:
            self._queue = [int(s) for s in self._rng.permutation(self.seeds)]
        self.last_seed = self._queue.pop()
        return self.env.reset(seed=self.last_seed, options=options)


def make_train_env(env_id: str, train_config: dict[str, Any]):
    """A ``DummyVecEnv`` of ``n_envs`` copies of ``env_id`` (vector view) seeded from the train split."""
    from stable_baselines3.common.monitor import Monitor
    from stable_baselines3.common.vec_env import DummyVecEnv

    import agentgym

    config = resolve_train_config(train_config)
    seeds = agentgym.env_spec(env_id).card.splits["train"].seeds()

    def factory(index: int):
        def build() -> gym.Env:
            env = agentgym.make(env_id, reward=config["reward"], view="vector", reward_kwargs=config["reward_kwargs"])
            # Each copy gets its own draw order so copies do not replay the same episodes.
            return Monitor(TrainSplitSeeds(env, seeds, seed=int(config["seed"]) * 1000 + index))

        return build

    # DummyVecEnv: the envs are tiny, so subprocesses would cost more than they save on 2 cores.
    return DummyVecEnv([factory(i) for i in range(int(config["n_envs"]))])


def _algo_kwargs(hyperparams: dict[str, Any]) -> dict[str, Any]:
    """Constructor kwargs; YAML can only name an activation function, so resolve it in torch.nn."""
    kwargs = copy.deepcopy(hyperparams)
    policy_kwargs = kwargs.get("policy_kwargs") or {}
    if isinstance(policy_kwargs.get("activation_fn"), str):
        import torch

        policy_kwargs["activation_fn"] = getattr(torch.nn, policy_kwargs["activation_fn"])
    kwargs.setdefault("device", "cpu")  # small MLPs run faster on CPU, and CPU runs are reproducible
    kwargs.setdefault("verbose", 0)
    return kwargs


CURVE_FILE = "curve.json"


def _train_or_load(env_id: str, algo: str, policy: str, train_config: dict[str, Any],
                   curve: dict[str, int] | None = None) -> tuple[Any, Path, bool]:
    """Load the cached model, or train it (recording a learning curve when ``curve`` asks)."""
    from filelock import FileLock

    cls = algo_class(algo)
    config = resolve_train_config(train_config)
    key, record = cache_key(env_id, algo, policy, config)
    folder = cache_dir("sb3", key)
    model_path = folder / MODEL_FILE
    # One process trains, others wait then load; the model file is only ever complete.
    with FileLock(str(folder / LOCK_FILE)):
        if model_path.exists():
            logger.info("SB3 %s for %s: loading cached model %s (no training)", algo, env_id, model_path)
            return cls.load(str(model_path), device=config["hyperparams"].get("device", "cpu")), model_path, False
        logger.info("SB3 %s for %s: training %d steps (seed %s) into %s", algo, env_id,
                    config["total_timesteps"], config["seed"], folder)
        import torch

        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # faster for small MLPs, and bit-identical runs on CPU
        env = make_train_env(env_id, config)
        try:
            try:
                model = cls(policy, env, seed=int(config["seed"]), **_algo_kwargs(config["hyperparams"]))
            except (AssertionError, ValueError, TypeError, KeyError) as exc:
                raise AgentGymError(f"SB3 {algo} ({policy}) cannot train on {env_id}: {exc}") from exc
            from stable_baselines3.common.logger import Logger

            model.set_logger(Logger(folder=None, output_formats=[]))  # no SB3-<date> log folder per run
            callback = _curve_callback(env_id, algo, config, curve)
            model.learn(total_timesteps=int(config["total_timesteps"]), callback=callback)
        finally:
            env.close()
            torch.set_num_threads(threads)
        (folder / CONFIG_FILE).write_text(json.dumps({"key": key, **record}, indent=2, sort_keys=True) + "\n")
        if callback is not None:
            # the curve does not change the model, so it is not part of the key: kept beside it
            write_json_atomic(folder / CURVE_FILE, {"eval": curve, "points": callback.points})
        partial = folder / "model.partial.zip"
        model.save(str(partial))
        os.replace(partial, model_path)
    return model, model_path, True


def _curve_callback(env_id: str, algo: str, config: dict[str, Any], curve: dict[str, int] | None) -> Any:
    if not curve or int(curve.get("every", 0)) <= 0:
        return None
    import agentgym
    from agentgym.agents.sb3_curve import LearningCurve

    # held-out seeds: the test split's first ones (used to draw the curve, never to select a model)
    seeds = agentgym.env_spec(env_id).card.splits["test"].seeds()[: int(curve.get("episodes", 20))]
    return LearningCurve(env_id, seeds, int(curve["every"]), reward=config["reward"],
                         reward_kwargs=config["reward_kwargs"], masked=algo == "MaskablePPO")


def learning_curve(model_path: Path) -> dict[str, Any] | None:
    """The learning curve saved beside a cached model, if it was trained with one."""
    path = Path(model_path).with_name(CURVE_FILE)
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def train_sb3(env_id: str, algo: str, policy: str, train_config: dict[str, Any],
              curve: dict[str, int] | None = None) -> tuple[Any, Path]:
    """Train (or load from the cache) one SB3 model on ``env_id``'s train seeds.

    Args:
        env_id: a registered env id; trained on its vector view.
        algo: "PPO", "A2C", "DQN" or "MaskablePPO".
        policy: SB3 policy name, e.g. "MlpPolicy".
        train_config: keys of :data:`TRAIN_DEFAULTS` (missing ones take the defaults).
        curve: ``{"every": N, "episodes": M}`` records a learning curve (proxy return and true
            success on M held-out seeds every N timesteps) beside the model, when it trains.

    Returns:
        The model and the path of its cached ``model.zip``.
    """
    model, path, _ = _train_or_load(env_id, algo, policy, train_config, curve)
    return model, path


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
            raise FileNotFoundError(f"SB3 checkpoint not found: {resolved} (resolved to {resolved.absolute()})")
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
                model, path, trained = _train_or_load(env_id, self.algo, self.policy, self.train_config(env_id),
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
        return isinstance(given, type(expected)) and int(expected.n) == int(given.n)
    if isinstance(expected, gym.spaces.Dict) and isinstance(given, gym.spaces.Dict):
        return expected.keys() == given.keys() and all(_same_shape(expected[k], given[k]) for k in expected.keys())
    return type(expected) is type(given) and expected.shape == given.shape


def _stack(observations: list[Any]) -> Any:
    """A batch SB3's ``predict`` accepts: stacked arrays, or a dict of them for Dict spaces."""
    if isinstance(observations[0], dict):
        return {key: np.stack([np.asarray(o[key]) for o in observations]) for key in observations[0]}
    return np.stack([np.asarray(o) for o in observations])
