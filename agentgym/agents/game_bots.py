"""The board games' built-in players as agents (for the arena and for suites)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import numpy as np

from agentgym.agents.base import Agent, Decision, EpisodeContext, Turn
from agentgym.core.errors import ConfigError
from agentgym.envs.games.board_env import BoardGameEnv


class GameBotAgent(Agent):
    """A game's built-in player (``random``, ``heuristic``, ``perfect``, ``alphabeta``); reads ``episode.env``."""

    name = "bot"

    def __init__(self, player: str = "heuristic", view: str = "vector", seed: int = 0) -> None:
        self.player, self.view, self.seed = player, view, seed
        self._rngs: dict[str, np.random.Generator] = {}

    def reset(self, episode: EpisodeContext) -> None:
        self._rngs[episode.key] = episode.rng(f"bot-{self.player}-{self.seed}")

    def act(self, turns: Sequence[Turn]) -> list[Decision]:
        decisions = []
        for turn in turns:
            live = turn.episode.env
            if live is None:
                raise ConfigError("the bot agent needs the live env")
            env = cast(BoardGameEnv, live.unwrapped)  # the bots are the board games' players
            move = env.play_bot(self.player, self._rngs[turn.episode.key])
            decisions.append(Decision(env.action_labels()[move] if self.view == "text" else move))
        return decisions
