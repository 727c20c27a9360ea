"""The ``openai`` backend: any OpenAI-compatible endpoint (vLLM, llama.cpp server, Ollama's ``/v1``, hosted APIs).

``generate`` sends one ``POST {base_url}/chat/completions`` per chat, ``concurrency`` at a time, and
answers in input order. Connection errors, timeouts, HTTP 429 and 5xx are retried ``max_retries``
times with exponential backoff and jitter (``Retry-After`` honoured, capped at ``max_retry_after_s``);
other 4xx fail at once. Every failure is an :class:`EndpointError` that says what was received.

The API key is read from the variable named by ``api_key_env`` (no variable or ``None``: no
``Authorization`` header, for local servers). It is only ever sent in that header: it is
redacted from every message, log line and repr, and from the answers themselves (an endpoint
echoing it). Credentials in ``base_url`` (``https://user:KEY@host``, ``?api_key=...``) are sent
as given but shown redacted (:func:`agentgym.core.redact.redact`) everywhere else.

Answers are bounded: a body larger than ``max_response_bytes`` is refused, and a completion longer
than ``max_response_chars`` (default 20,000) is cut there; ``Completion.truncated_chars`` counts what
was cut (the LLM agent reports it per action as ``truncated_chars``), and only the cut text is ever
re-sent in a chat's history.

``score`` needs prompt log-probabilities, which chat endpoints do not give. With
``score_via_completions=True`` it uses ``POST {base_url}/completions`` with ``echo`` and ``logprobs``
(vLLM supports this): the chat is rendered client-side with ``prompt_format`` (``"chatml"``:
``<|im_start|>{role}\\n{content}<|im_end|>\\n`` per message, then ``<|im_start|>assistant\\n``;
``"plain"``: ``{Role}: {content}`` paragraphs, then ``Assistant: ``), which must match the served
model's chat template for the scores to mean anything.
"""

from __future__ import annotations

import email.utils
import json
import logging
import os
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from agentgym.agents.llm.backend import Chat, Completion, Scores
from agentgym.core.errors import AgentGymError
from agentgym.core.redact import redact, register_secret, url_secrets

logger = logging.getLogger(__name__)

MAX_SERVER_STOPS = 4  # the OpenAI API takes at most 4 stop strings; all of them are applied client-side
_SNIPPET = 300  # characters of a received body quoted in an error
MAX_RESPONSE_CHARS = 20_000
"""Default cap on one completion's length (characters); the excess is cut and counted."""
MAX_RESPONSE_BYTES = 64 * 1024 * 1024
"""Default cap on one HTTP answer's body (bytes); a larger answer is an error."""
# max_tokens 1 (not 0) for scoring: some servers refuse 0; the generated token lies past the candidate and is ignored.
_SCORE_MAX_TOKENS = 1
SCORE_HINT = ("the openai backend cannot score candidates; use mode: generate, or a server with prompt logprobs "
              "via `completions` with `echo` — set `score_via_completions: true`")


class EndpointError(AgentGymError, RuntimeError):
    """The endpoint refused, failed, or answered something unusable. ``status`` is the HTTP status, if any."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


class ScoringUnsupportedError(AgentGymError, NotImplementedError):
    """``score`` on a backend without prompt log-probabilities."""


def apply_stop(text: str, stop: list[str] | None) -> str:
    """``text`` cut before the earliest ``stop`` string (servers differ in how they apply ``stop``)."""
    cut = len(text)
    for marker in stop or ():
        at = text.find(marker) if marker else -1
        if at != -1:
            cut = min(cut, at)
    return text[:cut]


def render_chat(chat: Chat, prompt_format: str = "chatml") -> str:
    """The chat as one prompt string ending where the assistant's answer starts (see the module doc)."""
    if prompt_format == "chatml":
        turns = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in chat)
        return turns + "<|im_start|>assistant\n"
    if prompt_format == "plain":
        return "".join(f"{m['role'].capitalize()}: {m['content']}\n\n" for m in chat) + "Assistant: "
    raise AgentGymError(f"unknown prompt_format {prompt_format!r}: use 'chatml' or 'plain'")


def cap_text(text: str, limit: int | None) -> tuple[str, int]:
    """``text`` cut to ``limit`` characters (None: no limit), and how many characters were cut."""
    if limit is None or len(text) <= limit:
        return text, 0
    return text[:limit], len(text) - limit


def _retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (seconds or an HTTP date), None if absent or unreadable."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time()) if when is not None else None


class OpenAIBackend:
    """Chat completions from an OpenAI-compatible server; see the module doc.

    ``model`` comes first, as for every backend (:func:`~agentgym.agents.llm.backend.make_backend`
    calls ``OpenAIBackend(model, **options)``); ``base_url`` is required. ``sleep`` and ``seed`` (of
    the backoff jitter) are injectable for tests.
    """

    name = "openai"

    def __init__(self, model: str, base_url: str | None = None, api_key_env: str | None = "OPENAI_API_KEY",
                 timeout_s: float = 60, max_retries: int = 4, backoff_s: float = 1.0, concurrency: int = 8,
                 price_per_1k_prompt: float = 0.0, price_per_1k_completion: float = 0.0,
                 extra_body: dict[str, Any] | None = None, score_via_completions: bool = False,
                 prompt_format: str = "chatml", max_retry_after_s: float = 60.0, max_backoff_s: float = 30.0,
                 max_response_chars: int | None = MAX_RESPONSE_CHARS, max_response_bytes: int = MAX_RESPONSE_BYTES,
                 sleep: Callable[[float], None] = time.sleep, seed: int | None = None):
        if not base_url or not model:
            raise AgentGymError("the openai backend needs base_url (e.g. http://127.0.0.1:8000/v1) and model "
                                "(the name the endpoint serves)")
        if concurrency < 1 or max_retries < 0 or timeout_s <= 0:
            raise AgentGymError("the openai backend needs concurrency >= 1, max_retries >= 0 and timeout_s > 0")
        if (max_response_chars is not None and int(max_response_chars) < 1) or int(max_response_bytes) < 1024:
            raise AgentGymError("the openai backend needs max_response_chars >= 1 (or null: no cap) and "
                                "max_response_bytes >= 1024")
        render_chat([], prompt_format)  # validates the format
        self.base_url = base_url.rstrip("/")
        for secret in url_secrets(self.base_url):  # a key in the URL is masked wherever it is shown
            register_secret(secret)
        self.shown_url = redact(self.base_url)
        """``base_url`` with credentials masked: what messages, logs and reprs show."""
        self.model = model
        self.max_response_chars = None if max_response_chars is None else int(max_response_chars)
        self.max_response_bytes = int(max_response_bytes)
        self.api_key_env = api_key_env
        self.timeout_s, self.max_retries, self.backoff_s = float(timeout_s), int(max_retries), float(backoff_s)
        self.max_retry_after_s, self.max_backoff_s = float(max_retry_after_s), float(max_backoff_s)
        self.concurrency = int(concurrency)
        self.price_per_1k_prompt, self.price_per_1k_completion = price_per_1k_prompt, price_per_1k_completion
        self.extra_body = dict(extra_body or {})
        self.supports_score = bool(score_via_completions)
        self.prompt_format = prompt_format
        self.missing_usage = 0  # responses without token counts (counted as 0 tokens)
        self._key = (os.environ.get(api_key_env) or None) if api_key_env else None
        register_secret(self._key)  # redacted from anything agentgym writes; never stored in the response cache
        self._sleep, self._rng, self._lock = sleep, random.Random(seed), threading.Lock()
        headers = {"Authorization": f"Bearer {self._key}"} if self._key else {}
        self._client = httpx.Client(headers=headers, timeout=httpx.Timeout(self.timeout_s),
                                    limits=httpx.Limits(max_connections=self.concurrency,
                                                        max_keepalive_connections=self.concurrency))
        self._pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="agentgym-openai")

    def __repr__(self) -> str:
        key = "set" if self._key else "unset"
        return (f"OpenAIBackend(base_url={self.shown_url!r}, model={self.model!r}, "
                f"api_key_env={self.api_key_env!r} ({key}))")

    def __enter__(self) -> OpenAIBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- public API ---------------------------------------------------------------------------

    def generate(self, chats: list[Chat], *, max_new_tokens: int, temperature: float = 0.0,
                 seeds: list[int] | None = None, stop: list[str] | None = None) -> list[Completion]:
        if seeds is not None and len(seeds) != len(chats):
            raise AgentGymError(f"generate got {len(seeds)} seeds for {len(chats)} chats")
        payloads = []
        for i, chat in enumerate(chats):
            payload: dict[str, Any] = {"model": self.model, "messages": chat, "max_tokens": int(max_new_tokens),
                                       "temperature": float(temperature)}
            if seeds is not None:
                payload["seed"] = int(seeds[i])
            if stop:
                payload["stop"] = list(stop)[:MAX_SERVER_STOPS]
            payloads.append({**payload, **self.extra_body})
        return list(self._pool.map(lambda payload: self._complete(payload, stop), payloads))

    def score(self, chats: list[Chat], candidates: list[list[str]]) -> list[Scores]:
        if not self.supports_score:
            raise ScoringUnsupportedError(SCORE_HINT)
        if len(candidates) != len(chats):
            raise AgentGymError(f"score got {len(candidates)} candidate lists for {len(chats)} chats")
        return list(self._pool.map(self._score_one, chats, candidates))

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self._client.close()

    # -- requests -----------------------------------------------------------------------------

    @property
    def secrets(self) -> tuple[str, ...]:
        """The credentials this backend sends (its key, a password in ``base_url``): never to be stored."""
        return tuple(s for s in (self._key, *url_secrets(self.base_url)) if s)

    def _redact(self, text: str) -> str:
        return redact(text, self.secrets)

    def _snippet(self, text: str) -> str:
        text = self._redact(text)
        return repr(text[:_SNIPPET] + ("..." if len(text) > _SNIPPET else ""))

    def _post(self, path: str, payload: dict[str, Any]) -> tuple[dict[str, Any], float]:
        """The decoded JSON answer of ``POST {base_url}/{path}`` and the wall time it took, retries included."""
        url, start, attempts = f"{self.base_url}/{path}", time.perf_counter(), self.max_retries + 1
        shown = f"{self.shown_url}/{path}"
        for attempt in range(attempts):
            retry_after = None
            try:
                with self._client.stream("POST", url, json=payload) as response:
                    status, headers = response.status_code, response.headers
                    body = self._read_body(response, shown)
            except httpx.TimeoutException:
                problem = f"timed out after {self.timeout_s:g} s"
            except httpx.TransportError as exc:
                problem = f"connection failed ({type(exc).__name__}: {self._redact(str(exc))})"
            else:
                if status < 300:
                    return self._decode(status, body, shown), time.perf_counter() - start
                if status != 429 and status < 500:
                    raise self._status_error(status, body, shown)
                problem = f"HTTP {status}: {self._snippet(body)}"
                retry_after = _retry_after(headers.get("retry-after"))
            if attempt + 1 == attempts:
                raise EndpointError(f"POST {shown} failed after {attempts} attempt(s); last: {problem}")
            if retry_after is not None:
                delay = min(retry_after, self.max_retry_after_s)
            else:
                with self._lock:
                    jitter = 1.0 + 0.25 * self._rng.random()
                delay = min(self.max_backoff_s, self.backoff_s * 2**attempt) * jitter
            logger.warning("POST %s: %s; retry %d/%d in %.2f s", shown, problem, attempt + 1, self.max_retries, delay)
            self._sleep(delay)
        raise AssertionError("unreachable")

    def _read_body(self, response: httpx.Response, url: str) -> str:
        """The answer's body as text, read up to ``max_response_bytes`` (beyond that: an error)."""
        chunks, size = [], 0
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > self.max_response_bytes:
                raise EndpointError(f"{url} answered more than {self.max_response_bytes:,} bytes (HTTP "
                                    f"{response.status_code}); raise max_response_bytes or lower max_new_tokens",
                                    response.status_code)
            chunks.append(chunk)
        return b"".join(chunks).decode(response.encoding or "utf-8", errors="replace")

    def _status_error(self, status: int, body: str, url: str) -> EndpointError:
        said = self._snippet(body)
        if status in (401, 403):
            if self.api_key_env is None:
                hint = "no key was sent (api_key_env is null): set api_key_env to the variable holding the key"
            elif self._key is None:
                hint = f"no key was sent: ${self.api_key_env} is not set"
            else:
                hint = f"check the key in ${self.api_key_env}"
            return EndpointError(f"{url} refused the request (HTTP {status}): {hint}. Server said: {said}", status)
        if status == 404:
            return EndpointError(
                f"HTTP 404 from {url}: model {self.model!r} not found at {self.shown_url}, or the URL is wrong "
                f"(base_url usually ends in /v1; GET {self.shown_url}/models lists the served models). "
                f"Server said: {said}", status)
        return EndpointError(f"{url} rejected the request (HTTP {status}): {said}", status)

    def _decode(self, status: int, body: str, url: str) -> dict[str, Any]:
        try:
            data = json.loads(body)
        except (ValueError, RecursionError):
            data = None
        if not isinstance(data, dict):
            raise EndpointError(f"{url} answered HTTP {status} with a body that is not a JSON "
                                f"object: {self._snippet(body)}", status)
        return data

    def _choices(self, data: dict[str, Any], url: str, count: int = 1) -> list[dict[str, Any]]:
        choices = data.get("choices")
        if not isinstance(choices, list) or len(choices) < count or not all(isinstance(c, dict) for c in choices):
            raise EndpointError(f"{url} answered without {count} 'choices': {self._snippet(json.dumps(data))}")
        return sorted(choices, key=lambda c: c.get("index", 0) if isinstance(c.get("index"), int) else 0)

    @staticmethod
    def _cached(data: dict[str, Any]) -> int:
        usage = data.get("usage")
        details = usage.get("prompt_tokens_details") if isinstance(usage, dict) else None
        cached = details.get("cached_tokens") if isinstance(details, dict) else None
        return cached if isinstance(cached, int) else 0

    def _usage(self, data: dict[str, Any]) -> tuple[int, int]:
        usage = data.get("usage")
        prompt = usage.get("prompt_tokens") if isinstance(usage, dict) else None
        completion = usage.get("completion_tokens") if isinstance(usage, dict) else None
        if not isinstance(prompt, int) or not isinstance(completion, int):
            with self._lock:
                self.missing_usage += 1
                first = self.missing_usage == 1
            if first:
                logger.warning("%s answers without 'usage': token counts and costs are reported as 0", self.shown_url)
        return (prompt if isinstance(prompt, int) else 0), (completion if isinstance(completion, int) else 0)

    def _cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        return (prompt_tokens * self.price_per_1k_prompt + completion_tokens * self.price_per_1k_completion) / 1000

    def _complete(self, payload: dict[str, Any], stop: list[str] | None) -> Completion:
        data, latency = self._post("chat/completions", payload)
        url = f"{self.shown_url}/chat/completions"
        choice = self._choices(data, url)[0]
        message = choice.get("message")
        content = message.get("content") if isinstance(message, dict) else None
        if not isinstance(content, str):  # "" is a valid (empty) answer; null or missing is not
            raise EndpointError(f"{url} answered without message content (finish_reason="
                                f"{choice.get('finish_reason')!r}): {self._snippet(json.dumps(data))}")
        prompt_tokens, completion_tokens = self._usage(data)
        text, truncated = cap_text(apply_stop(content, stop), self.max_response_chars)
        return Completion(self._mask_secrets(text), prompt_tokens, completion_tokens, latency,
                          self._cost(prompt_tokens, completion_tokens), cached_tokens=self._cached(data),
                          truncated_chars=truncated)

    def _mask_secrets(self, text: str) -> str:
        """An answer with this backend's own credentials masked (an endpoint echoing the key)."""
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text

    def _score_one(self, chat: Chat, candidates: list[str]) -> Scores:
        if not candidates:
            return Scores([], [])
        prompt = render_chat(chat, self.prompt_format)
        payload = {"model": self.model, "prompt": [prompt + c for c in candidates], "max_tokens": _SCORE_MAX_TOKENS,
                   "temperature": 0.0, "echo": True, "logprobs": 1, **self.extra_body}
        data, latency = self._post("completions", payload)
        url = f"{self.shown_url}/completions"
        logprobs, counts = [], []
        for choice, candidate in zip(self._choices(data, url, len(candidates)), candidates):
            given = choice.get("logprobs")
            info = given if isinstance(given, dict) else {}
            tokens, offsets, values = info.get("tokens"), info.get("text_offset"), info.get("token_logprobs")
            if not (isinstance(tokens, list) and isinstance(offsets, list) and isinstance(values, list)
                    and len(tokens) == len(offsets) == len(values)):
                raise EndpointError(f"{url} answered without echoed prompt logprobs (does the server support "
                                    f"echo with logprobs?): {self._snippet(json.dumps(choice))}")
            start, end, total, count = len(prompt), len(prompt) + len(candidate), 0.0, 0
            for j, offset in enumerate(offsets):  # tokens overlapping [start, end): the candidate's
                after = offsets[j + 1] if j + 1 < len(offsets) else offset + len(str(tokens[j]))
                if start < end and start < after and offset < end and isinstance(values[j], (int, float)):
                    total, count = total + float(values[j]), count + 1
            logprobs.append(total)
            counts.append(count)
        prompt_tokens, completion_tokens = self._usage(data)
        return Scores(logprobs, counts, prompt_tokens=prompt_tokens, latency_s=latency,
                      cost_usd=self._cost(prompt_tokens, completion_tokens), cached_tokens=self._cached(data))
