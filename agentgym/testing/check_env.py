"""Conformance checks of the env contract, run by ``agentgym check-env`` and the test suite.

Each check returns a :class:`CheckResult`; :func:`check_env_contract` runs them all and never
raises for a failing env: the report says what broke.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.utils.env_checker import check_env as gymnasium_check_env

from agentgym.agents.base import EpisodeContext, Turn
from agentgym.envs.registration import EnvSpec, env_spec
from agentgym.make import make
from agentgym.rollout import Episode, FunctionAgent, Job, StepEvent, run_lockstep


@dataclass
class CheckResult:
    name: str
    passed: bool
    detail: str = ""


def _first_test_seeds(spec: EnvSpec, count: int) -> list[int]:
    return spec.card.splits["test"].seeds()[:count]


def _rollout(env: gym.Env, seed: int, policy: Callable[[gym.Env, Any, dict], Any], max_steps: int) -> dict[str, Any]:
    """One episode through the one rollout loop; observations, rewards, infos and the end state for comparisons.

    Env errors propagate (the check reports them).
    """
    run: dict[str, Any] = {"observations": [], "rewards": [], "infos": [], "done": False}

    def start(job: Job) -> tuple[gym.Env, EpisodeContext]:
        return env, EpisodeContext(key=job.key, env_id=str(env.spec.id if env.spec else ""), seed=job.seed, repeat=0,
                                   card=None, action_space=env.action_space,
                                   observation_space=env.observation_space, env=env)

    def decide(turn: Turn) -> Any:
        if not run["observations"]:  # the reset's observation and info
            run["observations"].append(turn.observation)
            run["infos"].append(turn.info)
        return policy(env, turn.observation, turn.info)

    def on_step(event: StepEvent) -> None:
        run["observations"].append(event.observation)
        run["rewards"].append(event.reward)
        run["infos"].append(event.info)

    def on_done(episode: Episode) -> None:
        if episode.status != "ok":
            raise RuntimeError(episode.error)
        run["done"] = episode.terminated or episode.truncated

    run_lockstep([Job(str(seed), seed, 0)], FunctionAgent(decide), start, on_done, on_step=on_step,
                 batch_size=1, max_steps=max_steps, close_envs=False)
    return run


def _seeded_random_policy(seed: int) -> Callable[[gym.Env, Any, dict], Any]:
    rng = np.random.default_rng(seed)

    def policy(env: gym.Env, observation: Any, info: dict) -> Any:
        admissible = info.get("admissible_actions")
        if admissible:
            return admissible[int(rng.integers(len(admissible)))]
        try:
            mask = env.get_wrapper_attr("action_masks")()
            return int(rng.choice(np.flatnonzero(mask)))
        except AttributeError:
            env.action_space.seed(int(rng.integers(2**31)))
            return env.action_space.sample()

    return policy


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return np.array_equal(np.asarray(a), np.asarray(b))
    return a == b


def check_gymnasium(spec: EnvSpec) -> CheckResult:
    problems = []
    for view in spec.card.views:
        env = make(spec.id, view=view)
        try:
            gymnasium_check_env(env.unwrapped, skip_render_check=True)
        except Exception as exc:  # report, don't raise: the CLI prints every failure
            problems.append(f"{view} view: {type(exc).__name__}: {exc}")
        finally:
            env.close()
    return CheckResult("gymnasium check_env", not problems, "; ".join(problems))


def check_determinism(spec: EnvSpec, max_steps: int = 200) -> CheckResult:
    problems = []
    seed = _first_test_seeds(spec, 1)[0]
    for view in spec.card.views:
        runs = []
        for _ in range(2):
            env = make(spec.id, view=view)
            runs.append(_rollout(env, seed, _seeded_random_policy(seed), max_steps))
            env.close()
        if not _same(runs[0], runs[1]):
            problems.append(f"{view} view: seed {seed} with the same actions gave two different episodes")
    return CheckResult("same seed, same episode", not problems, "; ".join(problems))


def check_views_and_vector(spec: EnvSpec, episodes: int = 2, max_steps: int = 200) -> CheckResult:
    """Both views step; every info has the card's reward-vector keys within range; outcome at the end."""
    problems: list[str] = []
    aspects = spec.card.aspects
    for view in spec.card.views:
        env = make(spec.id, view=view)
        for seed in _first_test_seeds(spec, episodes):
            run = _rollout(env, seed, _seeded_random_policy(seed), max_steps)
            for step, info in enumerate(run["infos"][1:], start=1):  # ranges bound steps, not the reset
                vector = info.get("reward_vector")
                if not isinstance(vector, dict) or set(vector) != set(aspects):
                    keys = sorted(vector) if isinstance(vector, dict) else vector
                    problems.append(f"{view} view, step {step}: reward_vector keys {keys} != card {sorted(aspects)}")
                    break
                for name, value in vector.items():
                    aspect = aspects[name]
                    if not np.isfinite(value) or not aspect.low - 1e-6 <= value <= aspect.high + 1e-6:
                        bounds = f"[{aspect.low}, {aspect.high}]"
                        problems.append(f"{view} view, step {step}: {name}={value} outside {bounds}")
            if view == "text":
                if not all(isinstance(o, str) for o in run["observations"]):
                    problems.append("text view: an observation is not a str")
            if run["done"]:
                last = run["infos"][-1]
                if not isinstance(last.get("success"), bool):
                    problems.append(f"{view} view: info['success'] missing or not a bool at episode end")
                progress = last.get("progress")
                if not isinstance(progress, float) or not 0.0 <= progress <= 1.0:
                    problems.append(f"{view} view: info['progress']={progress!r} not a float in [0, 1] at episode end")
        env.close()
    return CheckResult("views and reward vector", not problems, "; ".join(dict.fromkeys(problems[:5])))


def check_oracle(spec: EnvSpec, episodes: int = 3) -> CheckResult:
    card = spec.card
    if card.oracle == "none":
        return CheckResult("oracle", True, "card declares no oracle")
    if not card.oracle_always_succeeds:
        return CheckResult("oracle", True, "card does not claim the oracle always succeeds; not checked")
    problems = []
    limit = spec.max_episode_steps or 10_000
    for view in card.views:
        env = make(spec.id, view=view)
        for seed in _first_test_seeds(spec, episodes):
            run = _rollout(env, seed, lambda e, o, i: e.get_wrapper_attr("oracle")(), limit)
            if not (run["done"] and run["infos"][-1].get("success")):
                problems.append(f"{view} view, seed {seed}: the oracle did not succeed")
        env.close()
    return CheckResult("oracle reaches success", not problems, "; ".join(problems))


CHECKS = (check_gymnasium, check_determinism, check_views_and_vector, check_oracle)


def check_env_contract(env_id: str) -> list[CheckResult]:
    """Run every conformance check on ``env_id``; a crashing check is a failed check."""
    spec = env_spec(env_id)
    results = []
    for check in CHECKS:
        try:
            results.append(check(spec))
        except Exception:
            results.append(CheckResult(check.__name__, False, traceback.format_exc(limit=4)))
    return results


def format_report(env_id: str, results: list[CheckResult]) -> str:
    lines = [f"check-env {env_id}"]
    for result in results:
        mark = "PASS" if result.passed else "FAIL"
        lines.append(f"  [{mark}] {result.name}" + (f": {result.detail}" if result.detail else ""))
    failed = sum(not r.passed for r in results)
    lines.append(f"  {len(results) - failed} passed, {failed} failed")
    return "\n".join(lines)
