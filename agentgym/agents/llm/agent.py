"""The LLM agent: a chat model choosing text actions, by generating them or by scoring the valid ones.

Modes:

- ``generate``: the model answers ``Action: <action>`` (``Thought: ...`` first with
  ``reasoning: true``); the parsed action goes to the env, whose own parser decides validity.
  When the env lists its valid actions and the answer is not one of them, the model is asked
  again (at most ``retries`` times per step) with the list; what it says last is sent anyway.
- ``score``: every valid action is scored by the model's mean per-token log-likelihood of
  ``Action: <action>`` as its answer, and the best one is taken (needs enumerable actions).

Each :class:`~agentgym.agents.base.Decision` carries numeric ``prompt_tokens``,
``completion_tokens``, ``cached_tokens``, ``latency_s``, ``llm_calls``, ``retries``,
``cache_hits`` (answers replayed from the response cache), ``truncated_chars`` (characters of
answers cut by the backend's length cap, ``max_response_chars``) and ``cost_usd`` (summed per
episode by the runner), plus the text ``prompt`` (template tag), ``answer`` and, with reasoning,
``rationale``. What is re-sent in the history (earlier actions, an answer asked again) is cut to
``max_response_chars`` too (default 20,000 characters), whatever the backend.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from agentgym.agents.base import Agent, Decision, EpisodeContext, Turn
from agentgym.agents.llm.backend import Backend, make_backend
from agentgym.agents.llm.default_model import default_model_dir
from agentgym.agents.llm.prompts import AgentPrompt, PromptTemplate, parse_answer, retry_message
from agentgym.agents.llm.response_cache import CachingBackend, ResponseCache
from agentgym.core.errors import ConfigError
from agentgym.core.files import sha256_file

MODES = ("generate", "score")
MAX_RESPONSE_CHARS = 20_000  # the openai backend's default cap; history entries are cut to the same
_MAX_EPISODES = 1024  # per-episode memory kept for at most this many episodes (oldest dropped)


class _Episode:
    def __init__(self, context: EpisodeContext, template: PromptTemplate, seed: int) -> None:
        self.template = template
        self.rng = context.rng(f"llm-agent-{seed}")
        self.turns: list[tuple[str, str]] = []


class LLMAgent(Agent):
    """An LLM acting on the text view.

    Args:
        backend: ``transformers``, ``openai``, a ``module:Class`` entry point, or a backend object.
        model: ``default`` (SmolLM2-135M-Instruct, offline), a local folder or a model id.
        mode: ``generate`` or ``score`` (see the module docstring).
        max_new_tokens: length limit of an answer (generate mode).
        temperature: 0 is greedy; above 0, each episode samples from its own seeded stream.
        history: earlier (observation, action) turns shown; ``window`` says how (``block`` or ``sliding``,
            see :func:`~agentgym.agents.llm.prompts.visible_history`).
        retries: extra asks per step when the answer is not a listed valid action.
        reasoning: ask for ``Thought:`` then ``Action:``; the thought goes to ``Decision.info["rationale"]``.
        prompt: template override: a file path, a family name, or the template text itself.
        seed: salt of the per-episode sampling streams.
        response_cache: keep answers on disk and replay them when the same model gets the same chat
            with the same decoding parameters (:mod:`~agentgym.agents.llm.response_cache`): ``true``
            for ``$AGENTGYM_CACHE/llm/responses.sqlite``, or a file path; off by default.
        **backend_options: passed to the backend (transformers: ``device``, ``dtype``, ``batch``,
            ``prefix_cache``, ``max_batch``, ``cache_tokens``, ``local_files_only``).

    Example:
        >>> LLMAgent(mode="score").view
        'text'
    """

    view = "text"
    name = "llm"

    def __init__(self, backend: str | Backend = "transformers", model: str = "default", mode: str = "generate", *,
                 max_new_tokens: int = 24, temperature: float = 0.0, history: int = 4, window: str = "block",
                 retries: int = 1, reasoning: bool = False, prompt: str | None = None, seed: int = 0,
                 response_cache: bool | str | None = None, **backend_options: Any) -> None:
        if mode not in MODES:
            raise ConfigError(f"mode must be one of {MODES}, not {mode!r}")
        if window not in ("block", "sliding"):
            raise ConfigError(f"window must be 'block' or 'sliding', not {window!r}")
        if mode == "score" and reasoning:
            raise ConfigError("reasoning needs mode 'generate' (score mode ranks actions without writing text)")
        self.mode, self.max_new_tokens, self.temperature = mode, max_new_tokens, temperature
        self.history, self.window, self.retries, self.reasoning = history, window, retries, reasoning
        self.prompt, self.seed = prompt, seed
        self._backend_spec, self._model, self._backend_options = backend, model, backend_options
        cap = backend_options.get("max_response_chars", MAX_RESPONSE_CHARS)
        self.max_response_chars: int | None = None if cap is None else int(cap)
        self._response_cache = response_cache
        self._backend: Backend | None = None if isinstance(backend, str) else self._cached(lambda: backend)
        self._episodes: OrderedDict[str, _Episode] = OrderedDict()
        self.prompter = AgentPrompt(prompt, history, window, reasoning)

    @property
    def backend(self) -> Backend:
        """The backend, built (and its model loaded) on first use."""
        if self._backend is None:
            self._backend = self._cached(lambda: make_backend(self._backend_spec, self._model,
                                                              **self._backend_options))
        return self._backend

    def _cached(self, build: Any) -> Backend:
        """The backend ``build`` makes, behind the response cache when one is asked for (then built lazily)."""
        if not self._response_cache:
            return build()
        return _with_cache(self._backend_spec, self._model, self._backend_options, self._response_cache, build)

    def _template(self, family: str | None) -> PromptTemplate:
        return self.prompter.template(family)

    def reset(self, episode: EpisodeContext) -> None:
        family = episode.card.family if episode.card is not None else None
        self._episodes[episode.key] = _Episode(episode, self._template(family), self.seed)
        self._episodes.move_to_end(episode.key)
        while len(self._episodes) > _MAX_EPISODES:
            self._episodes.popitem(last=False)

    def _episode(self, context: EpisodeContext) -> _Episode:
        if context.key not in self._episodes:
            self.reset(context)
        return self._episodes[context.key]

    def _chat(self, turn: Turn) -> list[dict[str, str]]:
        return self.prompter.chat(self._episode(turn.episode).turns, str(turn.observation), turn.episode.card)

    def act(self, turns: Sequence[Turn]) -> list[Decision]:
        if not turns:
            return []
        decisions = self._score(turns) if self.mode == "score" else self._generate(turns)
        for turn, decision in zip(turns, decisions):
            self._episode(turn.episode).turns.append((str(turn.observation), self._bounded(str(decision.action))))
            decision.info["prompt"] = self._episode(turn.episode).template.tag
        return decisions

    def _bounded(self, text: str) -> str:
        """``text`` as it may be re-sent in a chat: at most ``max_response_chars`` characters."""
        return text if self.max_response_chars is None else text[:self.max_response_chars]

    def _score(self, turns: Sequence[Turn]) -> list[Decision]:
        options = []
        for turn in turns:
            admissible = turn.info.get("admissible_actions")
            if not isinstance(admissible, list) or not admissible:
                raise ConfigError(f"LLM score mode needs info['admissible_actions'] as a non-empty list, and "
                                 f"{turn.episode.env_id} gives {admissible!r}; use mode 'generate' for this env")
            options.append([str(action) for action in admissible])
        chats = [self._chat(turn) for turn in turns]
        results = self.backend.score(chats, [[self.prompter.answer(action) for action in actions]
                                             for actions in options])
        decisions = []
        for actions, scores in zip(options, results):
            normalized = scores.normalized()
            best = int(np.argmax(normalized))
            decisions.append(Decision(actions[best], {
                "prompt_tokens": scores.prompt_tokens, "completion_tokens": 0, "cached_tokens": scores.cached_tokens,
                "latency_s": scores.latency_s, "llm_calls": 1, "retries": 0, "cost_usd": scores.cost_usd,
                "cache_hits": int(scores.from_cache),
                "scores": dict(zip(actions, (round(value, 4) for value in normalized))),
            }))
        return decisions

    def _generate(self, turns: Sequence[Turn]) -> list[Decision]:
        chats = [self._chat(turn) for turn in turns]
        admissible = [turn.info.get("admissible_actions") for turn in turns]
        admissible = [list(map(str, a)) if isinstance(a, list) and a else None for a in admissible]
        infos = [{"prompt_tokens": 0, "completion_tokens": 0, "cached_tokens": 0, "latency_s": 0.0, "llm_calls": 0,
                  "retries": 0, "cost_usd": 0.0, "cache_hits": 0, "truncated_chars": 0} for _ in turns]
        answers: list[Any] = [None] * len(turns)
        pending = list(range(len(turns)))
        for attempt in range(self.retries + 1):
            seeds = [int(self._episode(turns[i].episode).rng.integers(2**31)) for i in pending]
            completions = self.backend.generate([chats[i] for i in pending], max_new_tokens=self.max_new_tokens,
                                                temperature=self.temperature, seeds=seeds)
            still = []
            for i, completion in zip(pending, completions):
                info = infos[i]
                info["prompt_tokens"] += completion.prompt_tokens
                info["completion_tokens"] += completion.completion_tokens
                info["cached_tokens"] += getattr(completion, "cached_tokens", 0)
                info["latency_s"] += completion.latency_s
                info["cost_usd"] += completion.cost_usd
                info["llm_calls"] += 1
                info["cache_hits"] += int(getattr(completion, "from_cache", False))
                info["truncated_chars"] += int(getattr(completion, "truncated_chars", 0))
                info["retries"] += attempt > 0
                choices = admissible[i]
                parsed = parse_answer(completion.text, choices)
                answers[i] = (parsed, completion.text)
                if parsed.admissible is False and choices is not None and attempt < self.retries:
                    chats[i] = [*chats[i], {"role": "assistant", "content": self._bounded(completion.text)},
                                {"role": "user", "content": retry_message(parsed.action, choices, self.reasoning)}]
                    still.append(i)
            pending = still
            if not pending:
                break
        decisions = []
        for info, (parsed, text) in zip(infos, answers):
            info["answer"] = text
            if self.reasoning:
                info["rationale"] = parsed.rationale
            decisions.append(Decision(parsed.action if parsed.action else text.strip(), info))
        return decisions

    def close(self) -> None:
        if self._backend is not None:
            self._backend.close()
            self._backend = None


# Backend options that change speed, not answers (left out of the response cache's key).
_SPEED_ONLY = {"batch", "prefix_cache", "max_batch", "cache_tokens", "prefill_slack", "local_files_only",
               "timeout_s", "max_retries", "backoff_s", "concurrency", "api_key_env",
               "max_retry_after_s", "max_backoff_s", "sleep", "price_per_1k_prompt", "price_per_1k_completion",
               "max_response_bytes"}


def _with_cache(backend: str | Backend, model: str, options: dict[str, Any], where: bool | str,
                build: Any) -> Backend:
    if isinstance(backend, str):
        kind = backend
    else:
        kind = getattr(backend, "name", type(backend).__name__)
        model = getattr(backend, "model_name", model)
    if kind == "transformers" and model == "default":
        model = f"default:{default_model_dir(convert=False).name}"  # names the GGUF file's fingerprint
    answers_depend_on = {key: value for key, value in sorted(options.items())
                         if key not in _SPEED_ONLY and not callable(value)}
    if options.get("adapter"):  # a retrained adapter at the same path must not replay old answers
        folder = Path(options["adapter"]).expanduser()
        weights = sorted((folder / "adapter").glob("*.safetensors")) or sorted(folder.glob("*.safetensors"))
        answers_depend_on["adapter_sha256"] = [sha256_file(path) for path in weights]
    identity = {"backend": kind, "model": str(model), **answers_depend_on}
    cache = ResponseCache(where if isinstance(where, str) else None)  # True: the default folder
    supports_score = True if isinstance(backend, str) else getattr(backend, "supports_score", True)
    return CachingBackend(build, identity, cache, name=f"cached-{kind}", supports_score=supports_score)
