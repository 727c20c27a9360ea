"""agentgym: a benchmark suite for agentic decision making built on Gymnasium.

Example:
    >>> import agentgym
    >>> env = agentgym.make("agentgym/FrozenLake-v0")
    >>> _ = env.reset(seed=0)
"""

from agentgym.agents.base import Agent, Decision, EpisodeContext, Turn
from agentgym.core.version import __version__
from agentgym.envs.base import AgentGymEnv
from agentgym.envs.card import EnvCard, RewardAspect, SeedSplit
from agentgym.envs.registration import env_ids, env_spec, load_env_specs, register_env
from agentgym.make import make

__all__ = [
    "Agent",
    "AgentGymEnv",
    "Decision",
    "EnvCard",
    "EpisodeContext",
    "RewardAspect",
    "SeedSplit",
    "Turn",
    "__version__",
    "env_ids",
    "env_spec",
    "load_env_specs",
    "make",
    "register_env",
]
