"""Online RL from env rollouts under any reward variant: the policy-gradient objective on a tabular policy.

The objective itself is the pure :func:`agentgym.train.losses.policy_gradient_loss` (GRPO-style
group-normalised advantages, or REINFORCE with a baseline). This module drives it the simplest
way that exercises it end to end: a softmax policy over a table (one row of logits per observation
seen, masked to the admissible actions), rollouts through the one rollout loop, groups of rollouts
from the same start seed, and the return of the reward variant being optimised. Decision quality
is still read from the true outcome (``info["success"]``).

A language-model policy in score mode is the same thing with the table replaced by the model's
scores of the admissible actions.

Example:
    >>> from agentgym.testing import toy
    >>> result = train_policy_gradient(toy.register(), reward="weighted", iterations=2, groups=2, group_size=2)
    >>> len(result.curve)
    2
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import gymnasium as gym
import numpy as np
import torch

from agentgym.agents.base import EpisodeContext, Turn
from agentgym.core.errors import AgentGymError
from agentgym.envs.registration import env_spec
from agentgym.make import make
from agentgym.rollout import Episode, FunctionAgent, Job, run_lockstep
from agentgym.train.losses import loss_spec


class TabularSoftmaxPolicy:
    """``pi(a | s) = softmax(table[s])`` over the admissible actions; a row is added for each new observation.

    Observations are keyed by their bytes, so the policy suits envs with few distinct observations
    (bandits, chains, small grids) in the vector view.
    """

    def __init__(self, n_actions: int, capacity: int = 1024) -> None:
        self.n_actions = n_actions
        self.logits = torch.zeros(capacity, n_actions, requires_grad=True)
        self.rows: dict[bytes, int] = {}

    def row(self, observation: Any) -> int:
        key = np.asarray(observation).tobytes()
        if key not in self.rows:
            if len(self.rows) >= self.logits.shape[0]:
                raise AgentGymError(f"the tabular policy holds {self.logits.shape[0]} observations; "
                                    "raise its capacity or use an env with fewer states")
            self.rows[key] = len(self.rows)
        return self.rows[key]

    def log_probs(self, rows: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        """Log-probabilities ``[n, actions]`` of the given rows, inadmissible actions at ``-inf``."""
        logits = self.logits[rows].masked_fill(~masks, float("-inf"))
        return torch.log_softmax(logits, dim=-1)

    def probabilities(self, observation: Any, mask: np.ndarray | None = None) -> np.ndarray:
        """``pi(. | observation)`` as a numpy vector (0 on inadmissible actions); no gradient."""
        logits = self.logits.detach()[self.row(observation)].numpy().astype(np.float64)
        if mask is not None:
            logits = np.where(mask, logits, -np.inf)
        weights = np.exp(logits - logits.max())
        return weights / weights.sum()

    def greedy(self, observation: Any, mask: np.ndarray | None = None) -> int:
        return int(np.argmax(self.probabilities(observation, mask)))


class OnlineResult(NamedTuple):
    """The trained policy and its curve: one entry per iteration (loss, mean return, success rate)."""

    policy: TabularSoftmaxPolicy
    curve: list[dict[str, float]]


@dataclass
class _Trace:
    rows: list[int] = field(default_factory=list)
    actions: list[int] = field(default_factory=list)
    masks: list[np.ndarray] = field(default_factory=list)


def _mask(env: gym.Env, n_actions: int) -> np.ndarray:
    try:
        return np.asarray(env.get_wrapper_attr("action_masks")(), dtype=bool)
    except AttributeError:
        return np.ones(n_actions, dtype=bool)


def train_policy_gradient(env_id: str, *, reward: str = "env", reward_kwargs: dict[str, Any] | None = None,
                          env_kwargs: dict[str, Any] | None = None, loss: str = "grpo",
                          loss_kwargs: dict[str, Any] | None = None, seeds: Sequence[int] | None = None,
                          iterations: int = 50, groups: int = 4, group_size: int = 8, learning_rate: float = 0.2,
                          max_steps: int | None = None, seed: int = 0,
                          policy: TabularSoftmaxPolicy | None = None) -> OnlineResult:
    """Train a tabular softmax policy with an online loss (``grpo`` or ``reinforce``) on ``env_id``.

    Each iteration draws ``groups`` start seeds (from ``seeds``, default the card's train split),
    plays ``group_size`` rollouts from each with the current policy (sampling; vector view, masked
    to the admissible actions), scores each rollout by its return under ``reward`` and takes one
    Adam step on the loss, with a rollout's log-probability the sum over its steps.

    Args:
        env_id: a registered env with a ``Discrete`` vector view.
        reward: the reward variant whose return is optimised (``reward_kwargs`` configure it).
        loss: a registered loss with ``data == "online"``; ``loss_kwargs`` set its hyper-parameters.
        iterations, groups, group_size: updates, start seeds per update, rollouts per start seed.
        learning_rate: Adam's step size on the table of logits.
        max_steps: cut rollouts after this many steps (beyond the env's own limit).
        seed: seeds the draw of start seeds and the policy's sampling.
        policy: continue training this policy (a new zero table by default).
    """
    spec = loss_spec(loss)
    if spec.data != "online":
        raise AgentGymError(f"loss {loss!r} trains on {spec.data} data, not on rollouts; use an online loss "
                            "such as 'grpo' or 'reinforce'")
    seeds = list(seeds) if seeds is not None else env_spec(env_id).card.splits["train"].seeds()
    probe = make(env_id, view="vector", **(env_kwargs or {}))
    if not isinstance(probe.action_space, gym.spaces.Discrete):
        raise AgentGymError(f"{env_id}: the tabular policy needs a Discrete vector view, not {probe.action_space}")
    n_actions = int(probe.action_space.n)
    probe.close()
    policy = policy or TabularSoftmaxPolicy(n_actions)
    optimizer = torch.optim.Adam([policy.logits], lr=learning_rate)
    rng = np.random.default_rng(seed)
    pool: dict[str, gym.Env] = {}
    curve: list[dict[str, float]] = []

    def start(job: Job) -> tuple[gym.Env, EpisodeContext]:
        slot = job.key.split("/", 1)[1]  # envs are reused across iterations, one per slot of the batch
        if slot not in pool:
            pool[slot] = make(env_id, reward=reward, view="vector", reward_kwargs=reward_kwargs, **(env_kwargs or {}))
        env = pool[slot]
        return env, EpisodeContext(key=job.key, env_id=env_id, seed=job.seed, repeat=job.repeat,
                                   card=getattr(env.unwrapped, "card", None), action_space=env.action_space,
                                   observation_space=env.observation_space, reward=reward, env=env)

    try:
        for iteration in range(iterations):
            starts = rng.choice(seeds, size=min(groups, len(seeds)), replace=False)
            jobs = [Job(f"{iteration}/{g}-{k}", int(s), k) for g, s in enumerate(starts) for k in range(group_size)]
            traces: dict[str, _Trace] = {job.key: _Trace() for job in jobs}
            finished: list[Episode] = []

            def decide(turns: Sequence[Turn], traces: dict[str, _Trace] = traces) -> list[int]:
                actions = []
                for turn in turns:
                    assert turn.episode.env is not None
                    mask = _mask(turn.episode.env, n_actions)
                    probabilities = policy.probabilities(turn.observation, mask)
                    action = int(rng.choice(n_actions, p=probabilities))
                    trace = traces[turn.episode.key]
                    trace.rows.append(policy.row(turn.observation))
                    trace.actions.append(action)
                    trace.masks.append(mask)
                    actions.append(action)
                return actions

            run_lockstep(jobs, FunctionAgent(decide_batch=decide), start, finished.append, batch_size=len(jobs),
                         max_steps=max_steps, close_envs=False)
            failed = [episode.error for episode in finished if episode.status != "ok"]
            if failed:
                raise AgentGymError(f"a rollout of {env_id} failed:\n{failed[0]}")
            finished.sort(key=lambda episode: jobs.index(episode.job))
            owners, rows, actions, masks = [], [], [], []
            for index, episode in enumerate(finished):
                trace = traces[episode.job.key]
                owners += [index] * len(trace.rows)
                rows += trace.rows
                actions += trace.actions
                masks += trace.masks
            step_logps = policy.log_probs(torch.tensor(rows), torch.as_tensor(np.array(masks)))
            step_logps = step_logps.gather(1, torch.tensor(actions)[:, None])[:, 0]
            episode_logps = torch.zeros(len(finished)).index_add(0, torch.tensor(owners), step_logps)
            returns = torch.tensor([episode.proxy_return for episode in finished])
            out = spec(logps=episode_logps, returns=returns, group_ids=[episode.job.seed for episode in finished],
                       **(loss_kwargs or {}))
            optimizer.zero_grad()
            out.loss.backward()
            optimizer.step()
            success = np.mean([bool(episode.info.get("success", False)) for episode in finished])
            curve.append({"iteration": iteration, "loss": float(out.loss.detach()), "return": float(returns.mean()),
                          "success_rate": float(success)})
    finally:
        for env in pool.values():
            env.close()
    return OnlineResult(policy, curve)


def evaluate_greedy(policy: TabularSoftmaxPolicy, env_id: str, seeds: Sequence[int], *, reward: str = "env",
                    reward_kwargs: dict[str, Any] | None = None, env_kwargs: dict[str, Any] | None = None
                    ) -> list[Episode]:
    """Play the policy's most likely admissible action on each seed; the finished episodes, in seed order."""
    finished: list[Episode] = []

    def start(job: Job) -> tuple[gym.Env, EpisodeContext]:
        env = make(env_id, reward=reward, view="vector", reward_kwargs=reward_kwargs, **(env_kwargs or {}))
        return env, EpisodeContext(key=job.key, env_id=env_id, seed=job.seed, repeat=0,
                                   card=getattr(env.unwrapped, "card", None), action_space=env.action_space,
                                   observation_space=env.observation_space, reward=reward, env=env)

    def decide(turn: Turn) -> int:
        assert turn.episode.env is not None
        return policy.greedy(turn.observation, _mask(turn.episode.env, policy.n_actions))

    jobs = [Job(f"greedy-{seed}", int(seed), 0) for seed in seeds]
    run_lockstep(jobs, FunctionAgent(decide), start, finished.append)
    return sorted(finished, key=lambda episode: jobs.index(episode.job))
