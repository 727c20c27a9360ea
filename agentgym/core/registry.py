"""Name -> factory registries with lazy ``"module:attr"`` loading and did-you-mean errors.

One mechanism serves every pluggable kind: envs, agents, reward variants, metrics.

Example:
    >>> metrics = Registry("metric")
    >>> @metrics.register("double")
    ... def double(x):
    ...     return 2 * x
    >>> metrics.get("double")(3)
    6
    >>> metrics.get("dubble")
    Traceback (most recent call last):
    ...
    agentgym.core.errors.UnknownNameError: unknown metric 'dubble'; did you mean 'double'? ...
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

from agentgym.core.errors import AgentGymError, UnknownNameError

T = TypeVar("T")


def load_entry_point(path: str) -> Any:
    """Import ``"package.module:attr.sub"`` and return the attribute."""
    module_name, sep, attr_path = path.partition(":")
    if not sep or not module_name or not attr_path:
        raise AgentGymError(f"entry point {path!r} must look like 'package.module:Name'")
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise AgentGymError(f"cannot import module {module_name!r} of entry point {path!r}: {exc}") from exc
    for part in attr_path.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError as exc:
            message = f"module {module_name!r} has no attribute {attr_path!r} (entry point {path!r})"
            raise AgentGymError(message) from exc
    return obj


def did_you_mean(name: str, known: list[str]) -> str:
    """A hint naming the closest known names, or listing a few of them."""
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
    if not close:
        lowered = {k.lower(): k for k in known}
        close = [lowered[m] for m in difflib.get_close_matches(name.lower(), list(lowered), n=3, cutoff=0.6)]
    if close:
        return "did you mean " + " or ".join(repr(c) for c in close) + "?"
    shown = ", ".join(sorted(known)[:12]) + (", ..." if len(known) > 12 else "")
    return f"known: {shown}" if known else "none is registered"


class Registry(Generic[T]):
    """Maps names to objects, or to ``"module:attr"`` strings imported on first use."""

    def __init__(self, kind: str, loader: Callable[[], None] | None = None) -> None:
        self.kind = kind
        self._entries: dict[str, T | str] = {}
        self._loader = loader
        self._loaded = loader is None

    def _ensure_loaded(self) -> None:
        if not self._loaded:
            self._loaded = True
            assert self._loader is not None
            self._loader()

    def add(self, name: str, target: T | str, *, overwrite: bool = False) -> None:
        """Register ``target`` (an object or a lazy ``"module:attr"`` path) under ``name``."""
        if not overwrite and name in self._entries and self._entries[name] is not target:
            raise AgentGymError(f"{self.kind} {name!r} is already registered")
        self._entries[name] = target

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator form of :meth:`add`."""

        def decorate(obj: T) -> T:
            self.add(name, obj, overwrite=True)
            return obj

        return decorate

    def get(self, name: str) -> T:
        self._ensure_loaded()
        if name not in self._entries:
            message = (
                f"unknown {self.kind} {name!r}; {did_you_mean(name, list(self._entries))} "
                f"(list them with `agentgym list {self.kind}s`)"
            )
            raise UnknownNameError(message)
        target = self._entries[name]
        if isinstance(target, str):
            target = load_entry_point(target)
            self._entries[name] = target
        return target  # type: ignore[return-value]

    def names(self) -> list[str]:
        self._ensure_loaded()
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        self._ensure_loaded()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
