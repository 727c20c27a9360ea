"""Registering envs (Python, YAML folder, or a package's entry points) and making them.

There is one mechanism: every env, built-in or not, is an :class:`EnvSpec` in one
registry, mirrored into Gymnasium's registry so ``gymnasium.make`` works too. The built-in
ids are the YAML files of the top-level ``envs/`` folder.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
from pydantic import BaseModel, ConfigDict, Field

from agentgym.core.errors import SpecError
from agentgym.core.paths import builtin_dir
from agentgym.core.registry import Registry, load_plugins
from agentgym.core.yamlspec import read_yaml, validate, yaml_files
from agentgym.envs.base import agentgym_env
from agentgym.envs.card import EnvCard

ENTRY_POINT_GROUP = "agentgym.envs"
ENV_PATH_VARIABLE = "AGENTGYM_ENVS"


class EnvSpecFile(BaseModel):
    """One env as written in a YAML spec file."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(description="Versioned id, e.g. 'agentgym/FrozenLake-v0'.")
    entry_point: str = Field(description="'package.module:Class' of the gymnasium.Env.")
    kwargs: dict[str, Any] = Field(default_factory=dict, description="Keyword arguments of the env class.")
    max_episode_steps: int | None = Field(default=None, gt=0, description="Episode step limit.")
    override: bool = Field(default=False, description="Replace an env already registered under this id.")
    card: EnvCard


@dataclass(frozen=True)
class EnvSpec:
    """A registered env."""

    id: str
    entry_point: str
    card: EnvCard
    kwargs: dict[str, Any] = field(default_factory=dict)
    max_episode_steps: int | None = None
    source: str = "python"


def _load_registered() -> None:
    load_env_specs(builtin_dir("envs"), source="built-in", require=False)
    load_plugins(ENTRY_POINT_GROUP, register_folder=lambda folder, source: load_env_specs(folder, source=source))
    for folder in filter(None, os.environ.get(ENV_PATH_VARIABLE, "").split(os.pathsep)):
        load_env_specs(Path(folder), source=ENV_PATH_VARIABLE)


ENVS: Registry[EnvSpec] = Registry("env", loader=_load_registered)


def register_env(
    id: str,
    entry_point: str,
    card: EnvCard,
    *,
    kwargs: dict[str, Any] | None = None,
    max_episode_steps: int | None = None,
    source: str = "python",
    override: bool = False,
    **gymnasium_kwargs: Any,
) -> EnvSpec:
    """Register an env under ``id`` so that ``agentgym.make(id)`` builds it.

    The class at ``entry_point`` must accept a ``view`` keyword ("text" or "vector") and
    follow the env contract (``agentgym check-env ID`` tells). Registering another env under a
    known id raises unless ``override`` is true (registering the same spec again is a no-op).
    Extra keyword arguments go to ``gymnasium.register``.

    Example:
        >>> import agentgym
        >>> card = agentgym.EnvCard(**agentgym.env_spec("agentgym/FrozenLake-v0").card.model_dump())
        >>> spec = agentgym.register_env(id="mine/Lake-v0",
        ...     entry_point="agentgym.envs.classic.frozenlake:FrozenLakeEnv", card=card,
        ...     kwargs={"map_name": "4x4", "is_slippery": False}, max_episode_steps=50)
        >>> agentgym.make("mine/Lake-v0").unwrapped.card.family
        'classic'
    """
    if isinstance(card, dict):
        card = validate(EnvCard, card, f"card of {id}")
    spec = EnvSpec(id, entry_point, card, dict(kwargs or {}), max_episode_steps, source)
    if id in ENVS and not override and ENVS.get(id) != spec:
        known = ENVS.get(id)
        raise SpecError(f"env {id!r} is already registered (from {known.source}); a spec from {source} declares it "
                        f"again: give it another id, or set `override: true` in its spec (override=True in Python)")
    ENVS.add(id, spec, override=True)
    with warnings.catch_warnings():  # re-registering (a reloaded spec folder) is expected, not news
        warnings.filterwarnings("ignore", message=".*Overriding environment")
        gym.register(id=id, entry_point=entry_point, kwargs=spec.kwargs, max_episode_steps=max_episode_steps,
                     disable_env_checker=True, **gymnasium_kwargs)
    return spec


def load_env_specs(folder: str | Path, *, source: str | None = None, require: bool = True) -> list[EnvSpec]:
    """Register every env spec in the YAML files of ``folder`` (a mapping or a list per file)."""
    specs = []
    for path in yaml_files(folder):
        data = read_yaml(path)
        entries = data if isinstance(data, list) else [data]
        for position, entry in enumerate(entries):
            where = f"{path}" + (f" (entry {position})" if isinstance(data, list) else "")
            parsed = validate(EnvSpecFile, entry, where)
            specs.append(
                register_env(parsed.id, parsed.entry_point, parsed.card, kwargs=parsed.kwargs,
                             max_episode_steps=parsed.max_episode_steps, source=source or str(path),
                             override=parsed.override)
            )
    if not specs and require:
        raise SpecError(f"no env spec (*.yaml) found in {folder}")
    return specs


def env_spec(env_id: str) -> EnvSpec:
    """The registered spec of ``env_id``; an unknown id raises with a did-you-mean hint."""
    return ENVS.get(env_id)


def env_ids() -> list[str]:
    return ENVS.names()


def build_env(env_id: str, *, view: str = "vector", **kwargs: Any) -> gym.Env:
    """The env ``env_id`` in ``view`` with its card, under its own reward (no reward variant).

    :func:`agentgym.make` adds the reward variant; code below the reward layer (reward models
    that collect their own data) builds envs with this.
    """
    spec = env_spec(env_id)
    if view not in spec.card.views:
        raise SpecError(f"{env_id} offers the views {spec.card.views}, not {view!r}")
    env = gym.make(env_id, view=view, **kwargs)
    # Plain Gymnasium envs (the plugin contract) cannot take a card in their constructor, so the
    # spec's card is attached here, in the one place that builds envs.
    agentgym_env(env).card = spec.card
    return env
