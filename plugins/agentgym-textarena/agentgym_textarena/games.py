"""The TextArena games this plugin registers: moves, masks, vector views, oracles and opponents.

One-player puzzles: GuessTheNumber, TowerOfHanoi, Minesweeper, Sudoku, LightsOut, FrozenLake.
Two-player games against a fixed opponent: TicTacToe, Nim. The specs (``specs/textarena.yaml``) hold
the TextArena settings and the cards.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
from collections import deque
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np

from agentgym_textarena.base import TextArenaEnv


def _box(size: int) -> gym.spaces.Box:
    return gym.spaces.Box(0.0, 1.0, (size,), np.float32)


def _bfs_first_move(start: Any, goal: Any, moves: Any) -> int | None:
    """First move index of a shortest path from ``start`` to a state with ``goal(state)``; ``moves(state)``
    yields (index, next state). None if the goal is unreachable or already reached."""
    if goal(start):
        return None
    frontier, first = deque([start]), {start: None}
    while frontier:
        state = frontier.popleft()
        for index, following in moves(state):
            if following in first:
                continue
            first[following] = index if first[state] is None else first[state]
            if goal(following):
                return first[following]
            frontier.append(following)
    return None


# ------------------------------------------------------------------ one player
class GuessTheNumberEnv(TextArenaEnv):
    """Guess a seeded number in ``min_number..max_number``; the game answers "higher" or "lower"."""

    game_id = "GuessTheNumber-v0"

    def __init__(self, view: str = "text", min_number: int = 1, max_number: int = 20, max_turns: int = 10,
                 render_mode: str | None = None) -> None:
        self.low, self.high, self.max_turns = int(min_number), int(max_number), int(max_turns)
        self.numbers = list(range(self.low, self.high + 1))
        super().__init__(view=view, labels=[f"[{n}]" for n in self.numbers],
                         vector_space=_box(2 * len(self.numbers) + 1),
                         ta_kwargs={"min_number": self.low, "max_number": self.high, "max_turns": self.max_turns},
                         render_mode=render_mode)

    def _history(self) -> list[tuple[int, str]]:
        return [(int(g), str(h)) for g, h in self.state.game_state["guess_history"]]

    def _interval(self) -> tuple[int, int]:
        low, high = self.low, self.high
        for guess, hint in self._history():
            if hint == "higher":
                low = max(low, guess + 1)
            else:
                high = min(high, guess - 1)
        return low, high

    def action_mask(self) -> np.ndarray:
        return np.array([n not in self.game.guessed_numbers for n in self.numbers])

    def vector_observation(self) -> np.ndarray:
        low, high = self._interval()
        guessed = [float(n in self.game.guessed_numbers) for n in self.numbers]
        possible = [float(low <= n <= high) for n in self.numbers]
        return np.array(guessed + possible + [min(1.0, len(self._history()) / self.max_turns)], dtype=np.float32)

    def oracle_action(self) -> int:
        low, high = self._interval()
        return self.numbers.index((low + high) // 2)

    def state_text(self) -> str:
        shown = ", ".join(f"{g} (the target is {h})" for g, h in self._history()) or "none yet"
        return f"The number lies in {self.low}..{self.high}. Your guesses so far: {shown}."


class TowerOfHanoiEnv(TextArenaEnv):
    """Move the tower from peg A to peg C; TextArena's start is fixed (every seed is the same puzzle)."""

    game_id = "TowerOfHanoi-v0"
    PEGS = "ABC"

    def __init__(self, view: str = "text", num_disks: int = 3, max_turns: int = 14,
                 render_mode: str | None = None) -> None:
        self.num_disks, self.max_turns = int(num_disks), int(max_turns)
        self.moves = [(a, b) for a in self.PEGS for b in self.PEGS if a != b]
        super().__init__(view=view, labels=[f"[{a} {b}]" for a, b in self.moves],
                         vector_space=_box(3 * self.num_disks + 1),
                         ta_kwargs={"num_disks": self.num_disks, "max_turns": self.max_turns}, render_mode=render_mode)

    def _towers(self) -> tuple[tuple[int, ...], ...]:
        towers = self.state.game_state["towers"]
        return tuple(tuple(towers[p]) for p in self.PEGS)

    def _legal(self, towers: tuple[tuple[int, ...], ...]) -> list[bool]:
        legal = []
        for a, b in self.moves:
            source, target = towers[self.PEGS.index(a)], towers[self.PEGS.index(b)]
            legal.append(bool(source) and (not target or target[-1] > source[-1]))
        return legal

    def action_mask(self) -> np.ndarray:
        return np.array(self._legal(self._towers()))

    def vector_observation(self) -> np.ndarray:
        out = np.zeros(3 * self.num_disks + 1, dtype=np.float32)
        for peg, disks in enumerate(self._towers()):
            for disk in disks:
                out[3 * (disk - 1) + peg] = 1.0
        out[-1] = min(1.0, self.state.turn / self.max_turns)
        return out

    def oracle_action(self) -> int:
        goal = tuple(range(self.num_disks, 0, -1))

        def moves(towers):
            for index, ((a, b), ok) in enumerate(zip(self.moves, self._legal(towers))):
                if ok:
                    pegs = [list(t) for t in towers]
                    pegs[self.PEGS.index(b)].append(pegs[self.PEGS.index(a)].pop())
                    yield index, tuple(tuple(t) for t in pegs)

        move = _bfs_first_move(self._towers(), lambda t: t[2] == goal, moves)
        return int(np.flatnonzero(self.action_mask())[0]) if move is None else move

    def state_text(self) -> str:
        return self.game._render_board().strip() + f"\nMoves made: {self.state.turn} of {self.max_turns}."


class MinesweeperEnv(TextArenaEnv):
    """Reveal every safe cell; mines are placed (seeded) after the first reveal, away from it."""

    game_id = "Minesweeper-v0"

    def __init__(self, view: str = "text", rows: int = 5, cols: int = 5, num_mines: int = 5, max_turns: int = 100,
                 render_mode: str | None = None) -> None:
        self.rows, self.cols = int(rows), int(cols)
        self.cells = [(r, c) for r in range(self.rows) for c in range(self.cols)]
        super().__init__(view=view, labels=[f"[{r} {c}]" for r, c in self.cells],
                         vector_space=_box(2 * len(self.cells) + 1),
                         ta_kwargs={"rows": self.rows, "cols": self.cols, "num_mines": int(num_mines),
                                    "max_turns": int(max_turns)}, render_mode=render_mode)

    def action_mask(self) -> np.ndarray:
        return np.array([not self.game.revealed[r][c] for r, c in self.cells])

    def vector_observation(self) -> np.ndarray:
        revealed = [float(self.game.revealed[r][c]) for r, c in self.cells]
        numbers = [max(0, self.game.grid[r][c]) / 8.0 if self.game.revealed[r][c] else 0.0 for r, c in self.cells]
        return np.array(revealed + numbers + [float(self.game.first_move)], dtype=np.float32)

    def oracle_action(self) -> int:
        """Omniscient: the centre first, then an unrevealed safe cell, zeros first (each opens a region)."""
        if self.game.first_move:
            return self.cells.index((self.rows // 2, self.cols // 2))
        safe = [i for i, (r, c) in enumerate(self.cells) if not self.game.revealed[r][c] and self.game.grid[r][c] != -1]
        zeros = [i for i in safe if self.game.grid[self.cells[i][0]][self.cells[i][1]] == 0]
        return (zeros or safe or [int(np.flatnonzero(self.action_mask())[0])])[0]

    def state_text(self) -> str:
        return self.game._render_board().rstrip()


class SudokuEnv(TextArenaEnv):
    """Fill a 9x9 Sudoku; TextArena rejects a digit that differs from its solution (a rules penalty)."""

    game_id = "Sudoku-v0"

    def __init__(self, view: str = "text", clues: int = 75, max_turns: int = 100, render_mode: str | None = None):
        self.moves = [(r, c, n) for r in range(1, 10) for c in range(1, 10) for n in range(1, 10)]
        super().__init__(view=view, labels=[f"[{r} {c} {n}]" for r, c, n in self.moves], vector_space=_box(162),
                         ta_kwargs={"clues": int(clues), "max_turns": int(max_turns)}, render_mode=render_mode)

    def _board(self) -> list[list[int]]:
        return self.state.game_state["board"]

    def action_mask(self) -> np.ndarray:
        board = self._board()
        return np.array([board[r - 1][c - 1] == 0 for r, c, _ in self.moves])

    def vector_observation(self) -> np.ndarray:
        digits = [v / 9.0 for row in self._board() for v in row]
        given = [float(v != 0) for row in self.game.game_board for v in row]
        return np.array(digits + given, dtype=np.float32)

    def oracle_action(self) -> int:
        board = self._board()
        for r in range(9):
            for c in range(9):
                if board[r][c] == 0:
                    return self.moves.index((r + 1, c + 1, self.game.full_grid[r][c]))
        return int(np.flatnonzero(self.action_mask())[0])

    def state_text(self) -> str:
        return self.game._get_grid_string_with_indices()


class LightsOutEnv(TextArenaEnv):
    """Turn every light off; a press toggles a light and its orthogonal neighbours."""

    game_id = "LightsOut-v0"
    REROLLS = 16

    def __init__(self, view: str = "text", size: int = 5, max_turns: int = 20, render_mode: str | None = None):
        self.size, self.max_turns = int(size), int(max_turns)
        self.cells = [(r, c) for r in range(self.size) for c in range(self.size)]
        super().__init__(view=view, labels=[f"[{r} {c}]" for r, c in self.cells],
                         vector_space=_box(len(self.cells) + 1),
                         ta_kwargs={"size": self.size, "max_turns": self.max_turns}, render_mode=render_mode)

    def start_game(self, seed: int) -> int:
        """TextArena's scramble can leave every light off, and its reset then divides by zero: such a seed
        is re-rolled to ``sha256(seed:k)`` for k = 1, 2, ... (deterministic)."""
        for k in range(self.REROLLS):
            game_seed = seed if k == 0 else int.from_bytes(hashlib.sha256(f"{seed}:{k}".encode()).digest()[:4], "big")
            try:
                return super().start_game(game_seed)
            except ZeroDivisionError:
                continue
        raise RuntimeError(f"LightsOut: no playable board from seed {seed}")

    def _grid(self) -> list[list[bool]]:
        return self.state.game_state["grid"]

    def action_mask(self) -> None:
        return None

    def vector_observation(self) -> np.ndarray:
        lights = [float(v) for row in self._grid() for v in row]
        return np.array([*lights, min(1.0, self.state.game_state["moves_made"] / self.max_turns)], dtype=np.float32)

    @functools.cached_property
    def _toggles(self) -> list[int]:
        """Bit mask of the lights each press toggles."""
        masks = []
        for r, c in self.cells:
            bits = 0
            for dr, dc in ((0, 0), (1, 0), (-1, 0), (0, 1), (0, -1)):
                if 0 <= r + dr < self.size and 0 <= c + dc < self.size:
                    bits |= 1 << ((r + dr) * self.size + c + dc)
            masks.append(bits)
        return masks

    def solve(self) -> list[int]:
        """The fewest presses that turn every light off (Gaussian elimination over GF(2), then the best of
        the particular solution plus each combination of the null-space basis)."""
        n = len(self.cells)
        lights = sum(1 << i for i, (r, c) in enumerate(self.cells) if self._grid()[r][c])
        # rows: equation per light i: sum_j A[i][j] x_j = lights_i ; A is symmetric, so column j = toggles[j]
        rows = [sum(((self._toggles[j] >> i) & 1) << j for j in range(n)) | (((lights >> i) & 1) << n)
                for i in range(n)]
        pivots, rank = [], 0
        for col in range(n):
            pivot = next((i for i in range(rank, n) if (rows[i] >> col) & 1), None)
            if pivot is None:
                continue
            rows[rank], rows[pivot] = rows[pivot], rows[rank]
            for i in range(n):
                if i != rank and (rows[i] >> col) & 1:
                    rows[i] ^= rows[rank]
            pivots.append(col)
            rank += 1
        if any((rows[i] >> n) & 1 for i in range(rank, n)):
            return []  # unsolvable (cannot happen from a scramble)
        free = [col for col in range(n) if col not in pivots]
        best: list[int] | None = None
        for choice in itertools.product((0, 1), repeat=len(free)):
            x = dict(zip(free, choice))
            for i, col in enumerate(pivots):
                value = (rows[i] >> n) & 1
                for f, v in x.items():
                    if f in free and v and (rows[i] >> f) & 1:
                        value ^= 1
                x[col] = value
            presses = sorted(col for col, v in x.items() if v)
            if best is None or len(presses) < len(best):
                best = presses
        return best or []

    def oracle_action(self) -> int:
        presses = self.solve()
        return presses[0] if presses else 0

    def state_text(self) -> str:
        made = self.state.game_state["moves_made"]
        return self.game._grid_to_string(self._grid()) + f"\nMoves made: {made} of {self.max_turns}."


class FrozenLakeEnv(TextArenaEnv):
    """Walk from the top-left corner to the goal without falling into a hole (seeded hole layout)."""

    game_id = "FrozenLake-v0"
    MOVES: ClassVar[dict[str, tuple[int, int]]] = {"up": (-1, 0), "down": (1, 0), "left": (0, -1), "right": (0, 1)}

    def __init__(self, view: str = "text", size: int = 4, num_holes: int = 3, render_mode: str | None = None):
        self.size = int(size)
        self.names = list(self.MOVES)
        super().__init__(view=view, labels=[f"[{name}]" for name in self.names],
                         vector_space=_box(3 * self.size * self.size),
                         ta_kwargs={"size": self.size, "num_holes": int(num_holes), "randomize_start_goal": False},
                         render_mode=render_mode)

    def _inside(self, position: tuple[int, int], name: str) -> tuple[int, int] | None:
        r, c = position[0] + self.MOVES[name][0], position[1] + self.MOVES[name][1]
        return (r, c) if 0 <= r < self.size and 0 <= c < self.size else None

    def action_mask(self) -> np.ndarray:
        """Moves off the board are masked: TextArena rejects them as "hit a wall"."""
        position = tuple(self.state.game_state["player_pos"])
        return np.array([self._inside(position, name) is not None for name in self.names])

    def vector_observation(self) -> np.ndarray:
        grid, n = self.state.game_state["grid"], self.size * self.size
        out = np.zeros(3 * n, dtype=np.float32)
        r, c = self.state.game_state["player_pos"]
        out[r * self.size + c] = 1.0
        for i in range(n):
            cell = grid[i // self.size][i % self.size]
            out[n + i] = float(cell == "H")
            out[2 * n + i] = float(cell == "G")
        return out

    def oracle_action(self) -> int:
        grid = self.state.game_state["grid"]
        goal = tuple(self.state.game_state["goal_pos"])

        def moves(position):
            for index, name in enumerate(self.names):
                following = self._inside(position, name)
                if following is not None and grid[following[0]][following[1]] != "H":
                    yield index, following

        move = _bfs_first_move(tuple(self.state.game_state["player_pos"]), lambda p: p == goal, moves)
        return int(np.flatnonzero(self.action_mask())[0]) if move is None else move

    def state_text(self) -> str:
        return self.game._render_board()


# ------------------------------------------------------------------ two players
LINES = ((0, 1, 2), (3, 4, 5), (6, 7, 8), (0, 3, 6), (1, 4, 7), (2, 5, 8), (0, 4, 8), (2, 4, 6))


def _winner(board: str) -> str:
    for a, b, c in LINES:
        if board[a] != "." and board[a] == board[b] == board[c]:
            return board[a]
    return ""


@functools.cache
def _minimax(board: str, me: str, other: str) -> tuple[int, int]:
    """(value for ``me`` to move: 10 + empty cells left after a win (sooner is better), 0 for a draw, the
    negative of that for a loss; the best cell) by full search."""
    best_value, best_cell = -100, -1
    for cell in range(9):
        if board[cell] != ".":
            continue
        following = board[:cell] + me + board[cell + 1:]
        if _winner(following) == me:
            value = 10 + following.count(".")  # sooner wins are worth more
        elif "." not in following:
            value = 0
        else:
            value = -_minimax(following, other, me)[0]
        if value > best_value:
            best_value, best_cell = value, cell
    return best_value, best_cell


class TicTacToeEnv(TextArenaEnv):
    """Tic-tac-toe against a fixed opponent; the agent is player 0 (TextArena's "O", moving first) by default."""

    game_id = "TicTacToe-v0"
    players = 2

    def __init__(self, view: str = "text", opponent: str = "random", agent_player: int = 0,
                 render_mode: str | None = None) -> None:
        super().__init__(view=view, labels=[f"[{i}]" for i in range(9)], vector_space=_box(19), ta_kwargs={},
                         agent_player=agent_player, opponent=opponent, render_mode=render_mode)

    def _symbols(self, player: int) -> tuple[str, str]:
        """(own, other) symbols of ``player``: TextArena gives player 1 "X", player 0 "O"."""
        return ("X", "O") if player == 1 else ("O", "X")

    def _board(self) -> str:
        return "".join(cell or "." for row in self.state.game_state["board"] for cell in row)

    def action_mask(self) -> np.ndarray:
        return np.array([cell == "." for cell in self._board()])

    def vector_observation(self) -> np.ndarray:
        mine, theirs = self._symbols(self.agent_player)
        board = self._board()
        return np.array([float(c == mine) for c in board] + [float(c == theirs) for c in board]
                        + [float(self.state.current_player_id == self.agent_player)], dtype=np.float32)

    def oracle_action(self) -> int:
        mine, theirs = self._symbols(self.state.current_player_id)
        cell = _minimax(self._board(), mine, theirs)[1]
        return cell if cell >= 0 else int(np.flatnonzero(self.action_mask())[0])

    def opponents(self) -> tuple[str, ...]:
        return ("random", "heuristic")

    def opponent_action(self) -> int:
        """``random``: uniform over empty cells. ``heuristic``: win if it can, else block, else the centre,
        else a corner, else an edge (ties broken by the env's generator)."""
        board = self._board()
        empty = [i for i, c in enumerate(board) if c == "."]
        if self.opponent == "random":
            return int(self.np_random.choice(empty))
        mine, theirs = self._symbols(self.state.current_player_id)
        for symbol in (mine, theirs):
            for cell in empty:
                if _winner(board[:cell] + symbol + board[cell + 1:]) == symbol:
                    return cell
        for group in ([4], [0, 2, 6, 8], [1, 3, 5, 7]):
            options = [cell for cell in group if cell in empty]
            if options:
                return int(self.np_random.choice(options))
        return empty[0]

    def state_text(self) -> str:
        mine, _ = self._symbols(self.agent_player)
        return f"You play {mine}.\n" + self.game._render_board()


class NimEnv(TextArenaEnv):
    """Nim (whoever takes the last object wins) against a fixed opponent; the agent moves first by default."""

    game_id = "Nim-v0"
    players = 2

    def __init__(self, view: str = "text", piles: list[int] | None = None, opponent: str = "random",
                 agent_player: int = 0, render_mode: str | None = None) -> None:
        self.initial = [int(p) for p in (piles or [3, 4, 5])]
        self.moves = [(p, q) for p in range(len(self.initial)) for q in range(1, max(self.initial) + 1)]
        top = max(self.initial)
        super().__init__(view=view, labels=[f"[{p} {q}]" for p, q in self.moves],
                         vector_space=_box(len(self.initial) * (top + 1) + 1), ta_kwargs={"piles": list(self.initial)},
                         agent_player=agent_player, opponent=opponent, render_mode=render_mode)

    def _piles(self) -> list[int]:
        return list(self.state.game_state["piles"])

    def action_mask(self) -> np.ndarray:
        piles = self._piles()
        return np.array([q <= piles[p] for p, q in self.moves])

    def vector_observation(self) -> np.ndarray:
        top = max(self.initial)
        out = np.zeros(len(self.initial) * (top + 1) + 1, dtype=np.float32)
        for p, count in enumerate(self._piles()):
            out[p * (top + 1) + count] = 1.0
        out[-1] = float(self.state.current_player_id == self.agent_player)
        return out

    def oracle_action(self) -> int:
        """The winning move (nim-sum to zero); from a lost position, one object from the largest pile."""
        piles = self._piles()
        total = 0
        for count in piles:
            total ^= count
        if total:
            for p, count in enumerate(piles):
                if count ^ total < count:
                    return self.moves.index((p, count - (count ^ total)))
        largest = max(range(len(piles)), key=lambda p: piles[p])
        return self.moves.index((largest, 1))

    def opponents(self) -> tuple[str, ...]:
        return ("random", "optimal")

    def opponent_action(self) -> int:
        """``random``: uniform over legal moves. ``optimal``: the nim-sum move (random when it has none)."""
        if self.opponent == "optimal":
            piles, total = self._piles(), 0
            for count in piles:
                total ^= count
            if total:
                return self.oracle_action()
        return int(self.np_random.choice(np.flatnonzero(self.action_mask())))

    def state_text(self) -> str:
        return "Piles:\n" + self.game._render_piles()
