"""Round-robin arena for the two-player board games: every pair of agents, colours alternating.

Each agent plays through the ordinary agent protocol from its own side of the board: the arena
seats it at a :class:`~agentgym.envs.games.board_env.BoardGameEnv` in *seat* mode (no built-in
opponent) whose view (text or vector), ``action_masks()`` and ``oracle()`` follow that side, so
the built-in ``random`` and ``oracle`` agents work unchanged. The games of a pair run in lockstep:
one ``act`` call per agent per round over all tables where it is to move (LLM backends batch).
An illegal move (masked-out index, unparseable or illegal text) loses that game.

Besides registered agents, the names ``heuristic``, ``perfect`` and ``alphabeta`` (when no agent
of that name is registered) are the game's built-in players as agents (:class:`GameBotAgent`).

Statistics: win/draw/loss rates get 95% Wilson score intervals (``scipy.stats.binomtest``), the
mean score (win 1, draw 1/2) a 95% bootstrap interval (:func:`agentgym.metrics.stats.bootstrap_ci`).
Ratings: Bradley-Terry fitted by Newton's method on all games (a draw is half a win to each side),
on the Elo scale (400 points = 10:1 odds), mean 1500, or one agent at 1000 (``anchor``);
``prior_draws`` virtual draws per pair (default 1) keep an unbeaten agent's rating finite; 95%
intervals by percentile bootstrap over games within pairs.

Example:
    >>> result = play_arena(["random", "heuristic"], "tictactoe", games_per_pair=4, seed=0)
    >>> result.pairs[0].games, sum(result.pairs[0].counts())
    (4, 4)
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from agentgym.agents.base import Agent, EpisodeContext, Turn
from agentgym.agents.game_bots import GameBotAgent
from agentgym.agents.registry import AGENTS, make_agent
from agentgym.core.errors import ConfigError
from agentgym.core.types import Interval
from agentgym.envs.games import BoardGameEnv, ConnectFourEnv, TicTacToeEnv
from agentgym.envs.registration import env_spec
from agentgym.metrics.ratings import elo_ratings, wilson_interval
from agentgym.metrics.stats import bootstrap_ci

GAMES: dict[str, tuple[type[BoardGameEnv], str]] = {
    "tictactoe": (TicTacToeEnv, "agentgym/TicTacToe-v0"),
    "connect_four": (ConnectFourEnv, "agentgym/ConnectFour-v0"),
}
BOTS = ("heuristic", "perfect", "alphabeta")


def resolve_agent_spec(spec: str | dict[str, Any]) -> str | dict[str, Any]:
    """A registered name or a spec mapping as is; an unregistered bot name as a :class:`GameBotAgent` spec."""
    if isinstance(spec, str) and spec in BOTS and spec not in AGENTS:
        return {"name": spec, "entry_point": "agentgym.agents.game_bots:GameBotAgent", "kwargs": {"player": spec},
                "description": f"the arena's built-in {spec} player"}
    return spec


@dataclass
class GameRecord:
    """One arena game. ``first`` played X (moved first); ``winner`` is None for a draw."""

    pair: tuple[int, int]
    index: int
    first: str
    second: str
    winner: str | None
    moves: int
    illegal: str | None = None  # the agent that lost by an illegal move, if any


@dataclass
class PairResult:
    """Results of ``a`` against ``b`` from ``a``'s side, with 95% intervals."""

    a: str
    b: str
    games: int
    wins: int
    draws: int
    losses: int
    win_rate: Interval
    draw_rate: Interval
    loss_rate: Interval
    score: Interval
    illegal: dict[str, int] = field(default_factory=dict)
    a_first: int = 0  # games in which ``a`` moved first

    def counts(self) -> tuple[int, int, int]:
        return self.wins, self.draws, self.losses


@dataclass
class ArenaResult:
    game: str
    agents: list[str]
    games_per_pair: int
    seed: int
    pairs: list[PairResult]
    ratings: dict[str, Interval]
    rating_anchor: str
    records: list[GameRecord]

    def as_dict(self) -> dict[str, Any]:
        pairs = [{**{k: v for k, v in vars(p).items() if not isinstance(v, Interval)},
                  **{k: v.as_dict() for k, v in vars(p).items() if isinstance(v, Interval)}} for p in self.pairs]
        return {"game": self.game, "agents": self.agents, "games_per_pair": self.games_per_pair, "seed": self.seed,
                "pairs": pairs, "ratings": {k: v.as_dict() for k, v in self.ratings.items()},
                "rating_anchor": self.rating_anchor, "records": [vars(r) for r in self.records]}


def _play_pair(agents: list[Agent], pair: tuple[int, int], game: str, games: int, seed: int, env_id: str,
               names: list[str], env_kwargs: dict[str, Any]) -> list[GameRecord]:
    """All games of one pair in lockstep; game g has ``pair[g % 2]`` moving first."""
    env_class = GAMES[game][0]
    card = env_spec(env_id).card
    tables = []
    for g in range(games):
        order = pair if g % 2 == 0 else pair[::-1]
        seats = [env_class(view=agents[k].view, opponent=None, **env_kwargs) for k in order]
        table = seats[0].table
        table.reset()
        contexts = []
        for side, (k, seat) in enumerate(zip(order, seats)):
            seat.bind(table, side)
            seat.card = card
            contexts.append(EpisodeContext(
                key=f"arena/{game}/{seed}/{pair[0]}-{pair[1]}/{g}/{side}", env_id=env_id, seed=seed, repeat=g,
                card=card, action_space=seat.action_space, observation_space=seat.observation_space, env=seat))
            agents[k].reset(contexts[side])
        tables.append((order, table, seats, contexts))
    moves = [0] * games
    illegal: list[str | None] = [None] * games
    while not all(table.over() for _, table, _, _ in tables):
        for k in pair:
            turns, where = [], []
            for g, (order, table, seats, contexts) in enumerate(tables):
                side = table.piece_to_move() - 1
                if not table.over() and order[side] == k:
                    turns.append(Turn(contexts[side], *seats[side].observe()))
                    where.append((g, side))
            if not turns:
                continue
            decisions = agents[k].act(turns)
            if len(decisions) != len(turns):
                raise RuntimeError(f"agent {names[k]!r} returned {len(decisions)} decisions for {len(turns)} turns")
            for (g, side), decision in zip(where, decisions):
                _, table, seats, _ = tables[g]
                move = seats[side].read_action(decision.action)
                if move is None:
                    table.forfeit, illegal[g] = side, names[k]
                else:
                    table.play(move)
                moves[g] += 1
    records = []
    for g, (order, table, _, _) in enumerate(tables):
        result = table.result(0)
        winner = None if result == 0 else names[order[0] if result == 1 else order[1]]
        records.append(GameRecord(pair, g, names[order[0]], names[order[1]], winner, moves[g], illegal[g]))
    return records


def _pair_result(pair: tuple[int, int], records: list[GameRecord], names: list[str]) -> PairResult:
    a, b = names[pair[0]], names[pair[1]]
    n = len(records)
    wins = sum(r.winner == a for r in records)
    losses = sum(r.winner == b for r in records)
    draws = n - wins - losses
    scores = [1.0 if r.winner == a else 0.0 if r.winner == b else 0.5 for r in records]
    illegal = {name: sum(r.illegal == name for r in records) for name in (a, b)}
    return PairResult(a, b, n, wins, draws, losses, wilson_interval(wins, n), wilson_interval(draws, n),
                      wilson_interval(losses, n),
                      bootstrap_ci(scores), illegal, sum(r.first == a for r in records))


def _unique(names: list[str]) -> list[str]:
    """Names made distinct: a repeated ``name`` becomes ``name#2``, ``name#3``, ..."""
    return [f"{name}#{names[:i].count(name) + 1}" if name in names[:i] else name for i, name in enumerate(names)]


def play_arena(agent_specs: list[str | dict], game: str, games_per_pair: int, seed: int, *,
               env_id: str | None = None, env_kwargs: dict[str, Any] | None = None, prior_draws: float = 1.0,
               anchor: str | None = None, n_bootstrap: int = 200) -> ArenaResult:
    """Play every pair of agents ``games_per_pair`` times, colours alternating, and rate them.

    Args:
        agent_specs: registered agent names, spec mappings, or the bot names ``heuristic``,
            ``perfect``, ``alphabeta``; the same agent may appear twice (self-play, named ``name#2``).
        game: ``"tictactoe"`` or ``"connect_four"``.
        games_per_pair: games per pair; the first agent of the pair moves first in games 0, 2, 4, ...
        seed: seeds the agents' per-game generators and the rating bootstrap.
        env_id: the id agents are told they play (default the game's random-opponent id; its card).
        env_kwargs: keyword arguments of the seats' env class (e.g. ``depth``, ``oracle_depth`` of Connect Four).
        prior_draws: virtual draws per pair in the Bradley-Terry fit (0 for the plain MLE).
        anchor: an agent whose rating is fixed at 1000 (default: the mean rating is 1500).
        n_bootstrap: bootstrap resamples of the rating intervals (0: no intervals).
    """
    game = {"connect4": "connect_four", "tic_tac_toe": "tictactoe"}.get(game.lower().replace("-", "_"), game.lower())
    if game not in GAMES:
        raise ConfigError(f"unknown arena game {game!r}; choose one of {sorted(GAMES)}")
    if len(agent_specs) < 2 or games_per_pair < 1:
        raise ConfigError("an arena needs at least two agents and one game per pair")
    env_kwargs = dict(env_kwargs or {})
    agents = [make_agent(resolve_agent_spec(spec)) for spec in agent_specs]
    known = GAMES[game][0](opponent=None, **env_kwargs).players()
    for agent in agents:
        if isinstance(agent, GameBotAgent) and agent.player not in known:
            raise ConfigError(f"{game} has no built-in player {agent.player!r}; it has {sorted(known)}")
    names = _unique([agent.name for agent in agents])
    if anchor is not None and anchor not in names:
        raise ConfigError(f"anchor {anchor!r} is none of the agents {names}")
    env_id = env_id or GAMES[game][1]
    records: list[GameRecord] = []
    try:
        for pair in itertools.combinations(range(len(agents)), 2):
            records.extend(_play_pair(agents, pair, game, games_per_pair, seed, env_id, names, env_kwargs))
    finally:
        for agent in agents:
            agent.close()
    pairs = [_pair_result(pair, [r for r in records if r.pair == pair], names)
             for pair in itertools.combinations(range(len(agents)), 2)]
    ratings = elo_ratings(records, names, prior_draws=prior_draws, anchor=anchor, n_bootstrap=n_bootstrap, seed=seed)
    how = f"{anchor} = 1000" if anchor else "mean 1500"
    return ArenaResult(game, names, games_per_pair, seed, pairs, ratings, how, records)


def format_arena(result: ArenaResult) -> str:
    """A readable report: one line per pair, then the ratings from best to worst."""
    def rate(value: Interval) -> str:
        return f"{value.mean:.2f} [{value.low:.2f}, {value.high:.2f}]"

    width = max(len(f"{p.a} vs {p.b}") for p in result.pairs)
    lines = [f"Arena: {result.game}, {len(result.agents)} agents, {result.games_per_pair} games per pair "
             f"(colours alternate), seed {result.seed}",
             f"{'pair':<{width}}  {'W':>4} {'D':>4} {'L':>4}  {'win rate':<18}  {'draw rate':<18}  "
             f"{'loss rate':<18}  {'score':<18}  illegal"]
    for p in result.pairs:
        lines.append(f"{p.a + ' vs ' + p.b:<{width}}  {p.wins:>4} {p.draws:>4} {p.losses:>4}  {rate(p.win_rate):<18}  "
                     f"{rate(p.draw_rate):<18}  {rate(p.loss_rate):<18}  {rate(p.score):<18}  "
                     f"{p.illegal[p.a]}/{p.illegal[p.b]}")
    lines.append("Rates from the first agent's side, 95% Wilson intervals; score = (wins + draws/2) / games, "
                 "95% bootstrap interval.")
    lines.append(f"Ratings (Bradley-Terry, Elo scale, {result.rating_anchor}; a draw is half a win; "
                 "95% bootstrap interval over games):")
    ranked = sorted(result.ratings.items(), key=lambda item: -item[1].mean)
    name_width = max(len(name) for name in result.ratings)
    for rank, (name, value) in enumerate(ranked, start=1):
        lines.append(f"  {rank}. {name:<{name_width}}  {value.mean:7.1f}  [{value.low:.1f}, {value.high:.1f}]")
    return "\n".join(lines)
