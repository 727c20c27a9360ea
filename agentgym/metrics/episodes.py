"""Metrics of a run, computed from its episode records, with bootstrap confidence intervals.

An episode record is one JSON line of ``episodes.jsonl``. The keys read here are ``cell``, ``env``,
``agent``, ``reward``, ``split``, ``seed``, ``repeat``, ``status``, ``success``, ``progress``,
``steps``, ``env_return``, ``proxy_return`` and ``invalid_actions``. Records whose ``status`` is
not ``"ok"`` are counted as failed and left out of every metric.

A metric is a function ``(ok_records_of_one_cell, references) -> per-unit values`` registered in
:data:`METRICS`; the metric is the mean of its values, and its CI a bootstrap over those units.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from agentgym.core.registry import Registry
from agentgym.core.types import Interval
from agentgym.metrics import stats

MetricFn = Callable[[Sequence[Mapping[str, Any]], "References"], np.ndarray]
METRICS: Registry[MetricFn] = Registry("metric")

REFERENCE_AGENTS = ("random", "oracle")
# A reference spread below this cannot normalize scores meaningfully.
MIN_REFERENCE_SPREAD = 1e-9

Task = tuple[str, str]  # (env, split)


def is_ok(record: Mapping[str, Any]) -> bool:
    return record.get("status") == "ok"


@dataclass(frozen=True)
class References:
    """Reference results per task, taken from the ``random`` and ``oracle`` agents on the ``env`` reward.

    Attributes:
        random_return: Mean env return of the random agent per (env, split).
        oracle_return: Mean env return of the oracle agent per (env, split).
        oracle_episodes: Oracle (steps, success) per (env, split, seed, repeat).
    """

    random_return: dict[Task, float] = field(default_factory=dict)
    oracle_return: dict[Task, float] = field(default_factory=dict)
    oracle_episodes: dict[tuple[str, str, int, int], tuple[int, bool]] = field(default_factory=dict)

    @classmethod
    def from_records(cls, records: Iterable[Mapping[str, Any]]) -> References:
        """Collect the references from all records of a run (failed ones are ignored)."""
        returns: dict[str, dict[Task, list[float]]] = {agent: defaultdict(list) for agent in REFERENCE_AGENTS}
        oracle_episodes: dict[tuple[str, str, int, int], tuple[int, bool]] = {}
        for rec in records:
            if not is_ok(rec) or rec.get("reward") != "env" or rec.get("agent") not in REFERENCE_AGENTS:
                continue
            task = (rec["env"], rec["split"])
            returns[rec["agent"]][task].append(float(rec["env_return"]))
            if rec["agent"] == "oracle":
                # First record wins should a run hold duplicates.
                oracle_episodes.setdefault(
                    (rec["env"], rec["split"], int(rec["seed"]), int(rec["repeat"])),
                    (int(rec["steps"]), bool(rec.get("success"))),
                )
        return cls(
            random_return={t: float(np.mean(v)) for t, v in returns["random"].items()},
            oracle_return={t: float(np.mean(v)) for t, v in returns["oracle"].items()},
            oracle_episodes=oracle_episodes,
        )

    def normalizer(self, env: str, split: str) -> tuple[float, float] | None:
        """(R_random, R_oracle - R_random) of a task, or None when it cannot normalize."""
        low, high = self.random_return.get((env, split)), self.oracle_return.get((env, split))
        if low is None or high is None or abs(high - low) < MIN_REFERENCE_SPREAD:
            return None
        return low, high - low


def _column(records: Sequence[Mapping[str, Any]], key: str) -> np.ndarray:
    """Float values of ``key``, skipping records where it is None (e.g. envs without a success notion)."""
    return np.asarray([float(r[key]) for r in records if r.get(key) is not None], dtype=float)


@METRICS.register("success_rate")
def success_rate(records: Sequence[Mapping[str, Any]], references: References) -> np.ndarray:
    """Success as 0/1 per episode (episodes with ``success`` None are left out)."""
    return _column(records, "success")


@METRICS.register("return")
def env_return(records: Sequence[Mapping[str, Any]], references: References) -> np.ndarray:
    """The env's own return per episode: the true objective, whatever reward the agent trained on."""
    return _column(records, "env_return")


@METRICS.register("proxy_return")
def proxy_return(records: Sequence[Mapping[str, Any]], references: References) -> np.ndarray:
    """The reward variant's return per episode."""
    return _column(records, "proxy_return")


@METRICS.register("progress")
def progress(records: Sequence[Mapping[str, Any]], references: References) -> np.ndarray:
    """Progress towards the goal per episode (episodes with ``progress`` None are left out)."""
    return _column(records, "progress")


@METRICS.register("steps")
def steps(records: Sequence[Mapping[str, Any]], references: References) -> np.ndarray:
    """Episode length."""
    return _column(records, "steps")


@METRICS.register("normalized_score")
def normalized_score(records: Sequence[Mapping[str, Any]], references: References) -> np.ndarray:
    """``(env_return - R_random) / (R_oracle - R_random)`` per episode: random scores 0, oracle 1.

    Empty for tasks missing a reference or whose references (nearly) coincide.
    """
    values = []
    for rec in records:
        norm = references.normalizer(rec["env"], rec["split"])
        if norm is not None:
            values.append((float(rec["env_return"]) - norm[0]) / norm[1])
    return np.asarray(values, dtype=float)


@METRICS.register("regret")
def regret(records: Sequence[Mapping[str, Any]], references: References) -> np.ndarray:
    """Extra steps over the oracle, ``steps - oracle_steps``, per episode.

    Only episodes that succeeded and whose oracle twin (same env, split, seed and repeat) also
    succeeded count. Negative values are possible: on stochastic envs the twin episode can unfold
    differently, and an oracle that is only approximately optimal can be beaten.
    """
    values = []
    for rec in records:
        if not rec.get("success"):
            continue
        twin = references.oracle_episodes.get((rec["env"], rec["split"], int(rec["seed"]), int(rec["repeat"])))
        if twin is not None and twin[1]:
            values.append(float(rec["steps"]) - twin[0])
    return np.asarray(values, dtype=float)


@METRICS.register("invalid_action_rate")
def invalid_action_rate(records: Sequence[Mapping[str, Any]], references: References) -> np.ndarray:
    """Share of an episode's steps whose action was invalid (0 for an episode of no steps)."""
    return np.asarray(
        [float(r["invalid_actions"]) / r["steps"] if r["steps"] else 0.0 for r in records], dtype=float
    )


TOKEN_KEYS = ("prompt_tokens", "completion_tokens")


def _token_totals(records: Sequence[Mapping[str, Any]]) -> np.ndarray | None:
    """Tokens an episode's agent read and wrote (LLM agents report them), or None if none reports any."""
    if not any(key in (r.get("agent_info") or {}) for r in records for key in TOKEN_KEYS):
        return None
    return np.asarray([sum(float((r.get("agent_info") or {}).get(key, 0.0)) for key in TOKEN_KEYS)
                       for r in records], dtype=float)


def usage_metrics(records: Sequence[Mapping[str, Any]], **ci: Any) -> dict[str, dict[str, float | None] | None]:
    """``tokens`` per episode (prompt + completion), ``tokens_per_success`` (all tokens over all
    successes, paired bootstrap) and, where an endpoint charged for them, ``cost_usd`` per episode;
    empty for agents that report no tokens."""
    tokens = _token_totals(records)
    if tokens is None:
        return {}
    wins = np.asarray([bool(r.get("success")) for r in records], dtype=float)
    out = {"tokens": _interval(tokens, **ci), "tokens_per_success": _clean(stats.ratio_ci(tokens, wins, **ci))}
    costs = np.asarray([float((r.get("agent_info") or {}).get("cost_usd", 0.0)) for r in records], dtype=float)
    if costs.any():
        out["cost_usd"] = _interval(costs, **ci)
    return out


def trials_by_seed(records: Sequence[Mapping[str, Any]]) -> list[list[bool]]:
    """Success flags grouped by seed, seeds in first-appearance order (``success`` None left out)."""
    groups: dict[int, list[bool]] = {}
    for rec in records:
        if rec.get("success") is not None:
            groups.setdefault(int(rec["seed"]), []).append(bool(rec["success"]))
    return list(groups.values())


def pass_hat_k_metrics(records: Sequence[Mapping[str, Any]]) -> dict[str, np.ndarray]:
    """Per-seed ``pass^k`` values for k = 1..(most repeats of a seed), when some seed has 2 or more.

    Seeds whose failed episodes leave them fewer than ``k`` trials are left out of ``pass^k``.
    """
    trials = trials_by_seed(records)
    most = max((len(t) for t in trials), default=0)
    if most < 2:
        return {}
    return {f"pass^{k}": stats.pass_hat_k_per_seed(trials, k) for k in range(1, most + 1)}


def _interval(values: np.ndarray, *, confidence: float, n_resamples: int, seed: int) -> dict[str, float | None] | None:
    if values.size == 0:
        return None
    return stats.bootstrap_ci(values, confidence=confidence, n_resamples=n_resamples, seed=seed).as_dict()


def _clean(interval: Interval) -> dict[str, float | None] | None:
    return None if math.isnan(interval.mean) else interval.as_dict()


def _task_label(task: Task) -> str:
    return f"{task[0]}|{task[1]}"


def summarize(
    records: list[dict], *, confidence: float = 0.95, n_resamples: int = 2000, seed: int = 0
) -> tuple[list[dict], dict]:
    """Per-cell metrics with CIs, and cross-env aggregates per (agent, reward).

    A task is an (env, split) pair, labelled ``"<env>|<split>"`` in the aggregates' ``envs`` lists.

    Args:
        records: All episode records of a run, failed ones included.
        confidence: Confidence level of every interval.
        n_resamples: Bootstrap resamples per interval.
        seed: Seed of every bootstrap; the output is deterministic given it.

    Returns:
        ``(cells, aggregates)``. ``cells`` lists, in first-appearance order of ``cell``,
        ``{"cell", "env", "agent", "reward", "split", "episodes", "failed", "metrics"}`` where
        ``metrics`` maps each metric name to ``{"mean", "ci_low", "ci_high"}`` or None (no units).
        ``aggregates`` holds ``by_agent`` (per ``"<agent>|<reward>"``: ``envs``,
        ``iqm_normalized_score``, ``mean_success_rate``) and ``probability_of_improvement`` (every
        ordered pair of entries sharing a task, on env return; the pair (y, x) mirrors (x, y) exactly).
        Values are JSON-clean (None, no NaN).
    """
    ci = {"confidence": confidence, "n_resamples": n_resamples, "seed": seed}
    references = References.from_records(records)
    by_cell: dict[str, list[dict]] = {}
    for rec in records:
        by_cell.setdefault(rec["cell"], []).append(rec)

    cells = []
    # Per (agent, reward) entry and task: the per-episode values the aggregates pool.
    scores: dict[str, dict[str, np.ndarray]] = defaultdict(dict)
    successes: dict[str, dict[str, np.ndarray]] = defaultdict(dict)
    returns: dict[str, dict[str, np.ndarray]] = defaultdict(dict)
    for cell, cell_records in by_cell.items():
        first = cell_records[0]
        ok = [r for r in cell_records if is_ok(r)]
        values = {name: METRICS.get(name)(ok, references) for name in METRICS.names()}
        values.update(pass_hat_k_metrics(ok))
        cells.append({
            "cell": cell,
            "env": first["env"],
            "agent": first["agent"],
            "reward": first["reward"],
            "split": first["split"],
            "episodes": len(ok),
            "failed": len(cell_records) - len(ok),
            "metrics": {**{name: _interval(v, **ci) for name, v in values.items()}, **usage_metrics(ok, **ci)},
        })
        entry, task = f"{first['agent']}|{first['reward']}", _task_label((first["env"], first["split"]))
        returns.setdefault(entry, {})  # an entry whose episodes all failed still gets a (null) row
        if ok:
            scores[entry][task] = values["normalized_score"]
            successes[entry][task] = values["success_rate"]
            returns[entry][task] = values["return"]

    by_agent = {}
    for entry, task_returns in returns.items():
        by_agent[entry] = {
            "envs": list(task_returns),
            "iqm_normalized_score": _clean(stats.iqm_ci({t: v for t, v in scores[entry].items() if v.size}, **ci)),
            "mean_success_rate": _clean(stats.mean_of_means_ci(successes[entry], **ci)),
        }

    improvements = []
    done: dict[tuple[str, str], Interval] = {}
    for x in returns:
        for y in returns:
            shared = [t for t in returns[x] if t in returns[y] and returns[x][t].size and returns[y][t].size]
            if x == y or not shared:
                continue
            if (y, x) in done:
                # P(Y > X) = 1 - P(X > Y) replicate by replicate, so the reverse pair needs no second bootstrap.
                interval = done[(y, x)]
                interval = Interval(1.0 - interval.mean, 1.0 - interval.high, 1.0 - interval.low)
            else:
                interval = stats.probability_of_improvement(
                    {t: returns[x][t] for t in shared}, {t: returns[y][t] for t in shared}, **ci
                )
                done[(x, y)] = interval
            improvements.append({"x": x, "y": y, "envs": shared, **interval.as_dict()})
    return cells, {"by_agent": by_agent, "probability_of_improvement": improvements}
