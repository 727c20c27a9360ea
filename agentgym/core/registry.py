"""Name -> factory registries with lazy ``"module:attr"`` loading, plugins and did-you-mean errors.

One mechanism serves every pluggable kind: envs, agents, reward variants, LLM backends, metrics,
losses. A registry may read an entry-point group (``agentgym.agents``, ``agentgym.rewards``, ...):
each entry point of an installed package registers its target under the entry point's name. A name
is never silently taken over: registering another object under a known name raises unless the
caller says ``override=True``.

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
import warnings
from collections.abc import Callable, Iterator
from importlib.metadata import entry_points
from pathlib import Path
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


def load_plugins(group: str, *, register_folder: Callable[[Path, str], Any]) -> None:
    """Run the ``group`` entry points of installed packages: a callable target registers what it has; a
    folder target (a path string) holds YAML specs for ``register_folder(folder, source)``. A broken
    plugin warns and is skipped, so it cannot take the others down."""
    for plugin in entry_points(group=group):
        try:
            target = plugin.load()
            if callable(target):
                target()
            else:
                register_folder(Path(str(target)), f"plugin {plugin.name}")
        except Exception as exc:
            warnings.warn(f"agentgym plugin {plugin.name!r} ({plugin.value}) of {group} failed to load: {exc}",
                          stacklevel=2)


def _same_target(known: Any, target: Any) -> bool:
    """Whether two registrations name the same thing: equal objects, or a lazy path and what it loaded."""
    try:
        if known == target:
            return True
    except Exception:  # objects whose == raises (arrays): not the same registration
        return False
    for lazy, loaded in ((known, target), (target, known)):
        if isinstance(lazy, str) and not isinstance(loaded, str):
            module, _, attr = lazy.partition(":")
            if getattr(loaded, "__module__", None) == module and getattr(loaded, "__qualname__", None) == attr:
                return True
    return False


def _describe(target: Any) -> str:
    if isinstance(target, str):
        return target
    source = getattr(target, "source", None)
    name = getattr(target, "__qualname__", None) or type(target).__name__
    return f"from {source}" if isinstance(source, str) else f"{getattr(target, '__module__', '?')}:{name}"


class Registry(Generic[T]):
    """Maps names to objects, or to ``"module:attr"`` strings imported on first use."""

    def __init__(self, kind: str, loader: Callable[[], None] | None = None, *,
                 entry_point_group: str | None = None) -> None:
        self.kind = kind
        self.entry_point_group = entry_point_group
        self._entries: dict[str, T | str] = {}
        self._loader = loader
        self._loaded = loader is None and entry_point_group is None

    def _ensure_loaded(self) -> None:
        if not self._loaded:
            self._loaded = True
            if self._loader is not None:
                self._loader()
            if self.entry_point_group is not None:
                self._load_plugins(self.entry_point_group)

    def _load_plugins(self, group: str) -> None:
        """Register each entry point of ``group`` under its name, lazily; a clash is reported, not fatal."""
        for plugin in entry_points(group=group):
            try:
                self.add(plugin.name, plugin.value)
            except AgentGymError as exc:  # a plugin must not take the built-ins (or other plugins) down
                warnings.warn(f"agentgym {self.kind} plugin {plugin.name!r} ({plugin.value}) ignored: {exc}",
                              stacklevel=3)

    def add(self, name: str, target: T | str, *, override: bool = False) -> None:
        """Register ``target`` (an object or a lazy ``"module:attr"`` path) under ``name``.

        Registering the same object (or an equal one) again is a no-op; another object under a known
        name raises :class:`~agentgym.core.errors.AgentGymError` unless ``override`` is true.
        """
        if name in self._entries and not override:
            known = self._entries[name]
            if known is not target and not _same_target(known, target):
                raise AgentGymError(f"{self.kind} {name!r} is already registered ({_describe(known)}); "
                                    f"pass override=True to replace it")
        self._entries[name] = target

    def register(self, name: str, *, override: bool = False) -> Callable[[T], T]:
        """Decorator form of :meth:`add`."""

        def decorate(obj: T) -> T:
            self.add(name, obj, override=override)
            return obj

        return decorate

    def get(self, name: str) -> T:
        self._ensure_loaded()
        if name not in self._entries:
            plural = f"{self.kind}es" if self.kind.endswith("s") else f"{self.kind}s"
            message = (f"unknown {self.kind} {name!r}; {did_you_mean(name, list(self._entries))} "
                       f"(list them with `agentgym list {plural}`)")
            raise UnknownNameError(message)
        target = self._entries[name]
        if isinstance(target, str):
            target = load_entry_point(target)
            self._entries[name] = target
        return target

    def names(self) -> list[str]:
        self._ensure_loaded()
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        self._ensure_loaded()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
