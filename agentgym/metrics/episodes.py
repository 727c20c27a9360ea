"""Metrics of a run, computed from its episode records, with confidence intervals.

An episode record is one JSON line of ``episodes.jsonl``. The keys read here are ``key``, ``cell``,
``env``, ``agent``, ``reward``, ``split``, ``seed``, ``repeat``, ``train_seed``, ``recipe``,
``status``, ``success``, ``progress``, ``steps``, ``env_return``, ``proxy_return``,
``invalid_actions``, ``trace_hash``, ``optimal_value`` and ``agent_info``.

Status (:mod:`agentgym.metrics.status`): ``ok`` and ``agent_error`` episodes are scored (an agent
error as a failure: success 0, progress 0, the return up to the failure); ``failed`` ones (harness
or env) are left out and make the cell incomplete.

A metric is a function ``(scored_records_of_one_cell, references) -> values`` registered in
:data:`METRICS`, one value per record (NaN where the metric is undefined for that episode). The
metric is the mean of its defined values over all scored episodes; its interval is computed on the
cell's distinct episodes (:mod:`agentgym.metrics.distinct`): continuity-corrected Wilson for
``success_rate`` (and the normalised score of a success-scored env, mapped through the same affine
map), BCa bootstrap otherwise (:mod:`agentgym.metrics.intervals`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from agentgym.core.registry import Registry
from agentgym.core.types import Interval
from agentgym.metrics import stats
from agentgym.metrics.aggregate import TaskRuns, collect, improvements, iqm_of_runs
from agentgym.metrics.distinct import distinct_index, distinct_summary
from agentgym.metrics.intervals import distinct_interval, rate_interval
from agentgym.metrics.normalize import References, episode_score
from agentgym.metrics.status import cell_completeness, count_statuses, scored_records

MetricFn = Callable[[Sequence[Mapping[str, Any]], References], np.ndarray]
METRICS: Registry[MetricFn] = Registry("metric", entry_point_group="agentgym.metrics")
RATE_METRICS = ("success_rate",)

__all__ = ["METRICS", "RATE_METRICS", "References", "cell_metrics", "pass_hat_k_metrics", "summarize",
           "trials_by_seed"]


def _column(records: Sequence[Mapping[str, Any]], key: str) -> np.ndarray:
    """Float values of ``key``, NaN where it is None (e.g. envs without a success notion)."""
    return np.asarray([math.nan if r.get(key) is None else float(r[key]) for r in records], dtype=float)


@METRICS.register("success_rate")
def success_rate(records: Sequence[Mapping[str, Any]], references: References) -> np.ndarray:
    """Success as 0/1 per episode (NaN where ``success`` is None)."""
    return _column(records, "success")


@METRICS.register("return")
def env_return(records: Sequence[Mapping[str, Any]], references: References) -> np.ndarray:
    """The env's own return per episode (raw, not normalised): the true objective, whatever the training reward."""
    return _column(records, "env_return")


@METRICS.register("proxy_return")
def proxy_return(records: Sequence[Mapping[str, Any]], references: References) -> np.ndarray:
    """The reward variant's return per episode."""
    return _column(records, "proxy_return")


@METRICS.register("progress")
def progress(records: Sequence[Mapping[str, Any]], references: References) -> np.ndarray:
    """Progress towards the goal per episode."""
    return _column(records, "progress")


@METRICS.register("steps")
def steps(records: Sequence[Mapping[str, Any]], references: References) -> np.ndarray:
    """Episode length."""
    return _column(records, "steps")


@METRICS.register("normalized_score")
def normalized_score(records: Sequence[Mapping[str, Any]], references: References) -> np.ndarray:
    """``(s - S_random) / (S_oracle - S_random)`` on the card's score ``s`` (:mod:`agentgym.metrics.normalize`);
    NaN on tasks whose normalisation is undefined."""
    out = np.full(len(records), math.nan)
    for i, rec in enumerate(records):
        norm = references.normalizer(rec["env"], rec["split"])
        if norm.defined:
            out[i] = norm(episode_score(rec, norm.score))
    return out


@METRICS.register("score_gap")
def score_gap(records: Sequence[Mapping[str, Any]], references: References) -> np.ndarray:
    """``s_oracle - s`` on the card's score, paired with the oracle's episode on the same seed (same
    repeat where it has one): defined on every episode whose seed the oracle played."""
    out = np.full(len(records), math.nan)
    for i, rec in enumerate(records):
        twin = references.oracle_twin(rec)
        if twin is not None:
            kind = references.score_kind(rec["env"])
            out[i] = episode_score(twin, kind) - episode_score(rec, kind)
    return out


@METRICS.register("excess_steps")
def excess_steps(records: Sequence[Mapping[str, Any]], references: References) -> np.ndarray:
    """``steps - oracle steps`` on jointly successful pairs only (see ``n_excess_steps_pairs``); may be
    negative on stochastic envs or against a near-optimal oracle."""
    out = np.full(len(records), math.nan)
    for i, rec in enumerate(records):
        twin = references.oracle_twin(rec) if rec.get("success") else None
        if twin is not None and twin.get("success"):
            out[i] = float(rec["steps"]) - float(twin["steps"])
    return out


@METRICS.register("value_regret")
def value_regret(records: Sequence[Mapping[str, Any]], references: References) -> np.ndarray:
    """``V*(s0) - env_return``, where the record carries the exact optimal value ``optimal_value`` of its
    start state (tabular DP envs); NaN elsewhere."""
    return np.asarray([math.nan if r.get("optimal_value") is None or r.get("env_return") is None
                       else float(r["optimal_value"]) - float(r["env_return"]) for r in records], dtype=float)


@METRICS.register("invalid_action_rate")
def invalid_action_rate(records: Sequence[Mapping[str, Any]], references: References) -> np.ndarray:
    """Share of an episode's steps whose action was invalid (0 for an episode of no steps)."""
    return np.asarray([float(r["invalid_actions"]) / r["steps"] if r["steps"] else 0.0 for r in records], dtype=float)


TOKEN_KEYS = ("prompt_tokens", "completion_tokens")


def _token_totals(records: Sequence[Mapping[str, Any]]) -> np.ndarray | None:
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
    out = {"tokens": _clean(stats.bootstrap_ci(tokens, **ci)),
           "tokens_per_success": _clean(stats.ratio_ci(tokens, wins, **ci))}
    costs = np.asarray([float((r.get("agent_info") or {}).get("cost_usd", 0.0)) for r in records], dtype=float)
    if costs.any():
        out["cost_usd"] = _clean(stats.bootstrap_ci(costs, **ci))
    return out


def trials_by_seed(records: Sequence[Mapping[str, Any]]) -> list[list[bool]]:
    """Success flags grouped by seed, seeds in first-appearance order (``success`` None left out)."""
    groups: dict[int, list[bool]] = {}
    for rec in records:
        if rec.get("success") is not None:
            groups.setdefault(int(rec["seed"]), []).append(bool(rec["success"]))
    return list(groups.values())


def pass_hat_k_metrics(records: Sequence[Mapping[str, Any]]) -> dict[str, np.ndarray]:
    """Per-seed ``pass^k`` over every seed, k = 1..(most repeats of a seed), when some seed has 2 or more.

    ``records`` are scored records, so an agent error is a failed trial.
    """
    trials = trials_by_seed(records)
    most = max((len(t) for t in trials), default=0)
    if most < 2:
        return {}
    return {f"pass^{k}": stats.pass_hat_k_per_seed(trials, k) for k in range(1, most + 1)}


def _clean(interval: Interval) -> dict[str, float | None] | None:
    return None if math.isnan(interval.mean) else interval.as_dict()


def cell_metrics(scored: Sequence[Mapping[str, Any]], references: References, *, confidence: float = 0.95,
                 n_resamples: int = 2000, seed: int = 0) -> dict[str, Any]:
    """Every metric of one cell's scored records: intervals (or None), ``pass^k`` (Wilson over seeds
    on the per-seed values) and the count ``n_excess_steps_pairs``."""
    ci: dict[str, Any] = {"confidence": confidence, "n_resamples": n_resamples, "seed": seed}
    distinct = distinct_index(scored)
    out: dict[str, Any] = {}
    for name in METRICS.names():
        values = METRICS.get(name)(scored, references)
        affine = None
        rate = name in RATE_METRICS
        if name == "normalized_score" and scored:
            norm = references.normalizer(scored[0]["env"], scored[0]["split"])
            if norm.defined and norm.score == "success":
                values, affine, rate = success_rate(scored, references), norm.affine(), True
        out[name] = _clean(distinct_interval(values, distinct, rate=rate, affine=affine, **ci))
        if name == "excess_steps":
            out["n_excess_steps_pairs"] = int(np.sum(~np.isnan(values)))
    for name, values in pass_hat_k_metrics(scored).items():
        out[name] = _clean(rate_interval(values, confidence=confidence))
    out.update(usage_metrics(scored, **ci))
    return out


def summarize(records: Sequence[Mapping[str, Any]], *, confidence: float = 0.95, n_resamples: int = 2000,
              seed: int = 0, scores: Mapping[str, str] | None = None) -> tuple[list[dict], dict]:
    """Per-cell metrics with intervals, and cross-env aggregates per (agent, reward) and per recipe.

    A task is an (env, split) pair, labelled ``"<env>|<split>"``.

    Args:
        records: All episode records of a run, failed ones included.
        confidence: Confidence level of every interval.
        n_resamples: Bootstrap resamples per interval.
        seed: Seed of every bootstrap; the output is deterministic given it and the record order.
        scores: Score kind per env id, overriding the cards (for envs this install does not know).

    Returns:
        ``(cells, aggregates)``. Each cell: ``cell, env, agent, reward, split``; counts ``episodes``
        (= ``n_episodes``: ok + agent_error), ``failed`` (= ``n_failed``: harness failures),
        ``n_agent_errors``, ``incomplete`` / ``complete`` and ``failed_keys``; ``n_distinct``,
        ``distinct_basis`` and ``warnings``; ``normalization`` (score kind, reference means,
        margin, reason when undefined); ``metrics``. ``aggregates``: ``by_agent`` (per
        ``"<agent>|<reward>"``), ``by_recipe`` (per ``"<recipe>|<reward>"``, when there are recipe
        episodes), each with ``envs``, ``iqm_normalized_score`` (rliable IQM of the runs x tasks
        matrix of normalised scores), ``iqm`` (``n_runs``, ``interval_over``, ``envs`` in it,
        ``undefined`` tasks with their reason), ``mean_success_rate``, ``complete``; and
        ``probability_of_improvement`` (every ordered pair of by_agent entries sharing a task, on
        the card's score, ``paired`` when both played the same seeds). JSON-clean (no NaN).
    """
    ci: dict[str, Any] = {"confidence": confidence, "n_resamples": n_resamples, "seed": seed}
    references = References.from_records(records, scores)
    by_cell: dict[str, list[Mapping[str, Any]]] = {}
    for rec in records:
        by_cell.setdefault(rec["cell"], []).append(rec)

    cells = []
    entries: dict[tuple[str, str], dict[str, Any]] = {}
    for cell, cell_records in by_cell.items():
        first = cell_records[0]
        scored = scored_records(cell_records)
        counts, completeness, distinct = count_statuses(cell_records), cell_completeness(cell_records), \
            distinct_summary(scored)
        norm = references.normalizer(first["env"], first["split"])
        cells.append({
            "cell": cell, "env": first["env"], "agent": first["agent"], "reward": first["reward"],
            "split": first["split"], "episodes": counts["n_episodes"], "failed": counts["n_failed"],
            "incomplete": not completeness.complete, **counts, "complete": completeness.complete,
            "failed_keys": completeness.failed_keys, "n_distinct": distinct["n_distinct"],
            "distinct_basis": distinct["distinct_basis"],
            "warnings": [distinct["warning"]] if distinct["warning"] else [],
            "normalization": norm.as_dict(),
            "metrics": cell_metrics(scored, references, **ci),
        })
        owners = [("by_agent", f"{first['agent']}|{first['reward']}")]
        if first.get("recipe") is not None:
            owners.append(("by_recipe", f"{first['recipe']}|{first['reward']}"))
        for kind, name in owners:
            entry = entries.setdefault((kind, name), {"envs": [], "normalized": {}, "undefined": {}, "success": {},
                                                      "scores": {}, "complete": True})
            entry["complete"] &= completeness.complete
            if scored:
                _add_task(entry, f"{first['env']}|{first['split']}", scored, references, norm)

    aggregates: dict[str, Any] = {"by_agent": {}}
    for (kind, name), entry in entries.items():
        aggregates.setdefault(kind, {})[name] = _aggregate(entry, ci)
    by_agent_scores = {name: e["scores"] for (kind, name), e in entries.items() if kind == "by_agent"}
    aggregates["probability_of_improvement"] = improvements(by_agent_scores, **ci)
    return cells, aggregates


def _add_task(entry: dict[str, Any], task: str, scored: Sequence[Mapping[str, Any]], references: References,
              norm: Any) -> None:
    """Add one cell's scored episodes on ``task`` to an aggregate entry under construction."""
    if task not in entry["envs"]:
        entry["envs"].append(task)
    if norm.defined:
        collect(scored, METRICS.get("normalized_score")(scored, references), task, entry["normalized"])
    else:
        entry["undefined"][task] = norm.reason
    success = success_rate(scored, references)
    entry["success"][task] = np.concatenate([entry["success"].get(task, np.empty(0)), success[~np.isnan(success)]])
    # P(improvement): training seeds are the runs; repeats of a seed stay one cluster of one run.
    collect(scored, np.asarray([episode_score(r, norm.score) for r in scored]), task, entry["scores"],
            run=lambda r: r.get("train_seed") or 0)


def _aggregate(entry: Mapping[str, Any], ci: Mapping[str, Any]) -> dict[str, Any]:
    normalized: TaskRuns = entry["normalized"]
    interval, info = iqm_of_runs(normalized, **ci)
    success = {t: v for t, v in entry["success"].items() if v.size}
    return {
        "envs": list(entry["envs"]),
        "iqm_normalized_score": _clean(interval),
        "iqm": {**info, "envs": sorted(normalized), "undefined": dict(entry["undefined"])},
        "mean_success_rate": _clean(stats.mean_of_means_ci(success, **ci)) if success else None,
        "complete": entry["complete"],
    }
