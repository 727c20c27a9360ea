"""Datasets from envs: SFT from the oracle, step preferences ranked by a label source, states of any agent.

A *state* is where an episode stands: its seed and the text actions taken so far
(:class:`VisitedState`); same seed, same actions, same state (the env contract), so states are
stored as replayable records, and any policy's visits can be collected (:func:`collect_states`,
on-policy data) as well as the oracle's (:func:`oracle_states`).

Each example's prompt is the chat the LLM agent sees at that state: a :class:`Prompter` builds it
from the turns so far (observation, action) and the current observation, exactly as the agent
does (its template, history window and answer format). The completion is the agent's answer
``Action: <action>`` as the assistant's message (TRL's conversational format, see
:mod:`agentgym.train.formats`).

- SFT (:func:`sft_dataset`): the oracle's action at each state (on the oracle's own states:
  behaviour cloning; on another policy's: DAgger-style relabelling).
- Step preferences (:func:`preference_dataset`, pairwise or KTO): at each state the admissible
  actions (for free-form envs such as ToolUse, the env's menu of candidate calls) are ranked by a
  *label source* (:func:`label_source`) and the best is preferred to worse ones; a simulated noisy
  labeller flips each label with probability ``flip``:

  - ``outcome``: the oracle's action is preferred to every other;
  - ``rollout``: the true outcome after the action, the oracle playing on (success, then progress,
    then return);
  - a reward variant's name (``env``, ``shaped``, ``weighted``, ``tool_calls``, ...): its one-step
    reward for the action, from ``agentgym.make(env_id, reward=NAME)``;
  - ``aspect:NAME``: one aspect of the reward vector (per-aspect feedback, e.g. ``aspect:safety``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

import gymnasium as gym
import numpy as np

from agentgym.agents.base import Agent, Decision, EpisodeContext, Turn
from agentgym.core.errors import AgentGymError
from agentgym.core.version import __version__
from agentgym.envs.card import EnvCard
from agentgym.envs.registration import env_spec
from agentgym.make import make
from agentgym.rewards import REWARDS
from agentgym.rollout import Episode, Job, StepEvent, run_lockstep
from agentgym.train.formats import Dataset

Chat = list[dict[str, str]]


class Prompter(Protocol):
    """How the LLM agent turns a state into a chat, and an action into its answer."""

    def chat(self, turns: Sequence[tuple[str, str]], observation: str, card: EnvCard | None) -> Chat:
        """The chat at a state: ``turns`` are all earlier (observation, action) pairs of the episode."""
        ...

    def answer(self, action: str) -> str:
        """The assistant's answer that takes ``action`` (``Action: <action>``)."""
        ...


@dataclass(frozen=True)
class VisitedState:
    """A state reached in an episode: its seed and the text actions taken before it.

    ``action`` is what the visiting policy did there (None where unknown).
    """

    seed: int
    actions: tuple[str, ...] = ()
    action: str | None = None


class Situation(NamedTuple):
    """A replayed state: the observation and info there, the turns before it, and the env standing in it."""

    state: VisitedState
    observation: str
    info: dict[str, Any]
    turns: list[tuple[str, str]]
    env: gym.Env


def split_seeds(env_id: str, split: str = "train", seeds: Sequence[int] | None = None,
                episodes: int | None = None) -> list[int]:
    """``seeds`` if given, else the first ``episodes`` seeds (all by default) of the card's ``split``."""
    if seeds is None:
        splits = env_spec(env_id).card.splits
        if split not in splits:
            raise AgentGymError(f"{env_id} has no seed split {split!r}; its card has {sorted(splits)}")
        seeds = splits[split].seeds()
    return [int(seed) for seed in seeds][:episodes]


def _text_action(env: gym.Env, action: Any, view: str) -> str:
    """An action as the text view takes it: a vector-view index becomes its label."""
    if view == "text":
        return str(action)
    try:
        return str(env.get_wrapper_attr("action_labels")()[int(action)])
    except (AttributeError, IndexError, TypeError, ValueError) as exc:
        raise AgentGymError(f"cannot name the vector action {action!r} as text: {exc}") from None


def collect_states(env_id: str, agent: Agent, seeds: Sequence[int], *, env_kwargs: dict[str, Any] | None = None,
                   max_steps: int | None = None, batch_size: int = 32) -> list[VisitedState]:
    """Every state ``agent`` visits playing ``seeds`` (in its own view), before each of its actions.

    States are returned in episode order, each with the action the agent took there; vector-view
    actions are stored as their text labels, so the states replay in the text view.
    """
    states: list[VisitedState] = []
    taken: dict[str, list[str]] = {}
    failures: list[str] = []

    def start(job: Job) -> tuple[gym.Env, EpisodeContext]:
        env = make(env_id, view=agent.view, **(env_kwargs or {}))
        taken[job.key] = []
        return env, EpisodeContext(key=job.key, env_id=env_id, seed=job.seed, repeat=0,
                                   card=getattr(env.unwrapped, "card", None), action_space=env.action_space,
                                   observation_space=env.observation_space, env=env)

    def on_step(event: StepEvent) -> None:
        episode = event.episode
        assert episode.env is not None and episode.context is not None
        action = _text_action(episode.env, event.decision.action, agent.view)
        prefix = taken[episode.job.key]
        states.append(VisitedState(episode.job.seed, tuple(prefix), action))
        prefix.append(action)

    def on_done(episode: Episode) -> None:
        if episode.status != "ok":
            failures.append(f"seed {episode.job.seed}: {episode.status}\n{episode.error}")

    jobs = [Job(f"states-{seed}", int(seed), 0) for seed in seeds]
    run_lockstep(jobs, agent, start, on_done, on_step=on_step, batch_size=batch_size, max_steps=max_steps)
    if failures:
        raise AgentGymError(f"collecting states of {env_id} failed on {len(failures)} episode(s):\n{failures[0]}")
    order = {job.seed: i for i, job in enumerate(jobs)}
    return sorted(states, key=lambda state: (order[state.seed], len(state.actions)))


def _menu(env: gym.Env) -> list[str] | None:
    """Where actions are free-form, the env's menu of candidate actions (``action_labels``), if any."""
    try:
        labels = env.get_wrapper_attr("action_labels")()
    except (AttributeError, NotImplementedError):
        return None
    return [str(label) for label in labels] if labels else None


def _oracle_action(env: gym.Env) -> str:
    try:
        return str(env.get_wrapper_attr("oracle")())
    except (AttributeError, NotImplementedError) as exc:
        raise AgentGymError(f"this env has no oracle ({exc}); use a label source that does not need one") from None


class OracleTextAgent(Agent):
    """The env's oracle in the text view (what SFT data imitates)."""

    view = "text"
    name = "oracle"

    def act(self, turns: Sequence[Turn]) -> list[Decision]:
        decisions = []
        for turn in turns:
            if turn.episode.env is None:
                raise AgentGymError("the oracle needs the live env")
            decisions.append(Decision(_oracle_action(turn.episode.env)))
        return decisions


def oracle_states(env_id: str, seeds: Sequence[int], *, env_kwargs: dict[str, Any] | None = None,
                  max_steps: int | None = None) -> list[VisitedState]:
    """The states of the oracle's episodes on ``seeds``, each with the oracle's action there."""
    return collect_states(env_id, OracleTextAgent(), seeds, env_kwargs=env_kwargs, max_steps=max_steps)


def _reset(env: gym.Env, state: VisitedState) -> tuple[str, dict[str, Any]]:
    observation, info = env.reset(seed=state.seed)
    return str(observation), info


def _advance(env: gym.Env, observation: str, action: str, state: VisitedState) -> tuple[str, dict[str, Any]]:
    observation, _, terminated, truncated, info = env.step(action)
    if terminated or truncated:
        raise AgentGymError(f"replaying seed {state.seed}: the episode ended before the state "
                            f"after {len(state.actions)} actions")
    return str(observation), info


def situations(env_id: str, states: Sequence[VisitedState], *, env_kwargs: dict[str, Any] | None = None
               ) -> Iterator[Situation]:
    """Replay ``states`` in the text view, in order. The env moves on from one state to the next when
    the next extends the current one (an episode's states in order cost one episode), else it is reset.
    The yielded env stands in the state until the next item is asked for: do not step it."""
    env = make(env_id, view="text", **(env_kwargs or {}))
    try:
        current: VisitedState | None = None
        turns: list[tuple[str, str]] = []
        observation, info = "", dict[str, Any]()
        for state in states:
            extends = (current is not None and current.seed == state.seed
                       and state.actions[:len(current.actions)] == current.actions)
            if not extends:
                observation, info = _reset(env, state)
                turns, done = [], 0
            else:
                done = len(current.actions)  # type: ignore[union-attr]
            for action in state.actions[done:]:
                turns.append((observation, action))
                observation, info = _advance(env, observation, action, state)
            current = state
            yield Situation(state, observation, info, list(turns), env)
    finally:
        env.close()


# ------------------------------------------------------------------------------ label sources
class LabelSource:
    """Scores candidate actions at a state; higher is preferred (scores are tuples, compared in order)."""

    name = "label"

    def scores(self, situation: Situation, candidates: list[str]) -> list[tuple[float, ...]]:
        raise NotImplementedError  # abstract hook

    def preferred(self, situation: Situation, candidates: list[str]) -> str | None:
        """The action to prefer when several tie at the top (None: the first in admissible order)."""
        return None

    def close(self) -> None:
        """Release the envs the source keeps."""


class OutcomeLabels(LabelSource):
    """The oracle's action is preferred to every other admissible action."""

    name = "outcome"

    def scores(self, situation, candidates):
        oracle = _oracle_action(situation.env)
        return [(float(candidate == oracle),) for candidate in candidates]

    def preferred(self, situation, candidates):
        return _oracle_action(situation.env)


class _Branching(LabelSource):
    """Scores an action by stepping it in a second env replayed to the same state."""

    def __init__(self, env_id: str, reward: str = "env", reward_kwargs: dict[str, Any] | None = None,
                 env_kwargs: dict[str, Any] | None = None) -> None:
        self.env = make(env_id, view="text", reward=reward, reward_kwargs=reward_kwargs, **(env_kwargs or {}))

    def branch(self, state: VisitedState, action: str):
        observation, _ = _reset(self.env, state)
        for earlier in state.actions:
            observation, _ = _advance(self.env, observation, earlier, state)
        return self.env.step(action)

    def close(self) -> None:
        self.env.close()


class RewardLabels(_Branching):
    """A reward variant's one-step reward for the action (or one aspect of the reward vector)."""

    def __init__(self, env_id: str, reward: str, aspect: str | None = None, **kwargs: Any) -> None:
        super().__init__(env_id, reward, **kwargs)
        self.aspect = aspect
        self.name = f"aspect:{aspect}" if aspect else reward

    def scores(self, situation, candidates):
        found = []
        for candidate in candidates:
            _, reward, _, _, info = self.branch(situation.state, candidate)
            if self.aspect is None:
                found.append((float(reward),))
                continue
            vector = info.get("reward_vector", {})
            if self.aspect not in vector:
                raise AgentGymError(f"the reward vector has no aspect {self.aspect!r}; it has {sorted(vector)}")
            found.append((float(vector[self.aspect]),))
        return found


class RolloutLabels(_Branching):
    """The true outcome of taking the action, then letting the oracle play on: (success, progress, return)."""

    name = "rollout"

    def __init__(self, env_id: str, max_steps: int = 1000, **kwargs: Any) -> None:
        super().__init__(env_id, "env", **kwargs)
        self.max_steps = max_steps

    def scores(self, situation, candidates):
        found = []
        for candidate in candidates:
            _, reward, terminated, truncated, info = self.branch(situation.state, candidate)
            total, steps = float(info.get("env_reward", reward)), 0
            while not (terminated or truncated) and steps < self.max_steps:
                _, reward, terminated, truncated, info = self.env.step(_oracle_action(self.env))
                total, steps = total + float(info.get("env_reward", reward)), steps + 1
            found.append((float(bool(info.get("success", False))), float(info.get("progress", 0.0)), total))
        return found

    def preferred(self, situation, candidates):
        return _oracle_action(situation.env)


def label_source(spec: str, env_id: str, *, reward_kwargs: dict[str, Any] | None = None,
                 env_kwargs: dict[str, Any] | None = None, max_steps: int = 1000) -> LabelSource:
    """The label source named ``spec``: ``outcome``, ``rollout``, ``aspect:NAME`` or a reward variant's name."""
    if spec == "outcome":
        return OutcomeLabels()
    if spec == "rollout":
        return RolloutLabels(env_id, max_steps, env_kwargs=env_kwargs)
    if spec.startswith("aspect:"):
        aspect = spec.partition(":")[2]
        card = env_spec(env_id).card
        if aspect not in card.aspects:
            raise AgentGymError(f"{env_id} has no reward aspect {aspect!r}; its card declares {sorted(card.aspects)}")
        return RewardLabels(env_id, "env", aspect, env_kwargs=env_kwargs)
    if spec in REWARDS:
        return RewardLabels(env_id, spec, reward_kwargs=reward_kwargs, env_kwargs=env_kwargs)
    raise AgentGymError(f"unknown label source {spec!r}: expected 'outcome', 'rollout', 'aspect:NAME' or a reward "
                        f"variant ({', '.join(REWARDS.names())})")


# ------------------------------------------------------------------------------ datasets
def _prompter_tag(prompter: Prompter) -> str:
    return str(getattr(prompter, "tag", type(prompter).__name__))


def _provenance(env_id: str, split: str | None, seeds: Iterable[int], states_from: str, **extra: Any
                ) -> dict[str, Any]:
    return {"env_id": env_id, "env_version": env_spec(env_id).card.version, "split": split,
            "seeds": sorted({int(seed) for seed in seeds}), "states_from": states_from, **extra,
            "agentgym_version": __version__}


def _assistant(prompter: Prompter, action: str) -> Chat:
    return [{"role": "assistant", "content": prompter.answer(action)}]


def sft_dataset(env_id: str, prompter: Prompter, *, split: str = "train", seeds: Sequence[int] | None = None,
                episodes: int | None = None, states: Sequence[VisitedState] | None = None,
                states_from: str = "oracle", env_kwargs: dict[str, Any] | None = None,
                max_steps: int | None = None) -> Dataset:
    """Prompt/completion examples: the chat at each state and the oracle's action there.

    By default the states are the oracle's own on ``split`` (behaviour cloning); pass ``states``
    (from :func:`collect_states`, naming their policy in ``states_from``) to label another policy's
    states with the oracle's actions.
    """
    seeds = split_seeds(env_id, split, seeds, episodes)
    if states is None:
        states = oracle_states(env_id, seeds, env_kwargs=env_kwargs, max_steps=max_steps)
        states_from = "oracle"
    card = env_spec(env_id).card
    records = []
    for situation in situations(env_id, states, env_kwargs=env_kwargs):
        action = situation.state.action if states_from == "oracle" and situation.state.action is not None \
            else _oracle_action(situation.env)
        records.append({"prompt": prompter.chat(situation.turns, situation.observation, card),
                        "completion": _assistant(prompter, action)})
    seeds_used = {state.seed for state in states}
    provenance = _provenance(env_id, split, seeds_used, states_from, label_source="oracle",
                             prompter=_prompter_tag(prompter))
    return Dataset("sft", records, provenance)


def _rng(seed: int, state: VisitedState) -> np.random.Generator:
    """A generator fixed by the dataset seed and the state alone (not by the order states come in)."""
    actions = "\x1f".join(state.actions)
    digest = hashlib.sha256(f"{seed}|{state.seed}|{actions}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def rank_pairs(candidates: list[str], scores: list[tuple[float, ...]], rng: np.random.Generator,
               pairs_per_state: int | None = 1, preferred: str | None = None) -> list[tuple[str, str]]:
    """(chosen, rejected) pairs at one state: the top-scored action (``preferred`` among ties at the top,
    else the first) against up to ``pairs_per_state`` strictly worse ones, drawn at random (None: all)."""
    best = max(scores)
    top = [c for c, s in zip(candidates, scores) if s == best]
    chosen = preferred if preferred in top else top[0]
    worse = [c for c, s in zip(candidates, scores) if s < best]
    if pairs_per_state is not None and len(worse) > pairs_per_state:
        worse = [worse[i] for i in sorted(rng.choice(len(worse), size=pairs_per_state, replace=False))]
    return [(chosen, rejected) for rejected in worse]


def _candidates(env_id: str, situation: Situation) -> list[str]:
    """The actions to rank: the admissible ones, or for free-form envs the env's menu (as the random agent)."""
    candidates = situation.info.get("admissible_actions")
    if candidates is None:
        candidates = _menu(situation.env)
        if candidates is None:
            raise AgentGymError(f"{env_id} lists no admissible actions and no action menu, so step preferences "
                                "have no candidates to rank")
    return [str(candidate) for candidate in candidates]


def _examples(kind: str, prompt: Chat, pairs: list[tuple[str, str]], prompter: Prompter, rng: np.random.Generator,
              flip: float) -> tuple[list[dict[str, Any]], int]:
    """The records of one state's pairs (``prefs``: one per pair; ``kto``: the chosen action desirable once,
    each rejected one undesirable) after the noisy labeller, and how many labels it flipped."""
    records: list[dict[str, Any]] = []
    flipped = 0
    if kind == "prefs":
        for chosen, rejected in pairs:
            if rng.random() < flip:
                chosen, rejected, flipped = rejected, chosen, flipped + 1
            records.append({"prompt": prompt, "chosen": _assistant(prompter, chosen),
                            "rejected": _assistant(prompter, rejected)})
    elif pairs:
        for action, desirable in [(pairs[0][0], True), *((rejected, False) for _, rejected in pairs)]:
            if rng.random() < flip:
                desirable, flipped = not desirable, flipped + 1
            records.append({"prompt": prompt, "completion": _assistant(prompter, action), "label": desirable})
    return records, flipped


def preference_dataset(env_id: str, prompter: Prompter, *, labels: str = "outcome", flip: float = 0.0,
                       kind: str = "prefs", split: str = "train", seeds: Sequence[int] | None = None,
                       episodes: int | None = None, states: Sequence[VisitedState] | None = None,
                       states_from: str = "oracle", pairs_per_state: int | None = 1, seed: int = 0,
                       reward_kwargs: dict[str, Any] | None = None, env_kwargs: dict[str, Any] | None = None,
                       max_steps: int | None = None) -> Dataset:
    """Step preferences: at each state the admissible actions ranked by the label source ``labels``.

    Args:
        labels: ``outcome``, ``rollout``, ``aspect:NAME`` or a reward variant (see the module docstring);
            ``reward_kwargs`` configure the variant (e.g. ``weighted``'s aspect weights).
        flip: a simulated noisy labeller: each pair is swapped (KTO: each label negated) with this probability.
        kind: ``prefs`` (prompt/chosen/rejected) or ``kto`` (prompt/completion/label: the preferred action
            desirable, the worse ones undesirable).
        states: where to ask (default: the oracle's states on ``split``); ``states_from`` names their policy.
        pairs_per_state: worse actions drawn per state (None: all of them); ties at the top give no pair.
        seed: seeds the draws and the flips (each state's draw depends on the state alone).
    """
    if kind not in ("prefs", "kto"):
        raise AgentGymError(f"kind must be 'prefs' or 'kto', not {kind!r}")
    if not 0.0 <= flip <= 1.0:
        raise AgentGymError(f"flip must be a probability in [0, 1], not {flip}")
    seeds = split_seeds(env_id, split, seeds, episodes)
    if states is None:
        states = oracle_states(env_id, seeds, env_kwargs=env_kwargs, max_steps=max_steps)
        states_from = "oracle"
    card = env_spec(env_id).card
    source = label_source(labels, env_id, reward_kwargs=reward_kwargs, env_kwargs=env_kwargs)
    records: list[dict[str, Any]] = []
    tied = flipped = 0
    try:
        for situation in situations(env_id, states, env_kwargs=env_kwargs):
            candidates = _candidates(env_id, situation)
            if len(candidates) < 2:
                continue
            rng = _rng(seed, situation.state)
            pairs = rank_pairs(candidates, source.scores(situation, candidates), rng, pairs_per_state,
                               source.preferred(situation, candidates))
            tied += not pairs
            found, flips = _examples(kind, prompter.chat(situation.turns, situation.observation, card), pairs,
                                     prompter, rng, flip)
            records += found
            flipped += flips
    finally:
        source.close()
    provenance = _provenance(env_id, split, {state.seed for state in states}, states_from, label_source=labels,
                             reward_kwargs=reward_kwargs or {}, flip=flip, flipped=flipped,
                             pairs_per_state=pairs_per_state, states_without_pairs=tied, seed=seed,
                             prompter=_prompter_tag(prompter))
    return Dataset(kind, records, provenance)
