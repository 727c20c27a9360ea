"""Tic-tac-toe players over PettingZoo's board encoding: random, heuristic and exact minimax.

A position is PettingZoo's ``Board.squares`` as a tuple: nine cells, 0 empty, 1 the first
player's mark (X), 2 the second player's (O), indexed column by column::

    0 | 3 | 6
    1 | 4 | 7
    2 | 5 | 8

The rules live in PettingZoo; this module keeps only the light model a search needs (the
winning lines are PettingZoo's own ``Board.winning_combinations``). ``tests/envs/test_games.py``
checks the model against PettingZoo on random games.

Minimax is exact and memoised (5,478 reachable positions): a win scores ``1 + empty cells left``
so that faster wins and slower losses are preferred; :func:`game_value` keeps only the sign.
"""

from __future__ import annotations

from functools import cache

import numpy as np
from pettingzoo.classic.tictactoe.board import Board

LINES: tuple[tuple[int, int, int], ...] = tuple(tuple(line) for line in Board.winning_combinations)
CENTRE = 4
Squares = tuple[int, ...]


def other(piece: int) -> int:
    return 3 - piece


def winner(squares: Squares) -> int:
    """The piece (1 or 2) with three in a line, else 0."""
    for a, b, c in LINES:
        if squares[a] and squares[a] == squares[b] == squares[c]:
            return squares[a]
    return 0


def legal_moves(squares: Squares) -> list[int]:
    if winner(squares):
        return []
    return [i for i, mark in enumerate(squares) if mark == 0]


def to_move(squares: Squares) -> int:
    """Whose turn it is: X (1) moves first, so equal counts mean X."""
    return 1 if squares.count(1) == squares.count(2) else 2


def play(squares: Squares, move: int, piece: int) -> Squares:
    return (*squares[:move], piece, *squares[move + 1 :])


@cache
def score(squares: Squares, piece: int) -> int:
    """Negamax score for ``piece``, to move: ``+(1 + empties)`` for a win, 0 draw, negative for a loss."""
    if winner(squares):  # the previous mover completed a line
        return -(1 + squares.count(0))
    moves = [i for i, mark in enumerate(squares) if mark == 0]
    if not moves:
        return 0
    return max(-score(play(squares, move, piece), other(piece)) for move in moves)


def move_scores(squares: Squares, piece: int) -> dict[int, int]:
    """Each legal move's minimax score for ``piece``."""
    return {move: -score(play(squares, move, piece), other(piece)) for move in legal_moves(squares)}


def best_moves(squares: Squares, piece: int) -> list[int]:
    scores = move_scores(squares, piece)
    top = max(scores.values())
    return [move for move, value in scores.items() if value == top]


def game_value(squares: Squares, piece: int) -> int:
    """The game-theoretic value for ``piece`` to move: +1 win, 0 draw, -1 loss under perfect play."""
    return int(np.sign(score(squares, piece)))


def winning_move(squares: Squares, piece: int, legal: list[int]) -> int | None:
    """A move of ``legal`` that completes a line of ``piece``, if there is one."""
    for move in legal:
        if winner(play(squares, move, piece)) == piece:
            return move
    return None


def random_player(squares: Squares, piece: int, legal: list[int], rng: np.random.Generator) -> int:
    return int(legal[int(rng.integers(len(legal)))])


def heuristic_player(squares: Squares, piece: int, legal: list[int], rng: np.random.Generator) -> int:
    """Win if possible, else block the opponent's win, else take the centre, else random."""
    for who in (piece, other(piece)):
        move = winning_move(squares, who, legal)
        if move is not None:
            return move
    if CENTRE in legal:
        return CENTRE
    return random_player(squares, piece, legal, rng)


def perfect_player(squares: Squares, piece: int, legal: list[int], rng: np.random.Generator) -> int:
    """Exact minimax; ties between equally good moves are broken at random."""
    best = [move for move in best_moves(squares, piece) if move in legal]
    return int(best[int(rng.integers(len(best)))])


def oracle_move(squares: Squares, piece: int) -> int:
    """Exact minimax, deterministic: the lowest-index best move."""
    return best_moves(squares, piece)[0]


PLAYERS = {"random": random_player, "heuristic": heuristic_player, "perfect": perfect_player}
