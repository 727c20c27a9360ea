"""Connect Four (PettingZoo ``connect_four_v3``) against a random, heuristic or alpha-beta opponent.

Actions are the columns 0-6; in the text view they are ``1`` to ``7`` from the left (``column 4``
is understood too). The oracle is alpha-beta at ``oracle_depth`` plies (near-optimal, not exact).

Example:
    >>> env = ConnectFourEnv(view="text", opponent="heuristic")
    >>> obs, info = env.reset(seed=0, options={"agent_first": True})
    >>> info["admissible_actions"]
    ['1', '2', '3', '4', '5', '6', '7']
"""

from __future__ import annotations

import re
from functools import partial
from typing import Any

import numpy as np
import pettingzoo

from agentgym.envs.games import connect_four_players as c4
from agentgym.envs.games.board_env import BoardGameEnv

LABELS = [str(c + 1) for c in range(7)]
_COLUMN = re.compile(r"^(?:(?:drop|play|move)\s+(?:in(?:to)?\s+|at\s+)?)?(?:(?:the\s+)?col(?:umn)?\s*)?([1-7])$")


class ConnectFourEnv(BoardGameEnv):
    """Four in a line (row, column or diagonal) wins. See :mod:`agentgym.envs.games.board_env`."""

    game_name = "connect_four"
    rows, cols = 6, 7

    def __init__(self, view: str = "vector", opponent: str | None = "random", depth: int = 4,
                 oracle_depth: int = 6, illegal_move_loses: bool = True, render_mode: str | None = None) -> None:
        self.depth = int(depth)
        self.oracle_depth = int(oracle_depth)
        super().__init__(view=view, opponent=opponent, illegal_move_loses=illegal_move_loses,
                         render_mode=render_mode)

    def new_game(self) -> Any:
        return pettingzoo.make("aec", "classic/connect_four-v3").unwrapped

    def n_moves(self) -> int:
        return 7

    def players(self) -> dict[str, Any]:
        players = dict(c4.PLAYERS)
        for name in ("alphabeta", "perfect"):
            players[name] = partial(c4.alphabeta_player, depth=self.depth)
        return players

    def board(self) -> tuple[int, ...]:
        return tuple(self.table.game.board)

    def grid(self) -> np.ndarray:
        return np.asarray(self.board()).reshape(6, 7)

    def action_labels(self) -> list[str]:
        return LABELS

    def _match_label(self, text: str) -> int | None:
        """``4``, ``column 4``, ``col 4``, ``drop in column 4`` (case and spacing ignored)."""
        cleaned = " ".join(text.strip().strip("`'\"").strip().rstrip(".").strip().lower().split())
        match = _COLUMN.match(cleaned)
        return int(match.group(1)) - 1 if match else None

    def move_name(self, move: int) -> str:
        return f"column {move + 1}"

    def rules(self) -> str:
        return "Connect Four: drop a stone into a column; four of your stones in a row, column or diagonal win."

    def draw(self) -> str:
        grid = self.grid()
        lines = ["Board (columns 1-7 from the left, rows 1-6 from the bottom; answer with a column number):",
                 "     " + " ".join(LABELS)]
        for row in range(6):
            lines.append(f"  {6 - row} |" + " ".join(self.marks[int(v)] for v in grid[row]) + "|")
        lines.append("    +" + "-" * 13 + "+")
        return "\n".join(lines)

    def oracle_action(self) -> int:
        if self.game_over():
            raise RuntimeError("the game is over: no oracle move")
        return c4.oracle_move(self.board(), self.piece_to_move(), self.oracle_depth)
