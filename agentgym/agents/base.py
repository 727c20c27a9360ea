"""The one agent protocol: ``reset`` per episode, batched ``act`` over all live episodes.

The runner steps many episodes in lockstep and calls :meth:`Agent.act` once per step with
one :class:`Turn` per live episode, so batched backends (LLMs, SB3 policies) answer them in
one forward pass. An agent declares the view it consumes (``"text"`` or ``"vector"``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np

from agentgym.envs.card import EnvCard


@dataclass
class EpisodeContext:
    """What an agent may know about an episode when it starts.

    ``env`` is the live env. Only privileged agents (the oracle) may read its state; the
    runner passes it to every agent so that no agent needs a second copy of the env.
    """

    key: str
    env_id: str
    seed: int
    repeat: int
    card: EnvCard | None
    action_space: gym.Space
    observation_space: gym.Space
    reward: str = "env"
    env: gym.Env | None = None

    def rng(self, salt: int | str = 0) -> np.random.Generator:
        """A random generator determined by (env, env seed, repeat, salt) alone.

        Never by batching, workers, the reward variant or the cell: an agent (named by ``salt``) meets
        the same randomness on the same episode under every reward variant, so comparisons are paired.
        """
        digest = hashlib.sha256(f"{self.env_id}|{self.seed}|{self.repeat}|{salt}".encode()).digest()
        return np.random.default_rng(int.from_bytes(digest[:8], "little"))


@dataclass
class Turn:
    """One live episode at one step: what the agent sees."""

    episode: EpisodeContext
    observation: Any
    info: dict[str, Any]


@dataclass
class Decision:
    """An action plus what it cost and why (tokens, latency, rationale, ...)."""

    action: Any
    info: dict[str, Any] = field(default_factory=dict)


class Agent:
    """Base class of agents. Subclasses set ``view`` and implement :meth:`act`.

    Example:
        >>> class AlwaysFirst(Agent):
        ...     view = "vector"
        ...     def act(self, turns):
        ...         return [Decision(0) for _ in turns]
        >>> len(AlwaysFirst().act([]))
        0
    """

    view: str = "vector"
    name: str = "agent"

    def reset(self, episode: EpisodeContext) -> None:
        """Called when an episode starts, before its first :meth:`act`."""

    def act(self, turns: Sequence[Turn]) -> list[Decision]:
        """One decision per turn, in order."""
        raise NotImplementedError  # abstract hook

    def close(self) -> None:
        """Release resources at the end of a run."""
