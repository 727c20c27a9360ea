"""The env card: what an env is, what its reward aspects mean, and its seed splits."""

from __future__ import annotations

import itertools
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from agentgym.core.errors import ConfigError


class RewardAspect(BaseModel):
    """One named component of ``info["reward_vector"]``."""

    model_config = ConfigDict(extra="forbid")

    meaning: str = Field(description="What a unit of this aspect rewards or penalises.")
    low: float = Field(description="Smallest value the aspect takes on one step.")
    high: float = Field(description="Largest value the aspect takes on one step.")

    @model_validator(mode="after")
    def _ordered(self) -> RewardAspect:
        if self.low > self.high:
            raise ConfigError(f"aspect range low={self.low} is above high={self.high}")
        return self


class SeedSplit(BaseModel):
    """A contiguous block of episode seeds: ``start, start + 1, ..., start + count - 1``."""

    model_config = ConfigDict(extra="forbid")

    start: int = Field(ge=0, description="First seed of the split.")
    count: int = Field(gt=0, description="Number of seeds in the split.")

    def seeds(self) -> list[int]:
        return list(range(self.start, self.start + self.count))


class EnvCard(BaseModel):
    """Everything a user needs to know before trusting an env's numbers.

    Example:
        >>> card = EnvCard(family="classic", aspects={"task": RewardAspect(meaning="goal", low=0, high=1)},
        ...                splits={"train": SeedSplit(start=0, count=10), "test": SeedSplit(start=10, count=10)})
        >>> card.splits["test"].seeds()[:3]
        [10, 11, 12]
    """

    model_config = ConfigDict(extra="forbid")

    family: str = Field(description="Env family: classic, textworld, games, tooluse, planning, or a user's own.")
    description: str = Field(default="", description="One paragraph: the task and what success means.")
    difficulty: Literal["easy", "medium", "hard"] = Field(default="easy", description="Rough difficulty level.")
    aspects: dict[str, RewardAspect] = Field(description="The keys of info['reward_vector'], with meaning and range.")
    reward_weights: dict[str, float] = Field(
        default_factory=dict, description="Default weights of the `weighted` reward variant (missing aspects: 1)."
    )
    oracle: Literal["exact", "near-optimal", "none"] = Field(
        default="none", description="What the oracle is: an exact solver, a near-optimal controller, or none."
    )
    oracle_always_succeeds: bool = Field(
        default=False, description="Whether the oracle reaches success on every seed (false for stochastic envs)."
    )
    oracle_notes: str = Field(default="", description="How the oracle works.")
    score: Literal["success", "progress", "return"] = Field(
        default="success",
        description=(
            "The per-episode score that normalisation and the headline aggregate use, scaled so the random "
            "reference scores 0 and the oracle 1: 'success' (0/1) for goal tasks; 'progress' (0..1) where the "
            "card defines a graded outcome such as a game's win 1 / draw 1/2 / loss 0; 'return' (the env's own "
            "return) for control tasks without a goal, such as CartPole."
        ),
    )
    views: list[Literal["text", "vector"]] = Field(default=["text", "vector"], description="Views the env offers.")
    splits: dict[str, SeedSplit] = Field(description="Named seed splits; at least 'train' and 'test', disjoint.")
    version: int = Field(default=0, ge=0, description="Bumped by any change that can move a score.")
    changelog: list[str] = Field(default_factory=list, description="One line per version.")

    @model_validator(mode="after")
    def _check(self) -> EnvCard:
        if not self.aspects:
            raise ConfigError("a card declares at least one reward aspect")
        missing = {"train", "test"} - set(self.splits)
        if missing:
            raise ConfigError(f"card splits lack {sorted(missing)}")
        blocks = sorted((s.start, s.start + s.count, name) for name, s in self.splits.items())
        for (_, end, first), (start, _, second) in itertools.pairwise(blocks):
            if start < end:
                raise ConfigError(f"seed splits {first!r} and {second!r} overlap")
        unknown = set(self.reward_weights) - set(self.aspects)
        if unknown:
            raise ConfigError(f"reward_weights name undeclared aspects {sorted(unknown)}")
        if self.oracle == "none" and self.oracle_always_succeeds:
            raise ConfigError("oracle_always_succeeds needs an oracle")
        return self
