"""Connect Four players over bitboards: random, heuristic and depth-limited alpha-beta.

Positions come in PettingZoo's encoding (``raw_env.board``: 42 cells row by row, row 0 on top;
0 empty, 1 the first player, 2 the second) and are searched as bitboards: column ``c`` holds
bits ``7c .. 7c + 5`` from the bottom up, bit ``7c + 6`` stays empty as a separator. The rules
live in PettingZoo; ``tests/envs/test_games.py`` checks this light model against it.

Alpha-beta is negamax with centre-first move ordering; at the depth limit a position is scored
by its open threats (empty cells that would complete a four) and centre-column stones. A win
scores ``WIN + empty cells left``, so faster wins are preferred.
"""

from __future__ import annotations

import numpy as np

ROWS, COLS, HEIGHT = 6, 7, 7
ORDER = (3, 2, 4, 1, 5, 0, 6)
BOTTOM = [1 << (HEIGHT * c) for c in range(COLS)]
TOP = [1 << (HEIGHT * c + ROWS - 1) for c in range(COLS)]
COLUMN = [((1 << ROWS) - 1) << (HEIGHT * c) for c in range(COLS)]
BOARD = sum(COLUMN)
CENTRE = COLUMN[3]
WIN = 1_000_000
CENTRE_WEIGHTS = np.array([1, 2, 3, 4, 3, 2, 1], dtype=float)
Flat = tuple[int, ...]


def bitboards(flat: Flat, piece: int) -> tuple[int, int]:
    """(stones of ``piece``, all stones) of a PettingZoo board."""
    mine = mask = 0
    for index, mark in enumerate(flat):
        if mark:
            row, col = divmod(index, COLS)
            bit = 1 << (HEIGHT * col + ROWS - 1 - row)
            mask |= bit
            if mark == piece:
                mine |= bit
    return mine, mask


def is_win(stones: int) -> bool:
    for shift in (1, HEIGHT, HEIGHT - 1, HEIGHT + 1):
        pairs = stones & (stones >> shift)
        if pairs & (pairs >> 2 * shift):
            return True
    return False


def legal_columns(mask: int) -> list[int]:
    return [c for c in range(COLS) if not mask & TOP[c]]


def drop(mask: int, col: int) -> int:
    """The bit a stone dropped in ``col`` lands on."""
    return (mask + BOTTOM[col]) & COLUMN[col]


def threats(stones: int, mask: int) -> int:
    """Empty cells that would complete a four of ``stones`` (Pons's winning-position trick)."""
    found = (stones << 1) & (stones << 2) & (stones << 3)
    for shift in (HEIGHT, HEIGHT - 1, HEIGHT + 1):
        pair = (stones << shift) & (stones << 2 * shift)
        found |= pair & (stones << 3 * shift)
        found |= pair & (stones >> shift)
        pair = (stones >> shift) & (stones >> 2 * shift)
        found |= pair & (stones << shift)
        found |= pair & (stones >> 3 * shift)
    return found & (BOARD ^ mask)


def evaluate(mine: int, theirs: int, mask: int) -> int:
    """Static score for the player to move (``mine``): open threats count 4, centre stones 1."""
    return (4 * (threats(mine, mask).bit_count() - threats(theirs, mask).bit_count())
            + (mine & CENTRE).bit_count() - (theirs & CENTRE).bit_count())


def negamax(mine: int, theirs: int, mask: int, depth: int, alpha: float, beta: float) -> int:
    """Alpha-beta value for the player to move, whose stones are ``mine``."""
    moves = [c for c in ORDER if not mask & TOP[c]]
    if not moves:
        return 0
    empties = 42 - mask.bit_count()
    for col in moves:
        if is_win(mine | drop(mask, col)):
            return WIN + empties
    if depth <= 0:
        return evaluate(mine, theirs, mask)
    best = -WIN * 2
    for col in moves:
        bit = drop(mask, col)
        value = -negamax(theirs, mine | bit, mask | bit, depth - 1, -beta, -alpha)
        if value > best:
            best = value
            if value > alpha:
                alpha = value
                if alpha >= beta:
                    break
    return best


def best_columns(flat: Flat, piece: int, depth: int) -> list[int]:
    """The legal columns with the top alpha-beta score (exact ties: scores are integers)."""
    mine, mask = bitboards(flat, piece)
    theirs = mine ^ mask
    moves = [c for c in ORDER if not mask & TOP[c]]
    wins = [c for c in moves if is_win(mine | drop(mask, c))]
    if wins:
        return sorted(wins)
    best, chosen = -WIN * 3, []
    for col in moves:
        bit = drop(mask, col)
        value = -negamax(theirs, mine | bit, mask | bit, depth - 1, -WIN * 3, -(best - 1))
        if value > best:
            best, chosen = value, [col]
        elif value == best:
            chosen.append(col)
    return sorted(chosen)


def immediate_win(flat: Flat, piece: int, legal: list[int]) -> int | None:
    """A column of ``legal`` where ``piece`` connects four at once, if any."""
    mine, mask = bitboards(flat, piece)
    for col in legal:
        if is_win(mine | drop(mask, col)):
            return col
    return None


def winner(flat: Flat) -> int:
    """The piece with four in a line, else 0."""
    for piece in (1, 2):
        if is_win(bitboards(flat, piece)[0]):
            return piece
    return 0


def random_player(flat: Flat, piece: int, legal: list[int], rng: np.random.Generator, **_: object) -> int:
    return int(legal[int(rng.integers(len(legal)))])


def heuristic_player(flat: Flat, piece: int, legal: list[int], rng: np.random.Generator, **_: object) -> int:
    """Win if possible, else block the opponent's four, else random with weights 1-2-3-4-3-2-1 favouring the centre."""
    for who in (piece, 3 - piece):
        col = immediate_win(flat, who, legal)
        if col is not None:
            return col
    weights = CENTRE_WEIGHTS[legal]
    return int(legal[int(rng.choice(len(legal), p=weights / weights.sum()))])


def alphabeta_player(flat: Flat, piece: int, legal: list[int], rng: np.random.Generator, *, depth: int = 4,
                     **_: object) -> int:
    """Depth-limited alpha-beta; ties between equally scored columns are broken at random."""
    best = [col for col in best_columns(flat, piece, depth) if col in legal] or list(legal)
    return int(best[int(rng.integers(len(best)))])


def oracle_move(flat: Flat, piece: int, depth: int) -> int:
    """Alpha-beta at ``depth``, deterministic: the most central of the best columns."""
    best = best_columns(flat, piece, depth)
    return min(best, key=ORDER.index)


PLAYERS = {"random": random_player, "heuristic": heuristic_player, "alphabeta": alphabeta_player,
           "perfect": alphabeta_player}
