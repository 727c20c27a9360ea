"""Tower of Hanoi in text: move a tower of ``n_disks`` disks to the goal peg, one top disk at a time.

Pegs are A, B, C; disk 1 is the smallest. Actions are the six peg pairs, labelled
``"move disk from A to C"``; moving from an empty peg or onto a smaller disk is illegal (masked,
and an invalid action if tried). The text view also reads variants such as
``"move disk 1 from A to C"`` (the named disk must be A's top disk), ``"A to C"``, ``"a -> c"``.

Tasks (drawn from the seed):

- ``random_start=False`` (standard): the whole tower on a seeded peg, the goal a seeded other
  peg: six tasks, each with the optimal solution of ``2**n - 1`` moves;
- ``random_start=True``: a uniformly random legal arrangement (any of the ``3**n``, except the
  goal itself) and a seeded goal peg; the optimum is between 1 and ``2**n - 1`` moves.

Distances come from breadth-first search from the goal tower over the ``3**n`` states (cached per
goal peg); they agree with the recursive formula (see the tests).

Example:
    >>> env = HanoiEnv(view="text", n_disks=3)
    >>> obs, info = env.reset(seed=0)
    >>> env.unwrapped.distance()
    7
"""

from __future__ import annotations

import re
from functools import lru_cache

import numpy as np

from agentgym.core.errors import ConfigError
from agentgym.envs.planning.common import PlanningEnv
from agentgym.envs.planning.search import bfs_distances

PEGS = "ABC"
PAIRS = [(source, target) for source in range(3) for target in range(3) if source != target]
VARIANT = re.compile(
    r"^(?:move )?(?:the )?(?:top )?(?:disk ?(?P<disk>[0-9]{1,4})? ?)?(?:from )?(?:peg )?(?P<source>[abc]) ?"
    r"(?:->|=>|to|onto) ?(?:peg )?(?P<target>[abc])$"
)

HanoiState = tuple[int, ...]
"""Peg (0-2) of each disk, smallest first."""


def top_disks(state: HanoiState) -> list[int | None]:
    """The smallest disk on each peg (None for an empty peg)."""
    tops: list[int | None] = [None, None, None]
    for disk in reversed(range(len(state))):
        tops[state[disk]] = disk
    return tops


def hanoi_moves(state: HanoiState) -> dict[int, HanoiState]:
    """Legal action index (into ``PAIRS``) -> resulting state."""
    tops = top_disks(state)
    moves = {}
    for index, (source, target) in enumerate(PAIRS):
        disk, top = tops[source], tops[target]
        if disk is not None and (top is None or top > disk):
            moves[index] = (*state[:disk], target, *state[disk + 1:])
    return moves


@lru_cache(maxsize=32)
def hanoi_distances(n_disks: int, goal_peg: int) -> dict[HanoiState, int]:
    """Optimal number of moves from every state to the tower on ``goal_peg``."""
    return bfs_distances((goal_peg,) * n_disks, lambda state: hanoi_moves(state).values())


class HanoiEnv(PlanningEnv[HanoiState]):
    """Tower of Hanoi; see the module docstring. Vector view: one-hot peg per disk, then the goal peg."""

    def __init__(self, view: str = "vector", n_disks: int = 3, random_start: bool = False,
                 step_cost: float = 0.01, render_mode: str | None = None) -> None:
        if not 1 <= n_disks <= 9:
            raise ConfigError(f"n_disks must be 1..9, not {n_disks}")
        super().__init__(view=view, n_actions=len(PAIRS), vector_size=3 * n_disks + 3, step_cost=step_cost,
                         render_mode=render_mode)
        self.n_disks = n_disks
        self.random_start = random_start
        self.goal_peg = 2
        self.labels = [f"move disk from {PEGS[source]} to {PEGS[target]}" for source, target in PAIRS]

    def new_task(self) -> HanoiState:
        rng = self.np_random
        if not self.random_start:
            start_peg = int(rng.integers(3))
            self.goal_peg = (start_peg + int(rng.integers(1, 3))) % 3
            return (start_peg,) * self.n_disks
        self.goal_peg = int(rng.integers(3))
        while True:
            state = tuple(int(peg) for peg in rng.integers(3, size=self.n_disks))
            if state != (self.goal_peg,) * self.n_disks:
                return state

    def successors(self, state: HanoiState) -> dict[int, HanoiState]:
        return hanoi_moves(state)

    def distance(self, state: HanoiState | None = None) -> int:
        return hanoi_distances(self.n_disks, self.goal_peg)[self.state if state is None else state]

    def parse_variant(self, text: str) -> int | None:
        match = VARIANT.match(text)
        if match is None:
            return None
        source, target = PEGS.lower().index(match["source"]), PEGS.lower().index(match["target"])
        if source == target:
            return None
        if match["disk"] is not None and top_disks(self.state)[source] != int(match["disk"]) - 1:
            return None  # names a disk that is not the top disk of the source peg
        return PAIRS.index((source, target))

    def vector_observation(self) -> np.ndarray:
        vector = np.zeros(3 * self.n_disks + 3, dtype=np.float32)
        vector[3 * np.arange(self.n_disks) + np.array(self.state)] = 1.0
        vector[3 * self.n_disks + self.goal_peg] = 1.0
        return vector

    def text_observation(self) -> str:
        n = self.n_disks
        lines = [
            f"Tower of Hanoi with {n} disks on three pegs A, B and C (disk 1 is the smallest, disk {n} the largest).",
            "Each move takes the top disk of one peg and puts it on another peg; a disk may never be put on a"
            " smaller disk.",
            f"Goal: all {n} disks on peg {PEGS[self.goal_peg]}, largest at the bottom.",
            "Now (each peg listed bottom to top):",
        ]
        for peg in range(3):
            disks = [str(disk + 1) for disk in reversed(range(n)) if self.state[disk] == peg]
            lines.append(f"  peg {PEGS[peg]}: " + (", ".join(disks) if disks else "empty"))
        if self.distance() == 0:
            lines.append("The tower is complete on the goal peg: the puzzle is solved.")
        return "\n".join(lines)
