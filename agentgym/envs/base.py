"""The env contract in one base class: two views, invalid actions, reward vector, true outcome.

A family env subclasses :class:`AgentGymEnv` and fills in a few hooks over a *discrete*
set of actions (index ``0..n-1``, each with a text label). The base class turns that into

- the vector view: the subclass's numeric observation, ``Discrete(n)`` actions and
  ``action_masks()`` for MaskablePPO;
- the text view: prompt-ready observations (``Text`` space) and free-text actions, parsed
  into an index; unparseable or inadmissible text is an *invalid action*: the state does not
  change, the step is counted and ``validity`` is penalised, nothing raises;
- ``info["reward_vector"]`` on every step (all aspects of the card, zeros where untouched),
  ``info["invalid_action"]`` on every step, and ``info["success"]`` / ``info["progress"]``
  at every episode end (termination, or the spec's ``max_episode_steps``).

Envs whose actions are not enumerable (free-form tool calls) override :meth:`parse_action`
and :meth:`admissible_actions` instead.
"""

from __future__ import annotations

import string
from typing import Any, cast

import gymnasium as gym
import numpy as np

from agentgym.core.errors import ConfigError
from agentgym.envs.card import EnvCard

TEXT_CHARSET = string.printable
TEXT_MAX_LENGTH = 16384

Transition = tuple[float, dict[str, float], bool]
"""What :meth:`AgentGymEnv._apply` returns: (native scalar reward, reward vector, terminated)."""

PARSE_ERRORS = (ValueError, TypeError, ArithmeticError, LookupError, RecursionError)
"""What a parser may raise on hostile text (``int()`` of a 5,000-digit string raises ValueError since
Python 3.11): :meth:`AgentGymEnv.read_action` turns any of them into an invalid action."""
MAX_INDEX_DIGITS = 9
"""A bare number with more significant digits than this is out of range of any action list."""


def describe_action(action: Any, limit: int = 200) -> str:
    """An agent's action as text for feedback: strings cut to ``limit``; other values by ``repr``, which
    may itself fail (an int of more than 4,300 digits), then by their type."""
    if isinstance(action, str):
        return action[:limit]
    try:
        text = repr(action)
    except PARSE_ERRORS:
        text = f"<{type(action).__name__}>"
    return text[:limit]


class AgentGymEnv(gym.Env):
    """Base class of agentgym's own envs. See the module docstring for the contract.

    Subclasses set ``aspects`` (the reward-vector keys, matching the card), call
    ``super().__init__(view=..., n_actions=..., vector_observation_space=...)`` and implement
    the ``_``-prefixed hooks plus :meth:`action_labels`, :meth:`text_observation`,
    :meth:`outcome` and (where one exists) :meth:`oracle_action`.
    """

    metadata: dict[str, Any] = {"render_modes": ["ansi"]}  # noqa: RUF012 - gymnasium declares it so
    aspects: tuple[str, ...] = ("task",)
    validity_penalty: float = -1.0
    """Value of the ``validity`` aspect on an invalid action (when the env declares ``validity``)."""

    card: EnvCard | None = None
    """Set by :func:`agentgym.make` from the env's spec."""

    def __init__(
        self,
        *,
        view: str = "vector",
        n_actions: int,
        vector_observation_space: gym.Space,
        render_mode: str | None = None,
    ) -> None:
        if view not in ("text", "vector"):
            raise ConfigError(f"view must be 'text' or 'vector', not {view!r}")
        if render_mode not in (None, "ansi"):
            raise ConfigError(f"render_mode must be None or 'ansi', not {render_mode!r}")
        self.view = view
        self.render_mode = render_mode
        self.n_actions = n_actions
        self.vector_observation_space = vector_observation_space
        if view == "text":
            self.observation_space = gym.spaces.Text(TEXT_MAX_LENGTH, charset=TEXT_CHARSET)
            self.action_space = gym.spaces.Text(TEXT_MAX_LENGTH, charset=TEXT_CHARSET)
        else:
            self.observation_space = vector_observation_space
            self.action_space = gym.spaces.Discrete(n_actions)
        self._zero_vector = dict.fromkeys(self.aspects, 0.0)
        self._invalid_vector = dict(self._zero_vector)
        if "validity" in self._invalid_vector:
            self._invalid_vector["validity"] = self.validity_penalty
        self._elapsed = 0
        self._max_steps: int | None = None
        self._feedback = ""
        self._last_event = ""

    # ----------------------------------------------------------------- hooks
    def _reset_state(self, seed: int | None, options: dict[str, Any] | None) -> None:
        """Start a new episode; use ``self.np_random`` for any randomness."""
        raise NotImplementedError  # abstract hook

    def _apply(self, action: int) -> Transition:
        """Apply an admissible action index; return (native reward, reward vector, terminated)."""
        raise NotImplementedError  # abstract hook

    def vector_observation(self) -> Any:
        """The current state as an element of ``vector_observation_space``."""
        raise NotImplementedError  # abstract hook

    def text_observation(self) -> str:
        """The current state as prompt-ready text (goal and state; the base adds the action list)."""
        raise NotImplementedError  # abstract hook

    def action_labels(self) -> list[str]:
        """Text label of each action index, as an agent would type it."""
        raise NotImplementedError  # abstract hook

    def outcome(self) -> tuple[bool, float]:
        """The true outcome now: (success, progress in [0, 1])."""
        raise NotImplementedError  # abstract hook

    def oracle_action(self) -> int:
        """The oracle's action index from the current state (envs with an oracle)."""
        raise NotImplementedError(f"{type(self).__name__} has no oracle")  # abstract hook

    def action_mask(self) -> np.ndarray | None:
        """Admissible action indices as a bool mask, or None when every action is admissible."""
        return None

    # --------------------------------------------------------------- helpers
    def action_masks(self) -> np.ndarray:
        """For sb3-contrib's MaskablePPO."""
        mask = self.action_mask()
        return np.ones(self.n_actions, dtype=bool) if mask is None else mask

    def admissible_actions(self) -> list[str] | None:
        labels = self.action_labels()
        mask = self.action_mask()
        return labels if mask is None else [label for label, ok in zip(labels, mask) if ok]

    def oracle(self) -> Any:
        """The oracle's action in the current view's format (index or text)."""
        index = self.oracle_action()
        return self.action_labels()[index] if self.view == "text" else index

    def parse_action(self, action: Any) -> int | None:
        """Map an action of the current view to an admissible index, or None if invalid.

        Text is matched, ignoring case, surrounding space, quotes and a trailing period,
        against the labels; a bare number is taken as an index into the admissible list.
        """
        if self.view == "vector":
            try:
                index = int(action)
            except (TypeError, ValueError, OverflowError):
                return None
            if not 0 <= index < self.n_actions:
                return None
        else:
            if not isinstance(action, str):
                return None
            matched = self._match_label(action)
            if matched is None:
                return None
            index = matched
        mask = self.action_mask()
        if mask is not None and not mask[index]:
            return None
        return index

    def read_action(self, action: Any) -> int | None:
        """:meth:`parse_action` that never raises: text longer than the action space allows, or that
        makes a parser fail (huge numbers, odd unicode, deep nesting), is an invalid action (None).
        Every ``step`` of the text view goes through here."""
        if isinstance(action, str) and len(action) > TEXT_MAX_LENGTH:
            return None
        try:
            return self.parse_action(action)
        except PARSE_ERRORS:
            return None

    def _match_label(self, text: str) -> int | None:
        cleaned = text.strip().strip("`'\"").strip().rstrip(".").strip().lower()
        labels = [label.lower() for label in self.action_labels()]
        if cleaned in labels:
            return labels.index(cleaned)
        # "²".isdigit() is True, but int("²") raises; int() of more than 4,300 digits raises too
        if cleaned.isascii() and cleaned.isdecimal() and len(cleaned.lstrip("0")) <= MAX_INDEX_DIGITS:
            admissible = self.admissible_actions() or []
            position = int(cleaned)
            if 0 <= position < len(admissible):
                return labels.index(admissible[position].lower())
        return None

    def _observation(self) -> Any:
        if self.view == "vector":
            return self.vector_observation()
        parts = []
        if self._feedback:
            parts.append(self._feedback)
        parts.append(self.text_observation())
        admissible = self.admissible_actions()
        if admissible is not None:
            parts.append("Valid actions: " + ", ".join(admissible))
        text = "\n".join(parts)
        return text[:TEXT_MAX_LENGTH]

    def _info(self, reward_vector: dict[str, float], invalid: bool, done: bool) -> dict[str, Any]:
        info: dict[str, Any] = {"reward_vector": reward_vector, "invalid_action": invalid}
        if self.view == "text":
            info["admissible_actions"] = self.admissible_actions()
        if done:
            success, progress = self.outcome()
            info["success"] = bool(success)
            info["progress"] = float(progress)
        return info

    # ------------------------------------------------------------ gym API
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        if self._max_steps is None and self.spec is not None:
            # gymnasium.make hands the env a spec copy without the limit (TimeLimit enforces it
            # outside); the registry keeps it, and success/progress must be known at that step
            registered = gym.registry.get(self.spec.id)
            self._max_steps = registered.max_episode_steps if registered is not None else None
        self._elapsed = 0
        self._feedback = ""
        self._reset_state(seed, options)
        return self._observation(), self._info(dict(self._zero_vector), False, False)

    def step(self, action: Any):
        index = self.read_action(action)
        if index is None:
            reward, reward_vector, terminated = 0.0, dict(self._invalid_vector), False
            if self.view == "text":
                # ascii(): the observation stays within the Text space's printable charset
                self._feedback = (f"That is not a valid action: {describe_action(action)!a}. "
                                  "The state did not change.")
        else:
            reward, reward_vector, terminated = self._apply(index)
            self._feedback = ""
        self._elapsed += 1
        truncated = not terminated and self._max_steps is not None and self._elapsed >= self._max_steps
        info = self._info(reward_vector, index is None, terminated or truncated)
        return self._observation(), float(reward), terminated, truncated, info

    def render(self) -> str | None:
        if self.render_mode == "ansi":
            return self.text_observation()
        return None


def agentgym_env(env: gym.Env) -> AgentGymEnv:
    """``env.unwrapped`` as the env contract: its card, :meth:`~AgentGymEnv.outcome`, text and vector
    observations, action labels.

    A cast for the type checker, not a runtime check: a plugin env may be a plain Gymnasium env that
    provides what its views need by duck typing, and :func:`~agentgym.envs.registration.build_env`
    attaches the card to any env.
    """
    return cast(AgentGymEnv, env.unwrapped)


def env_card(env: gym.Env) -> EnvCard | None:
    """The card that :func:`~agentgym.envs.registration.build_env` attached to ``env``."""
    return agentgym_env(env).card
