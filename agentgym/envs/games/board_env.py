"""Two-player board games from PettingZoo classic as single-agent envs against a fixed opponent.

The game itself is a PettingZoo AEC env (``raw_env``: its rules, legal-move masks, winner and
rewards); this class seats the agent on one side and plays the other side's moves with an
opponent player until it is the agent's turn again. The episode seed decides who moves first
(``options={"agent_first": bool}`` forces it) and seeds the opponent.

Reward vector: ``task`` +1 win, 0 draw, -1 loss (at the game's end, else 0); ``validity`` -1 on an
illegal move. An illegal move (a masked-out index, unparseable or illegal text) loses the game
when ``illegal_move_loses`` (the default, as PettingZoo's own ``TerminateIllegalWrapper``); with
``illegal_move_loses=False`` it is the base contract's invalid action (state unchanged). The
native scalar reward is ``task``. Success means a win (a draw is not a success); progress is 1
for a win, 0.5 for a draw, 0 for a loss or an unfinished game.

The arena (:mod:`agentgym.bench.arena`) reuses the class as a *seat* (``opponent=None``): two
seats :meth:`~BoardGameEnv.bind` one :class:`Table`, and each seat's view, masks and oracle
follow its own side.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np

from agentgym.core.errors import ConfigError
from agentgym.envs.base import AgentGymEnv, Transition, describe_action

RESULT_WORDS = {1: "you won", 0: "a draw", -1: "you lost"}


@dataclass
class Table:
    """A PettingZoo game and what its seats share: the last move and a forfeit by an illegal move."""

    game: Any
    last_move: tuple[int, int] | None = None
    """(piece, move) of the last move played."""
    forfeit: int | None = None
    """The side (0 first, 1 second) that lost by an illegal move."""

    def reset(self, seed: int | None = None) -> None:
        self.game.reset(seed=seed)
        self.last_move, self.forfeit = None, None

    def piece_to_move(self) -> int:
        """1 if the first player is to move, else 2."""
        return self.game.possible_agents.index(self.game.agent_selection) + 1

    def over(self) -> bool:
        return self.forfeit is not None or any(self.game.terminations.values())

    def legal_moves(self) -> list[int]:
        """PettingZoo's legal moves for the side to move (its ``action_mask``); none once over."""
        if self.over():
            return []
        return np.flatnonzero(self.game.observe(self.game.agent_selection)["action_mask"]).tolist()

    def play(self, move: int) -> None:
        """Play a legal move for the side to move."""
        piece = self.piece_to_move()
        self.game.step(move)
        self.last_move = (piece, move)

    def result(self, side: int) -> int | None:
        """+1 / 0 / -1 for ``side`` once the game is over, else None."""
        if self.forfeit is not None:
            return -1 if self.forfeit == side else 1
        if not any(self.game.terminations.values()):
            return None
        return int(np.sign(self.game.rewards[self.game.possible_agents[side]]))


class BoardGameEnv(AgentGymEnv):
    """Base of the board-game envs; subclasses say how to read, draw, label and search the board."""

    aspects = ("task", "validity")
    game_name = "game"
    rows = cols = 0
    marks: ClassVar[dict[int, str]] = {0: ".", 1: "X", 2: "O"}

    def __init__(self, view: str = "vector", opponent: str | None = "random", illegal_move_loses: bool = True,
                 render_mode: str | None = None) -> None:
        if opponent is not None and opponent not in self.players():
            raise ConfigError(f"{self.game_name}: unknown opponent {opponent!r}; "
                              f"choose one of {sorted(self.players())}")
        space = gym.spaces.Box(0.0, 1.0, shape=(2, self.rows, self.cols), dtype=np.float32)
        super().__init__(view=view, n_actions=self.n_moves(), vector_observation_space=space, render_mode=render_mode)
        self.opponent = opponent
        self.illegal_move_loses = bool(illegal_move_loses)
        self.table = Table(self.new_game())
        self.table.reset()
        self._side = 0
        self._opponent_rng = np.random.default_rng(0)

    # ----------------------------------------------------- subclass hooks
    def new_game(self) -> Any:
        """A fresh PettingZoo AEC game (``raw_env``)."""
        raise NotImplementedError  # abstract hook

    def n_moves(self) -> int:
        raise NotImplementedError  # abstract hook

    def board(self) -> tuple[int, ...]:
        """The PettingZoo board as a flat tuple (0 empty, 1 first player, 2 second)."""
        raise NotImplementedError  # abstract hook

    def grid(self) -> np.ndarray:
        """The board as a (rows, cols) array, row 0 on top."""
        raise NotImplementedError  # abstract hook

    def players(self) -> dict[str, Any]:
        """Opponent name -> player ``(board, piece, legal, rng) -> move``."""
        raise NotImplementedError  # abstract hook

    def draw(self) -> str:
        raise NotImplementedError  # abstract hook

    def rules(self) -> str:
        raise NotImplementedError  # abstract hook

    def move_name(self, move: int) -> str:
        return self.action_labels()[move]

    # ------------------------------------------------------------- state
    def bind(self, table: Table, side: int) -> None:
        """Seat this env on ``side`` (0 moves first) of a shared :class:`Table` (arena use)."""
        self.table, self._side, self._feedback = table, side, ""

    @property
    def side(self) -> int:
        """0 if the agent moves first (X), 1 if second (O)."""
        return self._side

    @property
    def piece(self) -> int:
        return self._side + 1

    def piece_to_move(self) -> int:
        return self.table.piece_to_move()

    def legal_moves(self) -> list[int]:
        return self.table.legal_moves()

    def game_over(self) -> bool:
        return self.table.over()

    def result(self) -> int | None:
        """+1 / 0 / -1 for the agent once the game is over, else None."""
        return self.table.result(self._side)

    def play_bot(self, name: str, rng: np.random.Generator) -> int:
        """The move the named player (an opponent name) would make for the side to move."""
        return int(self.players()[name](self.board(), self.piece_to_move(), self.legal_moves(), rng))

    def observe(self) -> tuple[Any, dict[str, Any]]:
        """The current observation and info of this seat's view, without stepping (arena use)."""
        return self._observation(), self._info(dict(self._zero_vector), False, False)

    # ----------------------------------------------------------- hooks
    def _reset_state(self, seed: int | None, options: dict[str, Any] | None) -> None:
        self.table.reset(seed=seed)
        first = (options or {}).get("agent_first")
        self._side = int(self.np_random.integers(2)) if first is None else (0 if first else 1)
        self._opponent_rng = np.random.default_rng(int(self.np_random.integers(2**63)))
        self._play_opponent()

    def _play_opponent(self) -> None:
        while self.opponent is not None and not self.game_over() and self.piece_to_move() != self.piece:
            self.table.play(self.play_bot(self.opponent, self._opponent_rng))

    def _apply(self, action: int) -> Transition:
        self.table.play(action)
        self._play_opponent()
        task = float(self.result() or 0)
        return task, {"task": task, "validity": 0.0}, self.game_over()

    def step(self, action: Any):
        if self.game_over():  # stepping a finished game changes nothing
            info = self._info(dict(self._zero_vector), False, True)
            return self._observation(), 0.0, True, False, info
        if not self.illegal_move_loses or self.read_action(action) is not None:
            return super().step(action)
        self.table.forfeit = self._side
        self._feedback = f"Illegal move {describe_action(action)!a}: you lose the game."  # printable charset
        self._elapsed += 1
        info = self._info({"task": -1.0, "validity": -1.0}, True, True)
        return self._observation(), -1.0, True, False, info

    def action_mask(self) -> np.ndarray:
        mask = np.zeros(self.n_actions, dtype=bool)
        if self.piece_to_move() == self.piece:
            mask[self.legal_moves()] = True
        return mask

    def outcome(self) -> tuple[bool, float]:
        result = self.result()
        return result == 1, {1: 1.0, 0: 0.5}.get(result, 0.0) if result is not None else 0.0

    def vector_observation(self) -> np.ndarray:
        grid = self.grid()
        return np.stack([grid == self.piece, grid == 3 - self.piece]).astype(np.float32)

    def _observation(self) -> Any:
        if self.view == "text" and self.game_over():  # no "Valid actions" line under a finished game
            return "\n".join(part for part in (self._feedback, self.text_observation()) if part)
        return super()._observation()

    def text_observation(self) -> str:
        mark, theirs = self.marks[self.piece], self.marks[3 - self.piece]
        order = "first" if self._side == 0 else "second"
        against = f" against the {self.opponent} opponent" if self.opponent else ""
        warning = " An illegal move loses the game." if self.illegal_move_loses else ""
        lines = [f"{self.rules()} You play {mark} (you moved {order}){against}; the opponent plays {theirs}.{warning}",
                 self.draw()]
        if self.table.last_move is not None:
            piece, move = self.table.last_move
            lines.append(f"{'You' if piece == self.piece else 'The opponent'} last played {self.move_name(move)}.")
        result = self.result()
        if result is not None:
            how = " by an illegal move" if self.table.forfeit is not None else ""
            lines.append(f"Game over{how}: {RESULT_WORDS[result]}.")
        elif self.piece_to_move() == self.piece:
            lines.append(f"Your move ({mark}).")
        else:
            lines.append(f"Waiting for the opponent ({theirs}).")
        return "\n".join(lines)
