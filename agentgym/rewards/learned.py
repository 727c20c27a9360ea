"""`learned`: a reward model trained from preferences over trajectory segments (Christiano et al. 2017).

Pipeline (all on the env card's **train** seeds, never test):

1. roll out random, oracle and half-random (epsilon 0.5) episodes in the vector view;
2. cut them into segments of ``segment_length`` steps (an episode that terminates early is padded
   with its absorbing final state: env reward 0, progress kept);
3. label random pairs with a labeller, by default the oracle judge: it prefers the segment with the
   higher true score (``label="progress"``: the sum of the env's progress after each step;
   ``"return"``: the env's own return), with optional noise (``noise``: flip probability;
   ``temperature``: Boltzmann-rational labels, P(a > b) = sigmoid((score_a - score_b) / T));
4. fit ``r(s')`` (a small MLP over the vector observation after the step, one-hot for ``Discrete``)
   with the Bradley-Terry loss; ``heads="aspects"`` fits one head per reward aspect, each on the
   preferences over its own aspect's return, and pays ``sum_k w_k head_k`` (weights default to the
   card's ``reward_weights``). A head's scale is not identified by preferences, so every head (the
   scalar one too) is normalised to unit spread of its training segment sums; a head whose labels are
   all ties is dropped (pays 0).

The held-out pairwise accuracy (pairs from held-out episodes, true noiseless preference, ties
excluded) is kept on the wrapper (``accuracy``, ``report``) and put in ``info["reward_model_accuracy"]``
on the wrapper's first step. Trained weights are cached by config through :func:`agentgym.core.cache.cached`
(kind ``reward_models``; ``model.npz`` and ``report.json``) and evaluated with numpy, so making the env is
cheap and deterministic, and torch is only needed to train.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import gymnasium as gym
import numpy as np

from agentgym.agents.base import EpisodeContext, Turn
from agentgym.core import cache as disk_cache
from agentgym.core.errors import AgentGymError, ConfigError
from agentgym.envs.base import agentgym_env, env_card
from agentgym.envs.registration import build_env, env_spec
from agentgym.rewards import make_reward
from agentgym.rewards.basic import VariantReward
from agentgym.rollout import Episode, FunctionAgent, Job, StepEvent, run_lockstep

FORMAT_VERSION = "2"  # the version of what `cached` builders write: bump when the training or the files change
_MEMO: dict[str, tuple[dict[str, np.ndarray], dict[str, Any]]] = {}


class BradleyTerryOutput(NamedTuple):
    loss: Any  # mean loss (a 0-d torch tensor)
    probability: Any  # P(a preferred over b) per pair


def bradley_terry_loss(reward_sum_a, reward_sum_b, preference) -> BradleyTerryOutput:
    """``-[p log sigmoid(R_a - R_b) + (1 - p) log sigmoid(R_b - R_a)]``, averaged; ``p`` = P(a preferred)."""
    import torch  # noqa: PLC0415 - optional torch, only when a model trains
    import torch.nn.functional as F  # noqa: PLC0415 - optional torch, only when a model trains

    margin = reward_sum_a - reward_sum_b
    preference = torch.as_tensor(preference, dtype=margin.dtype)
    loss = -(preference * F.logsigmoid(margin) + (1 - preference) * F.logsigmoid(-margin))
    return BradleyTerryOutput(loss.mean(), torch.sigmoid(margin))


def label_preferences(score_a: np.ndarray, score_b: np.ndarray, rng: np.random.Generator, *,
                      noise: float = 0.0, temperature: float = 0.0) -> np.ndarray:
    """Labels P(a preferred) in {0, 0.5, 1} from true segment scores: exact (ties 0.5), Boltzmann, then flipped."""
    difference = np.asarray(score_a, float) - np.asarray(score_b, float)
    if temperature > 0:
        labels = (rng.random(difference.shape) < 1 / (1 + np.exp(-difference / temperature))).astype(float)
    else:
        labels = np.where(np.abs(difference) < 1e-9, 0.5, (difference > 0).astype(float))
    flip = (rng.random(difference.shape) < noise) & (labels != 0.5)
    return np.where(flip, 1 - labels, labels)


# ------------------------------------------------------------------------------- env plumbing
def featurizer(space: gym.Space) -> Callable[[Any], np.ndarray]:
    """Observation -> float32 vector: one-hot for ``Discrete``, concatenated one-hots for ``MultiDiscrete``."""
    if isinstance(space, gym.spaces.Discrete):
        return lambda obs: np.eye(int(space.n), dtype=np.float32)[int(obs) - int(space.start)]
    if isinstance(space, gym.spaces.MultiDiscrete):
        sizes = space.nvec.ravel()
        return lambda obs: np.concatenate([np.eye(int(n), dtype=np.float32)[int(v)] for n, v in
                                           zip(sizes, np.ravel(obs))])
    if isinstance(space, gym.spaces.Box):
        return lambda obs: np.asarray(obs, dtype=np.float32).ravel()
    raise TypeError(f"no feature map for observation space {space}")


def env_identity(env: gym.Env) -> tuple[str, dict[str, Any]]:
    """(registered id, env kwargs without the view) of an env built by ``agentgym.make``."""
    spec = env.spec or env.unwrapped.spec
    if spec is None or env_card(env) is None:
        raise ConfigError("this reward variant needs an env built by agentgym.make (a registered id with a card)")
    return spec.id, {k: v for k, v in spec.kwargs.items() if k not in ("view", "render_mode")}


def rollouts(env_id: str, env_kwargs: dict[str, Any], n_episodes: int, epsilons: tuple[float, ...],
             seed: int) -> list[dict[str, Any]]:
    """Episodes on the card's train seeds; episode ``i`` takes a random admissible action with ``epsilons[i % n]``.

    Each episode: ``observations`` (T + 1), and per step ``rewards``, ``vectors`` (card aspect order),
    ``progress`` (after the step); ``terminated``. Played one after another through the one rollout loop
    (the epsilon draws share one generator, so the order is part of the data).
    """
    rng = np.random.default_rng(seed)
    card = env_spec(env_id).card
    aspects, train = list(card.aspects), card.splits["train"].seeds()
    episodes: list[dict[str, Any]] = []

    def start(job: Job) -> tuple[gym.Env, EpisodeContext]:
        env = make_reward(build_env(env_id, view="vector", **env_kwargs), "env")
        episodes.append({"observations": [], "rewards": [], "vectors": [], "progress": []})
        return env, EpisodeContext(key=job.key, env_id=env_id, seed=job.seed, repeat=0, card=card,
                                   action_space=env.action_space, observation_space=env.observation_space, env=env)

    def decide(turn: Turn) -> int:
        assert turn.episode.env is not None
        record, inner = episodes[-1], agentgym_env(turn.episode.env)
        if not record["observations"]:
            record["observations"].append(turn.observation)
        if rng.random() < epsilons[(len(episodes) - 1) % len(epsilons)]:
            return int(rng.choice(np.flatnonzero(inner.action_masks())))
        return inner.oracle_action()

    def on_step(event: StepEvent) -> None:
        record = episodes[-1]
        record["observations"].append(event.observation)
        record["rewards"].append(float(event.reward))
        record["vectors"].append([event.info["reward_vector"][name] for name in aspects])
        assert event.episode.env is not None
        record["progress"].append(float(agentgym_env(event.episode.env).outcome()[1]))

    def on_done(episode: Episode) -> None:
        if episode.status != "ok":
            raise AgentGymError(f"reward-model data: episode {episode.job.key} of {env_id} failed:\n{episode.error}")
        episodes[-1]["terminated"] = episode.terminated

    jobs = [Job(str(index), train[index % len(train)], 0) for index in range(n_episodes)]
    run_lockstep(jobs, FunctionAgent(decide), start, on_done, on_step=on_step, batch_size=1)
    return episodes


def cached(kind: str, config: dict[str, Any], build: Callable[[], tuple[dict[str, np.ndarray], dict[str, Any]]]):
    """(arrays, report) for ``config``: from memory, or from the ``kind`` entry of the disk cache, built once.

    ``config`` values that are not JSON (an object passed as an env kwarg) enter the key as their ``str``.
    """
    plain = json.loads(json.dumps(config, sort_keys=True, default=str))
    key = disk_cache.cache_key(kind, plain, version=FORMAT_VERSION)
    if key in _MEMO:
        return _MEMO[key]

    def write(folder: Path) -> None:
        arrays, report = build()
        np.savez(folder / "model.npz", **dict[str, Any](arrays))
        (folder / "report.json").write_text(json.dumps(report, indent=1))

    folder = disk_cache.cached(kind, plain, write, version=FORMAT_VERSION)
    with np.load(folder / "model.npz") as data:
        arrays = {name: data[name] for name in data.files}
    report = json.loads((folder / "report.json").read_text())
    _MEMO[key] = (arrays, report)
    return arrays, report


# ------------------------------------------------------------------------------- training
def _segments(episodes, length: int, featurize, label: str):
    """(features [N, L, d], scores [N, n_scores], episode index [N]); column 0 is progress/return, then aspects."""
    features, scores, owners = [], [], []
    for index, episode in enumerate(episodes):
        steps = len(episode["rewards"])
        after = [featurize(o) for o in episode["observations"][1:]]
        per_step = np.column_stack([episode["progress"] if label == "progress" else episode["rewards"],
                                    np.asarray(episode["vectors"], float)])
        if episode["terminated"] and steps % length:  # pad with the absorbing final state
            pad = length - steps % length
            after += [after[-1]] * pad
            filler = np.zeros((pad, per_step.shape[1]))
            filler[:, 0] = episode["progress"][-1] if label == "progress" else 0.0
            per_step = np.vstack([per_step, filler])
        for start in range(0, len(after) - length + 1, length):
            features.append(np.stack(after[start:start + length]))
            scores.append(per_step[start:start + length].sum(axis=0))
            owners.append(index)
    return np.stack(features), np.asarray(scores), np.asarray(owners)


def _pairs(candidates: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    first, second = rng.choice(candidates, n), rng.choice(candidates, n)
    keep = first != second
    return np.column_stack([first[keep], second[keep]])


def mlp_rewards(arrays: dict[str, np.ndarray], features: np.ndarray) -> np.ndarray:
    """The numpy forward pass: per-head rewards [..., heads] of features [..., d]."""
    hidden = np.tanh(features @ arrays["w1"] + arrays["b1"])
    hidden = np.tanh(hidden @ arrays["w2"] + arrays["b2"])
    return hidden @ arrays["w3"] + arrays["b3"]


def train_reward_model(episodes, *, featurize, heads: str, head_weights: np.ndarray, label: str,
                       segment_length: int, n_pairs: int, noise: float, temperature: float, hidden: int,
                       epochs: int, lr: float, seed: int) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    import torch  # noqa: PLC0415 - optional torch, only when a model trains

    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    features, scores, owners = _segments(episodes, segment_length, featurize, label)
    columns = [0] if heads == "scalar" else list(range(1, scores.shape[1]))
    held = owners % 5 == 4
    train_pairs = _pairs(np.flatnonzero(~held), n_pairs, rng)
    test_pairs = _pairs(np.flatnonzero(held), max(1, n_pairs // 4), rng)
    labels = np.column_stack([label_preferences(scores[train_pairs[:, 0], c], scores[train_pairs[:, 1], c], rng,
                                                noise=noise, temperature=temperature) for c in columns])
    d, k = features.shape[-1], len(columns)
    net = torch.nn.Sequential(torch.nn.Linear(d, hidden), torch.nn.Tanh(), torch.nn.Linear(hidden, hidden),
                              torch.nn.Tanh(), torch.nn.Linear(hidden, k))
    optimiser = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=1e-4)
    unique, inverse = np.unique(features.reshape(-1, d), axis=0, return_inverse=True)  # states repeat a lot
    x, where = torch.as_tensor(unique), torch.as_tensor(inverse.reshape(features.shape[:2]))
    pairs, target = torch.as_tensor(train_pairs), torch.as_tensor(labels)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: threads only contend
    try:
        for _ in range(epochs):
            sums = net(x)[where].sum(dim=1)  # [N, k]
            loss = bradley_terry_loss(sums[pairs[:, 0]], sums[pairs[:, 1]], target).loss
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    finally:
        torch.set_num_threads(threads)
    layers = [m for m in net if isinstance(m, torch.nn.Linear)]
    arrays = {f"{p}{i}": getattr(layer, "weight" if p == "w" else "bias").detach().numpy().T.astype(np.float32)
              for i, layer in enumerate(layers, 1) for p in "wb"}
    sums = mlp_rewards(arrays, features).sum(axis=1)  # [N, k]
    informative = np.array([bool(np.any(labels[:, j] != 0.5)) for j in range(k)])
    spread = np.where(informative, sums[~held].std(axis=0) + 1e-8, np.inf)
    combine = (np.ones(1) if heads == "scalar" else head_weights) / spread
    arrays["combine"] = combine.astype(np.float32)

    def accuracy(predicted: np.ndarray, truth: np.ndarray) -> float | None:
        a, b = test_pairs[:, 0], test_pairs[:, 1]
        decided = np.abs(truth[a] - truth[b]) > 1e-9
        return float(np.mean((predicted[a] > predicted[b])[decided] == (truth[a] > truth[b])[decided])) \
            if decided.any() else None

    truth = scores[:, 0] if heads == "scalar" else scores[:, 1:] @ head_weights
    report = {"accuracy": accuracy(sums @ combine, truth), "segments": len(features),
              "train_pairs": len(train_pairs), "test_pairs": len(test_pairs), "final_loss": loss.item()}
    if heads == "aspects":
        report["head_accuracy"] = [accuracy(sums[:, j], scores[:, c]) for j, c in enumerate(columns)]
    return arrays, report


class LearnedReward(VariantReward):
    """`learned`: a Bradley-Terry reward model ``r(s')`` trained from labelled segment preferences.

    Kwargs (all part of the cache key): ``heads`` ("scalar" or "aspects"), ``weights`` (aspect weights for
    "aspects"; default the card's ``reward_weights``, 1 for the rest), ``label`` ("progress" or "return"),
    ``noise`` (label flip probability), ``temperature`` (Boltzmann labels; 0 = exact), ``episodes``,
    ``segment_length``, ``pairs``, ``hidden``, ``epochs``, ``lr``, ``seed``.
    """

    def __init__(self, env: gym.Env, heads: str = "scalar", weights: dict[str, float] | None = None,
                 label: str = "progress", noise: float = 0.0, temperature: float = 0.0, episodes: int = 300,
                 segment_length: int = 8, pairs: int = 3000, hidden: int = 64, epochs: int = 300,
                 lr: float = 0.01, seed: int = 0) -> None:
        super().__init__(env)
        if heads not in ("scalar", "aspects") or label not in ("progress", "return"):
            raise ConfigError(f"heads must be 'scalar' or 'aspects' (not {heads!r}), "
                             f"label 'progress' or 'return' (not {label!r})")
        if min(episodes, segment_length, pairs, hidden, epochs) < 1:
            raise ConfigError("episodes, segment_length, pairs, hidden and epochs must be positive")
        env_id, env_kwargs = env_identity(env)
        card = env_card(env)
        assert card is not None  # env_identity refused an env without one
        given = {**card.reward_weights, **(weights or {})}
        if set(given) - set(card.aspects):
            raise ConfigError(f"weights name unknown aspects {sorted(set(given) - set(card.aspects))}")
        head_weights = np.array([given.get(name, 1.0) for name in card.aspects])
        self._featurize = featurizer(agentgym_env(env).vector_observation_space)
        config = {"env": env_id, "env_kwargs": env_kwargs, "card_version": card.version, "heads": heads,
                  "weights": head_weights.tolist(), "label": label, "noise": noise, "temperature": temperature,
                  "episodes": episodes, "segment_length": segment_length, "pairs": pairs, "hidden": hidden,
                  "epochs": epochs, "lr": lr, "seed": seed}

        def build():
            data = rollouts(env_id, env_kwargs, episodes, (1.0, 0.0, 0.5), seed)
            return train_reward_model(data, featurize=self._featurize, heads=heads, head_weights=head_weights,
                                      label=label, segment_length=segment_length, n_pairs=pairs, noise=noise,
                                      temperature=temperature, hidden=hidden, epochs=epochs, lr=lr, seed=seed)

        self.model, self.report = cached("reward_models", config, build)
        self.accuracy = self.report["accuracy"]
        self._reported = False

    def model_reward(self, observation: Any) -> float:
        """The learned reward of arriving in the state with vector observation ``observation``."""
        return float(mlp_rewards(self.model, self._featurize(observation)) @ self.model["combine"])

    def variant_reward(self, env_reward, terminated, truncated, info):
        if not self._reported:
            info["reward_model_accuracy"] = self.accuracy
            self._reported = True
        return self.model_reward(self.env.unwrapped.vector_observation())
