"""TextArena games as agentgym envs (the ``agentgym.envs`` entry point of this package).

Importing this package is cheap: the entry point only names the folder of YAML specs, and the game
modules (which import ``textarena``) load when an env is built.
"""

from __future__ import annotations

from pathlib import Path

SPECS = str(Path(__file__).resolve().parent / "specs")
"""The folder of this plugin's env specs (ids, kwargs and cards)."""

__all__ = ["SPECS"]
