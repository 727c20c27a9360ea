"""Blocksworld in text: restack ``n_blocks`` lettered blocks on a table into a goal configuration.

A state says what each block rests on (another block or the table); any number of stacks may
stand on the table. Only a clear block (nothing on it) can move, onto the table or onto another
clear block. Actions are ``"move A onto B"`` and ``"move A onto the table"`` for every block (an
``n x n`` grid: index ``x * n + y`` moves block ``x`` onto block ``y``, or onto the table when
``y == x``); illegal moves are masked. The text view also reads ``"put A on B"``, ``"A on the
table"``, ``"stack A on B"``, ``"move block A to B"`` and the like.

Start and goal are two different configurations drawn uniformly from all of them (13, 73 and
501 for 3, 4 and 5 blocks) by the seed; the goal fixes where every block rests. Optimal plans
come from breadth-first search from the goal over all configurations (cached per goal); no task
needs more than ``2 * (n - 1)`` moves (everything to the table, then build).

Example:
    >>> env = BlocksworldEnv(view="text", n_blocks=3)
    >>> obs, info = env.reset(seed=0)
    >>> obs.splitlines()[1].startswith("Goal:")
    True
"""

from __future__ import annotations

import re
from functools import lru_cache

import numpy as np

from agentgym.core.errors import ConfigError
from agentgym.envs.planning.common import PlanningEnv
from agentgym.envs.planning.search import bfs_distances, english_list

LETTERS = "ABCDEFGHI"
TABLE = -1
VARIANT = re.compile(
    r"^(?:move |put |place |stack |unstack )?(?:block )?(?P<block>[a-i]) (?:onto|on top of|on|to) "
    r"(?:the )?(?:block )?(?P<target>table|[a-i])$"
)

BlocksState = tuple[int, ...]
"""What each block rests on: another block's index, or ``TABLE``."""


def blocks_moves(state: BlocksState) -> dict[int, BlocksState]:
    """Legal action index (``x * n + y``; ``y == x`` is the table) -> resulting state."""
    n = len(state)
    covered = set(state)
    moves = {}
    for block in range(n):
        if block in covered:
            continue
        if state[block] != TABLE:
            moves[block * n + block] = (*state[:block], TABLE, *state[block + 1:])
        for target in range(n):
            if target != block and target not in covered:
                moves[block * n + target] = (*state[:block], target, *state[block + 1:])
    return moves


@lru_cache(maxsize=8)
def all_states(n_blocks: int) -> list[BlocksState]:
    """Every configuration of ``n_blocks`` blocks, sorted."""
    return sorted(bfs_distances((TABLE,) * n_blocks, lambda state: blocks_moves(state).values()))


@lru_cache(maxsize=2048)
def blocks_distances(goal: BlocksState) -> dict[BlocksState, int]:
    """Optimal number of moves from every configuration to ``goal``."""
    return bfs_distances(goal, lambda state: blocks_moves(state).values())


def describe(state: BlocksState) -> str:
    """``"A is on B, B is on the table"``."""
    return ", ".join(f"{LETTERS[block]} is on " + ("the table" if below == TABLE else LETTERS[below])
                     for block, below in enumerate(state))


def stacks(state: BlocksState) -> list[list[int]]:
    """The stacks, each bottom to top, in the order of their bottom blocks."""
    above = {below: block for block, below in enumerate(state) if below != TABLE}
    result = []
    for bottom in (block for block, below in enumerate(state) if below == TABLE):
        stack = [bottom]
        while stack[-1] in above:
            stack.append(above[stack[-1]])
        result.append(stack)
    return result


class BlocksworldEnv(PlanningEnv[BlocksState]):
    """Blocksworld; see the module docstring. Vector view: the 'rests on' one-hot rows of state and goal."""

    def __init__(self, view: str = "vector", n_blocks: int = 3, step_cost: float = 0.01,
                 render_mode: str | None = None) -> None:
        if not 2 <= n_blocks <= 6:
            raise ConfigError(f"n_blocks must be 2..6, not {n_blocks}")
        super().__init__(view=view, n_actions=n_blocks * n_blocks, vector_size=2 * n_blocks * (n_blocks + 1),
                         step_cost=step_cost, render_mode=render_mode)
        self.n_blocks = n_blocks
        self.goal: BlocksState = (TABLE,) * n_blocks
        self.labels = [f"move {LETTERS[x]} onto " + ("the table" if x == y else LETTERS[y])
                       for x in range(n_blocks) for y in range(n_blocks)]

    def new_task(self) -> BlocksState:
        states = all_states(self.n_blocks)
        start, goal = self.np_random.choice(len(states), size=2, replace=False)
        self.goal = states[int(goal)]
        return states[int(start)]

    def successors(self, state: BlocksState) -> dict[int, BlocksState]:
        return blocks_moves(state)

    def distance(self, state: BlocksState | None = None) -> int:
        return blocks_distances(self.goal)[self.state if state is None else state]

    def parse_variant(self, text: str) -> int | None:
        match = VARIANT.match(text)
        if match is None:
            return None
        block = LETTERS.lower().index(match["block"])
        target = block if match["target"] == "table" else LETTERS.lower().index(match["target"])
        if block >= self.n_blocks or target >= self.n_blocks or (target == block and match["target"] != "table"):
            return None
        return block * self.n_blocks + target

    def _one_hot(self, state: BlocksState) -> np.ndarray:
        rows = np.zeros((self.n_blocks, self.n_blocks + 1), dtype=np.float32)
        rows[np.arange(self.n_blocks), [self.n_blocks if below == TABLE else below for below in state]] = 1.0
        return rows.reshape(-1)

    def vector_observation(self) -> np.ndarray:
        return np.concatenate([self._one_hot(self.state), self._one_hot(self.goal)])

    def text_observation(self) -> str:
        names = english_list([LETTERS[block] for block in range(self.n_blocks)])
        clear = [LETTERS[block] for block in range(self.n_blocks) if block not in set(self.state)]
        towers = "; ".join(" ".join(LETTERS[block] for block in stack) for stack in stacks(self.state))
        lines = [
            f"Blocksworld with blocks {names}. Only a clear block (nothing on it) can be moved, onto the table"
            " or onto another clear block.",
            f"Goal: {describe(self.goal)}.",
            f"Now: {describe(self.state)}.",
            f"Stacks (bottom to top): {towers}. Clear blocks: {english_list(clear)}.",
        ]
        if self.state == self.goal:
            lines.append("The blocks are in the goal configuration: the puzzle is solved.")
        return "\n".join(lines)
