"""Agent specs (``agents/*.yaml``) and building agents from them.

A spec names a class and its keyword arguments::

    name: ppo
    entry_point: agentgym.agents.sb3:SB3Agent
    kwargs: {algo: PPO, train: {total_timesteps: 20000, seed: 0}}
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from agentgym.agents.base import Agent
from agentgym.core.errors import SpecError
from agentgym.core.paths import builtin_dir
from agentgym.core.registry import Registry, load_entry_point
from agentgym.core.yamlspec import read_yaml, validate, yaml_files

AGENT_PATH_VARIABLE = "AGENTGYM_AGENTS"


class AgentSpec(BaseModel):
    """One agent as written in a YAML spec."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="Name used in suites and on the leaderboard.")
    entry_point: str = Field(description="'package.module:Class' of the agent.")
    kwargs: dict[str, Any] = Field(default_factory=dict, description="Keyword arguments of the agent class.")
    description: str = Field(default="", description="What the agent is.")


def _load_registered() -> None:
    load_agent_specs(builtin_dir("agents"))
    for folder in filter(None, os.environ.get(AGENT_PATH_VARIABLE, "").split(os.pathsep)):
        load_agent_specs(Path(folder))


AGENTS: Registry[AgentSpec] = Registry("agent", loader=_load_registered)


def register_agent(spec: AgentSpec | dict[str, Any]) -> AgentSpec:
    if isinstance(spec, dict):
        spec = validate(AgentSpec, spec, f"agent spec {spec.get('name', '?')!r}")
    AGENTS.add(spec.name, spec, overwrite=True)
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


def make_agent(spec: str | AgentSpec | dict[str, Any], **overrides: Any) -> Agent:
    """Build an agent from a registered name, a spec, or a spec mapping (suites may inline one)."""
    if isinstance(spec, str):
        spec = agent_spec(spec)
    elif isinstance(spec, dict):
        spec = validate(AgentSpec, spec, f"agent spec {spec.get('name', '?')!r}")
    factory = load_entry_point(spec.entry_point)
    try:
        agent = factory(**{**spec.kwargs, **overrides})
    except TypeError as exc:
        raise SpecError(f"agent {spec.name!r}: bad kwargs for {spec.entry_point}: {exc}") from exc
    agent.name = spec.name
    return agent
