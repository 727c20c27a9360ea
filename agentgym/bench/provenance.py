"""Where a run's numbers came from: package versions, git commit, machine, time and command.

Everything here ends up in ``results.json`` and on the leaderboard, so it passes through
:mod:`agentgym.core.redact` first: a key in a URL or after ``--api-key`` on the command line never
reaches a file.
"""

from __future__ import annotations

import platform
import subprocess
import sys
from collections.abc import Sequence
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from agentgym.core.redact import redact_argv, redact_data
from agentgym.core.version import __version__


def _package_version(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def git_commit() -> str | None:
    """The commit of the agentgym source tree, when it is a git checkout (None otherwise)."""
    root = Path(__file__).resolve().parents[2]
    try:
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    commit = out.stdout.strip()
    return commit if out.returncode == 0 and len(commit) == 40 else None


def command_line(argv: Sequence[str] | None = None) -> str:
    """The command that ran, as ``agentgym run ...`` (program name without its folder), redacted."""
    argv = list(sys.argv if argv is None else argv)
    if not argv:
        return ""
    return " ".join(redact_argv([Path(argv[0]).name, *argv[1:]]))


def provenance(executor: str, workers: int, argv: Sequence[str] | None = None) -> dict[str, Any]:
    """The ``provenance`` block of results.json, credentials redacted.

    Example:
        >>> command = provenance("local", 1, ["/usr/bin/agentgym", "run", "x", "--api-key", "sk-123"])["command"]
        >>> command.startswith("agentgym run x --api-key"), "sk-123" in command
        (True, False)
    """
    return redact_data({
        "agentgym_version": __version__,
        "git_commit": git_commit(),
        "python": platform.python_version(),
        "torch": _package_version("torch"),
        "gymnasium": _package_version("gymnasium"),
        "platform": platform.platform(),
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "executor": executor,
        "workers": workers,
        "command": command_line(argv),
    })
