"""Known-value and property checks of agentgym.metrics.stats."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import mannwhitneyu

from agentgym.metrics.stats import (
    bootstrap_ci,
    iqm,
    iqm_ci,
    mean_of_means_ci,
    pass_hat_k,
    pass_hat_k_per_seed,
    prob_greater,
    probability_of_improvement,
    stratified_bootstrap_ci,
)

FAST = {"n_resamples": 300}
small_floats = st.floats(-100, 100, allow_nan=False).map(lambda v: round(v, 1))  # rounding makes ties likely
samples = st.lists(small_floats, min_size=1, max_size=15)


# --- bootstrap_ci -------------------------------------------------------------------------------------------------


def test_bootstrap_of_constant_is_a_point():
    assert tuple(bootstrap_ci([2.5] * 7)) == (2.5, 2.5, 2.5)


def test_bootstrap_of_one_value_is_a_point_and_empty_is_nan():
    assert tuple(bootstrap_ci([4.0])) == (4.0, 4.0, 4.0)
    assert all(math.isnan(v) for v in bootstrap_ci([]))
    assert bootstrap_ci([]).as_dict() == {"mean": None, "ci_low": None, "ci_high": None}


def test_bootstrap_contains_mean_and_narrows_with_n():
    rng = np.random.default_rng(1)
    widths = []
    for n in (10, 100, 1000):
        values = rng.normal(3.0, 1.0, size=n)
        ci = bootstrap_ci(values, n_resamples=500)
        assert ci.mean == pytest.approx(values.mean())
        assert ci.low < ci.mean < ci.high
        widths.append(ci.high - ci.low)
    assert widths[0] > widths[1] > widths[2]
    # Width of a 95% CI of a mean is about 2 * 1.96 * sigma / sqrt(n).
    assert widths[2] == pytest.approx(2 * 1.96 / math.sqrt(1000), rel=0.2)


def test_bootstrap_is_deterministic_given_seed():
    values = np.random.default_rng(2).random(30)
    assert bootstrap_ci(values, seed=5) == bootstrap_ci(values, seed=5)
    assert bootstrap_ci(values, seed=5) != bootstrap_ci(values, seed=6)


def test_bootstrap_falls_back_to_percentile_when_bca_is_undefined():
    # Every jackknife median of this sample is 1, so BCa's acceleration is 0/0.
    ci = bootstrap_ci([1.0, 1.0, 1.0, 1.0, 2.0], np.median, n_resamples=500)
    assert ci.mean == 1.0
    assert not math.isnan(ci.low) and not math.isnan(ci.high)
    assert 1.0 <= ci.low <= ci.high <= 2.0


def test_bootstrap_coverage_of_bernoulli_mean():
    rng = np.random.default_rng(123)
    p, n, trials = 0.3, 60, 200
    covered = 0
    for i in range(trials):
        ci = bootstrap_ci(rng.random(n) < p, n_resamples=500, seed=i)
        covered += ci.low <= p <= ci.high
    assert 0.88 <= covered / trials <= 0.995


@settings(max_examples=40, deadline=None)
@given(samples)
def test_bootstrap_interval_brackets_estimate(values):
    ci = bootstrap_ci(values, **FAST)
    assert ci.low <= ci.mean <= ci.high


# --- iqm ----------------------------------------------------------------------------------------------------------


def test_iqm_known_values():
    assert iqm(range(1, 9)) == pytest.approx(4.5)  # mean of 3..6
    assert iqm([1, 2, 3, 4]) == pytest.approx(2.5)  # mean of 2, 3
    assert iqm([1, 2, 3, 4, 5, 6, 7, 1000]) == pytest.approx(4.5)  # outlier trimmed
    assert iqm([7.0]) == 7.0
    assert math.isnan(iqm([]))


# --- stratified bootstrap -----------------------------------------------------------------------------------------


def test_stratified_bootstrap_keeps_group_sizes_and_resamples_within_groups():
    groups = {"a": np.zeros(3), "b": np.ones(5)}
    seen = []

    def stat(sample):
        seen.append({k: (len(v), set(v.tolist())) for k, v in sample.items()})
        return float(np.mean(sample["b"]) - np.mean(sample["a"]))

    ci = stratified_bootstrap_ci(groups, stat, n_resamples=50)
    assert tuple(ci) == (1.0, 1.0, 1.0)  # a group never borrows another group's values
    assert all(s == {"a": (3, {0.0}), "b": (5, {1.0})} for s in seen)


def test_stratified_bootstrap_vectorized_matches_loop_and_is_seeded():
    rng = np.random.default_rng(3)
    groups = {"a": rng.random(20), "b": rng.random(9)}

    def loop(sample):
        return float(np.mean([v.mean() for v in sample.values()]))

    assert mean_of_means_ci(groups, **FAST) == stratified_bootstrap_ci(groups, loop, **FAST)
    assert mean_of_means_ci(groups, **FAST).mean == pytest.approx((groups["a"].mean() + groups["b"].mean()) / 2)
    pooled = lambda s: iqm(np.concatenate(list(s.values())))  # noqa: E731
    assert iqm_ci(groups, **FAST) == stratified_bootstrap_ci(groups, pooled, **FAST)
    assert iqm_ci(groups, seed=1, **FAST) == iqm_ci(dict(reversed(groups.items())), seed=1, **FAST)


def test_iqm_ci_pools_tasks_and_handles_empty():
    ci = iqm_ci({"a": [1, 2, 3, 4], "b": [5, 6, 7, 8]}, **FAST)
    assert ci.mean == pytest.approx(4.5)
    assert ci.low <= 4.5 <= ci.high
    assert math.isnan(iqm_ci({}).mean)
    assert math.isnan(iqm_ci({"a": []}).mean)


# --- probability of improvement -----------------------------------------------------------------------------------


def test_probability_of_improvement_extremes():
    above = probability_of_improvement({"t": [5, 6, 7]}, {"t": [1, 2]}, **FAST)
    assert tuple(above) == (1.0, 1.0, 1.0)
    same = probability_of_improvement({"t": [1, 2, 3]}, {"t": [1, 2, 3]}, **FAST)
    assert same.mean == 0.5
    assert same.low < 0.5 < same.high


def test_probability_of_improvement_hand_count_with_ties():
    # Pairs (x, y): (1,2)=0 (1,3)=0 (2,2)=1/2 (2,3)=0 (2,2)=1/2 (2,3)=0 -> 1/6.
    assert prob_greater([1, 2, 2], [2, 3]) == pytest.approx(1 / 6)
    assert prob_greater([1, 2, 2], [2, 3]) == pytest.approx(mannwhitneyu([1, 2, 2], [2, 3]).statistic / 6)
    ci = probability_of_improvement({"t": [1, 2, 2]}, {"t": [2, 3]}, **FAST)
    assert ci.mean == pytest.approx(1 / 6)


def test_probability_of_improvement_averages_shared_tasks_only():
    x = {"a": [10, 11], "b": [0, 0], "only_x": [99]}
    y = {"a": [1, 2], "b": [5, 5], "only_y": [-99]}
    assert probability_of_improvement(x, y, **FAST).mean == pytest.approx(0.5)
    assert math.isnan(probability_of_improvement({"a": [1]}, {"b": [1]}).mean)


def test_probability_of_improvement_is_invariant_to_affine_maps_per_task():
    rng = np.random.default_rng(4)
    x, y = {"t": rng.random(12)}, {"t": rng.random(9)}
    scaled = probability_of_improvement({"t": 3 * x["t"] - 7}, {"t": 3 * y["t"] - 7}, **FAST)
    assert scaled == probability_of_improvement(x, y, **FAST)


def test_probability_of_improvement_ci_matches_a_naive_bootstrap(monkeypatch):
    from agentgym.metrics import stats

    rng = np.random.default_rng(5)
    x = {t: np.round(rng.normal(0.3, 1, 40), 1) for t in "ab"}  # rounded: ties
    y = {t: np.round(rng.normal(0.0, 1, 30), 1) for t in "ab"}
    naive = [np.mean([prob_greater(rng.choice(x[t], 40), rng.choice(y[t], 30)) for t in "ab"]) for _ in range(2000)]
    low, high = np.quantile(naive, [0.025, 0.975])
    fast = probability_of_improvement(x, y, n_resamples=2000)
    assert fast.low == pytest.approx(low, abs=0.03) and fast.high == pytest.approx(high, abs=0.03)
    monkeypatch.setattr(stats, "_MAX_BLOCK", 500)  # resample in many small blocks: same estimate, similar CI
    blocked = probability_of_improvement(x, y, n_resamples=2000)
    assert blocked.mean == fast.mean
    assert blocked.low == pytest.approx(low, abs=0.03) and blocked.high == pytest.approx(high, abs=0.03)


@settings(max_examples=60, deadline=None)
@given(samples, samples)
def test_prob_greater_matches_mann_whitney_and_is_complementary(x, y):
    assert prob_greater(x, y) == pytest.approx(mannwhitneyu(x, y).statistic / (len(x) * len(y)))
    assert prob_greater(x, y) + prob_greater(y, x) == pytest.approx(1.0)


@settings(max_examples=25, deadline=None)
@given(st.dictionaries(st.sampled_from("abc"), st.tuples(samples, samples), min_size=1))
def test_probability_of_improvement_properties(tasks):
    x = {t: xy[0] for t, xy in tasks.items()}
    y = {t: xy[1] for t, xy in tasks.items()}
    forward, backward = probability_of_improvement(x, y, **FAST), probability_of_improvement(y, x, **FAST)
    assert forward.mean + backward.mean == pytest.approx(1.0)
    assert 0.0 <= forward.low <= forward.mean <= forward.high <= 1.0


# --- pass^k -------------------------------------------------------------------------------------------------------


def test_pass_hat_k_hand_examples():
    seed = [True, True, True, False]
    assert pass_hat_k([seed], 1) == pytest.approx(0.75)
    assert pass_hat_k([seed], 2) == pytest.approx(0.5)  # C(3,2)/C(4,2) = 3/6
    assert pass_hat_k([seed], 3) == pytest.approx(0.25)  # C(3,3)/C(4,3) = 1/4
    assert pass_hat_k([seed], 4) == 0.0
    assert pass_hat_k([seed, [True, True]], 2) == pytest.approx((0.5 + 1.0) / 2)


def test_pass_hat_k_counts_every_seed_and_rejects_impossible_k():
    # Issue 10, point 7: a seed with fewer than k successes contributes 0 instead of being dropped
    # (the old estimator gave pass^2 = 1/3 here from seed 0 alone).
    trials = [[True, False, True], [True]]
    assert pass_hat_k_per_seed(trials, 2).tolist() == pytest.approx([1 / 3, 0.0])
    assert pass_hat_k(trials, 1) == pytest.approx((2 / 3 + 1) / 2)
    assert pass_hat_k(trials, 2) == pytest.approx((1 / 3 + 0) / 2)
    with pytest.raises(ValueError, match="at least 4"):
        pass_hat_k(trials, 4)
    with pytest.raises(ValueError, match="k >= 1"):
        pass_hat_k(trials, 0)


def tau_bench_pass_hat_k(trials, k):
    """tau-bench's estimator (sierra-research/tau-bench, run.py): mean over tasks of comb(c, k) / comb(n, k)."""
    return float(np.mean([math.comb(sum(t), k) / math.comb(len(t), k) for t in trials]))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.booleans(), min_size=1, max_size=6), min_size=1, max_size=6))
def test_pass_hat_k_uses_every_seed_and_is_non_increasing_in_k(trials):
    most = max(len(t) for t in trials)
    values = [pass_hat_k(trials, k) for k in range(1, most + 1)]
    assert all(0.0 <= v <= 1.0 for v in values)
    assert all(a >= b - 1e-12 for a, b in itertools.pairwise(values))
    assert all(pass_hat_k_per_seed(trials, k).size == len(trials) for k in range(1, most + 1))
    # On complete data (every seed has k trials) it is tau-bench's estimator exactly.
    fewest = min(len(t) for t in trials)
    for k in range(1, fewest + 1):
        assert pass_hat_k(trials, k) == pytest.approx(tau_bench_pass_hat_k(trials, k), abs=1e-12)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.lists(st.booleans(), min_size=4, max_size=6), min_size=1, max_size=5))
def test_pass_hat_k_decreases_with_k(trials):
    values = [pass_hat_k(trials, k) for k in range(1, 5)]
    assert all(0.0 <= v <= 1.0 for v in values)
    assert all(a >= b - 1e-12 for a, b in itertools.pairwise(values))
    # pass^1 is the plain success rate averaged over seeds.
    assert values[0] == pytest.approx(np.mean([np.mean(t) for t in trials]))


def test_ratio_ci_is_the_ratio_of_sums_with_a_paired_bootstrap():
    from agentgym.metrics.stats import ratio_ci

    tokens, wins = np.array([100.0, 300.0, 200.0, 400.0]), np.array([1.0, 0.0, 1.0, 1.0])
    interval = ratio_ci(tokens, wins, n_resamples=500, seed=1)
    assert interval.mean == pytest.approx(1000.0 / 3)
    assert interval.low <= interval.mean <= interval.high
    assert ratio_ci(tokens, wins, n_resamples=500, seed=1) == interval  # seeded
    assert ratio_ci(tokens, np.ones(4), n_resamples=500).mean == pytest.approx(tokens.mean())
    assert math.isnan(ratio_ci(tokens, np.zeros(4)).mean)
    assert math.isinf(ratio_ci([1.0, 1.0], [1.0, 0.0], n_resamples=500).high)  # a resample may hold no success
    with pytest.raises(ValueError, match="differ in length"):
        ratio_ci([1.0], [1.0, 2.0])
