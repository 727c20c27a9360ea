"""Results of training recipes: per env and reward variant, pooled over training seeds.

Every number is the *true* outcome of the trained agents on the evaluation split (success,
normalized score, env return, regret), next to the proxy return of the reward variant they
were trained on, so reward hacking shows as a high proxy return with a low true score.
Intervals come from a two-level bootstrap: training seeds are resampled, then episodes within
each drawn seed, so the spread between training runs counts, not only episode noise.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from agentgym.core.types import Interval
from agentgym.metrics import stats
from agentgym.metrics.episodes import METRICS, References, is_ok

RECIPE_METRICS = ("success_rate", "normalized_score", "return", "proxy_return", "regret", "progress")
BASELINE_REWARD = "env"


def hierarchical_bootstrap_ci(groups: Mapping[Any, np.ndarray], *, confidence: float = 0.95,
                              n_resamples: int = 2000, seed: int = 0) -> Interval:
    """Mean of the pooled values; CI resampling groups (training seeds), then values within each.

    Example:
        >>> hierarchical_bootstrap_ci({0: np.array([1.0, 1.0]), 1: np.array([0.0, 0.0])}).mean
        0.5
    """
    samples = [np.asarray(values, dtype=float) for _, values in sorted(groups.items()) if np.size(values)]
    if not samples:
        return Interval(float("nan"), float("nan"), float("nan"))
    estimate = float(np.mean(np.concatenate(samples)))
    rng = np.random.default_rng(seed)
    replicates = np.empty(n_resamples)
    for r in range(n_resamples):
        drawn = rng.integers(0, len(samples), size=len(samples))
        pooled = [samples[g][rng.integers(0, samples[g].size, size=samples[g].size)] for g in drawn]
        replicates[r] = np.mean(np.concatenate(pooled))
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(replicates, [alpha, 1.0 - alpha])
    return Interval(estimate, float(min(low, estimate)), float(max(high, estimate)))


def summarize_recipes(records: Sequence[Mapping[str, Any]], *, confidence: float = 0.95, n_resamples: int = 2000,
                      seed: int = 0) -> list[dict[str, Any]]:
    """One row per (env, split, recipe, reward variant) of the recipe episodes in ``records``."""
    references = References.from_records(records)
    groups: dict[tuple[str, str, str, str], dict[int, list[Mapping[str, Any]]]] = {}
    for record in records:
        if record.get("recipe") is None:
            continue
        key = (record["env"], record["split"], record["recipe"], record["reward"])
        groups.setdefault(key, {}).setdefault(int(record["train_seed"]), []).append(record)
    ci = {"confidence": confidence, "n_resamples": n_resamples, "seed": seed}
    rows, returns = [], {}
    for (env, split, recipe, reward), by_seed in groups.items():
        ok = {train_seed: [r for r in recs if is_ok(r)] for train_seed, recs in by_seed.items()}
        metrics = {}
        for name in RECIPE_METRICS:
            values = {s: METRICS.get(name)(recs, references) for s, recs in ok.items()}
            interval = hierarchical_bootstrap_ci(values, **ci)
            metrics[name] = None if np.isnan(interval.mean) else interval.as_dict()
        returns[(env, split, recipe, reward)] = np.concatenate(
            [METRICS.get("return")(recs, references) for recs in ok.values()] or [np.empty(0)])
        diagnostics: dict[str, Any] = {}
        for recs in ok.values():  # the variant's own figures (say its reward model's accuracy)
            for record in recs:
                diagnostics.update(record.get("reward_diagnostics") or {})
        rows.append({"env": env, "split": split, "recipe": recipe, "reward": reward,
                     "train_seeds": sorted(by_seed), "episodes": sum(len(r) for r in ok.values()),
                     "failed": sum(len(r) for r in by_seed.values()) - sum(len(r) for r in ok.values()),
                     "metrics": metrics, **({"reward_diagnostics": diagnostics} if diagnostics else {})})
    for row in rows:
        baseline = returns.get((row["env"], row["split"], row["recipe"], BASELINE_REWARD))
        mine = returns[(row["env"], row["split"], row["recipe"], row["reward"])]
        improvement = None
        if row["reward"] != BASELINE_REWARD and baseline is not None and baseline.size and mine.size:
            improvement = stats.probability_of_improvement({"task": mine}, {"task": baseline}, **ci).as_dict()
        row["probability_of_improvement_vs_env"] = improvement
    return rows
