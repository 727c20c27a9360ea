"""The classic family: oracles reach success, exact oracles are optimal, views, ranges, fidelity to Gymnasium."""

from __future__ import annotations

from collections import deque

import gymnasium as gym
import numpy as np
import pytest

import agentgym

CLASSIC = [
    "agentgym/CartPole-v0",
    "agentgym/FrozenLake-v0",
    "agentgym/FrozenLakeSlippery-v0",
    "agentgym/FrozenLake8x8-v0",
    "agentgym/FrozenLake8x8Slippery-v0",
    "agentgym/Taxi-v0",
    "agentgym/BabyAI-GoToRedBallGrey-v0",
    "agentgym/BabyAI-GoToObj-v0",
    "agentgym/BabyAI-GoToLocal-v0",
    "agentgym/BabyAI-PickupLoc-v0",
    "agentgym/BabyAI-OpenDoor-v0",
]
ALWAYS = [env_id for env_id in CLASSIC if agentgym.env_spec(env_id).card.oracle_always_succeeds]
BABYAI = [env_id for env_id in CLASSIC if "BabyAI" in env_id]


def split_seeds(env_id: str, count: int) -> list[int]:
    return agentgym.env_spec(env_id).card.splits["test"].seeds()[:count]


def seed_count(env_id: str) -> int:
    return 4 if "BabyAI" in env_id else 10


def run_oracle(env: gym.Env, seed: int) -> tuple[dict, int, float]:
    """One oracle episode: (last info, steps, native return)."""
    env.reset(seed=seed)
    oracle = env.get_wrapper_attr("oracle")
    steps, total = 0, 0.0
    while True:
        _, _reward, terminated, truncated, info = env.step(oracle())
        steps += 1
        total += info["env_reward"]
        if terminated or truncated:
            return info, steps, total


def test_every_classic_id_is_registered_with_a_classic_card():
    assert set(CLASSIC) <= set(agentgym.env_ids())
    for env_id in CLASSIC:
        card = agentgym.env_spec(env_id).card
        assert card.family == "classic" and card.oracle != "none" and card.version == 0
        assert set(card.views) == {"text", "vector"}


@pytest.mark.parametrize("env_id", CLASSIC)
def test_reward_vector_keys_match_class_and_card(env_id):
    env = agentgym.make(env_id)
    _, info = env.reset(seed=0)
    _, _, _, _, step_info = env.step(env.action_space.sample())
    card_keys = list(agentgym.env_spec(env_id).card.aspects)
    assert list(env.unwrapped.aspects) == card_keys
    assert set(info["reward_vector"]) == set(step_info["reward_vector"]) == set(card_keys)


@pytest.mark.parametrize("env_id", ALWAYS)
def test_oracle_succeeds_on_split_seeds(env_id):
    env = agentgym.make(env_id)
    for seed in split_seeds(env_id, seed_count(env_id)):
        info, steps, _ = run_oracle(env, seed)
        assert info["success"] and info["progress"] == 1.0, (env_id, seed)
        if env_id == "agentgym/CartPole-v0":
            assert steps == 500


@pytest.mark.parametrize("env_id", ALWAYS)
def test_oracle_succeeds_in_the_text_view(env_id):
    env = agentgym.make(env_id, view="text")
    for seed in split_seeds(env_id, 2):
        env.reset(seed=seed)
        assert isinstance(env.get_wrapper_attr("oracle")(), str)
        info, _, _ = run_oracle(env, seed)
        assert info["success"] and not info["invalid_action"], (env_id, seed)


@pytest.mark.parametrize(("env_id", "at_least"), [("agentgym/FrozenLakeSlippery-v0", 0.6),
                                                  ("agentgym/FrozenLake8x8Slippery-v0", 0.8)])
def test_slippery_oracle_succeeds_about_as_often_as_the_optimum(env_id, at_least):
    # The optimal success probabilities within the step limit are about 0.74 (4x4) and 0.92 (8x8).
    env = agentgym.make(env_id)
    successes = [run_oracle(env, seed)[0]["success"] for seed in split_seeds(env_id, 200)]
    assert np.mean(successes) >= at_least


def lake_shortest_path(map_name: str) -> int:
    desc = gym.envs.toy_text.frozen_lake.MAPS[map_name]
    rows, cols = len(desc), len(desc[0])
    queue, seen = deque([((0, 0), 0)]), {(0, 0)}
    while queue:
        (row, col), length = queue.popleft()
        if desc[row][col] == "G":
            return length
        for r, c in ((row + 1, col), (row - 1, col), (row, col + 1), (row, col - 1)):
            if 0 <= r < rows and 0 <= c < cols and desc[r][c] != "H" and (r, c) not in seen:
                seen.add((r, c))
                queue.append(((r, c), length + 1))
    raise AssertionError("no path")


@pytest.mark.parametrize(("env_id", "map_name"), [("agentgym/FrozenLake-v0", "4x4"),
                                                  ("agentgym/FrozenLake8x8-v0", "8x8")])
def test_frozenlake_oracle_takes_the_shortest_path(env_id, map_name):
    shortest = lake_shortest_path(map_name)
    assert shortest == {"4x4": 6, "8x8": 14}[map_name]
    env = agentgym.make(env_id)
    for seed in split_seeds(env_id, 3):
        info, steps, total = run_oracle(env, seed)
        assert info["success"] and steps == shortest and total == 1.0


def taxi_optimal_return(start: int) -> float:
    """Breadth-first search over Taxi's deterministic model: 20 for the delivery, -1 for every other step."""
    model = gym.envs.toy_text.taxi.TaxiEnv().P
    queue, seen = deque([(start, 0)]), {start}
    while queue:
        state, length = queue.popleft()
        for outcomes in model[state].values():
            ((_, successor, _, terminated),) = outcomes
            if terminated:
                return 20.0 - length
            if successor not in seen:
                seen.add(successor)
                queue.append((successor, length + 1))
    raise AssertionError("no delivery")


def test_taxi_oracle_return_is_optimal():
    env = agentgym.make("agentgym/Taxi-v0")
    for seed in split_seeds("agentgym/Taxi-v0", 5):
        start, _ = env.reset(seed=seed)
        info, _, total = run_oracle(env, seed)
        assert info["success"] and total == taxi_optimal_return(int(start))


@pytest.mark.parametrize("env_id", BABYAI)
def test_babyai_oracle_recovers_after_random_actions(env_id):
    """Another agent acted first (no toggling: opening a box can destroy the target); the bot is rebuilt."""
    env = agentgym.make(env_id)
    oracle = env.get_wrapper_attr("oracle")
    rng = np.random.default_rng(0)
    for seed in split_seeds(env_id, 3):
        env.reset(seed=seed)
        done, info = False, {}
        for step in range(15):
            # Random moves, with an oracle call now and then so the bot is also out of step.
            if step % 3 == 0:
                oracle()
            _, _, terminated, truncated, info = env.step(int(rng.choice([0, 1, 2, 3, 4])))
            if terminated or truncated:
                done = True
                break
        if done:  # the random walk finished the mission (or ran out of time): nothing to recover from
            continue
        while not done:
            _, _, terminated, truncated, info = env.step(oracle())
            done = terminated or truncated
        assert info["success"], (env_id, seed)


@pytest.mark.parametrize("env_id", CLASSIC)
def test_text_view_parses_labels_and_rejects_garbage(env_id):
    env = agentgym.make(env_id, view="text")
    observation, info = env.reset(seed=1)
    assert isinstance(observation, str) and observation
    labels = env.unwrapped.action_labels()
    assert info["admissible_actions"] == labels
    for garbage in ["", "fly to the moon", "!!!", "99", "\x00"]:
        observation, _reward, terminated, _truncated, info = env.step(garbage)
        assert info["invalid_action"] and isinstance(observation, str) and not terminated
        if "validity" in info["reward_vector"]:
            assert info["reward_vector"]["validity"] == -1.0
    variant = f"  {labels[0].upper()}. "
    _, _, _, _, info = env.step(variant)
    assert not info["invalid_action"]
    assert info["admissible_actions"] == labels


@pytest.mark.parametrize("env_id", CLASSIC)
def test_reward_vector_stays_within_card_ranges(env_id):
    card = agentgym.env_spec(env_id).card
    episodes = 3 if "BabyAI" in env_id else 20
    for view in ("vector", "text"):
        env = agentgym.make(env_id, view=view)
        labels = env.unwrapped.action_labels()
        rng = np.random.default_rng(7)
        for episode in range(episodes if view == "vector" else 2):
            env.reset(seed=episode)
            done = False
            while not done:
                index = int(rng.integers(len(labels)))
                if view == "vector":
                    action = index
                else:
                    action = "nonsense" if rng.random() < 0.1 else labels[index]
                _, _reward, terminated, truncated, info = env.step(action)
                done = terminated or truncated
                for name, value in info["reward_vector"].items():
                    aspect = card.aspects[name]
                    assert aspect.low - 1e-12 <= value <= aspect.high + 1e-12, (env_id, name, value)
            assert 0.0 <= info["progress"] <= 1.0 and isinstance(info["success"], bool)


@pytest.mark.parametrize("env_id", CLASSIC)
def test_same_seed_gives_the_same_episode(env_id):
    def rollout():
        env = agentgym.make(env_id)
        rng = np.random.default_rng(3)
        trace = [env.reset(seed=11)[0]]
        for _ in range(30):
            observation, reward, terminated, truncated, _ = env.step(int(rng.integers(env.action_space.n)))
            trace += [observation, reward, terminated]
            if terminated or truncated:
                break
        return trace

    first, second = rollout(), rollout()
    assert len(first) == len(second)
    for a, b in zip(first, second):
        assert np.array_equal(a, b)


@pytest.mark.parametrize(("env_id", "gym_id", "gym_kwargs"), [
    ("agentgym/CartPole-v0", "CartPole-v1", {}),
    ("agentgym/FrozenLake-v0", "FrozenLake-v1", {"is_slippery": False}),
    ("agentgym/FrozenLakeSlippery-v0", "FrozenLake-v1", {"is_slippery": True}),
    ("agentgym/FrozenLake8x8Slippery-v0", "FrozenLake8x8-v1", {"is_slippery": True}),
    ("agentgym/Taxi-v0", "Taxi-v4", {}),
    ("agentgym/BabyAI-GoToLocal-v0", "BabyAI-GoToLocal-v0", {}),
])
def test_native_reward_and_dynamics_match_gymnasium(env_id, gym_id, gym_kwargs):
    ours, theirs = agentgym.make(env_id), gym.make(gym_id, **gym_kwargs)
    rng = np.random.default_rng(5)
    for seed in range(5):
        mine, _ = ours.reset(seed=seed)
        original, _ = theirs.reset(seed=seed)
        for _ in range(60):
            if isinstance(original, dict):  # MiniGrid: compare the image part of our flat vector
                assert np.array_equal(mine[:147], original["image"].reshape(-1))
            else:
                assert np.allclose(mine, original, atol=1e-6)
            action = int(rng.integers(ours.action_space.n))
            mine, reward, terminated, truncated, _ = ours.step(action)
            original, native, native_terminated, _native_truncated, _ = theirs.step(action)
            assert reward == pytest.approx(native) and terminated == native_terminated
            if terminated or truncated:
                break


def test_outcomes_and_progress():
    lake = agentgym.make("agentgym/FrozenLake-v0")
    lake.reset(seed=0)
    _, _, terminated, _, info = lake.step(1)  # down: (1, 0)
    _, _, terminated, _, info = lake.step(2)  # right: (1, 1), a hole
    assert terminated and not info["success"] and info["progress"] == 0.0
    assert info["reward_vector"]["safety"] == -1.0

    taxi = agentgym.make("agentgym/Taxi-v0")
    taxi.reset(seed=0)
    oracle = taxi.get_wrapper_attr("oracle")
    action = None
    while action != 4:  # follow the oracle up to the pick-up
        action = oracle()
        taxi.step(action)
    _, _, terminated, truncated, info = taxi.step(4)  # a second pick-up is illegal
    assert info["reward_vector"]["validity"] == -1.0 and info["env_reward"] == -10
    while not (terminated or truncated):
        _, _, terminated, truncated, info = taxi.step(4)
    assert not info["success"] and info["progress"] == 0.5

    cart = agentgym.make("agentgym/CartPole-v0")
    cart.reset(seed=0)
    steps, terminated = 0, False
    while not terminated:
        _, _, terminated, _, info = cart.step(1)
        steps += 1
    assert not info["success"] and info["reward_vector"]["safety"] == -1.0
    assert info["progress"] == pytest.approx(steps / 500)
