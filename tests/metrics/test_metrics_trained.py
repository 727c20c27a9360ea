"""Issue 10, points 5 and 6: trained agents resample training runs, then env seeds; comparisons on the same env
seeds are paired."""

from __future__ import annotations

import numpy as np
import pytest
from metric_records import FAST, rec, references_run

from agentgym.metrics import prob_improvement_runs, summarize, summarize_recipes, two_level_ci
from agentgym.metrics.stats import probability_of_improvement


def variant(rng, seed_sd, train_seeds=3, episodes=30):
    """``{training seed: {env seed: [value]}}``: episodes N(mu_seed, 1), mu_seed ~ N(0, seed_sd)."""
    means = rng.normal(0.0, seed_sd, train_seeds)
    return {g: {s: rng.normal(means[g], 1.0, 1) for s in range(episodes)} for g in range(train_seeds)}


def test_p_improvement_false_positives_at_most_7_percent_for_identical_variants():
    # 3 training seeds x 30 episodes, seed effect sd 0.5 (episode sd 1): the setting where pooling the
    # episodes called identical variants different in 43% of simulations.
    rng = np.random.default_rng(7)
    trials, excluded, pooled_excluded = 1000, 0, 0
    for trial in range(trials):
        x, y = variant(rng, 0.5), variant(rng, 0.5)
        interval, paired = prob_improvement_runs({"t": x}, {"t": y}, n_resamples=300, seed=trial)
        assert paired
        excluded += not interval.low <= 0.5 <= interval.high
        if trial < 100:  # the old way: one pooled sample per variant
            pool = lambda v: np.concatenate([a for seeds in v.values() for a in seeds.values()])  # noqa: E731
            old = probability_of_improvement({"t": pool(x)}, {"t": pool(y)}, n_resamples=300, seed=trial)
            pooled_excluded += not old.low <= 0.5 <= old.high
    assert excluded / trials <= 0.07
    assert pooled_excluded / 100 > 0.2


def test_two_level_interval_counts_the_spread_between_training_seeds():
    rng = np.random.default_rng(0)
    same = {s: rng.normal(0.5, 0.1, 50) for s in range(3)}
    apart = {0: same[0] - 0.4, 1: same[1], 2: same[2] + 0.4}
    narrow, wide = two_level_ci(same, n_resamples=500), two_level_ci(apart, n_resamples=500)
    assert narrow.mean == pytest.approx(wide.mean)
    assert wide.high - wide.low > 3 * (narrow.high - narrow.low)
    assert wide.low < 0.1 + 0.05 and wide.high > 0.9 - 0.05  # spans the three seed means
    assert tuple(two_level_ci({0: np.array([2.0, 2.0])})) == (2.0, 2.0, 2.0)


def recipe_records(level_by_reward, env_seeds=10):
    """Recipe ``ppo``: per reward and training seed a success level; every variant plays the same env seeds."""
    out = references_run(seeds=env_seeds)
    for reward, levels in level_by_reward.items():
        for train_seed, level in enumerate(levels):
            out += [rec(f"ppo-{reward}-s{train_seed}", reward=reward, seed=s, success=s < level * env_seeds,
                        env_return=float(s < level * env_seeds), recipe="ppo", train_seed=train_seed)
                    for s in range(env_seeds)]
    return out


def test_recipe_rows_report_per_seed_numbers_and_resample_training_seeds():
    records = recipe_records({"env": [0.1, 0.5, 0.9], "sparse": [0.2, 0.6, 1.0]})
    rows = {row["reward"]: row for row in summarize_recipes(records, n_resamples=400)}
    sparse = rows["sparse"]
    assert [s["train_seed"] for s in sparse["per_seed"]] == [0, 1, 2]
    assert [s["metrics"]["success_rate"]["mean"] for s in sparse["per_seed"]] == pytest.approx([0.2, 0.6, 1.0])
    assert all(s["episodes"] == 10 and s["complete"] for s in sparse["per_seed"])
    success = sparse["metrics"]["success_rate"]
    assert success["mean"] == pytest.approx(0.6)
    assert success["ci_low"] < 0.35 and success["ci_high"] == 1.0  # three seeds apart: a wide interval
    improvement = sparse["probability_of_improvement_vs_env"]
    assert improvement["paired"] is True
    assert improvement["ci_low"] < 0.5 < improvement["ci_high"]  # one seed's worth of difference: not significant
    assert rows["env"]["probability_of_improvement_vs_env"] is None
    assert sparse["metrics"]["n_excess_steps_pairs"] >= 0 and "regret" not in sparse["metrics"]


def test_all_success_recipe_rows_do_not_collapse():
    rows = summarize_recipes(recipe_records({"env": [1.0, 1.0, 1.0]}), n_resamples=300)
    assert rows[0]["metrics"]["success_rate"]["ci_low"] < 0.97


# --- paired comparisons (point 6) ----------------------------------------------------------------------------------


def test_identical_play_on_the_same_seeds_is_no_effect():
    # Random seeded from (env seed, agent, repeat) plays the same episodes under env and shaped: no difference at all.
    rng = np.random.default_rng(2)
    outcomes = rng.random(30) < 0.3
    records = [rec("random", reward=reward, seed=s, success=bool(w), env_return=float(w))
               for reward in ("env", "shaped") for s, w in enumerate(outcomes)]
    _, aggregates = summarize(records, **FAST)
    pair = next(p for p in aggregates["probability_of_improvement"] if p["x"] == "random|shaped")
    assert pair["paired"] is True
    assert (pair["mean"], pair["ci_low"], pair["ci_high"]) == (0.5, 0.5, 0.5)


def test_pairing_removes_shared_seed_difficulty():
    # Both agents find the same seeds hard; y is a touch better on every seed. Unpaired, the seed spread swamps it.
    rng = np.random.default_rng(5)
    difficulty = rng.normal(0.0, 3.0, 40)
    x = {0: {s: np.array([difficulty[s]]) for s in range(40)}}
    y = {0: {s: np.array([difficulty[s] + 0.5]) for s in range(40)}}
    paired, is_paired = prob_improvement_runs({"t": y}, {"t": x}, n_resamples=1000)
    unpaired, _ = prob_improvement_runs({"t": y}, {"t": x}, n_resamples=1000, paired=False)
    assert is_paired and paired.mean == unpaired.mean
    assert paired.high - paired.low < 0.5 * (unpaired.high - unpaired.low)
