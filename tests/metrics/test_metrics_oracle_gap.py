"""Issue 10, point 7: a paired score gap to the oracle (always defined), excess steps with their count, value regret."""

from __future__ import annotations

import pytest
from metric_records import FAST, cell_of, rec, references_run

from agentgym.metrics import METRICS, References, summarize


def test_score_gap_and_excess_steps_hand_example():
    records = [
        *references_run(),
        rec("ppo", seed=0, steps=5),  # oracle: success in 3 -> gap 0, excess +2
        rec("ppo", seed=1, steps=3),  # oracle: success in 4 -> gap 0, excess -1 (possible on stochastic envs)
        rec("ppo", seed=2, steps=9, success=False),  # gap 1, no excess steps (not a joint success)
        rec("ppo", seed=7, steps=9),  # the oracle did not play seed 7: no gap
    ]
    records.append(rec("oracle", seed=8, steps=3, success=False))
    records.append(rec("ppo", seed=8, steps=6))  # beats a failed oracle: gap -1
    refs = References.from_records(records)
    ppo = [r for r in records if r["agent"] == "ppo"]
    gaps = METRICS.get("score_gap")(ppo, refs)
    assert gaps[:3].tolist() == [0.0, 0.0, 1.0] and gaps[4] == -1.0 and gaps[3] != gaps[3]  # NaN for seed 7
    cells, _ = summarize(records, **FAST)
    metrics = cell_of(cells, "toy|ppo|env|test")["metrics"]
    assert metrics["score_gap"]["mean"] == pytest.approx(0.0)
    assert metrics["excess_steps"]["mean"] == pytest.approx(0.5) and metrics["n_excess_steps_pairs"] == 2
    oracle = cell_of(cells, "toy|oracle|env|test")["metrics"]
    assert oracle["score_gap"]["mean"] == 0.0 and oracle["n_excess_steps_pairs"] == 3  # not its failed seed 8


def test_score_gap_is_defined_without_any_joint_success():
    # The old regret was undefined (or averaged over a handful of lucky episodes) for an agent that rarely succeeds.
    records = references_run(seeds=5) + [rec("ppo", seed=s, success=False, env_return=0.0) for s in range(5)]
    metrics = cell_of(summarize(records, **FAST)[0], "toy|ppo|env|test")["metrics"]
    assert metrics["score_gap"]["mean"] == 1.0
    assert metrics["excess_steps"] is None and metrics["n_excess_steps_pairs"] == 0
    assert "regret" not in metrics


def test_score_gap_pairs_other_repeats_with_the_oracles_episode_on_that_seed():
    records = references_run(seeds=2) + [rec("ppo", seed=1, repeat=r, success=r == 0, steps=6) for r in range(3)]
    metrics = cell_of(summarize(records, **FAST)[0], "toy|ppo|env|test")["metrics"]
    assert metrics["score_gap"]["mean"] == pytest.approx(2 / 3)
    assert metrics["excess_steps"]["mean"] == 2.0 and metrics["n_excess_steps_pairs"] == 1


def test_value_regret_where_the_record_carries_the_optimal_value():
    exact = [rec("ppo", seed=s, env_return=r, optimal_value=0.74) for s, r in enumerate([0.0, 1.0, 1.0, 0.0])]
    metrics = summarize(exact, **FAST)[0][0]["metrics"]
    assert metrics["value_regret"]["mean"] == pytest.approx(0.74 - 0.5)
    assert summarize([rec("ppo")], **FAST)[0][0]["metrics"]["value_regret"] is None
