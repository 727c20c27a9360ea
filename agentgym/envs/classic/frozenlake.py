"""FrozenLake under the agentgym contract: Gymnasium's ``FrozenLakeEnv`` maps and transition model.

Steps follow the original env's transition model ``P`` (sampled exactly as
``FrozenLakeEnv.step`` samples it, from the same generator), read from a table built once,
so the vector view keeps the speed of ``gymnasium.make("FrozenLake-v1")``.

The oracle is exact: a finite-horizon dynamic programme over ``P`` that maximises the
probability of reaching the goal within the steps left, ties broken toward the action with the
highest discounted (0.99) value, i.e. toward fewer steps.

Example:
    >>> env = FrozenLakeEnv(view="text")
    >>> obs, info = env.reset(seed=0)
    >>> "goal" in obs
    True
"""

from __future__ import annotations

from collections import deque
from functools import lru_cache
from typing import Any, ClassVar, cast

import gymnasium as gym
import numpy as np
from gymnasium.envs.toy_text import frozen_lake

from agentgym.envs.base import AgentGymEnv, Transition

DISCOUNT = 0.99
TIE_TOLERANCE = 1e-9


def solve(map_name: str, is_slippery: bool, horizon: int) -> np.ndarray:
    """Optimal action per (steps left, state): ``policy[h, s]`` for ``h = 1..horizon``.

    Maximises the probability of reaching the goal within ``h`` steps; among actions within
    ``TIE_TOLERANCE`` of the best, picks the one with the highest discounted value.
    """
    return _solve(map_name, is_slippery, horizon)[0]


def optimal_success(map_name: str, is_slippery: bool, horizon: int) -> np.ndarray:
    """``value[h, s]``: the highest probability of reaching the goal within ``h`` steps from ``s``.

    The env's own return is 1 on the goal and 0 otherwise, so this is also the optimal expected
    return V*(s) with ``h`` steps left (the basis of ``value_regret``).
    """
    return _solve(map_name, is_slippery, horizon)[1]


@lru_cache(maxsize=16)
def _solve(map_name: str, is_slippery: bool, horizon: int) -> tuple[np.ndarray, np.ndarray]:
    env = frozen_lake.FrozenLakeEnv(map_name=map_name, is_slippery=is_slippery)
    n_states = cast(gym.spaces.Discrete, env.observation_space).n
    n_actions = cast(gym.spaces.Discrete, env.action_space).n
    goal_now = np.zeros((n_states, n_actions))
    moves = np.zeros((n_states, n_actions, n_states))
    for state, by_action in env.P.items():
        for action, outcomes in by_action.items():
            for probability, next_state, reward, terminated in outcomes:
                goal_now[state, action] += probability * reward
                if not terminated:
                    moves[state, action, next_state] += probability
    discounted = np.zeros(n_states)
    for _ in range(10000):
        updated = (goal_now + DISCOUNT * moves @ discounted).max(axis=1)
        if np.max(np.abs(updated - discounted)) < 1e-12:
            break
        discounted = updated
    tie_break = goal_now + DISCOUNT * moves @ discounted
    policy = np.zeros((horizon + 1, n_states), dtype=np.int64)
    values = np.zeros((horizon + 1, n_states))
    for steps_left in range(1, horizon + 1):
        q = goal_now + moves @ values[steps_left - 1]
        best = q.max(axis=1, keepdims=True)
        policy[steps_left] = np.where(q >= best - TIE_TOLERANCE, tie_break, -np.inf).argmax(axis=1)
        values[steps_left] = best[:, 0]
    return policy, values


def grid_distances(desc: np.ndarray, target: tuple[int, int], blocked: bytes = b"H") -> np.ndarray:
    """Shortest 4-neighbour path length from every cell to ``target`` avoiding ``blocked`` cells (inf if none)."""
    rows, cols = desc.shape
    distance = np.full((rows, cols), np.inf)
    distance[target] = 0
    queue = deque([target])
    while queue:
        row, col = queue.popleft()
        for d_row, d_col in ((1, 0), (-1, 0), (0, 1), (0, -1)):
            r, c = row + d_row, col + d_col
            if 0 <= r < rows and 0 <= c < cols and desc[r, c] != blocked and distance[r, c] == np.inf:
                distance[r, c] = distance[row, col] + 1
                queue.append((r, c))
    return distance


class FrozenLakeEnv(AgentGymEnv):
    """Cross a frozen lake from the start S to the goal G without falling into a hole H.

    Reward vector: ``task`` 1 on reaching the goal (Gymnasium's reward), ``efficiency``
    ``-step_cost`` per step, ``safety`` -1 on falling into a hole. Success: on the goal;
    progress: 1 - (shortest hole-free path from the agent to the goal) / (that path from the
    start), clipped to [0, 1]; 0 in a hole.
    """

    aspects = ("task", "efficiency", "safety")
    LABELS: ClassVar[list[str]] = ["left", "down", "right", "up"]

    def __init__(self, view: str = "vector", map_name: str = "4x4", is_slippery: bool = False,
                 step_cost: float = 0.01, render_mode: str | None = None) -> None:
        self._inner = frozen_lake.FrozenLakeEnv(map_name=map_name, is_slippery=is_slippery)
        super().__init__(view=view, n_actions=4, render_mode=render_mode,
                         vector_observation_space=self._inner.observation_space)
        inner = self._inner
        self.map_name = map_name
        self.is_slippery = is_slippery
        self.step_cost = float(step_cost)
        self._desc: np.ndarray = np.asarray(inner.desc)  # already an array of bytes (dtype "c")
        self._rows, self._cols = inner.nrow, inner.ncol
        goal_row, goal_col = (int(v) for v in np.argwhere(self._desc == b"G")[0])
        goal = (goal_row, goal_col)
        self._goal = goal
        self._distance = grid_distances(self._desc, goal).ravel()
        self._holes = frozenset(int(s) for s in np.flatnonzero(self._desc.ravel() == b"H"))
        # table[s][a]: ((cumulative probability, next state, native reward, terminated, safety), ...)
        self._table = []
        for state in range(cast(gym.spaces.Discrete, inner.observation_space).n):
            row = []
            for action in range(4):
                cumulative, outcomes = 0.0, []
                for probability, next_state, reward, terminated in inner.P[state][action]:
                    cumulative += probability
                    safety = -1.0 if terminated and next_state in self._holes else 0.0
                    outcomes.append((cumulative, next_state, float(reward), bool(terminated), safety))
                row.append(tuple(outcomes))
            self._table.append(row)
        self._state = 0
        self._start_distance = 1.0
        self._rng = inner.np_random

    # ----------------------------------------------------------------- hooks
    def _reset_state(self, seed: int | None, options: dict[str, Any] | None) -> None:
        self._inner.reset(seed=seed, options=options)
        self._state = int(self._inner.s)
        self._rng = self._inner.np_random  # a seeded reset replaces the generator
        self._start_distance = max(1.0, float(self._distance[self._state]))

    def _apply(self, action: int) -> Transition:
        outcomes = self._table[self._state][action]
        chosen = outcomes[0]
        if len(outcomes) > 1:  # as gymnasium's categorical_sample: first cumulative share above a uniform draw
            draw = self._rng.random()
            for outcome in outcomes:
                if outcome[0] > draw:
                    chosen = outcome
                    break
        _, self._state, reward, terminated, safety = chosen
        return reward, {"task": reward, "efficiency": -self.step_cost, "safety": safety}, terminated

    def vector_observation(self) -> int:
        return self._state

    def text_observation(self) -> str:
        row, col = divmod(self._state, self._cols)
        goal_row, goal_col = self._goal
        lines = [
            f"Frozen lake ({self._rows}x{self._cols}). Walk from the start S to the goal G without falling into a "
            "hole H. Moving into the edge of the lake leaves you where you are.",
        ]
        if self.is_slippery:
            lines.append("The ice is slippery: a move goes the intended way only 1/3 of the time; otherwise you "
                         "slide to one of the two perpendicular directions.")
        lines.append("Map (row 1 is the top, column 1 the left; A marks you):")
        for r in range(self._rows):
            cells = [c.decode() for c in self._desc[r]]
            if r == row:
                cells[col] = "A"
            lines.append("  " + " ".join(cells))
        lines.append("Legend: A = you, S = start, F = frozen ice (safe), H = hole, G = goal.")
        corner = " (the bottom-right corner)" if (goal_row, goal_col) == (self._rows - 1, self._cols - 1) else ""
        lines.append(f"You are at row {row + 1}, column {col + 1}. The goal is at row {goal_row + 1}, "
                     f"column {goal_col + 1}{corner}.")
        cell = self._desc[row, col]
        if cell == b"H":
            lines.append("You fell into a hole: the episode is over.")
        elif cell == b"G":
            lines.append("You reached the goal!")
        return "\n".join(lines)

    def action_labels(self) -> list[str]:
        return self.LABELS

    def outcome(self) -> tuple[bool, float]:
        if self._state in self._holes:
            return False, 0.0
        distance = float(self._distance[self._state])
        if distance == 0.0:
            return True, 1.0
        return False, float(min(1.0, max(0.0, 1.0 - distance / self._start_distance)))

    def optimal_value(self) -> float:
        """V*(s): the optimal expected env return from the current state with the steps left (exact DP)."""
        horizon = self._max_steps or 4 * self._rows * self._cols
        steps_left = max(0, horizon - self._elapsed)
        return float(optimal_success(self.map_name, self.is_slippery, horizon)[steps_left, self._state])

    def oracle_action(self) -> int:
        horizon = self._max_steps or 4 * self._rows * self._cols
        policy = solve(self.map_name, self.is_slippery, horizon)
        steps_left = min(horizon, max(1, horizon - self._elapsed))
        return int(policy[steps_left, self._state])
