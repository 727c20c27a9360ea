"""Which code a spec may run: agentgym's own, the installed plugin packages', or any with ``--allow-code``.

A spec's ``entry_point`` (``"package.module:Name"``) is imported and called: a suite downloaded from
somewhere could name ``os:system`` and run a shell command. So an entry point from a spec is only
imported when its module lies in a trusted package:

- ``agentgym`` itself;
- the top-level packages of the user's declared plugins: the installed distributions' entry points
  in the groups ``agentgym.envs``, ``agentgym.agents`` and ``agentgym.rewards``.

Anything else needs the user's say-so: ``agentgym run --allow-code`` (the CLI), or the variable
``AGENTGYM_ALLOW_CODE=1``. Specs registered by Python code (``register_agent``), or read from folders
the user names (``AGENTGYM_AGENTS``), are the user's own and not checked.

Example:
    >>> check_entry_point("agentgym.agents.baselines:RandomAgent", allow_code=False, allowed_prefixes=["agentgym"])
    >>> check_entry_point("os:system", allow_code=False, allowed_prefixes=["agentgym"])
    Traceback (most recent call last):
    ...
    agentgym.core.errors.UntrustedCodeError: entry point 'os:system' would run code from 'os', ...
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from importlib.metadata import entry_points

from agentgym.core.errors import UntrustedCodeError

ALLOW_CODE_VARIABLE = "AGENTGYM_ALLOW_CODE"
PLUGIN_GROUPS = ("agentgym.envs", "agentgym.agents", "agentgym.rewards")
TRUSTED_PACKAGES = ("agentgym",)


def allow_code_from_env() -> bool:
    """Whether ``AGENTGYM_ALLOW_CODE`` allows specs to run code from anywhere (``1``, ``true``, ``yes``)."""
    return os.environ.get(ALLOW_CODE_VARIABLE, "").strip().lower() in ("1", "true", "yes", "on")


def plugin_packages() -> tuple[str, ...]:
    """Top-level packages of the installed agentgym plugins (entry points of :data:`PLUGIN_GROUPS`)."""
    packages = set()
    for group in PLUGIN_GROUPS:
        for plugin in entry_points(group=group):
            module = plugin.value.partition(":")[0].strip()
            if module:
                packages.add(module.split(".")[0])
    return tuple(sorted(packages))


def trusted_prefixes() -> tuple[str, ...]:
    """agentgym and the installed plugin packages: the code specs may run without ``--allow-code``."""
    return (*TRUSTED_PACKAGES, *plugin_packages())


def _module_of(path: str) -> str:
    return str(path).partition(":")[0].strip()


def is_trusted(path: str, allowed_prefixes: Sequence[str]) -> bool:
    """Whether the module of entry point ``path`` is one of ``allowed_prefixes`` or inside one."""
    module = _module_of(path)
    if not module or module.startswith(".") or any(not part.isidentifier() for part in module.split(".")):
        return False
    return any(module == prefix or module.startswith(prefix + ".") for prefix in allowed_prefixes)


def check_entry_point(path: str, *, allow_code: bool, allowed_prefixes: Sequence[str],
                      what: str = "entry point") -> None:
    """Refuse (:class:`UntrustedCodeError`) an entry point from a spec whose module is outside
    ``allowed_prefixes``, unless ``allow_code``. Call it *before* importing anything: importing a
    module runs its code."""
    if allow_code or is_trusted(path, allowed_prefixes):
        return
    trusted = ", ".join(allowed_prefixes) or "none"
    raise UntrustedCodeError(
        f"{what} {path!r} would run code from {_module_of(path)!r}, which is neither agentgym nor an installed "
        f"agentgym plugin package (trusted: {trusted}). Specs can run code: if you trust this one, pass "
        f"--allow-code (or set {ALLOW_CODE_VARIABLE}=1)")
