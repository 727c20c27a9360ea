"""BabyAI levels (MiniGrid) under the agentgym contract, with MiniGrid's BabyAI bot as the oracle.

The level class (e.g. ``minigrid.envs.babyai.GoToRedBallGrey``) is built directly and reset with
the episode's seed, so the same seed gives the same level as ``gymnasium.make("BabyAI-...")``.
Its native reward (``1 - 0.9 * steps / max_steps`` on success) is the scalar reward.

Example:
    >>> env = BabyAIEnv(view="text", level="GoToObj", max_steps=64)
    >>> obs, info = env.reset(seed=0)
    >>> obs.startswith("Mission: go to")
    True
"""

from __future__ import annotations

import contextlib
import copy
import io
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
from minigrid.envs import babyai as levels
from minigrid.envs.babyai.core.verifier import ObjDesc
from minigrid.utils.baby_ai_bot import BabyAIBot, PickupSubgoal

from agentgym.core.errors import ConfigError
from agentgym.envs.base import AgentGymEnv, Transition

LEFT, RIGHT, FORWARD, PICKUP, DROP, TOGGLE, DONE = range(7)
FACING = ["east", "south", "west", "north"]
MAX_IMAGE_VALUE = 10  # the largest index in MiniGrid's (object, colour, state) cell encoding


class BoundedStack(list):
    """The bot's subgoal stack, capped: in rare states its blocker handling pushes subgoals forever."""

    limit = 200

    def append(self, item: Any) -> None:
        if len(self) >= self.limit:
            raise RuntimeError("the BabyAI bot's plan grew without bound")
        super().append(item)


def current_description(description: ObjDesc, env: Any) -> ObjDesc:
    """A copy of ``description`` tracking the same objects at their current places (gone ones dropped)."""
    places = {}
    for x in range(env.grid.width):
        for y in range(env.grid.height):
            cell = env.grid.get(x, y)
            if cell is not None:
                places[id(cell)] = (x, y)
    if env.carrying is not None:
        places[id(env.carrying)] = tuple(env.agent_pos)  # the bot skips a carried object anyway
    fresh = copy.copy(description)
    fresh.obj_set = [obj for obj in description.obj_set if id(obj) in places]
    fresh.obj_poss = [places[id(obj)] for obj in fresh.obj_set]
    return fresh


def describe(cell: Any) -> str:
    """'a red ball', 'a closed blue door', ..."""
    if cell.type == "door":
        state = "locked" if cell.is_locked else "open" if cell.is_open else "closed"
        return f"a {state} {cell.color} door"
    if cell.type == "wall":
        return "a wall"
    return f"a {cell.color} {cell.type}"


def relative_place(ahead: int, right: int) -> str:
    """'2 steps ahead and 1 to the left', 'right in front of you', ..."""
    if ahead == 1 and right == 0:
        return "right in front of you"
    parts = []
    if ahead:
        parts.append(f"{ahead} step{'s' if ahead != 1 else ''} ahead")
    if right:
        parts.append(f"{abs(right)} to the {'right' if right > 0 else 'left'}")
    return " and ".join(parts) if parts else "here"


class BabyAIEnv(AgentGymEnv):
    """One BabyAI level: follow a language instruction in a partially observed grid world.

    Reward vector: ``task`` MiniGrid's success reward (``1 - 0.9 * steps / max_steps``, 0 on
    failure), ``efficiency`` ``-step_cost`` per step, ``validity`` -1 for an action that has no
    effect (moving into a wall or object, picking up nothing or with full hands, dropping with
    empty hands or onto an occupied cell, toggling something that does not toggle, ``done``)
    and for an invalid action. Vector view: the 7x7x3 egocentric image, flattened, then a
    one-hot of the facing direction (151 float32 values). Success: mission completed;
    progress: 1 on success, else 0.
    """

    aspects = ("task", "efficiency", "validity")
    LABELS: ClassVar[list[str]] = ["turn left", "turn right", "move forward", "pick up", "drop", "toggle", "done"]

    def __init__(self, view: str = "vector", level: str = "GoToRedBallGrey", max_steps: int = 64,
                 step_cost: float | None = None, level_kwargs: dict[str, Any] | None = None,
                 render_mode: str | None = None) -> None:
        level_class = getattr(levels, level, None)
        if level_class is None:
            raise ConfigError(f"minigrid.envs.babyai has no level {level!r}")
        self._inner = level_class(max_steps=max_steps, **(level_kwargs or {}))
        image_space = self._inner.observation_space["image"]
        self._image_size = int(np.prod(image_space.shape))
        space = gym.spaces.Box(0.0, float(MAX_IMAGE_VALUE), (self._image_size + 4,), np.float32)
        super().__init__(view=view, n_actions=7, vector_observation_space=space, render_mode=render_mode)
        self.level = level
        self.level_max_steps = int(max_steps)
        self.step_cost = 1.0 / max_steps if step_cost is None else float(step_cost)
        self._image = np.zeros(image_space.shape, dtype=np.uint8)
        self._direction_one_hot = np.eye(4, dtype=np.float32)
        self._success = False
        self._done = False
        self._bot: BabyAIBot | None = None
        self._bot_step = -1  # the step at which the bot made its last suggestion
        self._bot_action = -1
        self._applied_step = -1  # the step at which an action was last applied, and which one
        self._applied_action = -1

    # ----------------------------------------------------------------- hooks
    def _reset_state(self, seed: int | None, options: dict[str, Any] | None) -> None:
        inner = self._inner
        inner.max_steps = self._max_steps or self.level_max_steps  # the inner limit never cuts an episode short
        with contextlib.redirect_stdout(io.StringIO()):  # level generation prints its rejected samples
            observation, _ = inner.reset(seed=seed, options=options)
        self._image = observation["image"]
        self._success = False
        self._done = False
        self._bot = None
        self._bot_step = self._applied_step = -1

    def _apply(self, action: int) -> Transition:
        inner = self._inner
        position, carrying = inner.agent_pos, inner.carrying
        if action == TOGGLE:
            front_position = tuple(inner.front_pos)
            front = inner.grid.get(*front_position)
            before = (front, getattr(front, "is_open", None), getattr(front, "is_locked", None))
        observation, reward, terminated, _, _ = inner.step(action)
        self._image = observation["image"]
        if action <= RIGHT:
            effective = True
        elif action == FORWARD:
            effective = inner.agent_pos is not position  # MiniGrid assigns a new position only on a move
        elif action == PICKUP or action == DROP:
            effective = inner.carrying is not carrying
        elif action == TOGGLE:
            front = inner.grid.get(*front_position)
            effective = before != (front, getattr(front, "is_open", None), getattr(front, "is_locked", None))
        else:
            effective = False
        success = terminated and reward > 0
        self._success = success
        self._done = terminated
        self._applied_step, self._applied_action = self._elapsed, action
        vector = {"task": float(reward), "efficiency": -self.step_cost,
                  "validity": 0.0 if effective or success else -1.0}
        return float(reward), vector, bool(terminated)

    def vector_observation(self) -> np.ndarray:
        direction = self._direction_one_hot[self._inner.agent_dir]
        return np.concatenate((self._image.reshape(-1), direction), dtype=np.float32)

    def text_observation(self) -> str:
        inner = self._inner
        grid, visible = inner.gen_obs_grid()
        size = inner.agent_view_size
        agent_x, agent_y = size // 2, size - 1
        seen = []
        for y in range(size):
            for x in range(size):
                cell = grid.get(x, y)
                if not visible[x, y] or cell is None or cell.type == "wall" or (x, y) == (agent_x, agent_y):
                    continue
                ahead, right = agent_y - y, x - agent_x
                seen.append((ahead + abs(right), describe(cell) + " " + relative_place(ahead, right)))
        seen.sort()
        free = 0
        for y in range(agent_y - 1, -1, -1):
            cell = grid.get(agent_x, y)
            if not visible[agent_x, y] or (cell is not None and not cell.can_overlap()):
                break
            free += 1
        blocker = grid.get(agent_x, agent_y - free - 1) if free < agent_y else None
        lines = [f"Mission: {inner.mission}", f"You are facing {FACING[inner.agent_dir]}."]
        if free == 0 and blocker is not None:
            lines.append(f"Right in front of you: {describe(blocker)}.")
        else:
            what = f", then {describe(blocker)}" if blocker is not None else ""
            lines.append(f"Ahead of you: {free} free cell{'s' if free != 1 else ''}{what}.")
        lines.append("You see: " + ("; ".join(text for _, text in seen) if seen else "nothing but walls") + ".")
        lines.append(f"You are carrying {describe(inner.carrying)}." if inner.carrying else "You are carrying nothing.")
        if self._success:
            lines.append("Mission complete!")
        elif self._done:
            lines.append("The mission failed: the episode is over.")
        return "\n".join(lines)

    def action_labels(self) -> list[str]:
        return self.LABELS

    def outcome(self) -> tuple[bool, float]:
        return self._success, 1.0 if self._success else 0.0

    def oracle_action(self) -> int:
        """The BabyAI bot's action, kept in step with the trajectory.

        The bot plans along a trajectory: its plan goes on when the last action applied was the
        one it suggested, and it is rebuilt from the current state otherwise (the first step,
        another agent acted, an invalid action). A rebuilt bot has not seen what the agent saw
        earlier, so it may explore again; in single-room levels it sees the whole room at once.
        """
        now = self._elapsed
        if self._bot is not None and self._bot_step == now:
            return self._bot_action
        followed = (self._bot is not None and self._bot_step == now - 1 and self._applied_step == now - 1
                    and self._applied_action == self._bot_action)
        try:
            action = int(self._bot.replan()) if followed and self._bot is not None else self._fresh_bot_action()
        except Exception:  # the bot's plan broke (its asserts); one fresh plan from here, else just turn
            try:
                action = self._fresh_bot_action()
            except Exception:
                self._bot, action = None, LEFT
        self._bot_step, self._bot_action = now, action
        return action

    def _fresh_bot_action(self) -> int:
        """A new bot planning from the current state.

        The bot's object descriptions are the level's, whose positions go stale when objects are
        carried or opened (a toggled box vanishes); the new bot gets copies matching the current
        grid. With a target in hand, or an object in hand when its plan is to pick one up, it
        first puts the object down on a free neighbouring cell (the bot's own way of freeing its
        hands can loop), then plans afresh.
        """
        inner = self._inner
        bot = BabyAIBot(inner)
        bot.stack = BoundedStack(bot.stack)
        fresh: dict[int, ObjDesc] = {}
        for goal in bot.stack:
            if isinstance(goal.datum, ObjDesc):
                goal.datum = fresh.setdefault(id(goal.datum), current_description(goal.datum, inner))
        carrying = inner.carrying
        if carrying is not None and any(
            isinstance(goal, PickupSubgoal) or (isinstance(goal.datum, ObjDesc) and carrying in goal.datum.obj_set)
            for goal in bot.stack
        ):
            self._bot = None
            if inner.grid.get(*inner.front_pos) is None:
                return DROP
            right = tuple(np.add(inner.agent_pos, inner.right_vec))
            return RIGHT if inner.grid.get(*right) is None else LEFT
        self._bot = bot
        return int(bot.replan())
