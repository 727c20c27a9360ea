"""Issue 10, point 3: each card declares the score it is normalised on; undefined (with a reason) when the
oracle does not beat random by the margin; the headline IQM uses it; the raw return stays reported."""

from __future__ import annotations

import pytest
from metric_records import FAST, cell_of, rec

from agentgym.envs.registration import env_ids, env_spec
from agentgym.metrics import References, summarize
from agentgym.metrics.normalize import MARGIN_FRACTION, SCORES

TAXI = "agentgym/Taxi-v0"


def test_every_built_in_card_declares_its_score():
    scores = {env: env_spec(env).card.score for env in env_ids() if env.startswith("agentgym/")}
    assert set(scores.values()) <= set(SCORES)
    assert scores["agentgym/CartPole-v0"] == "return"  # a control task
    assert scores[TAXI] == "success" and scores["agentgym/FrozenLake-v0"] == "success"
    assert scores["agentgym/TicTacToe-Perfect-v0"] == "progress"  # win 1, draw 1/2: a draw is the best there is


def taxi_run(ppo_return):
    """Random: no delivery, return -200 (illegal moves); oracle: delivers, return 8; PPO: no delivery, a better
    return than random (it stopped making illegal moves)."""
    out = []
    for seed in range(5):
        out.append(rec("random", env=TAXI, seed=seed, success=False, env_return=-200.0, steps=200))
        out.append(rec("oracle", env=TAXI, seed=seed, success=True, env_return=8.0, steps=13))
        out.append(rec("ppo", env=TAXI, seed=seed, success=False, env_return=ppo_return, steps=200))
    return out


def test_taxi_is_normalised_on_success_not_on_return():
    # Before: (-50 + 200) / (8 + 200) = 0.72 for an agent that never delivers a passenger.
    cells, aggregates = summarize(taxi_run(-50.0), **FAST)
    ppo = cell_of(cells, f"{TAXI}|ppo|env|test")
    assert ppo["normalization"] == {"score": "success", "random": 0.0, "oracle": 1.0, "margin": MARGIN_FRACTION,
                                    "reason": None}
    assert ppo["metrics"]["normalized_score"]["mean"] == 0.0
    assert ppo["metrics"]["normalized_score"]["ci_high"] > 0.0  # Wilson, mapped: never a [0, 0] claim
    assert ppo["metrics"]["return"]["mean"] == -50.0  # the raw return stays reported beside it
    assert aggregates["by_agent"]["ppo|env"]["iqm_normalized_score"]["mean"] == 0.0


def test_undefined_when_the_oracle_does_not_beat_random_never_a_flipped_scale():
    below = [rec("random", seed=s, env_return=1.0) for s in range(4)] + \
            [rec("oracle", seed=s, env_return=0.0) for s in range(4)] + [rec("ppo", env_return=0.5)]
    cells, aggregates = summarize(below, scores={"toy": "return"}, **FAST)
    ppo = cell_of(cells, "toy|ppo|env|test")
    assert ppo["metrics"]["normalized_score"] is None
    assert "does not beat random" in ppo["normalization"]["reason"]
    assert aggregates["by_agent"]["ppo|env"]["iqm_normalized_score"] is None
    assert aggregates["by_agent"]["ppo|env"]["iqm"]["undefined"] == {"toy|test": ppo["normalization"]["reason"]}


def test_margins():
    # success: the oracle must beat random by 0.05 (of the [0, 1] range)
    close = [rec("random", seed=s, success=s < 10) for s in range(100)] + \
            [rec("oracle", seed=s, success=s < 14) for s in range(100)]
    assert not References.from_records(close).normalizer("toy", "test").defined  # 0.14 - 0.10 < 0.05
    apart = [rec("random", seed=s, success=s < 10) for s in range(100)] + \
            [rec("oracle", seed=s, success=s < 16) for s in range(100)]
    assert References.from_records(apart).normalizer("toy", "test").defined
    # return: by 5% of the spread of the references' returns
    noisy = [rec("random", seed=s, env_return=float(v)) for s, v in enumerate([0, 100, 0, 100])] + \
            [rec("oracle", seed=s, env_return=52.0) for s in range(4)]
    norm = References.from_records(noisy, {"toy": "return"}).normalizer("toy", "test")
    assert norm.margin == pytest.approx(5.0) and not norm.defined  # 52 - 50 < 0.05 * 100
    tied = [rec("random", env_return=3.0), rec("oracle", env_return=3.0)]
    assert References.from_records(tied, {"toy": "return"}).normalizer("toy", "test").margin == 1e-6


def test_headline_iqm_skips_undefined_tasks_and_says_so():
    records = taxi_run(-50.0) + [rec("random", env="flat", seed=s, env_return=1.0) for s in range(3)] + \
        [rec("oracle", env="flat", seed=s, env_return=1.0) for s in range(3)] + \
        [rec("ppo", env="flat", seed=s, env_return=1.0) for s in range(3)]
    _, aggregates = summarize(records, scores={"flat": "return"}, **FAST)
    ppo = aggregates["by_agent"]["ppo|env"]
    assert ppo["envs"] == [f"{TAXI}|test", "flat|test"]
    assert ppo["iqm"]["envs"] == [f"{TAXI}|test"] and list(ppo["iqm"]["undefined"]) == ["flat|test"]


def test_unknown_env_without_success_is_graded_on_return():
    records = [rec("random", env="ctl", success=None, env_return=10.0), rec("oracle", env="ctl", success=None,
                                                                           env_return=110.0)]
    assert References.from_records(records).score_kind("ctl") == "return"
