"""Where the built-in YAML folders and the cache live, installed or in a checkout."""

from __future__ import annotations

import os
from pathlib import Path

from agentgym.core.errors import ConfigError

_PACKAGE_ROOT = Path(__file__).resolve().parent.parent
BUILTIN_FOLDERS = ("envs", "agents", "benchmarks")


def builtin_dir(name: str) -> Path:
    """The built-in YAML folder ``name`` (``envs``, ``agents`` or ``benchmarks``).

    A wheel carries the top-level folders as package data under ``agentgym/_specs/``;
    a source checkout (editable install) has them beside the package.
    """
    if name not in BUILTIN_FOLDERS:
        raise ConfigError(f"no built-in folder {name!r}; expected one of {BUILTIN_FOLDERS}")
    for candidate in (_PACKAGE_ROOT / "_specs" / name, _PACKAGE_ROOT.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"agentgym's built-in {name}/ folder is missing from {_PACKAGE_ROOT}; reinstall agentgym")


def cache_dir(*parts: str) -> Path:
    """A folder under ``$AGENTGYM_CACHE`` (default ``~/.cache/agentgym``), created on demand."""
    root = Path(os.environ.get("AGENTGYM_CACHE") or Path.home() / ".cache" / "agentgym")
    path = root.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path
