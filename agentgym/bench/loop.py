"""Running the episodes of one cell in lockstep: one ``act`` call per step for all live episodes.

A failure is contained to the episode it belongs to: an env that raises in ``reset`` or
``step``, or an agent that raises for one episode, marks that episode failed with its
traceback, and the others go on. When a batched ``act`` raises, each live episode is retried
alone so the culprit is found and the rest continue.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym

from agentgym.agents.base import Agent, Decision, EpisodeContext, Turn
from agentgym.bench.suite import Cell
from agentgym.envs.registration import make
from agentgym.rewards import DIAGNOSTIC_KEYS

NUMERIC_AGENT_INFO = (int, float)


@dataclass
class _Live:
    context: EpisodeContext
    env: gym.Env
    observation: Any
    info: dict[str, Any]
    started: float
    steps: int = 0
    env_return: float = 0.0
    proxy_return: float = 0.0
    invalid_actions: int = 0
    reward_vector: dict[str, float] = field(default_factory=dict)
    agent_info: dict[str, float] = field(default_factory=dict)
    reward_diagnostics: dict[str, Any] = field(default_factory=dict)


def _base_record(cell: Cell, key: str, seed: int, repeat: int) -> dict[str, Any]:
    record = {"key": key, "cell": cell.id, "env": cell.env, "agent": cell.agent.name, "reward": cell.reward,
              "split": cell.split, "seed": seed, "repeat": repeat, "reference": cell.reference}
    if cell.recipe is not None:
        record.update(recipe=cell.recipe, train_seed=cell.train_seed)
    return record


def failed_record(cell: Cell, key: str, seed: int, repeat: int, error: str, steps: int = 0) -> dict[str, Any]:
    return {**_base_record(cell, key, seed, repeat), "status": "failed", "error": error, "success": None,
            "progress": None, "steps": steps, "env_return": None, "proxy_return": None, "reward_vector": {},
            "invalid_actions": 0, "terminated": False, "truncated": False, "agent_info": {}, "wall_seconds": 0.0}


def _finished_record(cell: Cell, live: _Live, terminated: bool, truncated: bool) -> dict[str, Any]:
    context = live.context
    success = live.info.get("success")
    progress = live.info.get("progress")
    return {
        **_base_record(cell, context.key, context.seed, context.repeat),
        "status": "ok", "error": None,
        "success": bool(success) if success is not None else None,
        "progress": float(progress) if progress is not None else None,
        "steps": live.steps, "env_return": live.env_return, "proxy_return": live.proxy_return,
        "reward_vector": live.reward_vector, "invalid_actions": live.invalid_actions,
        "terminated": bool(terminated), "truncated": bool(truncated),
        "agent_info": live.agent_info, "wall_seconds": round(time.perf_counter() - live.started, 6),
        **({"reward_diagnostics": live.reward_diagnostics} if live.reward_diagnostics else {}),
    }


def _act_isolated(agent: Agent, turns: list[Turn]) -> list[Decision | BaseException]:
    """Decisions for all turns; on a batch failure, retry one by one to find who failed."""
    try:
        decisions = agent.act(turns)
        if len(decisions) != len(turns):
            raise RuntimeError(f"agent returned {len(decisions)} decisions for {len(turns)} turns")
        return decisions
    except Exception:
        if len(turns) == 1:
            return [_exception_with_traceback()]
    results: list[Decision | BaseException] = []
    for turn in turns:
        try:
            results.append(agent.act([turn])[0])
        except Exception:
            results.append(_exception_with_traceback())
    return results


class _Failure(Exception):
    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


def _exception_with_traceback() -> _Failure:
    return _Failure(traceback.format_exc())


def run_cell(cell: Cell, pending: Sequence[tuple[str, int, int]], agent: Agent | None,
             emit: Callable[[dict[str, Any]], None], *, batch_size: int = 32,
             agent_error: str | None = None) -> None:
    """Run the ``pending`` episodes (key, seed, repeat) of ``cell``, calling ``emit`` once per episode."""
    if agent is None:  # the agent could not be built: every episode fails with that reason
        for key, seed, repeat in pending:
            emit(failed_record(cell, key, seed, repeat, agent_error or "agent could not be built"))
        return
    for start in range(0, len(pending), batch_size):
        _run_batch(cell, pending[start : start + batch_size], agent, emit)


def _start(cell: Cell, agent: Agent, key: str, seed: int, repeat: int) -> _Live:
    env = make(cell.env, reward=cell.reward, view=agent.view, reward_kwargs=cell.reward_kwargs, **cell.env_kwargs)
    try:
        context = EpisodeContext(key=key, env_id=cell.env, seed=seed, repeat=repeat, card=env.unwrapped.card,
                                 action_space=env.action_space, observation_space=env.observation_space,
                                 reward=cell.reward, env=env)
        started = time.perf_counter()
        observation, info = env.reset(seed=seed)
        agent.reset(context)
    except BaseException:
        env.close()
        raise
    return _Live(context, env, observation, info, started)


def _run_batch(cell: Cell, batch: Sequence[tuple[str, int, int]], agent: Agent,
               emit: Callable[[dict[str, Any]], None]) -> None:
    live: list[_Live] = []
    for key, seed, repeat in batch:
        try:
            live.append(_start(cell, agent, key, seed, repeat))
        except Exception:
            emit(failed_record(cell, key, seed, repeat, traceback.format_exc()))
    while live:
        turns = [Turn(episode.context, episode.observation, episode.info) for episode in live]
        decisions = _act_isolated(agent, turns)
        still_live = []
        for episode, decision in zip(live, decisions):
            context = episode.context
            if isinstance(decision, _Failure):
                emit(failed_record(cell, context.key, context.seed, context.repeat,
                                   "agent failed:\n" + decision.text, episode.steps))
                episode.env.close()
                continue
            try:
                observation, reward, terminated, truncated, info = episode.env.step(decision.action)
            except Exception:
                emit(failed_record(cell, context.key, context.seed, context.repeat,
                                   "env failed:\n" + traceback.format_exc(), episode.steps))
                episode.env.close()
                continue
            episode.steps += 1
            episode.proxy_return += float(reward)
            episode.env_return += float(info.get("env_reward", reward))
            episode.invalid_actions += bool(info.get("invalid_action", False))
            for name, value in info.get("reward_vector", {}).items():
                episode.reward_vector[name] = episode.reward_vector.get(name, 0.0) + float(value)
            episode.reward_diagnostics.update((k, info[k]) for k in DIAGNOSTIC_KEYS if info.get(k) is not None)
            for name, value in decision.info.items():
                if isinstance(value, NUMERIC_AGENT_INFO) and not isinstance(value, bool):
                    episode.agent_info[name] = episode.agent_info.get(name, 0.0) + value
            episode.observation, episode.info = observation, info
            if terminated or truncated:
                emit(_finished_record(cell, episode, terminated, truncated))
                episode.env.close()
            else:
                still_live.append(episode)
        live = still_live
