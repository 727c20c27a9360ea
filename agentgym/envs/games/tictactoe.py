"""Tic-tac-toe (PettingZoo ``tictactoe_v3``) against a random, heuristic or perfect opponent.

Actions are PettingZoo's cell indices 0-8 (column by column); in the text view a cell is a
column letter and a row number, ``a1`` top left to ``c3`` bottom right (``b2`` the centre).
The oracle is exact minimax (memoised), and :meth:`TicTacToeEnv.game_value` gives the
game-theoretic value of the position for the agent.

Example:
    >>> env = TicTacToeEnv(view="text", opponent="perfect")
    >>> obs, info = env.reset(seed=0, options={"agent_first": True})
    >>> info["admissible_actions"][:3], env.game_value()
    (['a1', 'a2', 'a3'], 0)
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pettingzoo

from agentgym.envs.games import tictactoe_players as ttt
from agentgym.envs.games.board_env import BoardGameEnv

LABELS = [f"{'abc'[i // 3]}{i % 3 + 1}" for i in range(9)]
_CELL = re.compile(r"\b(?:([abc])\s*([123])|([123])\s*([abc]))\b")


class TicTacToeEnv(BoardGameEnv):
    """Three in a row wins. See :mod:`agentgym.envs.games.board_env` for rewards, outcome and illegal moves."""

    game_name = "tictactoe"
    rows = cols = 3

    def new_game(self) -> Any:
        return pettingzoo.make("aec", "classic/tictactoe-v3").unwrapped

    def n_moves(self) -> int:
        return 9

    def players(self) -> dict[str, Any]:
        return ttt.PLAYERS

    def board(self) -> tuple[int, ...]:
        return tuple(self.table.game.board.squares)

    def grid(self) -> np.ndarray:
        return np.asarray(self.board()).reshape(3, 3).T

    def action_labels(self) -> list[str]:
        return LABELS

    def _match_label(self, text: str) -> int | None:
        """A cell label (``b2``, ``B2``, ``2b``, ``b 2``), alone or as the only cell named in the text."""
        cleaned = text.strip().strip("`'\"").strip().rstrip(".").strip().lower()
        if cleaned in LABELS:
            return LABELS.index(cleaned)
        cells = {(m[0] or m[3]) + (m[1] or m[2]) for m in _CELL.findall(cleaned)}
        return LABELS.index(cells.pop()) if len(cells) == 1 else None

    def rules(self) -> str:
        return "Tic-tac-toe: three of your marks in a row, column or diagonal win."

    def draw(self) -> str:
        grid = self.grid()
        lines = ["Board (columns a-c, rows 1-3 from the top; answer with a cell such as b2 for the centre):",
                 "     a   b   c"]
        for row in range(3):
            if row:
                lines.append("    ---+---+---")
            lines.append(f"  {row + 1}  " + " | ".join(self.marks[int(v)] for v in grid[row]))
        return "\n".join(lines)

    def oracle_action(self) -> int:
        if self.game_over():
            raise RuntimeError("the game is over: no oracle move")
        return ttt.oracle_move(self.board(), self.piece_to_move())

    def game_value(self) -> int:
        """Game-theoretic value for the agent: +1 / 0 / -1 under perfect play (the result once over)."""
        result = self.result()
        if result is not None:
            return result
        mover = self.piece_to_move()
        value = ttt.game_value(self.board(), mover)
        return value if mover == self.piece else -value
