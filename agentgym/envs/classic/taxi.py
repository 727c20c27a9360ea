"""Taxi under the agentgym contract: Gymnasium's ``TaxiEnv`` (v4, dry) map and transition model.

The episode start is Gymnasium's own (same seed, same start); steps read the original env's
deterministic transition model ``P`` from a table built once, so the vector view keeps the speed
of ``gymnasium.make("Taxi-v4")``. The native scalar reward is Gymnasium's (-1 per step, +20 on
delivery, -10 on an illegal pick-up or drop-off).

The oracle is exact: value iteration on ``P`` (the shortest way to deliver the passenger).

Example:
    >>> env = TaxiEnv(view="text")
    >>> obs, info = env.reset(seed=0)
    >>> "Destination" in obs
    True
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, ClassVar, cast

import gymnasium as gym
import numpy as np
from gymnasium.envs.toy_text import taxi

from agentgym.envs.base import AgentGymEnv, Transition

DISCOUNT = 0.99
IN_TAXI = 4
STATION_NAMES = "RGYB"
STATION_WORDS = {"R": "red", "G": "green", "Y": "yellow", "B": "blue"}


def decode(state: int) -> tuple[int, int, int, int]:
    """(taxi row, taxi column, passenger location 0-3 or 4 = in the taxi, destination 0-3), as ``TaxiEnv.decode``."""
    state, destination = divmod(state, 4)
    state, passenger = divmod(state, 5)
    row, col = divmod(state, 5)
    return row, col, passenger, destination


@lru_cache(maxsize=1)
def solve() -> np.ndarray:
    """Optimal action of every Taxi state by value iteration on the native reward (discount 0.99)."""
    env = taxi.TaxiEnv()
    n_states = cast(gym.spaces.Discrete, env.observation_space).n
    n_actions = cast(gym.spaces.Discrete, env.action_space).n
    next_state = np.zeros((n_states, n_actions), dtype=np.int64)
    reward = np.zeros((n_states, n_actions))
    alive = np.zeros((n_states, n_actions))
    for state, by_action in env.P.items():
        for action, ((_, successor, native, terminated),) in by_action.items():
            next_state[state, action], reward[state, action], alive[state, action] = successor, native, not terminated
    value = np.zeros(n_states)
    for _ in range(10000):
        q = reward + DISCOUNT * alive * value[next_state]
        updated = q.max(axis=1)
        if np.max(np.abs(updated - value)) < 1e-10:
            break
        value = updated
    return (reward + DISCOUNT * alive * value[next_state]).argmax(axis=1)


class TaxiEnv(AgentGymEnv):
    """Drive the taxi to the passenger, pick them up, drive to the destination and drop them off.

    Reward vector: ``task`` +1 on delivery, ``efficiency`` ``-step_cost`` per step, ``validity``
    -1 on an illegal pick-up or drop-off (which Gymnasium penalises -10) and on an invalid action.
    All six actions are always admissible. Success: delivered; progress: 0.5 once the passenger
    has been picked up, 1 on delivery.
    """

    aspects = ("task", "efficiency", "validity")
    LABELS: ClassVar[list[str]] = ["south", "north", "east", "west", "pickup", "dropoff"]

    def __init__(self, view: str = "vector", step_cost: float = 0.005, render_mode: str | None = None) -> None:
        self._inner = taxi.TaxiEnv()
        super().__init__(view=view, n_actions=6, render_mode=render_mode,
                         vector_observation_space=self._inner.observation_space)
        self.step_cost = float(step_cost)
        self._map = ["".join(c.decode() for c in row) for row in self._inner.desc]
        self._locations = list(self._inner.locs)
        # table[s][a] = (next state, native reward, terminated, task, validity, passenger in taxi after)
        self._table = []
        for state in range(cast(gym.spaces.Discrete, self._inner.observation_space).n):
            row = []
            for action in range(6):
                ((_, successor, native, terminated),) = self._inner.P[state][action]
                row.append((int(successor), float(native), bool(terminated), 1.0 if terminated else 0.0,
                            -1.0 if native == -10 else 0.0, decode(int(successor))[2] == IN_TAXI))
            self._table.append(row)
        self._state = 0
        self._picked_up = False
        self._delivered = False

    # ----------------------------------------------------------------- hooks
    def _reset_state(self, seed: int | None, options: dict[str, Any] | None) -> None:
        self._inner.reset(seed=seed, options=options)
        self._state = int(self._inner.s)
        self._picked_up = False
        self._delivered = False

    def _apply(self, action: int) -> Transition:
        self._state, reward, terminated, task, validity, in_taxi = self._table[self._state][action]
        if in_taxi:
            self._picked_up = True
        if terminated:
            self._delivered = True
        return reward, {"task": task, "efficiency": -self.step_cost, "validity": validity}, terminated

    def vector_observation(self) -> int:
        return self._state

    def _place(self, index: int) -> str:
        row, col = self._locations[index]
        name = STATION_NAMES[index]
        return f"{name} ({STATION_WORDS[name]} station, row {row + 1}, column {col + 1})"

    def text_observation(self) -> str:
        row, col, passenger, destination = decode(self._state)
        grid = [list(line) for line in self._map]
        grid[1 + row][2 * col + 1] = "t" if passenger == IN_TAXI else "T"
        lines = [
            "Taxi: drive to the passenger, pick them up, drive to their destination and drop them off. "
            "Every step costs; picking up or dropping off in the wrong place is penalised.",
            "Map (T = your taxi, t = your taxi with the passenger; R, G, Y, B = stations; | = wall, "
            ": = open; row 1 is the top, column 1 the left; north is up, south down, east right, west left):",
            *("  " + "".join(line) for line in grid),
            f"Taxi at row {row + 1}, column {col + 1}.",
        ]
        if self._delivered:
            lines.append(f"Passenger delivered at {self._place(destination)}: the episode is over.")
            return "\n".join(lines)
        if passenger == IN_TAXI:
            lines.append("Passenger: in the taxi.")
        else:
            lines.append(f"Passenger: waiting at {self._place(passenger)}.")
        lines.append(f"Destination: {self._place(destination)}.")
        return "\n".join(lines)

    def action_labels(self) -> list[str]:
        return self.LABELS

    def outcome(self) -> tuple[bool, float]:
        if self._delivered:
            return True, 1.0
        return False, 0.5 if self._picked_up else 0.0

    def oracle_action(self) -> int:
        return int(solve()[self._state])

    def optimal_value(self) -> float:
        """V*(s): the env return of the optimal policy from the current state within the steps left.

        Taxi is deterministic, so this is the return of the optimal plan, played out on the table.
        """
        policy, state, total = solve(), self._state, 0.0
        steps_left = (self._max_steps or 200) - self._elapsed
        for _ in range(steps_left):
            state, reward, terminated, *_ = self._table[state][int(policy[state])]
            total += float(reward)
            if terminated:
                break
        return total
