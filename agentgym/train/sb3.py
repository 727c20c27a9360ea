"""Training Stable-Baselines3 policies: config, cache, train-split envs, learning curves, recipes.

A model trains on the env card's *train* seeds only and is cached by everything that can change
it (:func:`cache_config`) through the one disk cache (:func:`agentgym.core.cache.cached`), so a
second run with the same config loads instead of training. :class:`agentgym.agents.sb3.SB3Agent`
plays the models; ``agentgym train`` (:func:`train_recipe`) trains one into a run folder.
"""

from __future__ import annotations

import copy
import importlib
import json
import logging
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from agentgym.agents.base import EpisodeContext, Turn
from agentgym.core.cache import cache_key, cache_path, cached
from agentgym.core.errors import AgentGymError
from agentgym.core.files import write_json_atomic
from agentgym.core.version import __version__
from agentgym.envs.registration import env_spec
from agentgym.make import make
from agentgym.rollout import Episode, FunctionAgent, Job, run_lockstep

logger = logging.getLogger(__name__)

CACHE_KIND = "sb3"
CACHE_VERSION = "2"
"""Version of what a cached SB3 entry holds (bump when the files written change)."""

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
CURVE_FILE = "curve.json"


def algo_class(algo: str) -> type[Any]:
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
    import stable_baselines3  # noqa: PLC0415 - optional sb3 extra

    versions = {"stable_baselines3": stable_baselines3.__version__}
    if ALGOS.get(algo, "").startswith("sb3_contrib"):
        import sb3_contrib  # noqa: PLC0415 - optional sb3 extra

        versions["sb3_contrib"] = sb3_contrib.__version__
    return versions


def cache_config(env_id: str, algo: str, policy: str, train_config: dict[str, Any]) -> dict[str, Any]:
    """What a trained model's cache entry is keyed by: anything that can change the model.

    The algo, policy, full train config, env id, env card version, agentgym version and SB3
    (and sb3-contrib) versions.
    """
    return {
        "algo": algo,
        "policy": policy,
        "train": resolve_train_config(train_config),
        "env_id": env_id,
        "env_version": env_spec(env_id).card.version,
        "agentgym": __version__,
        **_library_versions(algo),
    }


def model_path(env_id: str, algo: str, policy: str, train_config: dict[str, Any]) -> Path:
    """Where the cached model of this config is (or will be); trains nothing."""
    config = cache_config(env_id, algo, policy, train_config)
    return cache_path(CACHE_KIND, config, version=CACHE_VERSION) / MODEL_FILE


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
            raise AgentGymError("TrainSplitSeeds needs at least one seed")
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
    from stable_baselines3.common.monitor import Monitor  # noqa: PLC0415 - optional sb3 extra
    from stable_baselines3.common.vec_env import DummyVecEnv  # noqa: PLC0415 - optional sb3 extra

    config = resolve_train_config(train_config)
    seeds = env_spec(env_id).card.splits["train"].seeds()

    def factory(index: int):
        def build() -> gym.Env:
            env = make(env_id, reward=config["reward"], view="vector", reward_kwargs=config["reward_kwargs"])
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
        import torch  # noqa: PLC0415 - optional torch

        policy_kwargs["activation_fn"] = getattr(torch.nn, policy_kwargs["activation_fn"])
    kwargs.setdefault("device", "cpu")  # small MLPs run faster on CPU, and CPU runs are reproducible
    kwargs.setdefault("verbose", 0)
    return kwargs


# ------------------------------------------------------------------------ learning curves
def evaluate_policy_outcome(model: Any, env_id: str, seeds: list[int], *, reward: str = "env",
                            reward_kwargs: dict[str, Any] | None = None, masked: bool = False) -> dict[str, float]:
    """Mean proxy return, env return, success and progress of ``model`` over one episode per seed.

    The policy's deterministic action, one episode at a time through the one rollout loop.
    """

    def start(job: Job) -> tuple[gym.Env, EpisodeContext]:
        env = make(env_id, reward=reward, view="vector", reward_kwargs=reward_kwargs)
        return env, EpisodeContext(key=job.key, env_id=env_id, seed=job.seed, repeat=0, card=None,
                                   action_space=env.action_space, observation_space=env.observation_space,
                                   reward=reward, env=env)

    def decide(turn: Turn) -> int:
        env = turn.episode.env
        kwargs = {"action_masks": env.get_wrapper_attr("action_masks")()} if masked and env is not None else {}
        action, _ = model.predict(np.asarray(turn.observation), deterministic=True, **kwargs)
        return int(action)

    totals = {"proxy_return": 0.0, "env_return": 0.0, "success_rate": 0.0, "progress": 0.0}

    def on_done(episode: Episode) -> None:
        if episode.status != "ok":
            raise AgentGymError(f"learning-curve episode on {env_id} seed {episode.job.seed} failed:\n{episode.error}")
        totals["proxy_return"] += episode.proxy_return
        totals["env_return"] += episode.env_return
        totals["success_rate"] += float(bool(episode.info.get("success")))
        totals["progress"] += float(episode.info.get("progress") or 0.0)

    jobs = [Job(str(seed), seed, 0) for seed in seeds]
    run_lockstep(jobs, FunctionAgent(decide), start, on_done, batch_size=1)
    return {name: value / len(seeds) for name, value in totals.items()}


def _learning_curve_callback(env_id: str, seeds: list[int], every: int, *, reward: str,
                             reward_kwargs: dict[str, Any], masked: bool) -> Any:
    """An SB3 callback evaluating the policy every ``every`` timesteps (and at the end) into ``.points``."""
    from stable_baselines3.common.callbacks import BaseCallback  # noqa: PLC0415 - optional sb3 extra

    class LearningCurve(BaseCallback):
        def __init__(self) -> None:
            super().__init__()
            self.points: list[dict[str, float]] = []
            self._next = every

        def _evaluate(self) -> None:
            point = evaluate_policy_outcome(self.model, env_id, seeds, reward=reward, reward_kwargs=reward_kwargs,
                                            masked=masked)
            self.points.append({"timesteps": int(self.num_timesteps), **point})

        def _on_step(self) -> bool:
            if self.num_timesteps >= self._next:
                self._next += every
                self._evaluate()
            return True

        def _on_training_end(self) -> None:
            if not self.points or self.points[-1]["timesteps"] != self.num_timesteps:
                self._evaluate()

    return LearningCurve()


def _curve_callback(env_id: str, algo: str, config: dict[str, Any], curve: dict[str, int] | None) -> Any:
    if not curve or int(curve.get("every", 0)) <= 0:
        return None
    # held-out seeds: the test split's first ones (used to draw the curve, never to select a model)
    seeds = env_spec(env_id).card.splits["test"].seeds()[: int(curve.get("episodes", 20))]
    return _learning_curve_callback(env_id, seeds, int(curve["every"]), reward=config["reward"],
                                    reward_kwargs=config["reward_kwargs"], masked=algo == "MaskablePPO")


def learning_curve(path: Path) -> dict[str, Any] | None:
    """The learning curve saved beside a cached model (``path`` is its ``model.zip``), if it has one."""
    curve = Path(path).with_name(CURVE_FILE)
    return json.loads(curve.read_text(encoding="utf-8")) if curve.exists() else None


# ------------------------------------------------------------------------------ training
def _train_into(folder: Path, env_id: str, algo: str, policy: str, config: dict[str, Any], record: dict[str, Any],
                curve: dict[str, int] | None) -> None:
    """Train one model and write ``model.zip``, ``config.json`` and (when asked) ``curve.json`` into ``folder``."""
    import torch  # noqa: PLC0415 - optional torch
    from stable_baselines3.common.logger import Logger  # noqa: PLC0415 - optional sb3 extra

    cls = algo_class(algo)
    logger.info("SB3 %s for %s: training %d steps (seed %s)", algo, env_id, config["total_timesteps"], config["seed"])
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # faster for small MLPs, and bit-identical runs on CPU
    env = make_train_env(env_id, config)
    try:
        try:
            model = cls(policy, env, seed=int(config["seed"]), **_algo_kwargs(config["hyperparams"]))
        except (AssertionError, ValueError, TypeError, KeyError) as exc:
            raise AgentGymError(f"SB3 {algo} ({policy}) cannot train on {env_id}: {exc}") from exc
        model.set_logger(Logger(folder=None, output_formats=[]))  # no SB3-<date> log folder per run
        callback = _curve_callback(env_id, algo, config, curve)
        model.learn(total_timesteps=int(config["total_timesteps"]), callback=callback)
    finally:
        env.close()
        torch.set_num_threads(threads)
    key = cache_key(CACHE_KIND, record, version=CACHE_VERSION)
    (folder / CONFIG_FILE).write_text(json.dumps({"key": key, **record}, indent=2, sort_keys=True) + "\n")
    if callback is not None:
        # the curve does not change the model, so it is not part of the key: kept beside it
        write_json_atomic(folder / CURVE_FILE, {"eval": curve, "points": callback.points})
    model.save(str(folder / MODEL_FILE))


def train_or_load(env_id: str, algo: str, policy: str, train_config: dict[str, Any],
                  curve: dict[str, int] | None = None) -> tuple[Any, Path, bool]:
    """(model, path of its cached ``model.zip``, whether it trained now); loads when the cache has it.

    One process trains, others wait then load; the cache publishes only complete entries. A cached
    model trained without a curve keeps none: ask :func:`learning_curve` before relying on one.
    """
    config = resolve_train_config(train_config)
    record = cache_config(env_id, algo, policy, config)
    trained = []

    def build(folder: Path) -> None:
        _train_into(folder, env_id, algo, policy, config, record, curve)
        trained.append(True)

    folder = cached(CACHE_KIND, record, build, version=CACHE_VERSION)
    path = folder / MODEL_FILE
    if trained:
        logger.info("SB3 %s for %s: trained into %s", algo, env_id, folder)
    else:
        logger.info("SB3 %s for %s: loading cached model %s (no training)", algo, env_id, path)
    model = algo_class(algo).load(str(path), device=config["hyperparams"].get("device", "cpu"))
    return model, path, bool(trained)


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
    model, path, _ = train_or_load(env_id, algo, policy, train_config, curve)
    return model, path


# ------------------------------------------------------------------------ agentgym train
@dataclass
class TrainOutcome:
    out_dir: Path
    model_path: Path
    curve: dict[str, Any]


def train_recipe(env_id: str, out_dir: str | Path, *, algo: str = "PPO", policy: str = "MlpPolicy",
                 reward: str = "env", reward_kwargs: dict[str, Any] | None = None, total_timesteps: int = 20000,
                 seed: int = 0, n_envs: int = 1, hyperparams: dict[str, Any] | None = None,
                 eval_every: int = 0, eval_episodes: int = 20) -> TrainOutcome:
    """Train (or fetch from the cache) and copy the artifacts into ``out_dir``."""
    env_spec(env_id)  # unknown ids fail here, with a did-you-mean hint
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
                            f"clear it (`agentgym cache clear {CACHE_KIND}`) to retrain with one")
    return TrainOutcome(out, out / MODEL_FILE, curve)


def format_curve(curve: dict[str, Any]) -> str:
    lines = [f"{'timesteps':>10}  {'proxy return':>12}  {'env return':>10}  {'success':>7}  {'progress':>8}"]
    for point in curve["points"]:
        lines.append(f"{point['timesteps']:>10}  {point['proxy_return']:>12.3f}  {point['env_return']:>10.3f}  "
                     f"{point['success_rate']:>7.2f}  {point['progress']:>8.2f}")
    return "\n".join(lines)
