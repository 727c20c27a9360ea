"""Issue 10, point 1: agent errors are scored as failures of the agent; harness failures make a cell incomplete."""

from __future__ import annotations

import pytest
from metric_records import FAST, cell_of, rec, references_run

from agentgym.metrics import (
    cell_completeness,
    count_statuses,
    scored_record,
    summarize,
)


def test_agent_error_is_scored_as_a_failure_with_the_return_up_to_it():
    crashed = rec("llm", status="agent_error", env_return=-0.3, steps=7, invalid_actions=2)
    scored = scored_record(crashed)
    assert (scored["success"], scored["progress"], scored["env_return"], scored["steps"]) == (False, 0.0, -0.3, 7)
    assert scored_record(rec("llm", status="agent_error", env_return=None))["env_return"] == 0.0
    assert scored_record(rec("llm", status="failed")) is None
    ok = rec("llm")
    assert scored_record(ok) is ok


def test_cell_completeness_and_counts():
    records = [rec("a", seed=0), rec("a", seed=1, status="agent_error"), rec("a", seed=2, status="failed"),
               rec("a", seed=3, status="failed")]
    complete, n_failed, keys = cell_completeness(records)
    assert (complete, n_failed, keys) == (False, 2, ["toy|a|env|test/2/0", "toy|a|env|test/3/0"])
    assert cell_completeness(records[:2]) == (True, 0, [])
    assert count_statuses(records) == {"n_episodes": 2, "n_agent_errors": 1, "n_failed": 2}


def test_an_agent_that_crashes_on_hard_seeds_does_not_look_better():
    # The crasher raises on the 20 hard seeds and wins the 20 easy ones; the honest agent plays the hard ones
    # out and loses them, winning the easy ones too. Before: success 1.0 vs 0.5 and a "significant"
    # P(improvement). Now the two are the same agent on the true outcome.
    easy, hard = range(20), range(20, 40)
    crasher = [rec("crasher", seed=s) for s in easy] + [rec("crasher", seed=s, status="agent_error", env_return=0.0)
                                                        for s in hard]
    honest = [rec("honest", seed=s) for s in easy] + [rec("honest", seed=s, success=False, env_return=0.0)
                                                      for s in hard]
    cells, aggregates = summarize(crasher + honest, **FAST)
    crashed = cell_of(cells, "toy|crasher|env|test")
    assert crashed["metrics"]["success_rate"]["mean"] == pytest.approx(0.5)
    assert (crashed["episodes"], crashed["n_agent_errors"], crashed["failed"], crashed["complete"]) == (40, 20, 0, True)
    pairs = {(p["x"], p["y"]): p for p in aggregates["probability_of_improvement"]}
    pair = pairs[("crasher|env", "honest|env")]
    assert pair["mean"] == pytest.approx(0.5) and pair["ci_low"] <= 0.5 <= pair["ci_high"]


def test_harness_failures_leave_the_cell_incomplete_and_out_of_the_metrics():
    records = [*references_run(), rec("ppo", seed=0), rec("ppo", seed=1, status="failed"),
               rec("ppo", seed=2, success=False, env_return=0.0)]
    cells, aggregates = summarize(records, **FAST)
    ppo = cell_of(cells, "toy|ppo|env|test")
    assert (ppo["episodes"], ppo["n_episodes"], ppo["failed"], ppo["n_failed"]) == (2, 2, 1, 1)
    assert ppo["complete"] is False and ppo["incomplete"] is True and ppo["failed_keys"] == ["toy|ppo|env|test/1/0"]
    assert ppo["metrics"]["success_rate"]["mean"] == pytest.approx(0.5)  # computed on what exists
    assert aggregates["by_agent"]["ppo|env"]["complete"] is False
    assert aggregates["by_agent"]["oracle|env"]["complete"] is True
