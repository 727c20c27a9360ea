"""What every planning env shares: distance-to-goal rewards, outcome, the replanning oracle.

A planning env keeps a hashable ``state`` and tells, for the current task, which action
indices are legal from a state and where they lead (:meth:`PlanningEnv.successors`) and how
many moves separate a state from the goal (:meth:`PlanningEnv.distance`, a breadth-first
table from :mod:`agentgym.envs.planning.search`). From these alone this class gives

- the action mask (legal moves) and the oracle: from the current state, the lowest-index legal
  move that lowers the distance by exactly one, so its episode length is the optimal plan
  length from wherever it starts or takes over;
- the reward vector, per step:

  * ``task``: 1 when the move reaches the goal, else 0;
  * ``progress``: (distance before - distance after) / initial distance. A move changes the
    distance by at most one, so a step's value lies in [-1, 1] (in fact in +-1/initial
    distance), and an optimal episode sums to exactly 1;
  * ``efficiency``: ``-step_cost`` on every step, invalid ones included (the spec files set
    ``step_cost = 1 / max_episode_steps``, so a whole truncated episode sums to -1);
  * ``validity``: -1 on an invalid action (illegal move, unparseable text), else 0;

- the native scalar reward ``task + progress - step_cost`` on a legal move (an invalid action
  gets the base class's 0 and shows up in ``validity``);
- the true outcome: success when the goal is reached, progress
  ``clip(1 - distance / initial distance, 0, 1)`` (1 on success).

Tasks never start at the goal, so the initial distance is at least one.
"""

from __future__ import annotations

import re
from collections.abc import Hashable
from typing import Any, Generic, TypeVar, cast

import gymnasium as gym
import numpy as np

from agentgym.envs.base import AgentGymEnv, Transition

PLANNING_ASPECTS = ("task", "progress", "efficiency", "validity")

State = TypeVar("State", bound=Hashable)
"""A planning env's state type (a tuple of pegs or blocks, a room index)."""


class PlanningEnv(AgentGymEnv, Generic[State]):
    """Base of the planning envs: subclasses implement the task hooks listed below.

    Hooks: :meth:`new_task` (draw a task with ``self.np_random``, return the start state),
    :meth:`successors`, :meth:`distance`, :meth:`action_labels`, :meth:`vector_observation`,
    :meth:`text_observation`; optionally :meth:`parse_variant` (free-text variants of labels)
    and :meth:`is_terminal` (default: at the goal).
    """

    aspects: tuple[str, ...] = PLANNING_ASPECTS
    labels: list[str]
    """The fixed action labels, set in ``__init__`` by puzzles whose moves do not change."""

    def __init__(self, *, view: str, n_actions: int, vector_size: int, step_cost: float,
                 render_mode: str | None = None, high: float = 1.0) -> None:
        space = gym.spaces.Box(0.0, high, shape=(vector_size,), dtype=np.float32)
        super().__init__(view=view, n_actions=n_actions, vector_observation_space=space, render_mode=render_mode)
        self.step_cost = float(step_cost)
        if "efficiency" in self._invalid_vector:  # an invalid action wastes a step too
            self._invalid_vector["efficiency"] = -self.step_cost
        self.state: State = cast(State, None)  # set by reset
        self.initial_distance = 1

    # ----------------------------------------------------------------- hooks
    def new_task(self) -> State:
        """Draw a new task (goal and whatever else) from ``self.np_random``; return the start state."""
        raise NotImplementedError  # abstract hook

    def successors(self, state: State) -> dict[int, State]:
        """Legal action index -> resulting state, from ``state`` in the current task."""
        raise NotImplementedError  # abstract hook

    def distance(self, state: State | None = None) -> int:
        """Optimal number of moves from ``state`` (default: the current one) to the goal."""
        raise NotImplementedError  # abstract hook

    def action_labels(self) -> list[str]:
        """Fixed labels set once in ``__init__`` as ``self.labels`` (puzzles whose moves do not change)."""
        return self.labels

    def parse_variant(self, text: str) -> int | None:
        """An action index for a free-text variant of a label (lower-cased, stripped), or None."""
        return None

    def is_terminal(self, state: State) -> bool:
        return self.distance(state) == 0

    # ------------------------------------------------------------- contract
    def _reset_state(self, seed: int | None, options: dict[str, Any] | None) -> None:
        self.state = self.new_task()
        self.initial_distance = self.distance()
        if self.initial_distance < 1:
            raise RuntimeError("a planning task must not start at its goal")

    def action_mask(self) -> np.ndarray:
        mask = np.zeros(self.n_actions, dtype=bool)
        mask[list(self.successors(self.state))] = True
        return mask

    def _apply(self, action: int) -> Transition:
        before = self.distance()
        self.state = self.successors(self.state)[action]
        after = self.distance()
        task = 1.0 if after == 0 else 0.0
        progress = (before - after) / self.initial_distance
        vector = {"task": task, "progress": progress, "efficiency": -self.step_cost, "validity": 0.0}
        return task + progress - self.step_cost, vector, self.is_terminal(self.state)

    def outcome(self) -> tuple[bool, float]:
        remaining = self.distance()
        if remaining == 0:
            return True, 1.0
        return False, float(np.clip(1.0 - remaining / self.initial_distance, 0.0, 1.0))

    def oracle_action(self) -> int:
        target = self.distance() - 1
        for index, successor in sorted(self.successors(self.state).items()):
            if self.distance(successor) == target:
                return index
        raise RuntimeError("no move lowers the distance to the goal")  # unreachable for reversible moves

    def parse_action(self, action: Any) -> int | None:
        index = super().parse_action(action)
        if index is None and self.view == "text" and isinstance(action, str):
            cleaned = re.sub(r"\s+", " ", action.strip().strip("`'\"").strip().rstrip(".").strip().lower())
            index = self.parse_variant(cleaned)
            if index is not None and index not in self.successors(self.state):
                index = None
        return index
