"""A TextArena game under the agentgym contract (the shared part; each game is a subclass in ``games.py``).

TextArena (https://github.com/LeonGuertler/TextArena) games take a move as text (``"[A C]"``,
``"[4]"``) and keep their state in ``game.state``. This wrapper:

- enumerates each game's moves (fixed labels in TextArena's own syntax, ``Discrete`` in the vector
  view) and masks the illegal ones, so both views and MaskablePPO work;
- passes a legal move to the game unchanged; text that names no legal move is an invalid action (the
  game never sees it: TextArena would count it towards its own "two invalid moves in a row lose");
- plays the opponent seats of two-player games with a fixed policy (uniform random, or a simple
  heuristic), drawn from the env's seeded generator;
- takes the true outcome from the game's own reward: one-player games reward 1 for a win and else
  their share of completion in [0, 1] (success = 1, progress = the share); two-player games reward
  +1 / 0 / -1 (success = a win, progress = 1 / 0.5 / 0);
- keeps TextArena's global-``random`` use private to the env: each env swaps in its own generator
  state around every call into the game (TextArena seeds and draws from Python's global ``random``,
  so two games stepped in lockstep would otherwise change each other's episodes), and silences its
  prints.
"""

from __future__ import annotations

import contextlib
import io
import random
import re
import string
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
import textarena as ta

from agentgym.envs.base import TEXT_MAX_LENGTH, AgentGymEnv, Transition

PRINTABLE = frozenset(string.printable)
TRANSLITERATION = {"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"', "\u2013": "-", "\u2014": "-",
                   "\u00b7": ".", "\u2026": "...", "\u00d7": "x", "\u2192": "->", "\u00a0": " "}
BRACKETED = re.compile(r"\[([^\[\]]*)\]")
MESSAGES_SHOWN = 8
MESSAGE_CHARS = 2000


def printable(text: str) -> str:
    """``text`` in the Text spaces' charset: common symbols transliterated, others as backslash escapes."""
    return "".join(c if c in PRINTABLE else TRANSLITERATION.get(c, ascii(c)[1:-1]) for c in text)


def move_key(text: str) -> str:
    """A move without its brackets, commas or case, white space collapsed: ``"[A, c]"`` -> ``"a c"``."""
    return " ".join(text.strip().strip("[]").replace(",", " ").lower().split())


class TextArenaEnv(AgentGymEnv):
    """One TextArena game; subclasses name the game and give its moves, mask, vector view and oracle."""

    aspects = ("task", "rules", "validity")
    game_id = ""
    """TextArena's registry id (its ``-raw`` version is built: no TextArena wrappers)."""
    players = 1

    def __init__(self, *, view: str, labels: list[str], vector_space: gym.Space, ta_kwargs: dict[str, Any],
                 agent_player: int = 0, opponent: str = "random", render_mode: str | None = None) -> None:
        if agent_player not in range(self.players):
            raise ValueError(f"agent_player must lie in 0..{self.players - 1}")
        if self.players > 1 and opponent not in self.opponents():
            raise ValueError(f"opponent must be one of {self.opponents()}, not {opponent!r}")
        self._labels = list(labels)
        self._keys = {move_key(label): index for index, label in enumerate(self._labels)}
        super().__init__(view=view, n_actions=len(self._labels), vector_observation_space=vector_space,
                         render_mode=render_mode)
        self.ta_kwargs = dict(ta_kwargs)
        self.agent_player = agent_player
        self.opponent = opponent
        self.game = ta.make(f"{self.game_id}-raw", **self.ta_kwargs)
        self._rng_state = random.Random(0).getstate()
        self.episode_seed: int | None = None
        self.game_seed: int | None = None
        self._prompt = ""
        self._recent: list[str] = []

    # ------------------------------------------------------- TextArena calls
    def call(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` (a call into the game) with this env's own global-``random`` state, prints silenced."""
        outer = random.getstate()
        random.setstate(self._rng_state)
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                return fn()
        finally:
            self._rng_state = random.getstate()
            random.setstate(outer)

    def start_game(self, seed: int) -> int:
        """Reset the game under TextArena seed ``seed``; returns the seed used (a subclass may re-roll)."""
        self._rng_state = random.Random(seed).getstate()
        self.call(lambda: self.game.reset(num_players=self.players, seed=seed))
        return seed

    @property
    def state(self) -> Any:
        return self.game.state

    def _drain(self) -> None:
        """Move the agent's new TextArena messages into the observation; drop the opponents' (they read state)."""
        mailbox = self.state.observations
        mine, mailbox[self.agent_player] = mailbox.get(self.agent_player, []), []
        for player in mailbox:
            mailbox[player] = []
        for sender, message, kind in mine:
            text = printable(str(message)).strip()
            if kind == ta.ObservationType.PROMPT:
                self._prompt = text
            elif kind == ta.ObservationType.GAME_BOARD:
                continue  # the observation renders the current state itself (state_text)
            elif kind == ta.ObservationType.PLAYER_ACTION:
                if sender != self.agent_player:
                    self._recent.append(f"Player {sender} played: {text[:MESSAGE_CHARS]}")
            else:
                self._recent.append(text[:MESSAGE_CHARS])

    def _play_opponents(self) -> None:
        for _ in range(1000):
            if self.state.done or self.state.current_player_id == self.agent_player:
                return
            label = self._labels[self.opponent_action()]
            self.call(lambda label=label: self.game.step(label))
            self._drain()
        raise RuntimeError(f"{self.game_id}: the opponent did not hand the move back")

    # ------------------------------------------------------------------ hooks
    def _reset_state(self, seed: int | None, options: dict[str, Any] | None) -> None:
        if seed is None:
            seed = int(self.np_random.integers(0, 2**31 - 1))
        self.episode_seed = int(seed)
        self._prompt, self._recent = "", []
        self.game_seed = self.start_game(self.episode_seed)
        self._drain()
        if self.players > 1:
            self._play_opponents()

    def _apply(self, action: int) -> Transition:
        self._recent = []
        self.call(lambda: self.game.step(self._labels[action]))
        broke_rules = self._broke_rules()
        self._drain()
        if self.players > 1:
            self._play_opponents()
        done = bool(self.state.done)
        task = self.final_reward() if done else 0.0
        return task, {"task": task, "rules": -1.0 if broke_rules else 0.0, "validity": 0.0}, done

    def _broke_rules(self) -> bool:
        """Whether TextArena itself rejected the agent's last move (a rule of the game, not our parser)."""
        if self.state.done:
            return bool(self.state.game_info.get(self.agent_player, {}).get("invalid_move"))
        return self.state.error_count > 0 and self.state.current_player_id == self.agent_player

    def final_reward(self) -> float:
        """The game's own reward for the agent, clipped to its documented range ([0, 1] for one player,
        [-1, 1] for two); ``info["textarena_reward"]`` has it unclipped."""
        value = self.raw_reward()
        low = 0.0 if self.players == 1 else -1.0
        return float(min(1.0, max(low, value)))

    def raw_reward(self) -> float:
        rewards = self.state.rewards or {}
        return float(rewards.get(self.agent_player, 0.0))

    def completion(self) -> float:
        """Share of the puzzle done, for an episode cut by the step limit before the game ended."""
        share = getattr(self.game, "_get_percentage_completion", None)
        if share is None:
            return 0.0
        try:
            return float(min(1.0, max(0.0, self.call(share))))
        except ArithmeticError:
            return 0.0

    def outcome(self) -> tuple[bool, float]:
        if not self.state.done:
            return False, self.completion() if self.players == 1 else 0.0
        reward = self.final_reward()
        if self.players == 1:
            return reward >= 1.0 - 1e-9, reward
        return reward > 0, (reward + 1.0) / 2.0

    def action_labels(self) -> list[str]:
        return list(self._labels)

    def parse_action(self, action: Any) -> int | None:
        """Vector view: an index. Text view: a move with or without its brackets (``"[A C]"``, ``"a, c"``),
        else the first bracketed move in the text (TextArena reads the first one too). A bare number
        is a move (``"4"`` is ``"[4]"``), never an index into the list. Illegal moves are invalid."""
        if self.view == "vector" or not isinstance(action, str):
            return super().parse_action(action)
        if len(action) > TEXT_MAX_LENGTH:
            return None
        cleaned = action.strip().strip("`'\"").strip().rstrip(".").strip()
        index = self._keys.get(move_key(cleaned))
        if index is None:
            found = BRACKETED.search(cleaned)
            index = self._keys.get(move_key(found.group(1))) if found else None
        if index is None:
            return None
        mask = self.action_mask()
        return index if mask is None or mask[index] else None

    def opponents(self) -> tuple[str, ...]:
        return ("random",)

    def opponent_action(self) -> int:
        """The opponent's move (an index): uniform over its legal moves; subclasses add heuristics."""
        return int(self.np_random.choice(np.flatnonzero(self.action_mask())))

    def text_observation(self) -> str:
        parts = [self._prompt, "", "Current state:", self.state_text()]
        if self._recent:
            parts += ["", "Latest game messages:", *self._recent[-MESSAGES_SHOWN:]]
        if self.state.done:
            reason = self.state.game_info.get(self.agent_player, {}).get("reason", "")
            parts.append(f"The game is over. {printable(str(reason))}".strip())
        return printable("\n".join(parts))

    def state_text(self) -> str:
        """The current state in a few lines (board, history): the game's own rendering where it has one."""
        raise NotImplementedError  # abstract hook

    # ------------------------------------------------------------- gym API
    def step(self, action: Any):
        observation, reward, terminated, truncated, info = super().step(action)
        info["game_seed"] = self.game_seed
        if terminated:
            info["textarena_reward"] = self.raw_reward()
        return observation, reward, terminated, truncated, info
