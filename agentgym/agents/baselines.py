"""Reference agents: uniform random over admissible actions, and the env's oracle."""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import gymnasium as gym
import numpy as np

from agentgym.agents.base import Agent, Decision, EpisodeContext, Turn
from agentgym.core.errors import ConfigError


class RandomAgent(Agent):
    """Uniform over the admissible actions (over the action space where none are listed).

    Each episode draws from its own generator, seeded by the episode and ``seed``, so the
    numbers do not depend on batching, executors or resume.
    """

    name = "random"

    def __init__(self, view: str = "vector", seed: int = 0) -> None:
        self.view = view
        self.seed = seed
        self._rngs: dict[str, np.random.Generator] = {}

    def reset(self, episode: EpisodeContext) -> None:
        self._rngs[episode.key] = episode.rng(f"random-agent-{self.seed}")

    def act(self, turns: Sequence[Turn]) -> list[Decision]:
        decisions = []
        for turn in turns:
            rng = self._rngs[turn.episode.key]
            env = turn.episode.env
            if self.view == "text":
                choices = turn.info.get("admissible_actions") or self._labels(env)
                if not choices:
                    raise ConfigError(f"{turn.episode.env_id} lists no admissible actions; "
                                      "the random text agent needs them")
                decisions.append(Decision(choices[int(rng.integers(len(choices)))]))
            else:
                mask = self._mask(env)
                if mask is not None:
                    valid = np.flatnonzero(mask)
                else:  # no mask: every action of the (discrete) space
                    valid = np.arange(cast(gym.spaces.Discrete, turn.episode.action_space).n)
                decisions.append(Decision(int(valid[int(rng.integers(len(valid)))])))
        return decisions


    @staticmethod
    def _labels(env) -> list[str] | None:
        """Where free-form actions are not enumerable, the env's own menu of candidate actions."""
        try:
            return env.get_wrapper_attr("action_labels")() if env is not None else None
        except AttributeError:
            return None

    @staticmethod
    def _mask(env) -> np.ndarray | None:
        try:
            return env.get_wrapper_attr("action_masks")() if env is not None else None
        except AttributeError:  # an env of another contract: every action of the space is fair
            return None


class OracleAgent(Agent):
    """Asks the env's own oracle (exact solver, value iteration, bot) for each action."""

    name = "oracle"

    def __init__(self, view: str = "vector") -> None:
        self.view = view

    def act(self, turns: Sequence[Turn]) -> list[Decision]:
        decisions = []
        for turn in turns:
            env = turn.episode.env
            if env is None:
                raise ConfigError("the oracle agent needs the live env")
            decisions.append(Decision(env.get_wrapper_attr("oracle")()))
        return decisions
