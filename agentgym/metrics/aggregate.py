"""Aggregates across tasks: rliable's IQM of a runs x tasks score matrix, and P(improvement).

Score matrix (Agarwal et al. 2021): one row per run, one column per task (env, split); an entry is
the mean of that run's scored test episodes on that task. A run is a training seed
(``train_seed``) for trained agents and a ``repeat`` index for the others (one run when there is
one repeat). IQM = ``scipy.stats.trim_mean(matrix.ravel(), 0.25)``, exactly rliable's
``aggregate_iqm``; its interval is rliable's stratified bootstrap: within every task, runs are
drawn with replacement, independently of the other tasks, and the percentile interval of the
replicates' IQM is reported. With a single run on some task the run-level bootstrap has nothing to
draw, so the interval instead redraws env seeds within each (task, run) entry and says so
(``interval_over: "episodes"``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any

import numpy as np
from scipy import stats as sps

from agentgym.core.types import Interval
from agentgym.metrics import stats
from agentgym.metrics.hierarchical import Runs, order_key, prob_improvement_runs

TaskRuns = dict[str, dict[Hashable, dict[Hashable, np.ndarray]]]
"""``{task label: {run: {env seed: values of its repeats}}}``."""


def run_of(record: Mapping[str, Any]) -> Hashable:
    """The run an episode belongs to: its ``train_seed`` when it has one, else its ``repeat``."""
    train_seed = record.get("train_seed")
    return int(train_seed) if train_seed is not None else int(record.get("repeat", 0))


def collect(records: Sequence[Mapping[str, Any]], values: np.ndarray, task: str, into: TaskRuns, *,
            run: Callable[[Mapping[str, Any]], Hashable] = run_of) -> None:
    """Add the defined ``values`` (aligned with ``records``) to ``into[task][run][seed]``."""
    for record, value in zip(records, values):
        if not math.isnan(value):
            seeds = into.setdefault(task, {}).setdefault(run(record), {})
            seeds[int(record["seed"])] = np.append(seeds.get(int(record["seed"]), np.empty(0)), value)


def score_matrix(data: Mapping[str, Runs]) -> dict[str, np.ndarray]:
    """``{task: run means}`` (each run's mean over its episodes), tasks and runs in sorted order."""
    out = {}
    for task in sorted(data):
        runs = data[task]
        means = [np.mean(np.concatenate(list(runs[r].values()))) for r in sorted(runs, key=order_key) if runs[r]]
        if means:
            out[task] = np.asarray(means, dtype=float)
    return out


def iqm_matrix(scores: np.ndarray) -> float:
    """rliable's IQM of a ``runs x tasks`` matrix: the 25%-trimmed mean of all its entries."""
    flat = np.asarray(scores, dtype=float).ravel()
    return math.nan if flat.size == 0 else float(sps.trim_mean(flat, 0.25, axis=None))


def iqm_matrix_ci(scores: np.ndarray | Mapping[str, np.ndarray], *, confidence: float = 0.95,
                  n_resamples: int = 2000, seed: int = 0) -> Interval:
    """IQM of a ``runs x tasks`` matrix (or ``{task: run scores}``, runs may differ per task) with
    rliable's stratified-bootstrap percentile interval (runs drawn within each task)."""
    if not isinstance(scores, Mapping):
        matrix = np.asarray(scores, dtype=float)
        scores = {f"{j:06d}": matrix[:, j] for j in range(matrix.shape[1])}
    return stats.iqm_ci(scores, confidence=confidence, n_resamples=n_resamples, seed=seed)


def _episode_level_iqm_ci(data: Mapping[str, Runs], estimate: float, *, confidence: float, n_resamples: int,
                          seed: int) -> Interval:
    rng = np.random.default_rng(seed)
    entries = []
    for task in sorted(data):
        for run in sorted(data[task], key=order_key):
            clusters = [data[task][run][s] for s in sorted(data[task][run], key=order_key)]
            sums = np.asarray([c.sum() for c in clusters])
            sizes = np.asarray([c.size for c in clusters], dtype=float)
            counts = stats._resample_counts(rng, len(clusters), n_resamples)
            entries.append((counts @ sums) / (counts @ sizes))
    replicates = sps.trim_mean(np.stack(entries, axis=1), 0.25, axis=1)
    return stats._percentile_interval(estimate, replicates, confidence)


def iqm_of_runs(data: Mapping[str, Runs], *, confidence: float = 0.95, n_resamples: int = 2000,
                seed: int = 0) -> tuple[Interval, dict[str, Any]]:
    """IQM of the score matrix of ``data`` with its interval, and ``{"n_runs", "interval_over"}``."""
    matrix = score_matrix(data)
    if not matrix:
        return stats.NAN_INTERVAL, {"n_runs": 0, "interval_over": None}
    n_runs = min(v.size for v in matrix.values())
    if n_runs >= 2:
        interval = stats.iqm_ci(matrix, confidence=confidence, n_resamples=n_resamples, seed=seed)
        return interval, {"n_runs": n_runs, "interval_over": "runs"}
    estimate = iqm_matrix(np.concatenate(list(matrix.values())))
    interval = _episode_level_iqm_ci({t: data[t] for t in matrix}, estimate, confidence=confidence,
                                     n_resamples=n_resamples, seed=seed)
    return interval, {"n_runs": n_runs, "interval_over": "episodes"}


def improvements(entries: Mapping[str, Mapping[str, Runs]], *, confidence: float = 0.95, n_resamples: int = 2000,
                 seed: int = 0) -> list[dict[str, Any]]:
    """P(x > y) for every ordered pair of entries sharing a task (:func:`prob_improvement_runs`);
    the pair (y, x) mirrors (x, y) replicate by replicate (``1 - P``)."""
    out: list[dict[str, Any]] = []
    done: dict[tuple[str, str], tuple[Interval, bool]] = {}
    for x in entries:
        for y in entries:
            shared = [t for t in entries[x] if t in entries[y] and entries[x][t] and entries[y][t]]
            if x == y or not shared:
                continue
            if (y, x) in done:
                interval, paired = done[(y, x)]
                interval = Interval(1.0 - interval.mean, 1.0 - interval.high, 1.0 - interval.low)
            else:
                interval, paired = prob_improvement_runs({t: entries[x][t] for t in shared},
                                                         {t: entries[y][t] for t in shared}, confidence=confidence,
                                                         n_resamples=n_resamples, seed=seed)
                done[(x, y)] = (interval, paired)
            out.append({"x": x, "y": y, "envs": shared, **interval.as_dict(), "paired": paired})
    return out
