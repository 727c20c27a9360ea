"""The planning family: exact oracles with zero regret, replanning, text parsing, BFS distances, seeding."""

from __future__ import annotations

import functools
import itertools

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import agentgym
from agentgym.envs.planning.blocksworld import all_states, blocks_moves
from agentgym.envs.planning.hanoi import hanoi_distances
from agentgym.envs.planning.search import bfs_distances

HANOI = ["agentgym/Hanoi3-v0", "agentgym/Hanoi4-v0", "agentgym/Hanoi5-v0"]
HANOI_RANDOM = ["agentgym/Hanoi3-RandomStart-v0", "agentgym/Hanoi4-RandomStart-v0", "agentgym/Hanoi5-RandomStart-v0"]
GRAPHS = ["agentgym/GraphNav-Small-v0", "agentgym/GraphNav-Large-v0", "agentgym/ValuePath-v0"]
BLOCKS = ["agentgym/Blocksworld3-v0", "agentgym/Blocksworld4-v0", "agentgym/Blocksworld5-v0"]
PLANNING = HANOI + HANOI_RANDOM + GRAPHS + BLOCKS
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@functools.cache
def make(env_id: str, view: str = "vector"):
    return agentgym.make(env_id, view=view)


def split_seeds(env_id: str, count: int) -> list[int]:
    return agentgym.env_spec(env_id).card.splits["test"].seeds()[:count]




def legal(env) -> list[int]:
    return [int(i) for i in np.flatnonzero(env.unwrapped.action_mask())]


def oracle_episode(env, seed: int | None = None) -> tuple[int, dict, list[dict]]:
    """Run the oracle to the end (from a reset when ``seed`` is given): (steps, last info, infos)."""
    if seed is not None:
        env.reset(seed=seed)
    oracle = env.get_wrapper_attr("oracle")
    infos = []
    while True:
        _, _, terminated, truncated, info = env.step(oracle())
        infos.append(info)
        if terminated or truncated:
            return len(infos), info, infos


def test_every_planning_id_is_registered_with_a_planning_card():
    assert set(PLANNING) <= set(agentgym.env_ids())
    for env_id in PLANNING:
        spec = agentgym.env_spec(env_id)
        card = spec.card
        assert card.family == "planning" and card.oracle == "exact" and card.oracle_always_succeeds
        assert card.version == 0 and card.changelog and set(card.views) == {"text", "vector"}
        assert card.splits["train"].start == 0 and card.splits["test"].start == 100000
        assert list(make(env_id).unwrapped.aspects) == list(card.aspects)
        assert card.aspects["efficiency"].low == pytest.approx(-1 / spec.max_episode_steps)


@pytest.mark.parametrize("env_id", PLANNING)
def test_oracle_has_zero_regret_on_test_seeds(env_id):
    env = make(env_id)
    lengths = []
    for seed in split_seeds(env_id, 100):
        env.reset(seed=seed)
        optimal = env.unwrapped.distance()
        if env_id in HANOI:
            assert optimal == 2 ** env.unwrapped.n_disks - 1
        steps, info, infos = oracle_episode(env)
        assert info["success"] and info["progress"] == 1.0 and steps == optimal, (env_id, seed, steps, optimal)
        assert not any(i["invalid_action"] for i in infos)
        assert sum(i["reward_vector"]["progress"] for i in infos) == pytest.approx(1.0)
        assert sum(i["reward_vector"]["task"] for i in infos) == 1.0
        if "value" in info["reward_vector"]:
            assert info["reward_vector"]["value"] == 1.0
        lengths.append(steps)
    print(f"{env_id}: oracle optimal on 100 test seeds, plan length {min(lengths)}-{max(lengths)}, "
          f"mean {np.mean(lengths):.2f}")


@pytest.mark.parametrize("env_id", PLANNING)
def test_oracle_is_optimal_in_the_text_view(env_id):
    env = make(env_id, "text")
    for seed in split_seeds(env_id, 3):
        observation, info = env.reset(seed=seed)
        optimal = env.unwrapped.distance()
        assert isinstance(observation, str) and "Valid actions: " in observation
        assert isinstance(env.get_wrapper_attr("oracle")(), str)
        assert env.get_wrapper_attr("oracle")() in info["admissible_actions"]
        steps, info, infos = oracle_episode(env)
        assert info["success"] and steps == optimal and not any(i["invalid_action"] for i in infos)


@pytest.mark.parametrize("env_id", PLANNING)
def test_oracle_replans_after_random_moves(env_id):
    env = make(env_id)
    rng = np.random.default_rng(1)
    recovered = 0
    for seed in split_seeds(env_id, 30):
        env.reset(seed=seed)
        done = False
        for _ in range(int(rng.integers(1, 8))):
            _, _, terminated, truncated, _ = env.step(int(rng.choice(legal(env))))
            if terminated or truncated:
                done = True
                break
        if done:  # the random walk reached a goal or a dead end: nothing left to plan
            continue
        remaining = env.unwrapped.distance()
        steps, info, _ = oracle_episode(env)
        assert info["success"] and steps == remaining, (env_id, seed)
        recovered += 1
    assert recovered >= 10


@pytest.mark.parametrize("env_id", PLANNING)
def test_random_agent_succeeds_less_often_than_the_oracle(env_id):
    env = make(env_id)
    rng = np.random.default_rng(0)
    successes = []
    for seed in split_seeds(env_id, 100):
        env.reset(seed=seed)
        while True:
            _, _, terminated, truncated, info = env.step(int(rng.choice(legal(env))))
            if terminated or truncated:
                break
        successes.append(info["success"])
        assert 0.0 <= info["progress"] <= 1.0
    rate = float(np.mean(successes))
    print(f"{env_id}: random (legal moves) agent success rate {rate:.2f} on 100 test seeds; oracle 1.00")
    assert rate < 1.0


@pytest.mark.parametrize("env_id", PLANNING)
def test_reward_vector_stays_within_card_ranges(env_id):
    card = agentgym.env_spec(env_id).card
    env = make(env_id, "text")
    rng = np.random.default_rng(2)
    for seed in split_seeds(env_id, 5):
        _, info = env.reset(seed=seed)
        done = False
        while not done:
            labels = env.unwrapped.action_labels()  # every label, masked ones included
            action = "nonsense" if rng.random() < 0.1 else labels[int(rng.integers(len(labels)))]
            _, _reward, terminated, truncated, info = env.step(action)
            done = terminated or truncated
            for name, value in info["reward_vector"].items():
                assert card.aspects[name].low - 1e-12 <= value <= card.aspects[name].high + 1e-12, (name, value)
        assert 0.0 <= info["progress"] <= 1.0 and isinstance(info["success"], bool)


NON_STRINGS = st.one_of(st.none(), st.integers(), st.floats(), st.binary(max_size=8),
                        st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=3), st.integers()))


@pytest.mark.parametrize("env_id", ["agentgym/Hanoi4-RandomStart-v0", "agentgym/GraphNav-Small-v0",
                                    "agentgym/ValuePath-v0", "agentgym/Blocksworld4-v0"])
@SETTINGS
@given(seed=st.integers(0, 10**6), action=st.one_of(st.text(max_size=40), NON_STRINGS), walk=st.integers(0, 3))
def test_arbitrary_text_actions_never_crash_and_are_invalid_unless_legal(env_id, seed, action, walk):
    env = make(env_id, "text")
    env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    for _ in range(walk):  # from a few states, not only the start
        if env.unwrapped.is_terminal(env.unwrapped.state):
            break
        env.step(env.unwrapped.action_labels()[int(rng.choice(legal(env)))])
    if env.unwrapped.is_terminal(env.unwrapped.state):
        env.reset(seed=seed)
    before, admissible = env.unwrapped.state, env.unwrapped.admissible_actions()
    parsed = env.unwrapped.parse_action(action)
    observation, _, _, _, info = env.step(action)
    assert isinstance(observation, str)
    if not isinstance(action, str):
        assert parsed is None
    elif action.strip().lower() in [label.lower() for label in admissible]:
        assert parsed is not None
    assert info["invalid_action"] == (parsed is None)
    if parsed is None:
        assert env.unwrapped.state == before and info["reward_vector"]["validity"] == -1.0
        assert "not a valid action" in observation
    else:
        assert env.unwrapped.admissible_actions() is not None
        assert info["reward_vector"]["validity"] == 0.0


@pytest.mark.parametrize("env_id", ["agentgym/Hanoi3-RandomStart-v0", "agentgym/GraphNav-Large-v0",
                                    "agentgym/Blocksworld5-v0"])
@SETTINGS
@given(seed=st.integers(0, 10**6), index=st.integers(0, 100), style=st.sampled_from(["upper", "spaced", "period"]))
def test_admissible_labels_are_accepted_in_any_case_and_spacing(env_id, seed, index, style):
    env = make(env_id, "text")
    _, info = env.reset(seed=seed)
    label = info["admissible_actions"][index % len(info["admissible_actions"])]
    text = {"upper": label.upper(), "spaced": f"  {label}  ", "period": f"'{label}.'"}[style]
    expected = env.unwrapped.successors(env.unwrapped.state)[env.unwrapped.action_labels().index(label)]
    _, _, _, _, info = env.step(text)
    assert not info["invalid_action"] and env.unwrapped.state == expected


@pytest.mark.parametrize("env_id", PLANNING)
@SETTINGS
@given(seed=st.integers(0, 10**6), walk=st.integers(0, 10))
def test_bfs_distances_are_consistent_along_moves_and_oracle_paths(env_id, seed, walk):
    """Every legal move changes the distance by at most one; each oracle step lowers it by exactly one."""
    env = make(env_id)
    env.reset(seed=seed)
    inner = env.unwrapped
    rng = np.random.default_rng(seed)
    for _ in range(walk):
        if inner.is_terminal(inner.state):
            break
        for successor in inner.successors(inner.state).values():
            assert abs(inner.distance(successor) - inner.distance()) <= 1
        env.step(int(rng.choice(legal(env))))
    if inner.is_terminal(inner.state):
        return
    while not inner.is_terminal(inner.state):
        before = inner.distance()
        env.step(inner.oracle_action())
        assert inner.distance() == before - 1
    assert inner.distance() == 0


def hanoi_formula(pegs: tuple[int, ...], goal: int) -> int:
    """Moves to gather ``pegs`` (disk 0 smallest) on ``goal``: disk k off target costs 2**k, the rest retarget."""
    total, target = 0, goal
    for disk in reversed(range(len(pegs))):
        if pegs[disk] != target:
            total += 2**disk
            target = 3 - pegs[disk] - target
    return total


@pytest.mark.parametrize("n_disks", [3, 4, 5])
def test_hanoi_bfs_matches_the_recursive_formula(n_disks):
    for goal in range(3):
        table = hanoi_distances(n_disks, goal)
        assert len(table) == 3**n_disks
        for state in itertools.product(range(3), repeat=n_disks):
            assert table[state] == hanoi_formula(state, goal)


def test_blocksworld_state_counts_and_reversible_moves():
    assert [len(all_states(n)) for n in (3, 4, 5)] == [13, 73, 501]
    for state in all_states(4):
        for successor in blocks_moves(state).values():
            assert state in blocks_moves(successor).values()


@pytest.mark.parametrize("env_id", GRAPHS)
def test_graph_distances_match_floyd_warshall(env_id):
    env = make(env_id)
    for seed in split_seeds(env_id, 20):
        env.reset(seed=seed)
        inner = env.unwrapped
        n = len(inner.names)
        matrix = np.full((n, n), np.inf)
        np.fill_diagonal(matrix, 0)
        for room, neighbours in enumerate(inner.doors):
            for other in neighbours:
                assert room in inner.doors[other]  # doors go both ways
                matrix[room, other] = 1
        for k in range(n):
            matrix = np.minimum(matrix, matrix[:, [k]] + matrix[[k], :])
        assert all(inner.distance(room) == matrix[room, inner.goal] for room in range(n))
        assert inner.distance() >= 2 or env_id != "agentgym/GraphNav-Large-v0"


def test_valuepath_reward_rooms_are_dead_ends_and_a_wrong_room_fails():
    env = make("agentgym/ValuePath-v0")
    for seed in split_seeds("agentgym/ValuePath-v0", 30):
        env.reset(seed=seed)
        inner = env.unwrapped
        assert len(set(inner.values.values())) == 3 and inner.goal == max(inner.values, key=inner.values.get)
        assert all(len(inner.doors[room]) == 1 for room in inner.values)
        # walk a shortest path to a lesser reward room: the episode ends there, unsuccessfully
        target = min(room for room in inner.values if room != inner.goal)
        table = bfs_distances(target, inner.doors.__getitem__)  # reward rooms are dead ends: never on the way
        terminated = False
        while not terminated:
            _, _, terminated, _, info = env.step(min(inner.doors[inner.state], key=table.__getitem__))
        assert inner.state == target and not info["success"] and 0.0 <= info["progress"] < 1.0
        assert info["reward_vector"]["value"] == inner.values[target] / inner.values[inner.goal] < 1.0


def test_text_variants_are_parsed():
    hanoi = make("agentgym/Hanoi3-v0", "text")
    hanoi.reset(seed=0)
    inner = hanoi.unwrapped
    source = "ABC"[inner.state[0]]
    target = "ABC"[inner.goal_peg]
    assert inner.parse_action(f"move disk 2 from {source} to {target}") is None  # disk 2 is not on top
    assert inner.parse_action(f"Move disk 1 from peg {source} to peg {target}.") is not None
    assert inner.parse_action(f"{source} -> {target}") == inner.parse_action(f"{source.lower()} to {target}")
    assert inner.parse_action(f"{source} to {source}") is None
    blocks = make("agentgym/Blocksworld3-v0", "text")
    blocks.reset(seed=0)
    inner = blocks.unwrapped
    for index in legal(blocks):
        label = inner.action_labels()[index]
        block, target = label.split()[1], label.split()[-1]
        assert inner.parse_action(f"put {block} on {'the table' if target == 'table' else target}") == index
    assert inner.parse_action("put Z on the table") is None
    graph = make("agentgym/GraphNav-Small-v0", "text")
    graph.reset(seed=0)
    inner = graph.unwrapped
    neighbour = next(iter(inner.doors[inner.state]))
    name = inner.names[neighbour]
    for text in (f"go {name}", f"walk to the {name}", name.upper(), f"enter {name}"):
        assert inner.parse_action(text) == neighbour
    far = [room for room in range(len(inner.names)) if room not in inner.doors[inner.state]]
    assert inner.parse_action(f"go to the {inner.names[far[0]]}") is None


@pytest.mark.parametrize("env_id", PLANNING)
def test_same_seed_same_task_and_seeds_differ(env_id):
    tasks = {}
    for seed in split_seeds(env_id, 20):
        first = make(env_id, "text").reset(seed=seed)[0]
        second = agentgym.make(env_id, view="text").reset(seed=seed)[0]
        assert first == second
        tasks[seed] = first
    distinct = len(set(tasks.values()))
    assert distinct >= (4 if env_id in HANOI else 15), distinct
