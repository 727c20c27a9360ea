"""Normalised score and the oracle references: each env card declares the score it is graded on.

The card's ``score`` is ``success`` (0/1, goal tasks), ``progress`` (0..1, e.g. a game's win 1 /
draw 1/2 / loss 0) or ``return`` (the env's own return, control tasks such as CartPole). An env
this install does not know is graded on ``success`` when its episodes report one, else ``return``.

Per task (env, split), ``S_random`` and ``S_oracle`` are the means of that score over the scored
episodes of the ``random`` and ``oracle`` cells on the ``env`` reward, and an episode's normalised
score is ``(s - S_random) / (S_oracle - S_random)`` (random 0, oracle 1). It is undefined (null,
with the reason) when a reference is missing or the oracle does not beat random by the margin
``max(0.05 * range, 1e-6)``: range is 1 for success and progress, and for return the spread
(max - min) of the two references' episode returns on that task.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from agentgym.core.errors import ConfigError, UnknownNameError
from agentgym.envs.registration import env_spec
from agentgym.metrics.status import OK, scored_record
from agentgym.records import REFERENCE_AGENTS, REFERENCE_REWARD

SCORES = ("success", "progress", "return")
MARGIN_FRACTION = 0.05
MIN_MARGIN = 1e-6

Task = tuple[str, str]  # (env, split)


def card_score(env: str) -> str | None:
    """The ``score`` declared by the card of ``env``, or None for an env this install does not know."""
    try:
        return env_spec(env).card.score
    except (UnknownNameError, KeyError, AttributeError):
        return None


def episode_score(record: Mapping[str, Any], kind: str) -> float:
    """The episode's score of ``kind`` (success as 0/1, progress, or env return); NaN when it has none."""
    value = record.get("env_return" if kind == "return" else kind)
    return math.nan if value is None else float(value)


@dataclass(frozen=True)
class Normalizer:
    """How one task normalises: ``(s - random) / (oracle - random)``, or ``reason`` why it cannot."""

    score: str
    random: float | None
    oracle: float | None
    margin: float | None
    reason: str | None = None

    @property
    def defined(self) -> bool:
        return self.reason is None

    def affine(self) -> tuple[float, float]:
        """``(random, oracle - random)``: the normalised score is ``(s - random) / (oracle - random)``."""
        assert self.random is not None and self.oracle is not None, f"no normalisation: {self.reason}"
        return self.random, self.oracle - self.random

    def __call__(self, values: npt.ArrayLike) -> np.ndarray:
        offset, scale = self.affine()
        return (np.asarray(values, dtype=float) - offset) / scale

    def as_dict(self) -> dict[str, Any]:
        clean = (lambda v: None if v is None or not math.isfinite(v) else float(v))  # noqa: E731
        return {"score": self.score, "random": clean(self.random), "oracle": clean(self.oracle),
                "margin": clean(self.margin), "reason": self.reason}


@dataclass(frozen=True)
class References:
    """The reference episodes of a run: ``random`` and ``oracle`` cells on the ``env`` reward.

    Attributes:
        scores: Score kind per env (card, or the fallback of the module docstring).
        random_scores / oracle_scores: Per (env, split), the reference's episode scores.
        oracle_episodes: Per (env, split, seed, repeat), the oracle's scored record.
    """

    scores: dict[str, str] = field(default_factory=dict)
    random_scores: dict[Task, list[float]] = field(default_factory=dict)
    oracle_scores: dict[Task, list[float]] = field(default_factory=dict)
    reference_returns: dict[Task, list[float]] = field(default_factory=dict)
    oracle_episodes: dict[tuple[str, str, int, int], Mapping[str, Any]] = field(default_factory=dict)
    oracle_by_seed: dict[tuple[str, str, int], Mapping[str, Any]] = field(default_factory=dict)
    _normalizers: dict[Task, Normalizer] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_records(cls, records: Iterable[Mapping[str, Any]], scores: Mapping[str, str] | None = None) -> References:
        """The references of all records of a run (harness failures ignored; agent errors count).

        ``scores`` overrides the score kind of the envs it names.
        """
        records = list(records)
        kinds: dict[str, str] = {}
        for env in dict.fromkeys(r["env"] for r in records):
            kind = (scores or {}).get(env) or card_score(env)
            if kind is None:
                has_success = any(r.get("success") is not None for r in records if r["env"] == env
                                  and r.get("status") == OK)
                kind = "success" if has_success else "return"
            if kind not in SCORES:
                raise ConfigError(f"unknown score {kind!r} for {env}; expected one of {SCORES}")
            kinds[env] = kind
        by_agent: dict[str, dict[Task, list[float]]] = {agent: defaultdict(list) for agent in REFERENCE_AGENTS}
        returns: dict[Task, list[float]] = defaultdict(list)
        oracle_episodes: dict[tuple[str, str, int, int], Mapping[str, Any]] = {}
        for raw in records:
            if raw.get("reward") != REFERENCE_REWARD or raw.get("agent") not in REFERENCE_AGENTS:
                continue
            rec = scored_record(raw)
            if rec is None:
                continue
            task = (rec["env"], rec["split"])
            value = episode_score(rec, kinds[rec["env"]])
            if not math.isnan(value):
                by_agent[rec["agent"]][task].append(value)
            if rec.get("env_return") is not None:
                returns[task].append(float(rec["env_return"]))
            if rec["agent"] == "oracle":  # first record wins should a run hold duplicates
                oracle_episodes.setdefault((rec["env"], rec["split"], int(rec["seed"]), int(rec["repeat"])), rec)
        by_seed: dict[tuple[str, str, int], Mapping[str, Any]] = {}
        for key in sorted(oracle_episodes, key=lambda k: k[3]):  # the lowest repeat of each seed
            by_seed.setdefault(key[:3], oracle_episodes[key])
        return cls(kinds, dict(by_agent["random"]), dict(by_agent["oracle"]), dict(returns), oracle_episodes, by_seed)

    def score_kind(self, env: str) -> str:
        return self.scores.get(env) or card_score(env) or "success"

    def normalizer(self, env: str, split: str) -> Normalizer:
        """The task's :class:`Normalizer` (check ``.defined``)."""
        if (env, split) not in self._normalizers:
            self._normalizers[(env, split)] = self._normalizer(env, split)
        return self._normalizers[(env, split)]

    def _normalizer(self, env: str, split: str) -> Normalizer:
        kind = self.score_kind(env)
        low_values, high_values = self.random_scores.get((env, split)), self.oracle_scores.get((env, split))
        low = float(np.mean(low_values)) if low_values else None
        high = float(np.mean(high_values)) if high_values else None
        if low is None or high is None:
            missing = " and ".join(name for name, v in (("random", low), ("oracle", high)) if v is None)
            return Normalizer(kind, low, high, None, f"no {missing} reference episodes with a {kind} score")
        if kind == "return":
            spread = np.ptp(self.reference_returns.get((env, split)) or [low, high])
            margin = max(MARGIN_FRACTION * float(spread), MIN_MARGIN)
        else:
            margin = max(MARGIN_FRACTION, MIN_MARGIN)
        if high - low < margin:
            return Normalizer(kind, low, high, margin,
                              f"oracle {kind} {high:.4g} does not beat random {low:.4g} by the margin {margin:.4g}")
        return Normalizer(kind, low, high, margin)

    def oracle_twin(self, record: Mapping[str, Any]) -> Mapping[str, Any] | None:
        """The oracle's episode on the same env, split, seed and repeat; else on the same seed
        (its lowest repeat); None when the oracle did not play that seed."""
        env, split, seed = record["env"], record["split"], int(record["seed"])
        twin = self.oracle_episodes.get((env, split, seed, int(record.get("repeat", 0))))
        return twin if twin is not None else self.oracle_by_seed.get((env, split, seed))
