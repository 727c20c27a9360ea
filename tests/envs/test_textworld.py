"""The TextWorld family: oracle and random, the game cache, free text, determinism, views, training.

Every test plays the first three test seeds of an id (the games the conformance checks use too),
so a cold cache generates few games; ``test_cache_*`` generate one tiny game in their own cache.
"""

from __future__ import annotations

import importlib.util
import threading
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import agentgym
from agentgym.envs.textworld import generate
from agentgym.envs.textworld.env import TextWorldEnv, clean_feedback
from agentgym.envs.textworld.featurize import SLOT_DIMS, VERBS, Featurizer

IDS = ["agentgym/TextWorld-Easy-v0", "agentgym/TextWorld-Medium-v0", "agentgym/TextWorld-Hard-v0",
       "agentgym/TWCooking-Easy-v0", "agentgym/TWCooking-Medium-v0"]
EASY = "agentgym/TextWorld-Easy-v0"
GAMES = 3
RANDOM_EPISODES = 20
TINY = generate.game_request("custom", {"world_size": 1, "nb_objects": 2, "quest_length": 1})


def first_test_seeds(env_id: str, count: int = GAMES) -> list[int]:
    return agentgym.env_spec(env_id).card.splits["test"].seeds()[:count]


def play(env, seed: int, choose) -> tuple[dict, int, list[dict]]:
    """One episode of ``choose(env, info) -> action``: (last info, steps, every step's info)."""
    _, info = env.reset(seed=seed)
    infos = []
    while True:
        _, _, terminated, truncated, info = env.step(choose(env, info))
        infos.append(info)
        if terminated or truncated:
            return info, len(infos), infos


def oracle(env, info):
    return env.get_wrapper_attr("oracle")()


def uniform(rng):
    return lambda env, info: int(rng.choice(np.flatnonzero(env.get_wrapper_attr("action_masks")())))


def test_ids_are_registered_with_textworld_cards():
    assert set(IDS) <= set(agentgym.env_ids())
    levels = set()
    for env_id in IDS:
        spec = agentgym.env_spec(env_id)
        card = spec.card
        assert card.family == "textworld" and card.oracle == "near-optimal" and card.oracle_always_succeeds
        assert list(card.aspects) == list(TextWorldEnv.aspects) and set(card.views) == {"text", "vector"}
        assert card.aspects["efficiency"].low == -spec.kwargs["step_cost"]
        train, test = card.splits["train"].seeds(), card.splits["test"].seeds()
        assert not set(train) & set(test)
        levels.add(card.difficulty)
    assert levels == {"easy", "medium", "hard"}


@pytest.mark.parametrize("env_id", IDS)
def test_oracle_wins_and_random_wins_far_fewer(env_id):
    env = agentgym.make(env_id)
    for seed in first_test_seeds(env_id):
        info, _steps, _ = play(env, seed, oracle)
        assert info["success"] and info["progress"] == 1.0, (env_id, seed)
    rng = np.random.default_rng(0)
    episodes = RANDOM_EPISODES if "Easy" in env_id else RANDOM_EPISODES // 2  # long episodes, ~0 wins anyway
    seeds = first_test_seeds(env_id) * episodes
    rate = float(np.mean([play(env, seed, uniform(rng))[0]["success"] for seed in seeds[:episodes]]))
    assert rate <= (0.6 if env_id == EASY else 0.25), (env_id, rate)


@pytest.mark.parametrize("env_id", IDS)
def test_oracle_replans_after_a_detour(env_id):
    """After random steps, the oracle still wins every game that can still be won."""
    env = agentgym.make(env_id)
    rng = np.random.default_rng(1)
    checked = 0
    for seed in first_test_seeds(env_id):
        for detour in (2, 5):
            env.reset(seed=seed)
            done = False
            for _ in range(detour):
                _, _, terminated, truncated, info = env.step(uniform(rng)(env, None))
                done = terminated or truncated
                if done:
                    break
            if done or not env.unwrapped.walkthrough():  # lost, won by chance, or made unwinnable
                continue
            while not done:
                _, _, terminated, truncated, info = env.step(env.get_wrapper_attr("oracle")())
                done = terminated or truncated
            assert info["success"], (env_id, seed, detour)
            checked += 1
    assert checked >= GAMES


@pytest.mark.parametrize("env_id", [EASY, "agentgym/TWCooking-Easy-v0"])
def test_oracle_reward_vector_sums(env_id):
    env = agentgym.make(env_id)
    step_cost = agentgym.env_spec(env_id).kwargs["step_cost"]
    _info, steps, infos = play(env, first_test_seeds(env_id, 1)[0], oracle)
    total = {name: sum(i["reward_vector"][name] for i in infos) for name in TextWorldEnv.aspects}
    max_score = env.unwrapped.max_score
    assert total["progress"] == pytest.approx(1.0)
    assert total["task"] == pytest.approx(max_score + 1.0)
    assert total["efficiency"] == pytest.approx(-step_cost * steps)
    assert total["validity"] == 0.0 and not any(i["invalid_action"] for i in infos)
    assert sum(i["env_reward"] for i in infos) == pytest.approx(max_score)


def test_cache_generates_once_even_in_parallel(tmp_path, monkeypatch):
    monkeypatch.setenv("AGENTGYM_CACHE", str(tmp_path / "a"))
    spawned = []
    spawn = generate._spawn
    monkeypatch.setattr(generate, "_spawn", lambda *args: (spawned.append(args), spawn(*args)))
    folders = []
    threads = [threading.Thread(target=lambda: folders.append(generate.ensure_game(TINY, 7))) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(spawned) == 1 and len(folders) == 2 and folders[0] == folders[1]
    folder = folders[0]
    assert sorted(p.name for p in folder.iterdir()) == ["cache-entry.json", "game.json", "game.z8", "meta.json"]
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".partial")]
    meta = generate.read_meta(folder)
    assert meta["seed"] == 7 and meta["walkthrough"] and meta["params"] == TINY["params"]
    assert generate.ensure_game(TINY, 7) == folder and len(spawned) == 1  # cached: nothing generated
    # Generation is reproducible: a second, empty cache makes a byte-identical game.
    monkeypatch.setenv("AGENTGYM_CACHE", str(tmp_path / "b"))
    again = generate.ensure_game(TINY, 7)
    assert again != folder and (again / "game.z8").read_bytes() == (folder / "game.z8").read_bytes()


def test_cache_failed_generation_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("AGENTGYM_CACHE", str(tmp_path))

    def broken(request, seed, folder):
        folder.mkdir(parents=True)
        (folder / "game.z8").write_text("half a game")
        raise generate.GenerationError("boom")

    monkeypatch.setattr(generate, "_spawn", broken)
    with pytest.raises(generate.GenerationError):
        generate.ensure_game(TINY, 8)
    assert [p.name for p in (tmp_path / "textworld").iterdir() if not p.name.endswith(".lock")] == []


def test_second_make_and_reset_generate_nothing(monkeypatch):
    for view in ("vector", "text"):
        agentgym.make(EASY, view=view).reset(seed=first_test_seeds(EASY, 1)[0])

    def refuse(*args):
        raise AssertionError("a cached game was generated again")

    monkeypatch.setattr(generate, "_spawn", refuse)
    for view in ("vector", "text"):
        env = agentgym.make(EASY, view=view)
        env.reset(seed=first_test_seeds(EASY, 1)[0])
        env.step(env.get_wrapper_attr("oracle")())


def test_unknown_generator_parameters_are_refused():
    with pytest.raises(agentgym.core.errors.AgentGymError, match="unknown custom parameters"):
        generate.game_request("custom", {"world_sise": 3})
    with pytest.raises(agentgym.core.errors.AgentGymError, match="unknown TextWorld generator"):
        generate.game_request("zork", {})


def test_text_view_shows_goal_state_inventory_and_commands():
    env = agentgym.make(EASY, view="text")
    observation, info = env.reset(seed=first_test_seeds(EASY, 1)[0])
    assert observation.startswith("Goal: ") and "Inventory: " in observation and "Score: 0 of 1" in observation
    assert "$$" not in observation and "-= " in observation  # no banner; the room is shown
    commands = info["admissible_actions"]
    assert commands == sorted(commands) and "look" in commands and "inventory" in commands
    assert "Valid actions: " + ", ".join(commands) in observation
    observation, _, _, _, info = env.step("inventory")
    assert not info["invalid_action"] and "You are carrying" in observation


def test_free_text_rules():
    env = agentgym.make(EASY, view="text")
    _, info = env.reset(seed=first_test_seeds(EASY, 1)[0])
    before = list(info["admissible_actions"])
    observation, reward, _terminated, _, info = env.step("xyzzy")
    assert info["invalid_action"] and info["reward_vector"]["validity"] == -1.0 and reward == 0.0
    assert "That's not a verb I recognise" in observation and info["admissible_actions"] == before
    # A synonym the game would understand is still not an admissible command: invalid, state unchanged.
    observation, *_, info = env.step("wait")
    assert info["invalid_action"] and "Time passes" in observation
    # A meta-command never reaches the interpreter (issue 18: "save" and "script" wrote files).
    observation, *_, info = env.step("quit")
    assert info["invalid_action"] and "never sent to the game" in observation
    plan = env.get_wrapper_attr("oracle")()
    messy = "  " + plan.upper().replace(" ", "   ") + ". "
    observation, *_, info = env.step(messy)
    assert not info["invalid_action"] and info["reward_vector"]["validity"] == 0.0
    assert f"> {plan}" in observation


@pytest.fixture(scope="module")
def text_env():
    env = agentgym.make(EASY, view="text")
    yield env
    env.close()


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(text=st.one_of(st.text(max_size=80), st.text(alphabet="\\xqgoe nrtsaukl.\"'\n\t", max_size=30)))
def test_any_free_text_is_counted_never_crashes(text_env, text):
    _, info = text_env.reset(seed=first_test_seeds(EASY, 1)[0])
    before = info["admissible_actions"]
    normalised = " ".join(text.split()).strip("`'\"").strip().rstrip(".").strip().lower()
    observation, _, terminated, truncated, info = text_env.step(text)
    assert isinstance(observation, str)
    number = normalised.isascii() and normalised.isdecimal()
    if normalised in before or (number and int(normalised) < len(before)):
        assert not info["invalid_action"]
    else:
        assert info["invalid_action"] and info["reward_vector"]["validity"] == -1.0
        assert info["admissible_actions"] == before and not terminated and not truncated
        assert "The game's answer to it: " in observation
    _, *_, info = text_env.step(text_env.get_wrapper_attr("oracle")())  # the game goes on
    assert not info["invalid_action"]


@pytest.mark.parametrize("view", ["text", "vector"])
def test_same_seed_same_episode(view):
    runs = []
    for _ in range(2):
        env = agentgym.make("agentgym/TWCooking-Easy-v0", view=view)
        rng = np.random.default_rng(3)
        observation, info = env.reset(seed=first_test_seeds("agentgym/TWCooking-Easy-v0", 1)[0])
        trace = [observation]
        for step in range(12):
            if view == "text":
                action = "eat the moon" if step % 4 == 3 else str(rng.choice(info["admissible_actions"]))
            else:
                action = uniform(rng)(env, info)
            observation, reward, terminated, truncated, info = env.step(action)
            trace += [observation, reward, info["reward_vector"], info["invalid_action"]]
            if terminated or truncated:
                break
        runs.append(trace)
        env.close()
    assert len(runs[0]) == len(runs[1])
    for a, b in zip(*runs):
        assert np.array_equal(a, b) if isinstance(a, np.ndarray) else a == b


def test_vector_view_masks_and_slot_features():
    env = agentgym.make(EASY, view="vector")
    observation, _ = env.reset(seed=first_test_seeds(EASY, 1)[0])
    inner = env.unwrapped
    assert env.observation_space.contains(observation) and observation.dtype == np.float32
    mask = env.get_wrapper_attr("action_masks")()
    labels = inner.action_labels()
    assert mask.shape == (32,) and mask.sum() == len(inner.admissible_actions()) and all(labels[: mask.sum()])
    slots = observation[inner.featurizer.text_dims:].reshape(32, SLOT_DIMS)
    used = slots[: mask.sum()]
    assert (used[:, 0] == 1).all() and (slots[mask.sum():] == 0).all()
    assert len({row.tobytes() for row in used}) == len(used)  # every command has its own features
    _, reward, _, _, info = env.step(int(np.flatnonzero(~mask)[0]))
    assert info["invalid_action"] and reward == 0.0


def test_featurizer_is_stable_and_bounded():
    features = Featurizer(max_commands=4)
    args = {"goal": "Take the key.", "room": "-= Attic =- A key.", "inventory": "Nothing.",
            "commands": ["take key", "go east", "examine key"], "tried": {"go east": 5}, "shares": (0.5, 2.0)}
    vector = features.encode(**args)
    assert np.array_equal(vector, features.encode(**args)) and features.space.contains(vector)
    slots = vector[features.text_dims:].reshape(4, SLOT_DIMS)
    goal_overlap, tried = 1 + len(VERBS), 1 + len(VERBS) + 4
    assert slots[0, goal_overlap] == 1.0 and slots[1, goal_overlap] == 0.0  # "key" is in the goal, "east" is not
    assert slots[1, tried] == 1.0 and slots[0, tried] == 0.0 and slots[3].sum() == 0.0


def test_clean_feedback_strips_prompt_and_status():
    raw = "\nYou open the box.\n\n\n\n>                     -= Attic =-0/3"
    assert clean_feedback(raw) == "You open the box."
    assert clean_feedback("Are you sure you want to quit?                    -= Attic =-0/1") == \
        "Are you sure you want to quit?"


@pytest.mark.slow
def test_maskableppo_beats_random_on_the_easiest_game():
    pytest.importorskip("sb3_contrib")
    script = Path(__file__).resolve().parents[2] / "benchmarks" / "perf" / "textworld_maskableppo.py"
    spec = importlib.util.spec_from_file_location("textworld_maskableppo", script)
    benchmark = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(benchmark)
    result = benchmark.run(steps=30000, repeats=3, train_count=50)  # 50 train games: a few minutes cold
    assert result["oracle"]["success"] == 1.0
    assert result["sampled"]["success"] >= result["random"]["success"] + 0.15, result
    assert result["sampled"]["length"] < result["random"]["length"], result
