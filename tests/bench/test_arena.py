"""The arena: colours alternate, counts add up, ratings order the bots, Bradley-Terry by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from agentgym.agents.base import Agent, Decision
from agentgym.bench.arena import format_arena, play_arena
from agentgym.metrics.ratings import ELO, bradley_terry


@pytest.fixture(scope="module")
def tictactoe():
    return play_arena(["random", "heuristic", "perfect"], "tictactoe", games_per_pair=40, seed=0)


def test_ratings_order_random_heuristic_perfect(tictactoe):
    ratings = tictactoe.ratings
    assert ratings["random"].mean < ratings["heuristic"].mean < ratings["perfect"].mean
    assert math.isclose(np.mean([r.mean for r in ratings.values()]), 1500.0)
    assert all(r.low <= r.mean <= r.high for r in ratings.values())
    assert ratings["random"].high < ratings["heuristic"].low


def test_counts_add_up_and_colours_alternate(tictactoe):
    assert len(tictactoe.pairs) == 3 and len(tictactoe.records) == 120
    for pair in tictactoe.pairs:
        assert pair.games == 40 and sum(pair.counts()) == 40 and pair.a_first == 20
        assert pair.win_rate.low <= pair.wins / 40 <= pair.win_rate.high
        records = [r for r in tictactoe.records if {r.first, r.second} == {pair.a, pair.b}]
        assert [r.first for r in records] == [pair.a, pair.b] * 20
        assert sum(r.winner == pair.a for r in records) == pair.wins
    perfect_vs_random = next(p for p in tictactoe.pairs if p.b == "perfect" and p.a == "random")
    assert perfect_vs_random.wins == 0 and perfect_vs_random.illegal == {"random": 0, "perfect": 0}


def test_format_and_determinism(tictactoe):
    text = format_arena(tictactoe)
    assert "random vs heuristic" in text and "Bradley-Terry" in text and "Wilson" in text
    again = play_arena(["random", "heuristic", "perfect"], "tictactoe", games_per_pair=40, seed=0, n_bootstrap=0)
    assert [r.winner for r in again.records] == [r.winner for r in tictactoe.records]
    assert again.as_dict()["ratings"]["perfect"]["ci_low"] is None


def test_perfect_self_play_always_draws_and_oracle_agent_works():
    result = play_arena(["perfect", "perfect", "oracle"], "tictactoe", games_per_pair=10, seed=1, n_bootstrap=0)
    assert result.agents == ["perfect", "perfect#2", "oracle"]
    assert all(p.draws == 10 for p in result.pairs)
    with pytest.raises(ValueError, match="alphabeta"):
        play_arena(["random", "alphabeta"], "tictactoe", games_per_pair=1, seed=0)


class GarbageAgent(Agent):
    """Answers every text turn with something that is no move."""

    view = "text"

    def act(self, turns):
        return [Decision("I resign? xyzzy") for _ in turns]


def test_text_agents_and_illegal_moves(monkeypatch):
    monkeypatch.setenv("AGENTGYM_ALLOW_CODE", "1")  # GarbageAgent lives in this test module, outside agentgym
    text_bot = {"name": "bot-text", "entry_point": "agentgym.bench.arena:GameBotAgent",
                "kwargs": {"player": "heuristic", "view": "text"}}
    garbage = {"name": "garbage", "entry_point": f"{__name__}:GarbageAgent"}
    result = play_arena(["random-text", text_bot, garbage], "connect_four", games_per_pair=4, seed=0, n_bootstrap=0)
    text_pair, *garbage_pairs = result.pairs
    assert sum(text_pair.counts()) == 4 and sum(text_pair.illegal.values()) == 0 and text_pair.losses >= 3
    for pair in garbage_pairs:
        assert pair.illegal["garbage"] == 4 and pair.wins == 4
        assert all(r.moves <= 2 and r.illegal == "garbage" for r in result.records if "garbage" in (r.first, r.second))


def test_bradley_terry_by_hand():
    # strengths 1 : 2 : 4 reproduce these results exactly, so they are the maximum-likelihood fit
    points = np.array([[0, 1, 1], [2, 0, 1], [4, 2, 0]], dtype=float)
    elo = ELO * bradley_terry(points, prior_draws=0)
    assert np.allclose(elo - elo[0], [0, 400 * np.log10(2), 400 * np.log10(4)])
    # two agents, 3 wins to 1: 3:1 odds, 400 log10(3) = 190.85 Elo apart
    two = ELO * bradley_terry(np.array([[0, 3.0], [1.0, 0]]), prior_draws=0)
    assert math.isclose(two[0] - two[1], 400 * math.log10(3))
    # a virtual draw pulls an unbeaten agent back to a finite rating
    assert np.isfinite(bradley_terry(np.array([[0, 5.0], [0, 0]]), prior_draws=1)).all()
    anchored = play_arena(["random", "heuristic"], "tictactoe", games_per_pair=6, seed=0, anchor="random",
                          n_bootstrap=0)
    assert anchored.ratings["random"].mean == 1000.0
