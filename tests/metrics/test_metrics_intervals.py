"""Issue 10, points 4 and 8: Wilson (continuity-corrected) intervals for rates, checked by simulation; intervals
on distinct episodes only."""

from __future__ import annotations

import math

import numpy as np
import pytest
from metric_records import FAST, rec

from agentgym.metrics import jeffreys_interval, rate_interval, summarize, wilson_interval
from agentgym.metrics.stats import bootstrap_ci

PS = (0.02, 0.05, 0.3, 0.5, 0.9, 0.98)
NS = (10, 20, 50)
TRIALS = 1000


def simulated_coverage(interval, p, n, rng):
    samples = rng.random((TRIALS, n)) < p
    covered = 0
    for sample in samples:
        ci = interval(sample)
        covered += ci.low <= p <= ci.high
    return covered / TRIALS


def test_rate_interval_covers_at_least_92_percent_everywhere():
    rng = np.random.default_rng(20240610)
    coverage = {(p, n): simulated_coverage(rate_interval, p, n, rng) for p in PS for n in NS}
    low = {k: v for k, v in coverage.items() if v < 0.92}
    assert not low, f"coverage below 0.92: {low}"


def test_the_old_percentile_bootstrap_fails_that_check():
    # Why the change: the bootstrap gives a cell without a success [0, 0] (200 trials: bootstrap is slow).
    samples = np.random.default_rng(1).random((200, 10)) < 0.05
    covered = 0
    for sample in samples:
        ci = bootstrap_ci(sample.astype(float), n_resamples=200)
        covered += ci.low <= 0.05 <= ci.high
    assert covered / 200 < 0.7


def test_wilson_known_values_and_variants():
    # Newcombe (1998), table I: 15/148 -> 0.0624, 0.1605 (with correction: 0.0598, 0.1644)
    low, high = wilson_interval(15, 148, continuity=False)
    assert (float(low), float(high)) == pytest.approx((0.0624, 0.1605), abs=5e-4)
    low, high = wilson_interval(15, 148)
    assert (float(low), float(high)) == pytest.approx((0.0598, 0.1644), abs=5e-4)
    assert wilson_interval(0, 10)[0] == 0.0 and wilson_interval(10, 10)[1] == 1.0
    low, high = jeffreys_interval(np.array([0, 5]), np.array([10, 10]))
    assert low[0] == 0.0 and 0.2 < low[1] < 0.5 < high[1] < 0.8


def test_all_successes_do_not_collapse_to_a_point():
    cells, _ = summarize([rec("ppo", seed=s) for s in range(10)], **FAST)
    success = cells[0]["metrics"]["success_rate"]
    assert success["mean"] == 1.0 and success["ci_high"] == 1.0 and success["ci_low"] < 0.75


# --- identical episodes (point 8) ----------------------------------------------------------------------------------


def test_identical_episodes_count_once():
    # FrozenLake-v0's fixed map: ten seeds, one and the same episode.
    same = [rec("ppo", seed=s, env_return=0.94, trace_hash="abc") for s in range(10)]
    cell = summarize(same, **FAST)[0][0]
    assert (cell["episodes"], cell["n_distinct"], cell["distinct_basis"]) == (10, 1, "trace_hash")
    assert cell["warnings"] and "only 1 of 10 episodes are distinct" in cell["warnings"][0]
    assert cell["metrics"]["success_rate"]["ci_low"] < 0.3  # Wilson on one trial, not on ten
    assert cell["metrics"]["return"] == {"mean": pytest.approx(0.94), "ci_low": None, "ci_high": None}  # no interval


def test_intervals_are_no_narrower_than_the_distinct_episodes_support():
    rng = np.random.default_rng(3)
    distinct = [rec("ppo", seed=s, env_return=float(v), success=bool(v > 0), trace_hash=f"t{s}")
                for s, v in enumerate(rng.normal(size=8))]
    copies = [{**r, "key": f"{r['key']}x{c}", "repeat": c} for r in distinct for c in range(5)]
    once, five = summarize(distinct, **FAST)[0][0], summarize(copies, **FAST)[0][0]
    assert five["n_distinct"] == 8 and five["episodes"] == 40
    for name in ("return", "success_rate"):
        assert five["metrics"][name] == pytest.approx(once["metrics"][name])


def test_without_trace_hash_identical_repeats_of_a_seed_merge_and_the_basis_is_named():
    records = [rec("ppo", seed=s, repeat=r) for s in range(3) for r in range(2)]
    cell = summarize(records, **FAST)[0][0]
    assert (cell["n_distinct"], cell["distinct_basis"]) == (3, "outcome")
    assert "no trace_hash" in cell["warnings"][0]
    varied = [rec("ppo", seed=0, repeat=r, steps=4 + r) for r in range(2)]
    assert summarize(varied, **FAST)[0][0]["n_distinct"] == 2
    assert not math.isnan(cell["metrics"]["success_rate"]["ci_low"])
