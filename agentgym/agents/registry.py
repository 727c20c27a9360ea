"""Agent specs (``agents/*.yaml``) and building agents from them.

A spec names a class and its keyword arguments::

    name: ppo
    entry_point: agentgym.agents.sb3:SB3Agent
    kwargs: {algo: PPO, train: {total_timesteps: 20000, seed: 0}}

Specs can run code. An *inline* spec (a mapping, as a suite may hold, or any spec other than the
registered one of its name) may only name an ``entry_point`` (or an LLM ``backend`` given as
``module:Class``) inside agentgym or an installed plugin package, and must name an
:class:`~agentgym.agents.base.Agent` class, unless code is allowed (``--allow-code``, or
``AGENTGYM_ALLOW_CODE=1``); see :mod:`agentgym.core.trust`. Registered specs (the built-in
``agents/`` folder, ``AGENTGYM_AGENTS`` folders, :func:`register_agent`) are the user's own.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from agentgym.agents.base import Agent
from agentgym.core.errors import SpecError, UntrustedCodeError
from agentgym.core.paths import builtin_dir
from agentgym.core.registry import Registry, load_entry_point, load_plugins
from agentgym.core.trust import allow_code_from_env, check_entry_point, trusted_prefixes
from agentgym.core.yamlspec import read_yaml, validate, yaml_files

AGENT_PATH_VARIABLE = "AGENTGYM_AGENTS"


class AgentSpec(BaseModel):
    """One agent as written in a YAML spec."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="Name used in suites and on the leaderboard.")
    entry_point: str = Field(description="'package.module:Class' of the agent.")
    kwargs: dict[str, Any] = Field(default_factory=dict, description="Keyword arguments of the agent class.")
    description: str = Field(default="", description="What the agent is.")


ENTRY_POINT_GROUP = "agentgym.agents"


def _load_registered() -> None:
    load_agent_specs(builtin_dir("agents"))
    load_plugins(ENTRY_POINT_GROUP, register_folder=lambda folder, source: load_agent_specs(folder))
    for folder in filter(None, os.environ.get(AGENT_PATH_VARIABLE, "").split(os.pathsep)):
        load_agent_specs(Path(folder))


AGENTS: Registry[AgentSpec] = Registry("agent", loader=_load_registered)


def register_agent(spec: AgentSpec | dict[str, Any], *, override: bool = False) -> AgentSpec:
    """Register an agent spec under its name; another spec under a known name needs ``override=True``."""
    if isinstance(spec, dict):
        spec = validate(AgentSpec, spec, f"agent spec {spec.get('name', '?')!r}")
    AGENTS.add(spec.name, spec, override=override)
    return spec


def load_agent_specs(folder: str | Path) -> list[AgentSpec]:
    """Register every agent spec in the YAML files of ``folder``."""
    specs = []
    for path in yaml_files(folder):
        data = read_yaml(path)
        for entry in data if isinstance(data, list) else [data]:
            specs.append(register_agent(validate(AgentSpec, entry, str(path))))
    return specs


def agent_spec(name: str) -> AgentSpec:
    return AGENTS.get(name)


def is_registered(spec: AgentSpec) -> bool:
    """Whether ``spec`` is the registered spec of its name (not an inline one)."""
    return spec.name in AGENTS and AGENTS.get(spec.name) == spec


def check_agent_spec(spec: AgentSpec | dict[str, Any], *, allow_code: bool | None = None) -> AgentSpec:
    """Refuse (:class:`~agentgym.core.errors.UntrustedCodeError`) an inline agent spec that would run
    code outside agentgym and the installed plugin packages, before anything is imported.
    ``allow_code`` defaults to ``AGENTGYM_ALLOW_CODE``. Returns the validated spec."""
    if isinstance(spec, dict):
        spec = validate(AgentSpec, spec, f"agent spec {spec.get('name', '?')!r}")
    if allow_code is None:
        allow_code = allow_code_from_env()
    if allow_code or is_registered(spec):
        return spec
    prefixes = trusted_prefixes()
    check_entry_point(spec.entry_point, allow_code=False, allowed_prefixes=prefixes,
                      what=f"agent {spec.name!r}: entry point")
    backend = spec.kwargs.get("backend")
    if isinstance(backend, str) and ":" in backend:
        check_entry_point(backend, allow_code=False, allowed_prefixes=prefixes, what=f"agent {spec.name!r}: backend")
    return spec


def make_agent(spec: str | AgentSpec | dict[str, Any], **overrides: Any) -> Agent:
    """Build an agent from a registered name, a spec, or a spec mapping (suites may inline one).

    Inline specs are checked first (:func:`check_agent_spec`): code outside agentgym and the
    installed plugins needs ``AGENTGYM_ALLOW_CODE=1`` (the CLI's ``--allow-code``)."""
    if isinstance(spec, str):
        spec = agent_spec(spec)
    inline = isinstance(spec, dict) or not is_registered(spec)
    spec = check_agent_spec(spec)
    backend = overrides.get("backend")
    if isinstance(backend, str) and ":" in backend:
        check_entry_point(backend, allow_code=allow_code_from_env(), allowed_prefixes=trusted_prefixes(),
                          what=f"agent {spec.name!r}: backend")
    factory = load_entry_point(spec.entry_point)
    if inline and not allow_code_from_env() and not (isinstance(factory, type) and issubclass(factory, Agent)):
        raise UntrustedCodeError(f"agent {spec.name!r}: entry point {spec.entry_point!r} is not an Agent class; "
                                 "specs can run code: pass --allow-code (or set AGENTGYM_ALLOW_CODE=1) if you "
                                 "trust this one")
    try:
        agent = factory(**{**spec.kwargs, **overrides})
    except TypeError as exc:
        raise SpecError(f"agent {spec.name!r}: bad kwargs for {spec.entry_point}: {exc}") from exc
    agent.name = spec.name
    return agent
