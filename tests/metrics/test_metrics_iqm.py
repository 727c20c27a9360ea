"""Issue 10, point 2: the aggregate IQM is rliable's, on a runs x tasks matrix of per-run task means."""

from __future__ import annotations

import numpy as np
import pytest
from metric_records import rec, references_run

from agentgym.metrics import iqm_matrix, iqm_matrix_ci, summarize

rliable_metrics = pytest.importorskip("rliable.metrics")
rly = pytest.importorskip("rliable.library")


def rliable_iqm(matrix):
    return float(rliable_metrics.aggregate_iqm(matrix))


def test_point_estimates_agree_with_rliable_to_1e9():
    rng = np.random.default_rng(0)
    for _ in range(50):
        runs, tasks = rng.integers(1, 11), rng.integers(1, 9)
        matrix = rng.normal(size=(runs, tasks)) * rng.gamma(1.0, size=tasks) + rng.normal(size=tasks)
        assert iqm_matrix(matrix) == pytest.approx(rliable_iqm(matrix), abs=1e-9)
        assert iqm_matrix_ci(matrix, n_resamples=50).mean == pytest.approx(rliable_iqm(matrix), abs=1e-9)


@pytest.mark.parametrize("shape", [(5, 7), (3, 4)])
def test_stratified_bootstrap_interval_agrees_with_rliable_within_monte_carlo_error(shape):
    matrix = np.random.default_rng(sum(shape)).random(shape) * np.linspace(0.2, 1.5, shape[1])
    _, theirs = rly.get_interval_estimates({"x": matrix}, lambda m: np.array([rliable_metrics.aggregate_iqm(m)]),
                                           reps=3000)
    low, high = np.asarray(theirs["x"]).ravel()
    ours = iqm_matrix_ci(matrix, n_resamples=20000, seed=1)
    # Percentile bounds from 3000 rliable replicates: Monte Carlo error a few % of the width.
    tolerance = 0.08 * (high - low)
    assert ours.low == pytest.approx(low, abs=tolerance) and ours.high == pytest.approx(high, abs=tolerance)


def test_summarize_reports_the_iqm_of_the_runs_by_tasks_matrix():
    # Two tasks with unequal episode counts and two repeats (runs). The old pooled-episode IQM weighted
    # task "b" by its 8 episodes per run and trimmed individual episodes; rliable trims per-run task means.
    records = references_run("a", seeds=6) + references_run("b", seeds=8)
    rng = np.random.default_rng(4)
    values = {}
    for env, seeds in (("a", 6), ("b", 8)):
        for repeat in range(2):
            for seed in range(seeds):
                value = float(rng.choice([0.0, 0.2, 1.0]) if env == "a" else rng.choice([0.0, 0.9]))
                values.setdefault((env, repeat), []).append(value)
                records.append(rec("ppo", env=env, seed=seed, repeat=repeat, env_return=value))
    _, aggregates = summarize(records, scores={"a": "return", "b": "return"}, n_resamples=400)
    matrix = np.array([[np.mean(values[("a", r)]), np.mean(values[("b", r)])] for r in range(2)])  # runs x tasks
    ppo = aggregates["by_agent"]["ppo|env"]
    assert ppo["iqm_normalized_score"]["mean"] == pytest.approx(rliable_iqm(matrix), abs=1e-9)
    assert ppo["iqm"]["n_runs"] == 2 and ppo["iqm"]["interval_over"] == "runs"
    pooled = np.concatenate([values[k] for k in sorted(values)])
    assert abs(rliable_iqm(pooled[None, :]) - rliable_iqm(matrix)) > 0.05  # the old definition differs here


def test_recipes_aggregate_over_training_seeds():
    records = references_run(seeds=4)
    for train_seed, level in enumerate([0.2, 0.5, 0.9]):
        records += [rec(f"ppo-env-s{train_seed}", seed=s, env_return=level, recipe="ppo", train_seed=train_seed)
                    for s in range(4)]
    _, aggregates = summarize(records, scores={"toy": "return"}, n_resamples=400)
    assert set(aggregates["by_recipe"]) == {"ppo|env"}
    entry = aggregates["by_recipe"]["ppo|env"]
    assert entry["iqm"]["n_runs"] == 3 and entry["iqm"]["interval_over"] == "runs"
    assert entry["iqm_normalized_score"]["mean"] == pytest.approx(rliable_iqm(np.array([[0.2], [0.5], [0.9]])))
    assert entry["iqm_normalized_score"]["ci_low"] < entry["iqm_normalized_score"]["ci_high"]
