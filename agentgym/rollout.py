"""The one rollout loop: episodes stepped in lockstep, one ``act`` call per step for all live episodes.

Every place that plays episodes uses it: the benchmark runner (:mod:`agentgym.bench.loop`), SB3
learning curves (:mod:`agentgym.train.sb3`), reward-model data (:mod:`agentgym.rewards.learned`)
and the env conformance checks (:mod:`agentgym.testing.check_env`). Callers say how an episode
starts (``start``: an env and its :class:`~agentgym.agents.base.EpisodeContext`), what to do after
each step (``on_step``) and at the end (``on_done``); the loop keeps the tallies.

A failure is contained to its episode: an env that raises in ``reset`` or ``step`` ends that
episode with status ``"failed"`` (a harness/env failure), an agent that raises for one episode
ends it with status ``"agent_error"``; the others go on. When a batched ``act`` raises, each live
episode is retried alone so the culprit is found.

Example:
    >>> import gymnasium as gym
    >>> from agentgym.agents.base import EpisodeContext
    >>> def start(job):
    ...     env = gym.make("CartPole-v1")
    ...     return env, EpisodeContext(key=str(job.seed), env_id="CartPole-v1", seed=job.seed, repeat=0,
    ...                                card=None, action_space=env.action_space,
    ...                                observation_space=env.observation_space, env=env)
    >>> done = []
    >>> run_lockstep([Job("a", 0, 0)], FunctionAgent(lambda turn: 0), start, done.append)
    >>> done[0].status, done[0].steps > 0
    ('ok', True)
"""

from __future__ import annotations

import hashlib
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import gymnasium as gym
import numpy as np

from agentgym.agents.base import Agent, Decision, EpisodeContext, Turn

NUMERIC_AGENT_INFO = (int, float)


class Job(NamedTuple):
    """One episode to play: its key, env seed and repeat index."""

    key: str
    seed: int
    repeat: int


@dataclass
class Episode:
    """A live or finished episode with its running tallies.

    ``status`` is ``"running"`` until the end, then ``"ok"``, ``"agent_error"`` (the agent raised)
    or ``"failed"`` (the env or the harness raised); ``error`` holds the traceback of a failure.
    """

    job: Job
    context: EpisodeContext | None = None
    env: gym.Env | None = None
    observation: Any = None
    info: dict[str, Any] = field(default_factory=dict)
    started: float = 0.0
    steps: int = 0
    env_return: float = 0.0
    proxy_return: float = 0.0
    invalid_actions: int = 0
    reward_vector: dict[str, float] = field(default_factory=dict)
    agent_info: dict[str, float] = field(default_factory=dict)
    terminated: bool = False
    truncated: bool = False
    cut: bool = False
    """Ended by the loop's ``max_steps``, not by the env (``terminated``/``truncated`` are the env's)."""
    status: str = "running"
    error: str | None = None
    extras: dict[str, Any] = field(default_factory=dict)
    """What ``on_start`` or ``on_step`` hooks store about the episode."""
    trace: Any = field(default_factory=lambda: hashlib.sha256(), repr=False)
    """SHA-256 over the episode's observations and actions: equal traces, equal hashes (``trace_hash``)."""

    @property
    def trace_hash(self) -> str:
        return self.trace.hexdigest()[:16]

    @property
    def wall_seconds(self) -> float:
        return time.perf_counter() - self.started


class StepEvent(NamedTuple):
    """What ``on_step`` receives after each env step."""

    episode: Episode
    decision: Decision
    observation: Any
    reward: float
    info: dict[str, Any]


class FunctionAgent(Agent):
    """An agent from a per-turn function ``decide(turn) -> action`` (or a batched ``decide_batch``).

    For loops that drive a policy that is not an agent (an SB3 model, a seeded random policy).
    """

    name = "function"

    def __init__(self, decide: Callable[[Turn], Any] | None = None, *, view: str = "vector",
                 decide_batch: Callable[[Sequence[Turn]], Sequence[Any]] | None = None) -> None:
        if (decide is None) == (decide_batch is None):
            raise TypeError("give exactly one of decide or decide_batch")
        self.view = view
        self._decide, self._decide_batch = decide, decide_batch

    def act(self, turns: Sequence[Turn]) -> list[Decision]:
        if self._decide_batch is not None:
            return [Decision(action) for action in self._decide_batch(turns)]
        assert self._decide is not None
        return [Decision(self._decide(turn)) for turn in turns]


class _Failure(Exception):
    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


def _act_isolated(agent: Agent, turns: list[Turn]) -> list[Decision | _Failure]:
    """Decisions for all turns; on a batch failure, retry one by one to find who failed."""
    try:
        decisions = agent.act(turns)
        if len(decisions) != len(turns):
            raise RuntimeError(f"agent returned {len(decisions)} decisions for {len(turns)} turns")
        return list(decisions)
    except Exception:
        if len(turns) == 1:
            return [_Failure(traceback.format_exc())]
    results: list[Decision | _Failure] = []
    for turn in turns:
        try:
            results.append(agent.act([turn])[0])
        except Exception:
            results.append(_Failure(traceback.format_exc()))
    return results


def _start(job: Job, agent: Agent, start: Callable[[Job], tuple[gym.Env, EpisodeContext]],
           on_start: Callable[[Episode], None] | None) -> Episode:
    env, context = start(job)
    try:
        episode = Episode(job, context, env, started=time.perf_counter())
        episode.observation, episode.info = env.reset(seed=job.seed)
        _hash_into(episode.trace, episode.observation)
        if on_start is not None:
            on_start(episode)
        agent.reset(context)
    except BaseException:
        env.close()
        raise
    return episode


def _hash_into(digest: Any, value: Any) -> None:
    """Feed ``value`` (an observation or action: text, numbers, arrays, dicts, lists) into ``digest``."""
    if isinstance(value, np.ndarray):
        digest.update(f"a{value.dtype.str}{value.shape}".encode())
        digest.update(np.ascontiguousarray(value).tobytes())
    elif isinstance(value, dict):
        digest.update(b"{")
        for key in sorted(value, key=str):
            digest.update(str(key).encode("utf-8", "surrogatepass") + b":")
            _hash_into(digest, value[key])
        digest.update(b"}")
    elif isinstance(value, (list, tuple)):
        digest.update(b"[")
        for item in value:
            _hash_into(digest, item)
        digest.update(b"]")
    else:
        digest.update(f"{type(value).__name__}:{value!r};".encode("utf-8", "surrogatepass"))


def _tally(episode: Episode, decision: Decision, reward: float, info: dict[str, Any]) -> None:
    _hash_into(episode.trace, decision.action)
    episode.steps += 1
    episode.proxy_return += float(reward)
    episode.env_return += float(info.get("env_reward", reward))
    episode.invalid_actions += bool(info.get("invalid_action", False))
    for name, value in info.get("reward_vector", {}).items():
        episode.reward_vector[name] = episode.reward_vector.get(name, 0.0) + float(value)
    for name, value in decision.info.items():
        if isinstance(value, NUMERIC_AGENT_INFO) and not isinstance(value, bool):
            episode.agent_info[name] = episode.agent_info.get(name, 0.0) + value


def run_lockstep(jobs: Sequence[Job], agent: Agent, start: Callable[[Job], tuple[gym.Env, EpisodeContext]],
                 on_done: Callable[[Episode], None], *, on_step: Callable[[StepEvent], None] | None = None,
                 on_start: Callable[[Episode], None] | None = None, batch_size: int = 32,
                 max_steps: int | None = None, close_envs: bool = True) -> None:
    """Play ``jobs`` with ``agent`` in lockstep batches of ``batch_size``; ``on_done`` once per job.

    Args:
        jobs: the episodes to play.
        agent: answers all live episodes of a batch in one ``act`` call.
        start: builds the env and context of a job (the loop resets the env with the job's seed).
        on_done: called with each finished :class:`Episode` (any status), in finishing order.
        on_step: called after each successful env step (before ``on_done`` of a finishing episode).
        on_start: called after each reset, before the agent's ``reset``.
        batch_size: episodes per lockstep batch (1 plays them one after another).
        max_steps: end an episode after this many steps (``cut``), beyond any env limit.
        close_envs: close each env when its episode ends.
    """
    for first in range(0, len(jobs), batch_size):
        _run_batch(jobs[first:first + batch_size], agent, start, on_done, on_step, on_start, max_steps, close_envs)


def _finish(episode: Episode, on_done: Callable[[Episode], None], close_envs: bool, status: str,
            error: str | None = None) -> None:
    episode.status, episode.error = status, error
    if close_envs and episode.env is not None:
        episode.env.close()
    on_done(episode)


def _run_batch(batch: Sequence[Job], agent: Agent, start: Callable[[Job], tuple[gym.Env, EpisodeContext]],
               on_done: Callable[[Episode], None], on_step: Callable[[StepEvent], None] | None,
               on_start: Callable[[Episode], None] | None, max_steps: int | None, close_envs: bool) -> None:
    live: list[Episode] = []
    for job in batch:
        try:
            live.append(_start(job, agent, start, on_start))
        except Exception:
            on_done(Episode(job, status="failed", error=traceback.format_exc()))
    while live:
        turns = [Turn(episode.context, episode.observation, episode.info) for episode in live]  # type: ignore[arg-type]
        decisions = _act_isolated(agent, turns)
        still_live = []
        for episode, decision in zip(live, decisions):
            if isinstance(decision, _Failure):
                _finish(episode, on_done, close_envs, "agent_error", "agent failed:\n" + decision.text)
                continue
            try:
                assert episode.env is not None
                observation, reward, terminated, truncated, info = episode.env.step(decision.action)
            except Exception:
                _finish(episode, on_done, close_envs, "failed", "env failed:\n" + traceback.format_exc())
                continue
            _tally(episode, decision, float(reward), info)
            episode.cut = max_steps is not None and episode.steps >= max_steps and not (terminated or truncated)
            episode.observation, episode.info = observation, info
            _hash_into(episode.trace, observation)
            episode.terminated, episode.truncated = bool(terminated), bool(truncated)
            if on_step is not None:
                on_step(StepEvent(episode, decision, observation, float(reward), info))
            if terminated or truncated or episode.cut:
                _finish(episode, on_done, close_envs, "ok")
            else:
                still_live.append(episode)
        live = still_live
