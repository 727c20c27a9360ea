"""The LLM backend interface: what :class:`~agentgym.agents.llm.agent.LLMAgent` needs from a model.

Chats are OpenAI-style message lists (``[{"role": "system" | "user" | "assistant", "content": str}]``);
a backend applies its model's chat template itself. Every method is batched: one entry per
live episode, answered in order.

Backends: ``transformers`` (local, CPU or GPU; :mod:`agentgym.agents.llm.transformers_backend`)
and ``openai`` (any OpenAI-compatible endpoint; :mod:`agentgym.agents.llm.openai_backend`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from agentgym.core.registry import Registry, load_entry_point

Chat = list[dict[str, str]]


@dataclass
class Completion:
    """One generated answer and what it cost. ``latency_s`` is the wall time of the (batched) call
    that produced it: what this chat waited, not a share of it."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    latency_s: float
    cost_usd: float = 0.0
    cached_tokens: int = 0
    """Prompt tokens whose key/value cache was reused rather than recomputed (included in prompt_tokens)."""
    from_cache: bool = False
    """Replayed from the on-disk response cache (no model call)."""
    truncated_chars: int = 0
    """Characters of the answer cut by the backend's length cap (``max_response_chars``), 0 if none."""


@dataclass
class Scores:
    """Log-likelihoods of the candidate continuations of one chat.

    ``logprobs[i]`` is the total log-probability of candidate ``i`` given the chat (rendered
    with the generation prompt, as the assistant's answer), ``tokens[i]`` its number of
    tokens, so ``normalized()`` is the per-token mean (length normalisation).
    ``prompt_tokens`` is the prompt's length (reused ``cached_tokens`` included, as in
    :class:`Completion`), ``latency_s`` the wall time of the (batched) call that scored it.
    """

    logprobs: list[float]
    tokens: list[int]
    prompt_tokens: int = 0
    latency_s: float = 0.0
    cost_usd: float = 0.0
    cached_tokens: int = 0
    from_cache: bool = False

    def normalized(self) -> list[float]:
        return [lp / max(n, 1) for lp, n in zip(self.logprobs, self.tokens, strict=True)]


@runtime_checkable
class Backend(Protocol):
    """What every LLM backend implements.

    ``supports_score`` says whether :meth:`score` works (endpoints without prompt
    log-probabilities return False and raise ``NotImplementedError`` from :meth:`score`).
    """

    name: str
    supports_score: bool

    def generate(
        self,
        chats: list[Chat],
        *,
        max_new_tokens: int,
        temperature: float = 0.0,
        seeds: list[int] | None = None,
        stop: list[str] | None = None,
    ) -> list[Completion]:
        """One completion per chat. Greedy when ``temperature == 0``; otherwise ``seeds[i]``
        seeds chat ``i``'s sampling. Text is cut before the first ``stop`` string (excluded)."""
        ...

    def score(self, chats: list[Chat], candidates: list[list[str]]) -> list[Scores]:
        """For each chat, the log-likelihood of each of its candidates as the assistant's answer."""
        ...

    def close(self) -> None:
        """Release the model / connection."""
        ...


BACKENDS: Registry[Callable[..., Backend]] = Registry("backend", entry_point_group="agentgym.backends")
"""Backend names and their ``module:Class`` (loaded on first use); every class takes ``(model: str, **kwargs)``."""
BACKENDS.add("transformers", "agentgym.agents.llm.transformers_backend:TransformersBackend")
BACKENDS.add("openai", "agentgym.agents.llm.openai_backend:OpenAIBackend")


def make_backend(backend: str | Backend, model: str = "default", **kwargs: Any) -> Backend:
    """A backend from its name (see :data:`BACKENDS`), a ``module:Class`` entry point, or an instance."""
    if not isinstance(backend, str):
        return backend
    factory = load_entry_point(backend) if ":" in backend else BACKENDS.get(backend)
    return factory(model, **kwargs)
