"""Results of training recipes: per env and reward variant, over training seeds.

Every number is the *true* outcome of the trained agents on the evaluation split (success,
normalised score, env return, score gap to the oracle), next to the proxy return of the reward
variant they were trained on, so reward hacking shows as a high proxy return with a low true score.

Intervals are two-level (:mod:`agentgym.metrics.hierarchical`): training seeds are resampled, then
env seeds within each drawn training run, with the small-sample correction for few training
seeds; rates take the hull of that interval and the continuity-corrected Wilson interval of the
pooled distinct episodes, so an all-success row never collapses to [1, 1]. P(improvement) over the
``env`` reward resamples the same way, paired on env seeds when both variants played the same
ones. ``per_seed`` lists each training seed's own numbers (single-run intervals, as for a cell).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from agentgym.core.types import Interval
from agentgym.metrics.aggregate import collect
from agentgym.metrics.distinct import distinct_index, distinct_summary
from agentgym.metrics.episodes import METRICS, RATE_METRICS, _clean, cell_metrics
from agentgym.metrics.hierarchical import prob_improvement_runs, two_level_ci
from agentgym.metrics.intervals import distinct_interval
from agentgym.metrics.normalize import References, episode_score
from agentgym.metrics.status import cell_completeness, count_statuses, scored_records

RECIPE_METRICS = ("success_rate", "normalized_score", "return", "proxy_return", "score_gap", "excess_steps", "progress")
SEED_METRICS = ("success_rate", "normalized_score", "return", "proxy_return", "score_gap", "progress")
BASELINE_REWARD = "env"
BOUNDS = {"success_rate": (0.0, 1.0), "progress": (0.0, 1.0), "invalid_action_rate": (0.0, 1.0),
          "steps": (0.0, float("inf"))}
"""Natural ranges: a widened two-level interval is clipped to them."""


def hierarchical_bootstrap_ci(groups: Mapping[Any, np.ndarray], *, confidence: float = 0.95,
                              n_resamples: int = 2000, seed: int = 0) -> Interval:
    """Mean of the pooled values; two-level interval over groups (training seeds), then values
    (:func:`agentgym.metrics.hierarchical.two_level_ci`).

    Example:
        >>> hierarchical_bootstrap_ci({0: np.array([1.0, 1.0]), 1: np.array([0.0, 0.0])}).mean
        0.5
    """
    return two_level_ci(groups, confidence=confidence, n_resamples=n_resamples, seed=seed)


def _row_metric(name: str, runs: dict, scored: Sequence[Mapping[str, Any]], references: References,
                ci: Mapping[str, Any]) -> dict[str, float | None] | None:
    """A row's metric: two-level interval over ``runs``, hulled with Wilson for rates."""
    rate = name in RATE_METRICS
    affine, bounds = None, BOUNDS.get(name)
    norm = references.normalizer(scored[0]["env"], scored[0]["split"]) if scored else None
    if norm is not None and norm.score != "return":  # success and progress lie in [0, 1]
        if name == "normalized_score" and norm.defined:
            bounds = tuple(sorted(norm(np.array([0.0, 1.0])).tolist()))
            if norm.score == "success":
                rate, affine = True, norm.affine()
        elif name == "score_gap":
            bounds = (-1.0, 1.0)
    interval = two_level_ci(runs, bounds=bounds, **ci)
    if rate and not np.isnan(interval.mean):
        success = METRICS.get("success_rate")(scored, references)
        wilson = distinct_interval(success, distinct_index(scored), rate=True, affine=affine,
                                   confidence=ci["confidence"])
        interval = Interval(interval.mean, min(interval.low, wilson.low), max(interval.high, wilson.high))
    return _clean(interval)


def summarize_recipes(records: Sequence[Mapping[str, Any]], *, confidence: float = 0.95, n_resamples: int = 2000,
                      seed: int = 0, scores: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    """One row per (env, split, recipe, reward variant) of the recipe episodes in ``records``.

    A row: ``env, split, recipe, reward, train_seeds``, counts (``episodes`` = scored, ``failed`` =
    harness failures, ``complete``, ``failed_keys``), ``metrics`` (two-level intervals; ``score_gap``
    and ``excess_steps`` with ``n_excess_steps_pairs``), ``per_seed`` (one entry per training seed:
    ``train_seed``, counts, ``n_distinct`` and its own ``metrics``), and
    ``probability_of_improvement_vs_env`` (on the card's score, with ``paired``; None for the
    ``env`` row or without a baseline).
    """
    references = References.from_records(records, scores)
    groups: dict[tuple[str, str, str, str], dict[int, list[Mapping[str, Any]]]] = {}
    for record in records:
        if record.get("recipe") is None:
            continue
        key = (record["env"], record["split"], record["recipe"], record["reward"])
        groups.setdefault(key, {}).setdefault(int(record["train_seed"]), []).append(record)
    ci: dict[str, Any] = {"confidence": confidence, "n_resamples": n_resamples, "seed": seed}
    rows: list[dict[str, Any]] = []
    score_runs: dict[tuple[str, str, str, str], Any] = {}
    for (env, split, recipe, reward), by_seed in groups.items():
        everything = [r for recs in by_seed.values() for r in recs]
        scored = scored_records(everything)
        task = f"{env}|{split}"
        metrics: dict[str, Any] = {}
        for name in RECIPE_METRICS:
            values = METRICS.get(name)(scored, references)
            runs: dict = {}
            collect(scored, values, task, runs)
            metrics[name] = _row_metric(name, runs.get(task, {}), scored, references, ci)
            if name == "excess_steps":
                metrics["n_excess_steps_pairs"] = int(np.sum(~np.isnan(values)))
        kind = references.score_kind(env)
        runs = {}
        collect(scored, np.asarray([episode_score(r, kind) for r in scored]), task, runs)
        score_runs[(env, split, recipe, reward)] = runs.get(task, {})
        diagnostics: dict[str, Any] = {}
        for record in scored:  # the variant's own figures (say its reward model's accuracy)
            diagnostics.update(record.get("reward_diagnostics") or {})
        counts, completeness = count_statuses(everything), cell_completeness(everything)
        rows.append({"env": env, "split": split, "recipe": recipe, "reward": reward,
                     "train_seeds": sorted(by_seed), "episodes": counts["n_episodes"], "failed": counts["n_failed"],
                     "n_agent_errors": counts["n_agent_errors"], "complete": completeness.complete,
                     "failed_keys": completeness.failed_keys, "metrics": metrics,
                     "per_seed": [_seed_entry(s, by_seed[s], references, ci) for s in sorted(by_seed)],
                     **({"reward_diagnostics": diagnostics} if diagnostics else {})})
    for row in rows:
        baseline = score_runs.get((row["env"], row["split"], row["recipe"], BASELINE_REWARD))
        mine = score_runs[(row["env"], row["split"], row["recipe"], row["reward"])]
        improvement = None
        if row["reward"] != BASELINE_REWARD and baseline and mine:
            interval, paired = prob_improvement_runs({"task": mine}, {"task": baseline}, **ci)
            improvement = {**interval.as_dict(), "paired": paired}
        row["probability_of_improvement_vs_env"] = improvement
    return rows


def _seed_entry(train_seed: int, records: Sequence[Mapping[str, Any]], references: References,
                ci: Mapping[str, Any]) -> dict[str, Any]:
    scored = scored_records(records)
    counts, completeness = count_statuses(records), cell_completeness(records)
    metrics = cell_metrics(scored, references, **ci)
    return {"train_seed": train_seed, "episodes": counts["n_episodes"], "failed": counts["n_failed"],
            "complete": completeness.complete, "n_distinct": distinct_summary(scored)["n_distinct"],
            "metrics": {name: metrics.get(name) for name in SEED_METRICS}}
