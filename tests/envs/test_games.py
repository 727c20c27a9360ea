"""The games family: models agree with PettingZoo, minimax is right, illegal moves lose, views parse."""

from __future__ import annotations

import numpy as np
import pettingzoo
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import agentgym
from agentgym.envs.games import ConnectFourEnv, TicTacToeEnv
from agentgym.envs.games import connect_four_players as c4
from agentgym.envs.games import tictactoe_players as ttt

GAMES = ["agentgym/TicTacToe-v0", "agentgym/TicTacToe-Heuristic-v0", "agentgym/TicTacToe-Perfect-v0",
         "agentgym/ConnectFour-v0", "agentgym/ConnectFour-Heuristic-v0", "agentgym/ConnectFour-AlphaBeta-v0"]


def random_positions(game_id: str, games: int, seed: int):
    """(PettingZoo game, flat board, piece to move) at every position of random PettingZoo games."""
    rng = np.random.default_rng(seed)
    for _ in range(games):
        game = pettingzoo.make("aec", game_id).unwrapped
        game.reset()
        while True:
            flat = tuple(game.board.squares) if game_id.startswith("classic/tic") else tuple(game.board)
            yield game, flat, game.possible_agents.index(game.agent_selection) + 1
            if any(game.terminations.values()):
                break
            game.step(int(rng.choice(np.flatnonzero(game.observe(game.agent_selection)["action_mask"]))))


def pettingzoo_winner(game) -> int:
    rewards = [game.rewards[name] for name in game.possible_agents]
    return 1 + rewards.index(1) if 1 in rewards else 0


def play(env, policy, seed: int, **options):
    _, info = env.reset(seed=seed, options=options or None)
    while True:
        _, reward, terminated, truncated, info = env.step(policy(env, info))
        if terminated or truncated:
            return reward, info


def oracle(env, info):
    return env.oracle()


def test_ids_are_registered_with_games_cards():
    assert set(GAMES) <= set(agentgym.env_ids())
    for env_id in GAMES:
        card = agentgym.env_spec(env_id).card
        assert card.family == "games" and set(card.aspects) == {"task", "validity"}
        assert not card.oracle_always_succeeds
        assert card.oracle == ("exact" if "TicTacToe" in env_id else "near-optimal")
        assert agentgym.make(env_id).unwrapped.aspects == tuple(card.aspects)


def test_tictactoe_model_agrees_with_pettingzoo():
    for game, squares, piece in random_positions("classic/tictactoe-v3", 150, seed=1):
        over = any(game.terminations.values())
        mask = [] if over else np.flatnonzero(game.observe(game.agent_selection)["action_mask"]).tolist()
        assert ttt.legal_moves(squares) == mask
        assert ttt.winner(squares) == (pettingzoo_winner(game) if over else 0)
        assert over or ttt.to_move(squares) == piece


def test_connect_four_model_agrees_with_pettingzoo():
    for game, flat, piece in random_positions("classic/connect_four-v3", 40, seed=2):
        over = any(game.terminations.values())
        mine, mask = c4.bitboards(flat, piece)
        if not over:
            assert c4.legal_columns(mask) == np.flatnonzero(game.observe(game.agent_selection)["action_mask"]).tolist()
        assert c4.winner(flat) == (pettingzoo_winner(game) if over else 0)
        assert mask.bit_count() == sum(1 for v in flat if v) and mine.bit_count() == flat.count(piece)


def test_tictactoe_minimax():
    empty = (0,) * 9
    assert ttt.game_value(empty, 1) == 0 and ttt.game_value((1, 0, 0, 0, 0, 0, 0, 0, 0), 2) == 0
    win = (1, 1, 0, 2, 2, 0, 0, 0, 0)  # X on 0, 1 (column a), O on 3, 4: X completes a3 (index 2)
    assert ttt.oracle_move(win, 1) == 2 and ttt.game_value(win, 1) == 1
    block = (1, 0, 0, 2, 2, 0, 1, 0, 0)  # O threatens 5 (row 3 of column b); X must block
    assert ttt.best_moves(block, 1) == [5] and ttt.oracle_move(block, 1) == 5
    assert ttt.heuristic_player(block, 1, ttt.legal_moves(block), np.random.default_rng(0)) == 5


def plain_minimax(mine: int, theirs: int, mask: int, depth: int) -> int:
    moves = c4.legal_columns(mask)
    if not moves:
        return 0
    for col in moves:
        if c4.is_win(mine | c4.drop(mask, col)):
            return c4.WIN + 42 - mask.bit_count()
    if depth <= 0:
        return c4.evaluate(mine, theirs, mask)
    return max(-plain_minimax(theirs, mine | c4.drop(mask, c), mask | c4.drop(mask, c), depth - 1) for c in moves)


def test_alpha_beta_equals_plain_minimax():
    checked = 0
    for _, flat, piece in random_positions("classic/connect_four-v3", 6, seed=3):
        if c4.winner(flat) or not c4.legal_columns(c4.bitboards(flat, piece)[1]):
            continue
        mine, mask = c4.bitboards(flat, piece)
        scores = {col: -plain_minimax(mine ^ mask, mine | c4.drop(mask, col), mask | c4.drop(mask, col), 2)
                  for col in c4.legal_columns(mask)}
        top = max(scores.values())
        wins = [c for c in scores if c4.is_win(mine | c4.drop(mask, c))]
        assert c4.best_columns(flat, piece, 3) == (wins or sorted(c for c, v in scores.items() if v == top))
        checked += 1
    assert checked > 30


def test_connect_four_search_wins_and_blocks():
    grid = np.zeros((6, 7), dtype=int)
    grid[5, 0:3] = 1  # X has three on the bottom row, O has two stones elsewhere
    grid[5, 5] = grid[4, 5] = 2
    flat = tuple(grid.ravel())
    assert c4.oracle_move(flat, 1, 4) == 3 and c4.heuristic_player(flat, 1, list(range(7)), None) == 3
    grid[4, 5] = 0
    grid[5, 6] = 2  # now O to move must block column 4
    flat = tuple(grid.ravel())
    assert c4.oracle_move(flat, 2, 4) == 3 and c4.alphabeta_player(flat, 2, list(range(7)),
                                                                   np.random.default_rng(0), depth=4) == 3


def test_perfect_never_loses_to_random_and_draws_itself():
    env = TicTacToeEnv(opponent="random")
    results = [play(env, oracle, seed)[0] for seed in range(200)]
    assert min(results) >= 0 and results.count(1.0) > 150
    env = TicTacToeEnv(opponent="perfect")
    for seed in range(30):
        reward, info = play(env, oracle, seed)
        assert reward == 0.0 and info["progress"] == 0.5 and info["success"] is False


def test_game_value_and_sides():
    env = TicTacToeEnv(opponent="perfect")
    sides = set()
    for seed in range(20):
        env.reset(seed=seed)
        sides.add(env.unwrapped.side)
        assert env.game_value() == 0
    assert sides == {0, 1}
    env.reset(seed=0, options={"agent_first": False})
    assert env.side == 1 and sum(1 for v in env.board() if v) == 1


@pytest.mark.parametrize("env_class", [TicTacToeEnv, ConnectFourEnv])
def test_illegal_move_loses_in_both_views(env_class):
    env = env_class(view="vector", opponent="random")
    env.reset(seed=0, options={"agent_first": False})
    illegal = int(np.flatnonzero(~env.action_masks())[0]) if not env.action_masks().all() else None
    if illegal is not None:  # tic-tac-toe: the opponent's cell; connect four has no illegal column yet
        _, reward, terminated, _, info = env.step(illegal)
        assert terminated and reward == -1.0 and info["reward_vector"] == {"task": -1.0, "validity": -1.0}
        assert info["success"] is False and info["progress"] == 0.0 and info["invalid_action"]
    text = env_class(view="text", opponent="random")
    _obs, _ = text.reset(seed=0)
    _, reward, terminated, _, info = text.step("castle kingside")
    assert terminated and reward == -1.0 and info["reward_vector"]["validity"] == -1.0
    assert info["admissible_actions"] == [] and not info["success"]
    _, reward, terminated, _, info = text.step("anything")  # a finished game stays finished
    assert terminated and reward == 0.0


def test_full_column_is_illegal():
    env = ConnectFourEnv(view="vector", opponent="random")
    env.reset(seed=1)
    while env.action_masks().all():
        env.step(0)
    assert not env.game_over() and not env.action_masks()[0]
    _, reward, terminated, _, info = env.step(0)
    assert terminated and reward == -1.0 and info["reward_vector"]["validity"] == -1.0 and env.result() == -1


def test_illegal_move_can_be_a_mere_invalid_action():
    env = TicTacToeEnv(view="text", opponent="random", illegal_move_loses=False)
    _obs, _ = env.reset(seed=0)
    _, reward, terminated, _, info = env.step("z9")
    assert not terminated and reward == 0.0 and info["reward_vector"] == {"task": 0.0, "validity": -1.0}
    assert info["admissible_actions"] and "not a valid action" in env.step("nope")[0]


@pytest.mark.parametrize(("text", "cell"), [("b2", 4), ("B2", 4), ("2b", 4), ("I play b2.", 4), ("`a3`", 2)])
def test_tictactoe_text_moves(text, cell):
    env = TicTacToeEnv(view="text", opponent="random")
    env.reset(seed=0, options={"agent_first": True})
    assert env.parse_action(text) == cell and env.parse_action("a1 or b2") is None


@pytest.mark.parametrize("text", ["4", "column 4", "Col 4", "drop in column 4", "play 4."])
def test_connect_four_text_moves(text):
    env = ConnectFourEnv(view="text", opponent="random")
    env.reset(seed=0, options={"agent_first": True})
    assert env.parse_action(text) == 3 and env.parse_action("0") is None and env.parse_action("column 8") is None


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=40))
def test_garbage_text_never_crashes(text):
    for env in (TicTacToeEnv(view="text"), ConnectFourEnv(view="text")):
        env.reset(seed=1)
        observation, reward, _terminated, _, info = env.step(text)
        assert isinstance(observation, str) and reward in (-1.0, 0.0, 1.0)
        assert info["invalid_action"] == (info["reward_vector"]["validity"] == -1.0)


def test_vector_planes_and_text_board():
    env = agentgym.make("agentgym/ConnectFour-v0", view="vector")
    obs, _ = env.reset(seed=0, options={"agent_first": False})
    assert obs.shape == (2, 6, 7) and obs.dtype == np.float32 and obs[0].sum() == 0 and obs[1][5].sum() == 1
    text = agentgym.make("agentgym/TicTacToe-v0", view="text")
    obs, info = text.reset(seed=0, options={"agent_first": True})
    assert "a   b   c" in obs and "You play X" in obs and info["admissible_actions"][0] == "a1"


def test_connect_four_oracle_beats_random():
    env = ConnectFourEnv(opponent="random")
    assert all(play(env, oracle, seed)[1]["success"] for seed in range(4))
