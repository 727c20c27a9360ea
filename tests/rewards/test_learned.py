"""`learned`: the Bradley-Terry loss, the labeller, the trained reward model; `weighted` against MO-Gymnasium."""

from __future__ import annotations

import json
import math
import time

import gymnasium as gym
import numpy as np
import pytest

import agentgym
from agentgym.rewards import learned
from agentgym.rewards.learned import bradley_terry_loss, label_preferences

torch = pytest.importorskip("torch")

LAKE = "agentgym/FrozenLake-v0"


def _sigmoid(x):
    return 1 / (1 + math.exp(-x))


@pytest.mark.parametrize("r_a, r_b", [(2.0, 0.5), (-1.0, 3.0), (0.0, 0.0), (30.0, -30.0)])
def test_bradley_terry_matches_its_closed_form(r_a, r_b):
    a, b = torch.tensor([r_a], requires_grad=True), torch.tensor([r_b], requires_grad=True)
    out = bradley_terry_loss(a, b, torch.tensor([1.0]))
    assert out.loss.item() == pytest.approx(-math.log(_sigmoid(r_a - r_b)), rel=1e-5, abs=1e-6)
    assert out.probability.item() == pytest.approx(_sigmoid(r_a - r_b), abs=1e-6)
    out.loss.backward()
    if r_a - r_b < 20:  # the preferred segment's reward is pushed up, the other's down
        assert a.grad.item() < 0 < b.grad.item()
        assert a.grad.item() == pytest.approx(-(1 - _sigmoid(r_a - r_b)), abs=1e-6)
    assert bradley_terry_loss(b, a, [0.0]).loss.item() == pytest.approx(out.loss.item(), abs=1e-6)  # symmetric
    half = bradley_terry_loss(a, b, [0.5]).loss.item()
    expected = -0.5 * math.log(_sigmoid(r_a - r_b)) - 0.5 * math.log(_sigmoid(r_b - r_a))
    assert half == pytest.approx(expected, rel=1e-5)


def test_bradley_terry_averages_over_pairs():
    a, b, p = torch.tensor([1.0, 0.0, 2.0]), torch.tensor([0.0, 1.0, 2.0]), torch.tensor([1.0, 1.0, 0.5])
    expected = np.mean([-math.log(_sigmoid(1)), -math.log(_sigmoid(-1)), math.log(2)])
    assert bradley_terry_loss(a, b, p).loss.item() == pytest.approx(expected, rel=1e-6)


def test_labeller_noise_and_temperature():
    rng = np.random.default_rng(0)
    a, b = np.array([1.0, 0.0, 2.0]), np.array([0.0, 1.0, 2.0])
    np.testing.assert_array_equal(label_preferences(a, b, rng), [1.0, 0.0, 0.5])
    np.testing.assert_array_equal(label_preferences(a, b, rng, noise=1.0), [0.0, 1.0, 0.5])  # ties stay ties
    many_a, many_b = np.full(20000, 1.0), np.zeros(20000)
    assert label_preferences(many_a, many_b, rng, noise=0.2).mean() == pytest.approx(0.8, abs=0.02)
    assert label_preferences(many_a, many_b, rng, temperature=1.0).mean() == pytest.approx(_sigmoid(1), abs=0.02)


def test_segments_come_from_train_seeds_only(monkeypatch):
    seen = []
    original = learned.build_env

    def recording_build(*args, **kwargs):
        env = original(*args, **kwargs)
        reset = env.reset

        def recorded_reset(*, seed=None, options=None):
            seen.append(seed)
            return reset(seed=seed, options=options)

        env.reset = recorded_reset
        return env

    monkeypatch.setattr(learned, "build_env", recording_build)
    episodes = learned.rollouts(LAKE, {}, 30, (1.0, 0.0, 0.5), seed=0)
    assert len(episodes) == 30 and len(seen) == 30
    assert set(seen) <= set(agentgym.env_spec(LAKE).card.splits["train"].seeds())
    assert all(episode["progress"][-1] == 1.0 for episode in episodes[1::3])  # the oracle's episodes succeed


def test_reward_model_learns_frozenlake_preferences():
    started = time.perf_counter()
    env = agentgym.make(LAKE, reward="learned")
    took = time.perf_counter() - started
    print(f"\nlearned (scalar, noiseless) on FrozenLake 4x4: held-out accuracy {env.accuracy:.3f} "
          f"({env.report['test_pairs']} pairs), made in {took:.1f}s")
    assert env.accuracy > 0.85
    # the learned reward ranks the goal above the holes and the start
    rewards = np.array([env.model_reward(s) for s in range(16)])
    assert rewards[15] > max(rewards[[0, 5, 7, 11, 12]])
    # cached: a second make is cheap and gives the same model
    started = time.perf_counter()
    again = agentgym.make(LAKE, reward="learned")
    assert time.perf_counter() - started < 2.0 and again.accuracy == env.accuracy
    np.testing.assert_array_equal(again.model["w1"], env.model["w1"])
    learned._MEMO.clear()  # from disk, as another process would
    third = agentgym.make(LAKE, reward="learned")
    np.testing.assert_array_equal(third.model["w1"], env.model["w1"])


def test_accuracy_is_reported_once_and_rewards_are_deterministic():
    env = agentgym.make(LAKE, reward="learned", view="text")
    episodes = []
    for _ in range(2):
        env.reset(seed=3)
        episodes.append([env.step(action) for action in ["down", "down", "right"]])
    assert [step[1] for step in episodes[0]] == [step[1] for step in episodes[1]]
    reported = [("reward_model_accuracy" in step[4]) for episode in episodes for step in episode]
    assert reported == [True] + [False] * 5 and episodes[0][0][4]["reward_model_accuracy"] == env.accuracy
    assert env.report["test_pairs"] > 100 and 0.5 < env.accuracy <= 1.0


def test_structured_reward_model_has_one_head_per_aspect():
    env = agentgym.make(LAKE, reward="learned",
                        reward_kwargs={"heads": "aspects", "weights": {"safety": 2.0}})
    report = env.report
    print(f"\nlearned (aspect heads) on FrozenLake 4x4: combined accuracy {report['accuracy']:.3f}, "
          f"per head {dict(zip(env.unwrapped.card.aspects, report['head_accuracy']))}")
    assert env.model["w3"].shape[1] == 3 and env.model["combine"].shape == (3,)
    assert report["head_accuracy"][2] > 0.8  # safety: falling into a hole
    assert report["accuracy"] > 0.6


def test_noisy_labels_still_beat_chance():
    env = agentgym.make(LAKE, reward="learned", reward_kwargs={"noise": 0.2})
    print(f"\nlearned with 20% flipped labels: held-out accuracy {env.accuracy:.3f}")
    assert env.accuracy > 0.7


def test_learned_refuses_bad_kwargs():
    with pytest.raises(ValueError, match="heads"):
        agentgym.make(LAKE, reward="learned", reward_kwargs={"heads": "many"})
    with pytest.raises(ValueError, match="unknown aspects"):
        agentgym.make(LAKE, reward="learned", reward_kwargs={"heads": "aspects", "weights": {"speed": 1.0}})


@pytest.mark.filterwarnings("ignore:.*precision lowered:UserWarning")
def test_weighted_matches_mo_gymnasium_linear_reward():
    mo_gym = pytest.importorskip("mo_gymnasium")
    from mo_gymnasium.wrappers import LinearReward

    from agentgym.rewards.basic import WeightedReward

    class VectorInInfo(gym.Wrapper):
        """Exposes an MO env's vector reward as agentgym's ``info["reward_vector"]``."""

        def step(self, action):
            observation, vector, terminated, truncated, info = self.env.step(action)
            info["reward_vector"] = dict(zip(self.env.unwrapped.aspects, vector))
            return observation, 0.0, terminated, truncated, info

    weights = np.array([0.7, 0.3], dtype=np.float32)
    theirs = LinearReward(mo_gym.make("deep-sea-treasure-v0"), weight=weights)
    base = mo_gym.make("deep-sea-treasure-v0")
    base.unwrapped.card, base.unwrapped.aspects = None, ("treasure", "time")
    ours = WeightedReward(VectorInInfo(base), weights={"treasure": 0.7, "time": 0.3})
    rng = np.random.default_rng(0)
    compared = 0
    for episode in range(20):
        theirs.reset(seed=episode)
        ours.reset(seed=episode)
        for _ in range(30):
            action = int(rng.integers(4))
            _, r_theirs, done, cut, info_theirs = theirs.step(action)
            _, r_ours, _, _, info_ours = ours.step(action)
            assert r_ours == pytest.approx(float(r_theirs), abs=1e-6)
            np.testing.assert_allclose(info_ours["vector_reward"], info_theirs["vector_reward"], atol=1e-6)
            np.testing.assert_array_equal(info_ours["reward_weights"], info_theirs["reward_weights"])
            compared += 1
            if done or cut:
                break
    assert compared > 50


def test_runner_keeps_the_reward_models_accuracy_and_results_show_it(tmp_path):
    from agentgym.bench.results import format_table
    from agentgym.bench.run import run_suite
    from agentgym.bench.suite import Suite
    from agentgym.metrics.recipes import summarize_recipes

    suite = Suite.model_validate({"name": "rm", "envs": [LAKE], "agents": ["random"], "rewards": ["env", "learned"],
                                  "episodes": 4, "references": False})
    outcome = run_suite(suite, tmp_path / "run", progress=False, print_table=False)
    records = [json.loads(line) for line in (tmp_path / "run" / "episodes.jsonl").read_text().splitlines()]
    accuracy = agentgym.make(LAKE, reward="learned").accuracy
    assert {r["reward"]: r.get("reward_diagnostics") for r in records} == {
        "env": None, "learned": {"reward_model_accuracy": accuracy}}
    as_recipe = [{**r, "recipe": "x", "train_seed": 0} for r in records]
    rows = {row["reward"]: row for row in summarize_recipes(as_recipe, n_resamples=200)}
    assert rows["learned"]["reward_diagnostics"] == {"reward_model_accuracy": accuracy}
    assert "reward_diagnostics" not in rows["env"]
    shown = format_table({**outcome.results, "aggregates": {**outcome.results["aggregates"],
                                                             "recipes": list(rows.values())}})
    assert f"FrozenLake-v0 learned: reward model accuracy {accuracy:.3f} (held out)" in shown
