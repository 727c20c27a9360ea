"""The games family: PettingZoo classic board games as single-agent envs against fixed opponents."""

from agentgym.envs.games.board_env import BoardGameEnv
from agentgym.envs.games.connect_four import ConnectFourEnv
from agentgym.envs.games.tictactoe import TicTacToeEnv

__all__ = ["BoardGameEnv", "ConnectFourEnv", "TicTacToeEnv"]
