"""Graph navigation in text: walk from room to room through doors to a goal room (and valuePath).

Each seed draws a connected house: ``min_rooms..max_rooms`` rooms named from a fixed list,
joined by a random corridor-like spanning tree (each new room gets a door to one of the three
rooms made before it) plus ``round(extra_doors * rooms)`` random extra doors. The text view
describes every room's doors ("The kitchen has doors to the hall and the study."), where the
agent is and the goal. Action ``i`` is ``"go to the <room i>"``; only rooms behind a door of the
current room are legal (masked otherwise; naming another room is an invalid action). Indices
from the house's room count up to ``max_rooms`` are padding, never legal. The text view also
reads ``"go kitchen"``, ``"walk to the kitchen"``, ``"enter kitchen"``, ``"kitchen"``.

GraphNav: the goal is a random room, the start a random room far from it (at least two doors
away, and at most one door closer than the farthest room; in a star-shaped house, any other
room); arriving in the goal room ends the episode. The optimum is the breadth-first shortest
path, at most ``rooms - 1`` moves, so within every spec's step limit.

ValuePath (after Webb et al. 2023 / CogEval's valuePath): ``reward_rooms`` dead-end rooms
(one door each) hold rewards of distinct values from {10, 20, ..., 100}, shown in the text
and, divided by 100, in the vector view. Entering any reward room ends the episode and
collects its reward; success means ending in the room with the largest reward. The extra
aspect ``value`` is the collected reward divided by the largest one (1 for the best room, 0 on
other steps). Reward rooms are dead ends, so no shortest path runs through one, and the oracle
(shortest path to the best room) never ends the episode early. The native scalar stays
``task + progress - step_cost``.

Vector view (both): the padded ``max_rooms x max_rooms`` door matrix, a one-hot of the current
room, a one-hot of the goal room (GraphNav) or the room values / 100 (ValuePath), and a mask of
the rooms that exist.
"""

from __future__ import annotations

import re

import numpy as np

from agentgym.core.errors import ConfigError
from agentgym.envs.base import Transition
from agentgym.envs.planning.common import PLANNING_ASPECTS, PlanningEnv
from agentgym.envs.planning.search import bfs_distances, english_list

ROOM_NAMES = (
    "kitchen", "hall", "study", "library", "bedroom", "bathroom", "pantry", "cellar", "attic", "garden",
    "garage", "nursery", "office", "lounge", "gallery", "conservatory", "ballroom", "laundry", "workshop",
    "chapel", "armory", "observatory", "greenhouse", "vault",
)
VALUES = np.arange(10, 101, 10)


def random_house(rng: np.random.Generator, n_rooms: int, extra_doors: float) -> list[set[int]]:
    """A connected random graph on ``n_rooms`` rooms as adjacency sets."""
    order = [int(room) for room in rng.permutation(n_rooms)]
    doors: list[set[int]] = [set() for _ in range(n_rooms)]

    def connect(a: int, b: int) -> None:
        doors[a].add(b)
        doors[b].add(a)

    for position in range(1, n_rooms):
        connect(order[position], order[int(rng.integers(max(0, position - 3), position))])
    wanted = round(extra_doors * n_rooms)
    for _ in range(20 * wanted):
        if wanted == 0:
            break
        a, b = (int(room) for room in rng.choice(n_rooms, size=2, replace=False))
        if b not in doors[a]:
            connect(a, b)
            wanted -= 1
    return doors


class GraphNavEnv(PlanningEnv[int]):
    """Walk to the goal room; see the module docstring."""

    def __init__(self, view: str = "vector", min_rooms: int = 6, max_rooms: int = 8, extra_doors: float = 0.3,
                 step_cost: float = 0.01, render_mode: str | None = None) -> None:
        if not 3 <= min_rooms <= max_rooms <= len(ROOM_NAMES):
            raise ConfigError(f"need 3 <= min_rooms <= max_rooms <= {len(ROOM_NAMES)}")
        super().__init__(view=view, n_actions=max_rooms, vector_size=max_rooms * (max_rooms + 3),
                         step_cost=step_cost, render_mode=render_mode)
        self.min_rooms, self.max_rooms, self.extra_doors = min_rooms, max_rooms, extra_doors
        self.names: list[str] = []
        self.doors: list[set[int]] = []
        self.goal = 0
        self._distances: dict[int, int] = {}

    # -------------------------------------------------------------- the task
    def new_task(self) -> int:
        rng = self.np_random
        n_rooms = int(rng.integers(self.min_rooms, self.max_rooms + 1))
        self.names = [ROOM_NAMES[i] for i in rng.choice(len(ROOM_NAMES), size=n_rooms, replace=False)]
        self.doors = random_house(rng, n_rooms, self.extra_doors)
        self.goal = int(rng.integers(n_rooms))
        self._distances = bfs_distances(self.goal, self.doors.__getitem__)
        # a start far from the goal: at least two doors, and at most one door short of the farthest room
        least = max(2, max(self._distances.values()) - 1)
        far = [room for room in range(n_rooms) if self._distances[room] >= least]
        return int(rng.choice(far or [room for room in range(n_rooms) if room != self.goal]))

    def successors(self, state: int) -> dict[int, int]:
        return {room: room for room in self.doors[state]}

    def distance(self, state: int | None = None) -> int:
        return self._distances[self.state if state is None else state]

    # ----------------------------------------------------------------- views
    def action_labels(self) -> list[str]:
        return [f"go to the {name}" for name in self.names] + [
            f"(no room {index + 1})" for index in range(len(self.names), self.max_rooms)
        ]

    def parse_variant(self, text: str) -> int | None:
        text = re.sub(r"^(?:go|move|walk|head|run|enter)\b ?", "", text)
        text = re.sub(r"^(?:to|into|in)\b ?", "", text)
        text = re.sub(r"^the ", "", text)
        return self.names.index(text) if text in self.names else None

    def target_features(self) -> np.ndarray:
        """The goal part of the vector observation: a one-hot of the goal room."""
        return np.eye(self.max_rooms, dtype=np.float32)[self.goal]

    def vector_observation(self) -> np.ndarray:
        size, n_rooms = self.max_rooms, len(self.names)
        matrix = np.zeros((size, size), dtype=np.float32)
        for room, neighbours in enumerate(self.doors):
            matrix[room, list(neighbours)] = 1.0
        here = np.eye(size, dtype=np.float32)[self.state]
        exists = (np.arange(size) < n_rooms).astype(np.float32)
        return np.concatenate([matrix.reshape(-1), here, self.target_features(), exists])

    def describe_house(self) -> list[str]:
        lines = [f"You are in a house with {len(self.names)} rooms: {english_list(self.names)}."]
        for room, name in enumerate(self.names):
            others = english_list([f"the {self.names[other]}" for other in sorted(self.doors[room])])
            plural = "doors" if len(self.doors[room]) > 1 else "a door"
            lines.append(f"The {name} has {plural} to {others}.")
        return lines

    def text_observation(self) -> str:
        lines = self.describe_house()
        lines.append(f"Goal: reach the {self.names[self.goal]} in as few moves as possible.")
        if self.state == self.goal:
            lines.append(f"You are in the {self.names[self.goal]}: the goal is reached.")
        else:
            lines.append(f"You are in the {self.names[self.state]}.")
        return "\n".join(lines)


class ValuePathEnv(GraphNavEnv):
    """Reach the dead-end room with the largest reward; see the module docstring."""

    aspects = (*PLANNING_ASPECTS, "value")

    def __init__(self, view: str = "vector", min_rooms: int = 8, max_rooms: int = 10, reward_rooms: int = 3,
                 extra_doors: float = 0.3, step_cost: float = 0.01, render_mode: str | None = None) -> None:
        if not 2 <= reward_rooms <= min(min_rooms - 3, len(VALUES)):
            raise ConfigError("need 2 <= reward_rooms <= min(min_rooms - 3, 10)")
        super().__init__(view=view, min_rooms=min_rooms, max_rooms=max_rooms, extra_doors=extra_doors,
                         step_cost=step_cost, render_mode=render_mode)
        self.reward_rooms = reward_rooms
        self.values: dict[int, int] = {}

    def new_task(self) -> int:
        rng = self.np_random
        n_rooms = int(rng.integers(self.min_rooms, self.max_rooms + 1))
        n_core = n_rooms - self.reward_rooms
        self.names = [ROOM_NAMES[i] for i in rng.choice(len(ROOM_NAMES), size=n_rooms, replace=False)]
        core = random_house(rng, n_core, self.extra_doors)
        # the house's rooms in a random order: reward rooms are not recognisable by their index
        order = [int(room) for room in rng.permutation(n_rooms)]
        self.doors = [set() for _ in range(n_rooms)]
        for room, neighbours in enumerate(core):
            self.doors[order[room]] = {order[other] for other in neighbours}
        attached = rng.choice(n_core, size=self.reward_rooms, replace=False)
        values = rng.choice(VALUES, size=self.reward_rooms, replace=False)
        self.values = {}
        for offset, (anchor, value) in enumerate(zip(attached, values)):
            leaf, anchor = order[n_core + offset], order[int(anchor)]
            self.doors[leaf] = {anchor}
            self.doors[anchor].add(leaf)
            self.values[leaf] = int(value)
        self.goal = max(self.values, key=self.values.__getitem__)
        self._distances = bfs_distances(self.goal, self.doors.__getitem__)
        starts = [order[room] for room in range(n_core)]
        far = [room for room in starts if self._distances[room] >= 2]
        return int(rng.choice(far or starts))

    def is_terminal(self, state: int) -> bool:
        return state in self.values

    def _apply(self, action: int) -> Transition:
        reward, vector, terminated = super()._apply(action)
        vector["value"] = self.values.get(self.state, 0) / self.values[self.goal]
        return reward, vector, terminated

    def target_features(self) -> np.ndarray:
        features = np.zeros(self.max_rooms, dtype=np.float32)
        for room, value in self.values.items():
            features[room] = value / 100.0
        return features

    def text_observation(self) -> str:
        lines = self.describe_house()
        rewards = english_list([f"the {self.names[room]} ({value} points)" for room, value in self.values.items()])
        lines.append(f"Rooms with a reward, each a dead end: {rewards}. Entering any of them ends the episode"
                     " and collects its reward.")
        lines.append("Goal: end in the room with the largest reward, in as few moves as possible.")
        if self.state in self.values:
            lines.append(f"You are in the {self.names[self.state]} and collected {self.values[self.state]} points.")
        else:
            lines.append(f"You are in the {self.names[self.state]}.")
        return "\n".join(lines)
