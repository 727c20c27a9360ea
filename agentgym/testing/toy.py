"""A tiny corridor env for tests of the runner, agents and metrics (yours too: plugin authors may use it).

Walk right from cell 0 to the goal; the corridor length (3..6) comes from the seed.
Stepping left at cell 0 is inadmissible (masked), so invalid actions can be exercised.
"""

from __future__ import annotations

import time
from typing import ClassVar

import gymnasium as gym
import numpy as np

from agentgym.agents.baselines import RandomAgent
from agentgym.core.errors import ConfigError
from agentgym.envs.base import AgentGymEnv
from agentgym.envs.card import EnvCard, RewardAspect, SeedSplit
from agentgym.envs.registration import register_env

CARD = EnvCard(
    family="toy",
    description="Walk right to the end of a corridor.",
    aspects={
        "task": RewardAspect(meaning="1 on reaching the goal", low=0, high=1),
        "efficiency": RewardAspect(meaning="-0.05 per valid step", low=-0.05, high=0),
        "validity": RewardAspect(meaning="-1 per invalid action", low=-1, high=0),
    },
    oracle="exact",
    oracle_always_succeeds=True,
    splits={"train": SeedSplit(start=0, count=20), "test": SeedSplit(start=100, count=20)},
    version=0,
    changelog=["v0: first version"],
)


class CorridorEnv(AgentGymEnv):
    aspects = ("task", "efficiency", "validity")
    LABELS: ClassVar[list[str]] = ["left", "right", "wait"]

    def __init__(self, view: str = "vector", crash_at_step: int | None = None, render_mode=None):
        super().__init__(view=view, n_actions=3, render_mode=render_mode,
                         vector_observation_space=gym.spaces.Box(0.0, 1.0, (2,), np.float32))
        self.crash_at_step = crash_at_step
        self.position = 0
        self.length = 3

    def _reset_state(self, seed, options):
        self.length = int(self.np_random.integers(3, 7))
        self.position = 0

    def _apply(self, action):
        if self.crash_at_step is not None and self._elapsed + 1 >= self.crash_at_step:
            raise RuntimeError("corridor collapsed (test crash)")
        self.position = max(0, min(self.length, self.position + {0: -1, 1: 1, 2: 0}[action]))
        done = self.position == self.length
        vector = {"task": 1.0 if done else 0.0, "efficiency": -0.05, "validity": 0.0}
        return (1.0 if done else 0.0), vector, done

    def vector_observation(self):
        return np.array([self.position / 6, self.length / 6], dtype=np.float32)

    def text_observation(self):
        return f"You are at cell {self.position} of a corridor; the goal is cell {self.length}."

    def action_labels(self):
        return self.LABELS

    def action_mask(self):
        return np.array([self.position > 0, True, True])

    def outcome(self):
        return self.position == self.length, self.position / self.length

    def oracle_action(self):
        return 1


def register(env_id: str = "toy/Corridor-v0", **kwargs) -> str:
    """Register the corridor under ``env_id`` (env keyword arguments from ``kwargs``); returns the id."""
    register_env(id=env_id, entry_point=f"{__name__}:CorridorEnv", card=CARD, kwargs=kwargs, max_episode_steps=12)
    return env_id


class SlowRandomAgent(RandomAgent):
    """A random agent that sleeps on every step (so a test can kill a run midway) and can fail on one seed."""

    def __init__(self, delay: float = 0.02, fail_seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.delay = delay
        self.fail_seed = fail_seed

    def act(self, turns):
        time.sleep(self.delay)
        if self.fail_seed is not None and any(turn.episode.seed == self.fail_seed for turn in turns):
            raise ConfigError(f"agent cannot handle seed {self.fail_seed}")
        return super().act(turns)
