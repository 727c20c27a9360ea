"""The one search mechanism of the planning family: breadth-first distances to the goal.

Every planning env (Tower of Hanoi, graph navigation, valuePath, Blocksworld) has unit-cost
moves that can all be undone (a disk moved back, a door walked through again, a block put back
where it was), so the optimal number of moves from any state to the goal equals the
breadth-first distance *from* the goal. :func:`bfs_distances` computes that table once per
goal; the oracle then takes, from whatever state it is in, a move that lowers the distance by
exactly one: it replans at every step, so it is optimal from any state.

Example:
    >>> line = {0: [1], 1: [0, 2], 2: [1]}
    >>> bfs_distances(2, line.__getitem__)
    {2: 0, 1: 1, 0: 2}
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Hashable, Iterable
from typing import TypeVar

State = TypeVar("State", bound=Hashable)


def bfs_distances(source: State, neighbours: Callable[[State], Iterable[State]]) -> dict[State, int]:
    """Breadth-first distance (number of moves) from ``source`` to every state reachable from it."""
    distance = {source: 0}
    queue = deque([source])
    while queue:
        state = queue.popleft()
        for successor in neighbours(state):
            if successor not in distance:
                distance[successor] = distance[state] + 1
                queue.append(successor)
    return distance


def english_list(items: list[str]) -> str:
    """``["a"] -> "a"``, ``["a", "b", "c"] -> "a, b and c"``."""
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]
