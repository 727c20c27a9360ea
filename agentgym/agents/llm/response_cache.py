"""An on-disk cache of LLM answers, so that a repeated run asks the model nothing.

:class:`CachingBackend` wraps a backend: every chat is looked up under a key made of the model's
identity (backend, model, the options that change answers), the whole chat and the decoding
parameters (answer length, temperature, stop strings, and the sampling seed when sampling), or
for scoring the candidates. Hits come back without a call (latency 0, cost 0, ``from_cache``);
misses go to the backend in one batch and are stored. The backend itself (and its model) is only
built on the first miss, so a fully cached run never loads a model.

Answers live in one SQLite file (stdlib; safe for the process executor's concurrent workers).
The key covers what the agent sends, not the weights behind a model name: point a run at a new
cache file when a model folder's weights change under the same name.

An answer holding a credential (an API key a backend sends, registered with
:func:`agentgym.core.redact.register_secret`, or listed in the backend's ``secrets``) is never
stored: an endpoint echoing the key must not put it on disk.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agentgym.agents.llm.backend import Backend, Chat, Completion, Scores
from agentgym.core.errors import AgentGymError
from agentgym.core.files import canonical_json, sha256_text
from agentgym.core.paths import cache_dir
from agentgym.core.redact import contains_secret

DEFAULT_FILE = "responses.sqlite"


class ResponseCache:
    """Key -> JSON answer, in a SQLite file; one connection per process (workers fork)."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else cache_dir("llm") / DEFAULT_FILE
        self._connection: sqlite3.Connection | None = None
        self._pid: int | None = None

    def _db(self) -> sqlite3.Connection:
        if self._connection is None or self._pid != os.getpid():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            try:
                connection = sqlite3.connect(self.path, timeout=60.0)
                connection.execute("PRAGMA journal_mode=WAL")
                connection.execute("CREATE TABLE IF NOT EXISTS answers (key TEXT PRIMARY KEY, answer TEXT NOT NULL)")
                connection.commit()
            except sqlite3.DatabaseError as exc:
                raise AgentGymError(f"LLM response cache {self.path} cannot be used ({exc}); "
                                    "delete it or name another file") from exc
            self._connection, self._pid = connection, os.getpid()
        return self._connection

    def get_many(self, keys: list[str]) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        db = self._db()
        for start in range(0, len(keys), 500):  # SQLite limits the number of bound parameters
            chunk = keys[start: start + 500]
            rows = db.execute(f"SELECT key, answer FROM answers WHERE key IN ({','.join('?' * len(chunk))})", chunk)
            found.update((key, json.loads(answer)) for key, answer in rows)
        return found

    def put_many(self, items: dict[str, dict[str, Any]]) -> None:
        if not items:
            return
        db = self._db()
        with db:
            db.executemany("INSERT OR REPLACE INTO answers (key, answer) VALUES (?, ?)",
                           [(key, canonical_json(answer)) for key, answer in items.items()])

    def __len__(self) -> int:
        return int(self._db().execute("SELECT COUNT(*) FROM answers").fetchone()[0])

    def close(self) -> None:
        if self._connection is not None and self._pid == os.getpid():
            self._connection.close()
        self._connection = None


class CachingBackend:
    """A backend whose answers are looked up in (and added to) a :class:`ResponseCache`.

    Args:
        build: makes the real backend; called on the first miss only.
        identity: what names the model's answers (backend, model, output-changing options).
        cache: the cache (default: ``$AGENTGYM_CACHE/llm/responses.sqlite``).
    """

    def __init__(self, build: Callable[[], Backend], identity: dict[str, Any], cache: ResponseCache | None = None,
                 *, name: str = "cached", supports_score: bool = True) -> None:
        self._build = build
        self._backend: Backend | None = None
        # not `cache or ...`: an empty ResponseCache is falsy (it has __len__) and would be swapped for the default
        self.identity, self.cache = identity, cache if cache is not None else ResponseCache()
        self.name, self.supports_score = name, supports_score
        self.hits = self.misses = 0
        self.refused = 0  # answers not stored because they hold a credential

    @property
    def backend(self) -> Backend:
        if self._backend is None:
            self._backend = self._build()
        return self._backend

    def _key(self, kind: str, chat: Chat, **parameters: Any) -> str:
        return sha256_text(canonical_json({"identity": self.identity, "kind": kind, "chat": chat, **parameters}))

    def generate(self, chats: list[Chat], *, max_new_tokens: int, temperature: float = 0.0,
                 seeds: list[int] | None = None, stop: list[str] | None = None) -> list[Completion]:
        seeds = list(seeds) if seeds else list(range(len(chats)))
        keys = [self._key("generate", chat, max_new_tokens=max_new_tokens, temperature=temperature,
                          stop=list(stop or []), seed=seed if temperature > 0 else None)
                for chat, seed in zip(chats, seeds)]
        return self._answer(keys, Completion, lambda missing: self.backend.generate(
            [chats[i] for i in missing], max_new_tokens=max_new_tokens, temperature=temperature,
            seeds=[seeds[i] for i in missing], stop=stop))

    def score(self, chats: list[Chat], candidates: list[list[str]]) -> list[Scores]:
        keys = [self._key("score", chat, candidates=list(options)) for chat, options in zip(chats, candidates)]
        return self._answer(keys, Scores, lambda missing: self.backend.score(
            [chats[i] for i in missing], [candidates[i] for i in missing]))

    def _answer(self, keys: list[str], kind: type, ask: Callable[[list[int]], list[Any]]) -> list[Any]:
        """Stored answers for the keys found; ``ask(indices)`` answers the rest in one batch, then stored."""
        found = self.cache.get_many(keys)
        missing = [i for i, key in enumerate(keys) if key not in found]
        fresh = dict(zip(missing, ask(missing))) if missing else {}
        storable = {keys[i]: dataclasses.asdict(answer) for i, answer in fresh.items()}
        secrets = tuple(getattr(self._backend, "secrets", ()) or ())
        for key in [key for key, answer in storable.items() if contains_secret(canonical_json(answer), secrets)]:
            del storable[key]  # an answer holding a credential never reaches the disk
            self.refused += 1
        self.cache.put_many(storable)
        self.hits, self.misses = self.hits + len(keys) - len(missing), self.misses + len(missing)
        return [fresh[i] if i in fresh else _replayed(kind, found[key]) for i, key in enumerate(keys)]

    def close(self) -> None:
        if self._backend is not None:
            self._backend.close()
            self._backend = None
        self.cache.close()


def _replayed(kind: type, stored: dict[str, Any]):
    """A stored answer as this call's: it cost no time and no money."""
    fields = {field.name for field in dataclasses.fields(kind)}
    return kind(**{**{k: v for k, v in stored.items() if k in fields}, "latency_s": 0.0, "cost_usd": 0.0,
                   "from_cache": True})
