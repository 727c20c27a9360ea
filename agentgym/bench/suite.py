"""Benchmark suites (``benchmarks/*.yaml``) and their expansion into cells and episodes.

A cell is one (env, agent, reward variant, split); its episodes are the first ``episodes``
seeds of the split, each run ``repeats`` times. Keys name episodes stably, so a resumed run
knows exactly which are done.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from agentgym.agents.registry import AGENTS, AgentSpec, agent_spec, check_agent_spec
from agentgym.core.errors import ConfigError, SpecError
from agentgym.core.files import canonical_json, sha256_text
from agentgym.core.paths import builtin_dir
from agentgym.core.trust import allow_code_from_env, check_entry_point, trusted_prefixes
from agentgym.core.yamlspec import read_yaml, validate
from agentgym.envs.card import EnvCard
from agentgym.envs.registration import env_spec
from agentgym.records import REFERENCE_AGENTS, check_name
from agentgym.rewards import REWARDS


def plain_name(kind: str, value: str) -> str:
    """Names end up inside cell ids ('env|agent|reward|split'), paths and the leaderboard: keep them plain.

    The leaderboard's name rules (:func:`agentgym.records.check_name`), and no '/' (a path separator).
    """
    check_name(value, f"{kind} name")
    if "/" in value:
        raise ConfigError(f"{kind} name {value!r} must not contain '/'")
    return value


class EnvEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(description="Registered env id.")
    kwargs: dict[str, Any] = Field(default_factory=dict, description="Overrides of the spec's env kwargs.")
    episodes: int | None = Field(default=None, gt=0, description="Seeds per cell for this env (default: the suite's).")
    agents: list[str] | None = Field(default=None, description="Only these of the suite's agents (by name) on this "
                                     "env, e.g. to leave out agents that need enumerable actions; default: all.")


class RewardEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="Registered reward variant.")
    kwargs: dict[str, Any] = Field(default_factory=dict, description="Keyword arguments of the variant.")


class Recipe(BaseModel):
    """A training recipe: an SB3 algorithm trained under each reward variant of the suite, per seed.

    Each (reward variant, training seed) becomes an agent ``<name>-<reward>-s<seed>`` that trains
    on the env's train split under that variant (cached by config) and is scored on the suite's split.
    """

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="Recipe name; agents are named '<name>-<reward>-s<seed>'.")
    algo: str = Field(default="PPO", description="PPO, A2C, DQN or MaskablePPO.")
    policy: str = Field(default="MlpPolicy", description="SB3 policy.")
    train: dict[str, Any] = Field(default_factory=dict, description="SB3 train config (reward and seed are set).")
    per_env: dict[str, dict[str, Any]] = Field(default_factory=dict, description="Per-env train overrides.")
    seeds: list[int] = Field(default=[0], min_length=1, description="Training seeds.")
    curve: dict[str, int] | None = Field(default=None, description="Learning curve: {every: N, episodes: M}.")

    _plain_name = field_validator("name")(lambda cls, value: plain_name("recipe", value))

    def agent(self, reward: RewardEntry, seed: int) -> AgentSpec:
        train = {**self.train, "seed": seed, "reward": reward.name, "reward_kwargs": reward.kwargs}
        return AgentSpec(name=f"{self.name}-{reward.name}-s{seed}", entry_point="agentgym.agents.sb3:SB3Agent",
                         kwargs={"algo": self.algo, "policy": self.policy, "train": train, "per_env": self.per_env,
                                 "curve": self.curve},
                         description=f"recipe {self.name}: {self.algo} under reward {reward.name!r}, seed {seed}")


class Suite(BaseModel):
    """A benchmark suite as written in YAML."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="Suite name, as shown on the leaderboard.")
    version: int = Field(default=1, ge=0, description="Bumped whenever a change can move a score.")
    description: str = Field(default="", description="What the suite measures.")
    envs: list[str | EnvEntry] = Field(min_length=1, description="Env ids (or {id, kwargs}).")
    agents: list[str | AgentSpec] = Field(default_factory=list, description="Agent names (agents/), or inline specs.")
    recipes: list[Recipe] = Field(default_factory=list, description="Training recipes, one agent per reward x seed.")
    rewards: list[str | RewardEntry] = Field(default=["env"], min_length=1, description="Reward variants.")
    split: str | list[str] = Field(default="test", description="Seed split(s) of the env cards to run on.")
    episodes: int = Field(default=20, gt=0, description="Seeds per cell: the first N of the split.")
    repeats: int = Field(default=1, gt=0, description="Runs per seed (pass^k needs k <= repeats).")
    batch_size: int = Field(default=32, gt=0, description="Episodes of a cell stepped in lockstep.")
    references: bool = Field(default=True, description="Add random/oracle reference cells for normalized score.")
    seed: int = Field(default=0, description="Seed of the bootstrap confidence intervals.")

    _plain_name = field_validator("name")(lambda cls, value: plain_name("suite", value))

    @model_validator(mode="after")
    def _something_to_run(self) -> Suite:
        if not self.agents and not self.recipes:
            raise ConfigError("a suite needs at least one agent or recipe")
        return self


@dataclass(frozen=True)
class Cell:
    env: str
    env_kwargs: dict[str, Any]
    agent: AgentSpec
    reward: str
    reward_kwargs: dict[str, Any]
    split: str
    seeds: tuple[int, ...]
    repeats: int
    reference: bool = False
    recipe: str | None = None
    train_seed: int | None = None

    @property
    def id(self) -> str:
        return f"{self.env}|{self.agent.name}|{self.reward}|{self.split}"

    def episode_keys(self) -> list[tuple[str, int, int]]:
        return [(f"{self.id}/{seed}/{r}", seed, r) for seed in self.seeds for r in range(self.repeats)]


@dataclass
class ExpandedSuite:
    suite: Suite
    hash: str
    cells: list[Cell] = field(default_factory=list)

    @property
    def n_episodes(self) -> int:
        return sum(len(cell.seeds) * cell.repeats for cell in self.cells)


def resolve_suite_path(path_or_name: str | Path) -> Path:
    """A suite file path, or the name of a built-in suite (``quickstart`` -> benchmarks/quickstart.yaml)."""
    path = Path(path_or_name)
    if path.is_file():
        return path
    builtin = builtin_dir("benchmarks") / f"{path_or_name}.yaml"
    if builtin.is_file():
        return builtin
    known = sorted(p.stem for p in builtin_dir("benchmarks").glob("*.yaml"))
    raise SpecError(f"suite {str(path_or_name)!r} is neither a file nor a built-in suite ({', '.join(known)})")


def load_suite(path_or_name: str | Path) -> Suite:
    path = resolve_suite_path(path_or_name)
    return validate(Suite, read_yaml(path), str(path))


def suite_hash(suite: Suite) -> str:
    """Hash of the suite *as resolved*: its spec plus the registered spec of every env and agent it names.

    Two runs share a hash only when they run the same envs (entry point, kwargs, step limit, card) and
    agents, whatever folders or plugins registered them.
    """
    envs = sorted({e if isinstance(e, str) else e.id for e in suite.envs})
    agents = sorted({a for a in [*suite.agents, *REFERENCE_AGENTS] if isinstance(a, str)})
    resolved = {
        "suite": suite.model_dump(mode="json"),
        "envs": {env_id: _env_identity(env_id) for env_id in envs},
        "agents": {name: agent_spec(name).model_dump(mode="json") for name in agents if name in AGENTS},
    }
    return sha256_text(canonical_json(resolved))


def _env_identity(env_id: str) -> dict[str, Any]:
    spec = env_spec(env_id)
    return {"entry_point": spec.entry_point, "kwargs": spec.kwargs, "max_episode_steps": spec.max_episode_steps,
            "card": spec.card.model_dump(mode="json")}


def with_agents(suite: Suite, names: list[str], kwargs: dict[str, Any] | None = None,
                name: str | None = None) -> Suite:
    """The suite with ``names`` (agents/*.yaml) as its agents, e.g. from the command line.

    ``kwargs`` are merged into each agent's own (say another model); such an agent is renamed
    ``name`` (one agent only) or ``<name>-<hash of kwargs>``, so that its results never pass
    for the unchanged agent's. Env entries that pick agents by name keep those still present."""
    if not names:
        raise SpecError("name at least one agent")
    if name is not None and (len(names) != 1 or not kwargs):
        raise SpecError("an agent name goes with one agent and its kwargs")
    specs, renamed = [], {}
    for agent in names:
        spec = agent_spec(agent)
        if kwargs:
            new_name = name or f"{spec.name}-{sha256_text(canonical_json(kwargs))[:8]}"
            try:
                plain_name("agent", new_name)
            except ValueError as exc:
                raise SpecError(str(exc)) from None
            renamed[spec.name] = new_name
            spec = spec.model_copy(update={"kwargs": {**spec.kwargs, **kwargs}, "name": new_name})
        specs.append(spec)
    present = {spec.name for spec in specs}
    envs = [entry.model_copy(update={"agents": [renamed.get(a, a) for a in entry.agents
                                                if renamed.get(a, a) in present]})
            if isinstance(entry, EnvEntry) and entry.agents is not None else entry for entry in suite.envs]
    return suite.model_copy(update={"agents": specs, "envs": envs})


def _agents_for(entry: EnvEntry, agents: list[AgentSpec]) -> list[AgentSpec]:
    if entry.agents is None:
        return agents
    unknown = sorted(set(entry.agents) - {agent.name for agent in agents})
    if unknown:
        raise SpecError(f"{entry.id} lists agents {unknown} that the suite does not run "
                        f"(its agents: {[agent.name for agent in agents]})")
    return [agent for agent in agents if agent.name in entry.agents]


def _seeds(entry: EnvEntry, card: EnvCard, split: str, suite: Suite) -> tuple[int, ...]:
    """The seeds ``entry`` plays on ``split``: the first ``episodes`` of the card's split."""
    if split not in card.splits:
        raise SpecError(f"{entry.id} has no seed split {split!r} (its card has {sorted(card.splits)})")
    available = card.splits[split].seeds()
    episodes = entry.episodes or suite.episodes
    if episodes > len(available):
        raise SpecError(f"{entry.id} split {split!r} has {len(available)} seeds, suite asks {episodes}")
    return tuple(available[:episodes])


def _reference_cells(entry: EnvEntry, card: EnvCard, split: str, seeds: tuple[int, ...], suite: Suite,
                     present: set[str]) -> list[Cell]:
    """The reference agents' cells (under the env's own reward) that the suite does not already run."""
    cells = []
    for name in REFERENCE_AGENTS:
        if name == "oracle" and card.oracle == "none":
            continue
        if name not in present:
            spec = agent_spec(name)
            if "vector" not in card.views:  # a text-only env: the reference agent reads text
                spec = spec.model_copy(update={"kwargs": {**spec.kwargs, "view": "text"}})
            cells.append(Cell(entry.id, entry.kwargs, spec, "env", {}, split, seeds, suite.repeats, reference=True))
    return cells


def _split_cells(entry: EnvEntry, card: EnvCard, split: str, suite: Suite, agents: list[AgentSpec],
                 rewards: list[RewardEntry]) -> list[Cell]:
    """The cells of one env entry on one split: agents, then recipes, then references."""
    seeds = _seeds(entry, card, split, suite)
    cells = []
    present: set[str] = set()
    for agent in _agents_for(entry, agents):
        for reward in rewards:
            cells.append(Cell(entry.id, entry.kwargs, agent, reward.name, reward.kwargs, split, seeds, suite.repeats))
            if reward.name == "env":
                present.add(agent.name)
    for recipe in suite.recipes:
        for reward in rewards:
            for seed in recipe.seeds:
                cells.append(Cell(entry.id, entry.kwargs, recipe.agent(reward, seed), reward.name,
                                  reward.kwargs, split, seeds, suite.repeats, recipe=recipe.name,
                                  train_seed=seed))
    if suite.references:
        cells.extend(_reference_cells(entry, card, split, seeds, suite, present))
    return cells


def expand(suite: Suite) -> ExpandedSuite:
    """Cells of the suite, reference cells included; every name checked before anything runs."""
    envs = [EnvEntry(id=e) if isinstance(e, str) else e for e in suite.envs]
    agents = [agent_spec(a) if isinstance(a, str) else check_agent_spec(a) for a in suite.agents]
    rewards = [RewardEntry(name=r) if isinstance(r, str) else r for r in suite.rewards]
    splits = [suite.split] if isinstance(suite.split, str) else suite.split
    for reward in rewards:
        REWARDS.get(reward.name)  # fail early, with a did-you-mean hint
        judge = reward.kwargs.get("judge")
        if isinstance(judge, str):  # a judge named by the suite is code the suite runs
            check_entry_point(judge, allow_code=allow_code_from_env(), allowed_prefixes=trusted_prefixes(),
                              what=f"judge of reward variant {reward.name!r}")
    expanded = ExpandedSuite(suite, suite_hash(suite))
    for entry in envs:
        card = env_spec(entry.id).card
        for split in splits:
            expanded.cells.extend(_split_cells(entry, card, split, suite, agents, rewards))
    ids = [cell.id for cell in expanded.cells]
    duplicated = sorted({i for i in ids if ids.count(i) > 1})
    if duplicated:
        raise SpecError(f"suite {suite.name!r} lists a cell twice: {duplicated}")
    return expanded
