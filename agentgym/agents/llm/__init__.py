"""LLM agents: :class:`LLMAgent` over a backend (local transformers, or an OpenAI-compatible endpoint).

Importing this package is cheap; torch and transformers load when a backend is first used.
"""

from agentgym.agents.llm.agent import LLMAgent
from agentgym.agents.llm.backend import BACKENDS, Backend, Completion, Scores, make_backend

__all__ = ["BACKENDS", "Backend", "Completion", "LLMAgent", "Scores", "make_backend"]
