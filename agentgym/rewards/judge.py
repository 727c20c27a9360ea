"""`judge`: a score from a judge callable, per step or per episode; LLM judges plug in here.

A step judge is called as ``judge(observation, action, info)``: the observation the agent acted on,
its action as given (index or text), and a copy of the step's info with two extra keys,
``action_index`` (the parsed admissible index, None if the action was invalid) and
``oracle_action`` (the oracle's index in the state acted on, None where the env has no oracle).
An episode judge (``per="episode"``) is called once, at the episode's last step, as
``judge(transcript)``, a list of ``{"observation", "action", "info"}`` dicts, one per step; the
other steps pay 0. The reward is ``scale`` times the judge's float.

Scores are cached by a hash of the judge's name and its inputs, in memory and (``persist=True``,
the default) on disk, so a sampling judge (an LLM) gives the same score to the same input in every
process and the env stays deterministic. The disk store is one append-only JSONL log per judge,
``cache_file("judge_scores", <judge name>, suffix=".jsonl")`` (:mod:`agentgym.core.cache`: listed by
``agentgym cache ls``, removed by ``agentgym cache clear``); it is not a build-once entry, since a
judge's scores arrive one input at a time, for as long as the judge is used. Judges marked
``deterministic = True`` (the built-in oracle judges) skip the cache. The defaults: `oracle_judge`
(+1 when the action is the oracle's, else 0) and, per episode, `oracle_agreement` (the share of such steps).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np

from agentgym.core.cache import cache_file
from agentgym.core.errors import ConfigError
from agentgym.core.registry import load_entry_point
from agentgym.envs.base import agentgym_env, env_card
from agentgym.rewards.proxies import ContextReward

CACHE_KIND = "judge_scores"
_SCORES: dict[str, float] = {}  # input hash -> score, for every judge (the hash includes the judge's name)
_LOADED: set[str] = set()  # the score logs already read into _SCORES


def oracle_judge(observation: Any, action: Any, info: dict[str, Any]) -> float:
    """1 when the action is the oracle's action in the state acted on, else 0."""
    return 1.0 if info["action_index"] is not None and info["action_index"] == info["oracle_action"] else 0.0


def oracle_agreement(transcript: list[dict[str, Any]]) -> float:
    """The share of an episode's steps on which the action was the oracle's."""
    return float(np.mean([oracle_judge(s["observation"], s["action"], s["info"]) for s in transcript]))


_judges: tuple[Any, ...] = (oracle_judge, oracle_agreement)
for _judge in _judges:  # marks read by JudgeReward: no score cache needed, needs an oracle
    _judge.deterministic = True
    _judge.needs_oracle = True


def _plain(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return repr(value)


def input_hash(name: str, payload: Any) -> str:
    """A stable hash of a judge's name and inputs (canonical JSON; arrays as lists)."""
    text = json.dumps([name, payload], sort_keys=True, default=_plain)
    return hashlib.sha256(text.encode()).hexdigest()


class JudgeReward(ContextReward):
    """`judge`: ``scale * judge(...)`` per step, or per episode at its last step.

    Kwargs: ``judge`` ("module:function" or a callable; default the oracle judge of ``per``),
    ``per`` ("step" or "episode"), ``scale`` (1.0), ``persist`` (keep scores on disk, default True).
    """

    def __init__(self, env: gym.Env, judge: str | Callable[..., float] | None = None, per: str = "step",
                 scale: float = 1.0, persist: bool = True) -> None:
        super().__init__(env)
        if per not in ("step", "episode"):
            raise ConfigError(f"per must be 'step' or 'episode', not {per!r}")
        if judge is None:
            judge = oracle_judge if per == "step" else oracle_agreement
        self.judge_name = judge if isinstance(judge, str) else \
            f"{judge.__module__}:{getattr(judge, '__qualname__', type(judge).__qualname__)}"
        self.judge = load_entry_point(judge) if isinstance(judge, str) else judge
        card = env_card(env)
        if getattr(self.judge, "needs_oracle", False) and card is not None and card.oracle == "none":
            raise ConfigError(f"the judge {self.judge_name} compares with the oracle; this env has none")
        self.per, self.scale = per, float(scale)
        self.cached = not getattr(self.judge, "deterministic", False)
        self.persist = persist and self.cached
        self.transcript: list[dict[str, Any]] = []
        self._pending: dict[str, Any] = {}
        self._file = cache_file(CACHE_KIND, self.judge_name, suffix=".jsonl")
        if self.persist and str(self._file) not in _LOADED:
            _LOADED.add(str(self._file))
            if self._file.exists():
                for line in self._file.read_text().splitlines():
                    entry = json.loads(line)
                    _SCORES.setdefault(entry["key"], entry["score"])

    def on_reset(self, info):
        self.transcript = []

    def step(self, action: Any):
        inner = agentgym_env(self.env)
        try:
            oracle = int(inner.oracle_action())
        except NotImplementedError:
            oracle = None
        read = getattr(inner, "read_action", inner.parse_action)  # read_action never raises on hostile text
        self._pending = {"action_index": read(action), "oracle_action": oracle}
        return super().step(action)

    def _score(self, *inputs: Any) -> float:
        if not self.cached:
            return float(self.judge(*inputs))
        key = input_hash(self.judge_name, inputs)
        if key not in _SCORES:
            _SCORES[key] = float(self.judge(*inputs))
            if self.persist:
                with open(self._file, "a") as handle:
                    handle.write(json.dumps({"key": key, "score": _SCORES[key]}) + "\n")
        return _SCORES[key]

    def variant_reward(self, env_reward, terminated, truncated, info):
        seen = {**info, **self._pending}
        if self.per == "step":
            return self.scale * self._score(self.previous_observation, self.action, seen)
        self.transcript.append({"observation": self.previous_observation, "action": self.action, "info": seen})
        return self.scale * self._score(self.transcript) if terminated or truncated else 0.0
