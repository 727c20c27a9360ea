"""A cell's episodes as records: the one rollout loop (:mod:`agentgym.rollout`) applied to a cell.

Each finished episode becomes one record of ``episodes.jsonl``; an episode failed by the env or the
harness gets status ``"failed"``, one failed by its agent status ``"agent_error"``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import gymnasium as gym

from agentgym.agents.base import Agent, EpisodeContext
from agentgym.bench.suite import Cell
from agentgym.envs.base import env_card
from agentgym.make import make
from agentgym.rewards import DIAGNOSTIC_KEYS
from agentgym.rollout import Episode, Job, StepEvent, run_lockstep


def _base_record(cell: Cell, key: str, seed: int, repeat: int) -> dict[str, Any]:
    record = {"key": key, "cell": cell.id, "env": cell.env, "agent": cell.agent.name, "reward": cell.reward,
              "split": cell.split, "seed": seed, "repeat": repeat, "reference": cell.reference}
    if cell.recipe is not None:
        record.update(recipe=cell.recipe, train_seed=cell.train_seed)
    return record


def failed_record(cell: Cell, key: str, seed: int, repeat: int, error: str, steps: int = 0,
                  status: str = "failed") -> dict[str, Any]:
    return {**_base_record(cell, key, seed, repeat), "status": status, "error": error, "success": None,
            "progress": None, "steps": steps, "env_return": None, "proxy_return": None, "reward_vector": {},
            "invalid_actions": 0, "terminated": False, "truncated": False, "agent_info": {}, "wall_seconds": 0.0}


def _finished_record(cell: Cell, episode: Episode, diagnostics: dict[str, Any]) -> dict[str, Any]:
    """The record of an episode that ran to its end (``ok``) or that its agent broke (``agent_error``:
    scored as a failure of the agent, with what it had gathered until then)."""
    ok = episode.status == "ok"
    success = episode.info.get("success") if ok else False
    progress = episode.info.get("progress") if ok else 0.0
    optimal = episode.extras.get("optimal_value")
    return {
        **_base_record(cell, episode.job.key, episode.job.seed, episode.job.repeat),
        "status": episode.status, "error": episode.error,
        "success": bool(success) if success is not None else None,
        "progress": float(progress) if progress is not None else None,
        "steps": episode.steps, "env_return": episode.env_return, "proxy_return": episode.proxy_return,
        "reward_vector": episode.reward_vector, "invalid_actions": episode.invalid_actions,
        "terminated": episode.terminated, "truncated": episode.truncated,
        "agent_info": episode.agent_info, "wall_seconds": round(episode.wall_seconds, 6),
        "trace_hash": episode.trace_hash,
        **({"optimal_value": optimal} if optimal is not None else {}),
        **({"reward_diagnostics": diagnostics} if diagnostics else {}),
    }


def run_cell(cell: Cell, pending: Sequence[tuple[str, int, int]], agent: Agent | None,
             emit: Callable[[dict[str, Any]], None], *, batch_size: int = 32,
             agent_error: str | None = None) -> None:
    """Run the ``pending`` episodes (key, seed, repeat) of ``cell``, calling ``emit`` once per episode."""
    if agent is None:  # the agent could not be built: every episode fails with that reason
        for key, seed, repeat in pending:
            emit(failed_record(cell, key, seed, repeat, agent_error or "agent could not be built"))
        return
    diagnostics: dict[str, dict[str, Any]] = {}

    def start(job: Job) -> tuple[gym.Env, EpisodeContext]:
        env = make(cell.env, reward=cell.reward, view=agent.view, reward_kwargs=cell.reward_kwargs, **cell.env_kwargs)
        try:
            context = EpisodeContext(key=job.key, env_id=cell.env, seed=job.seed, repeat=job.repeat,
                                     card=env_card(env), action_space=env.action_space,
                                     observation_space=env.observation_space, reward=cell.reward, env=env)
        except BaseException:
            env.close()
            raise
        return env, context

    def on_start(episode: Episode) -> None:
        # the exact optimal value of the reset state, where the env has one (tabular DP): value regret
        optimal_value = getattr(episode.env.unwrapped, "optimal_value", None) if episode.env is not None else None
        if callable(optimal_value):
            episode.extras["optimal_value"] = float(optimal_value())

    def on_step(event: StepEvent) -> None:
        found = {k: event.info[k] for k in DIAGNOSTIC_KEYS if event.info.get(k) is not None}
        if found:
            diagnostics.setdefault(event.episode.job.key, {}).update(found)

    def on_done(episode: Episode) -> None:
        job = episode.job
        if episode.status in ("ok", "agent_error"):
            emit(_finished_record(cell, episode, diagnostics.pop(job.key, {})))
        else:
            diagnostics.pop(job.key, None)
            emit(failed_record(cell, job.key, job.seed, job.repeat, episode.error or "", episode.steps,
                               status="failed"))

    jobs = [Job(key, seed, repeat) for key, seed, repeat in pending]
    run_lockstep(jobs, agent, start, on_done, on_step=on_step, on_start=on_start, batch_size=batch_size)
