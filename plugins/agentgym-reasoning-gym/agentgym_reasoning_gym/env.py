"""One reasoning-gym task as an agentgym env: the question is the observation, the answer the action.

reasoning-gym (https://github.com/open-thought/reasoning-gym) generates procedural questions with
reference answers and a verifier, ``dataset.score_answer(answer, entry)`` in [0, 1]. This wrapper:

- maps the episode seed to reasoning-gym dataset seeds so that the card's train and test splits
  never share a question (see :meth:`ReasoningGymEnv.draw`);
- scores every answer with the task's own ``score_answer``: success is a full score, progress the
  best score reached (a partial score where the task gives one);
- allows several attempts with feedback (``attempts`` keyword; the text observation lists the
  earlier answers and their scores);
- text view: free text is the answer (empty or over-long text is an invalid action, anything else is
  scored: ``free_text_answers``); where the answer space is small and enumerable (the spec lists it in
  ``answers``), that list is the admissible one and text naming none of it is an invalid action;
- vector view, only for those enumerable tasks: ``Discrete(len(answers))`` picks an answer; the
  observation is hashed word and word-pair counts of the question, the answers already tried and the
  share of attempts left;
- oracle: the task's reference answer;
- what third-party code breaks is mended here: questions are made printable ASCII (the text
  spaces' charset), answers that a verifier would ``eval`` are screened (``answer_pattern``), a
  verifier that raises scores 0, and generation runs under a seeded, then restored, global RNG.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import itertools
import json
import math
import random
import re
import string
import unicodedata
import zlib
from typing import Any

import gymnasium as gym
import numpy as np
import reasoning_gym
from reasoning_gym.factory import DATASETS

from agentgym.envs.base import TEXT_MAX_LENGTH, AgentGymEnv, Transition, describe_action

HELDOUT_FROM = 1_000_000
"""Episode seeds from here on draw held-out (test-side) questions; below it, training-side ones."""
TRIES = 64
"""Dataset seeds tried per episode seed: ``seed * TRIES + k`` for k = 0, 1, ..."""
DECOY_SEED = 2_000_000_000
"""Dataset seeds of the decoy answers (the text view's menu where answers are not enumerable)."""
DECOYS = 8
MAX_ATTEMPTS = 8
FEATURES = 256
"""Hashed question features of the vector observation."""

PRINTABLE = frozenset(string.printable)
TRANSLITERATION = {
    "\u00d7": "x", "\u2192": "->", "\u2190": "<-", "\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"',
    "\u2013": "-", "\u2014": "-", "\u2212": "-", "\u2026": "...", "\u00b7": ".", "\u00f7": "/", "\u2264": "<=",
    "\u2265": ">=", "\u2260": "!=", "\u00a0": " ",
}


def printable(text: str, mapping: dict[str, str] | None = None) -> str:
    """``text`` in the Text spaces' charset (``string.printable``): ``mapping`` first, then common symbols
    transliterated, accents dropped, anything else as a backslash escape."""
    for symbol, replacement in (mapping or {}).items():
        text = text.replace(symbol, replacement)
    out = []
    for char in text:
        if char in PRINTABLE:
            out.append(char)
        elif char in TRANSLITERATION:
            out.append(TRANSLITERATION[char])
        else:
            folded = unicodedata.normalize("NFKD", char).encode("ascii", "ignore").decode()
            out.append(folded if folded and set(folded) <= PRINTABLE else ascii(char)[1:-1])
    return "".join(out)


def heldout(question: str) -> bool:
    """Whether a question belongs to the held-out half of question space (half by SHA-256 of its text)."""
    return hashlib.sha256(question.encode("utf-8")).digest()[0] >= 128


@functools.lru_cache(maxsize=4096)
def generate(task: str, config_json: str, dataset_seed: int) -> tuple[Any, dict[str, Any]]:
    """reasoning-gym's item 0 of ``task`` under ``dataset_seed`` (cached), with its dataset (the verifier).

    Python's and NumPy's global generators are seeded from ``dataset_seed`` for the call and restored
    after it, so a task that draws from them is deterministic too and leaves no trace on the caller.
    """
    python_state, numpy_state = random.getstate(), np.random.get_state()
    random.seed(dataset_seed)
    np.random.seed(dataset_seed % 2**32)
    try:
        dataset = reasoning_gym.create_dataset(task, seed=dataset_seed, size=1, **json.loads(config_json))
        entry = dataset[0]
    finally:
        random.setstate(python_state)
        np.random.set_state(numpy_state)
    return dataset, entry


@functools.lru_cache(maxsize=256)
def decoys(task: str, config_json: str, mapping_json: str) -> tuple[str, ...]:
    """Well-formed wrong-in-general answers: the reference answers of ``DECOYS`` items outside every split."""
    mapping = json.loads(mapping_json)
    seen: dict[str, None] = {}
    for k in range(DECOYS):
        seen[printable(str(generate(task, config_json, DECOY_SEED + k)[1]["answer"]), mapping)] = None
    return tuple(seen)


def features(text: str) -> np.ndarray:
    """Counts of hashed lower-case words and word pairs (CRC-32 buckets), each capped at 4 and scaled to [0, 1]."""
    tokens = re.findall(r"[a-z0-9]+|[^\sa-z0-9]", text.lower())
    grams = tokens + [f"{a} {b}" for a, b in itertools.pairwise(tokens)]
    counts = np.zeros(FEATURES, dtype=np.float32)
    for gram in grams:
        counts[zlib.crc32(gram.encode()) % FEATURES] += 1.0
    return np.minimum(counts, 4.0) / 4.0


class ReasoningGymEnv(AgentGymEnv):
    """A reasoning-gym task under the agentgym contract. See the module docstring and the cards."""

    aspects = ("task", "progress", "validity")
    free_text_answers = True
    """Whether any non-empty text is an answer (scored by the verifier) rather than an invalid action: true
    for free-answer tasks, false (set per instance) where the spec lists the answers."""

    def __init__(
        self,
        view: str = "text",
        task: str = "chain_sum",
        config: dict[str, Any] | None = None,
        attempts: int = 1,
        answers: list[str] | None = None,
        ascii_map: dict[str, str] | None = None,
        answer_pattern: str | None = None,
        screened_score: float = 0.0,
        max_answer_chars: int = TEXT_MAX_LENGTH,
        heldout_from: int = HELDOUT_FROM,
        render_mode: str | None = None,
    ) -> None:
        if task not in DATASETS:
            raise ValueError(f"unknown reasoning-gym task {task!r}")
        if not 1 <= int(attempts) <= MAX_ATTEMPTS:
            raise ValueError(f"attempts must lie in 1..{MAX_ATTEMPTS}, not {attempts!r}")
        if view == "vector" and not answers:
            raise ValueError(f"{task}: the vector view needs an enumerable answer list (answers=...)")
        self.task = task
        self.config = dict(config or {})
        self._config_json = json.dumps(self.config, sort_keys=True)
        self.attempts = int(attempts)
        self.answers = [str(a) for a in answers] if answers else None
        self.free_text_answers = self.answers is None
        self.ascii_map = dict(ascii_map or {})
        self.answer_pattern = re.compile(answer_pattern) if answer_pattern else None
        self.screened_score = float(screened_score)
        self.max_answer_chars = int(max_answer_chars)
        self.heldout_from = int(heldout_from)
        n_answers = len(self.answers) if self.answers else 1
        space = gym.spaces.Box(0.0, 1.0, (FEATURES + n_answers + 1,), np.float32)
        super().__init__(view=view, n_actions=n_answers, vector_observation_space=space, render_mode=render_mode)
        self.episode_seed: int | None = None
        self.dataset_seed: int | None = None
        self._dataset: Any = None
        self._entry: dict[str, Any] = {}
        self._question = ""
        self._features = np.zeros(FEATURES, dtype=np.float32)
        self._history: list[tuple[str, float, str | None]] = []
        self._best = 0.0
        self._solved = False
        self._left = self.attempts
        self._last_score: float | None = None

    # ------------------------------------------------------------------ seeds
    def draw(self, seed: int) -> tuple[int, Any, dict[str, Any]]:
        """The dataset seed, dataset and item of episode ``seed``.

        Episode seed ``s`` tries dataset seeds ``s * TRIES + k`` (k = 0, 1, ...) and keeps the first
        whose question falls in the half of question space of its side: held-out (``heldout``) for
        ``s >= heldout_from`` (the card's test split), the other half below (the train split). Some
        tasks repeat questions across dataset seeds (Tower of Hanoi has under a hundred); this keeps
        the train and test splits disjoint in content, not only in seeds.
        """
        want = seed >= self.heldout_from
        for k in range(TRIES):
            dataset_seed = seed * TRIES + k
            dataset, entry = generate(self.task, self._config_json, dataset_seed)
            if heldout(entry["question"]) == want:
                return dataset_seed, dataset, entry
        raise RuntimeError(f"{self.task}: no {'held-out' if want else 'training'} question in {TRIES} dataset seeds "
                           f"of episode seed {seed}")

    # ------------------------------------------------------------------ hooks
    def _reset_state(self, seed: int | None, options: dict[str, Any] | None) -> None:
        if seed is None:
            seed = int(self.np_random.integers(0, self.heldout_from))
        self.episode_seed = int(seed)
        self.dataset_seed, self._dataset, entry = self.draw(self.episode_seed)
        self._entry = copy.deepcopy(entry)
        self._question = printable(str(entry["question"]), self.ascii_map)
        self._features = features(self._question)
        self._history = []
        self._best = 0.0
        self._solved = False
        self._left = self.attempts
        self._last_score = None

    def parse_action(self, action: Any) -> Any:
        """Vector view: an answer index. Text view, enumerable answers: the listed answer the text names
        (case, surrounding quotes and a final period ignored), else None. Text view, free answers: the text
        itself (stripped, made printable), or None when it is not a string, empty, or longer than
        ``max_answer_chars``: any other text is an answer, which the verifier scores."""
        if self.view == "vector":
            return super().parse_action(action)
        if not isinstance(action, str) or len(action) > self.max_answer_chars:
            return None
        if self.answers is not None:
            cleaned = action.strip().strip("`'\"").strip().rstrip(".").strip().lower()
            matches = [a for a in self.answers if a.lower() == cleaned]
            return matches[0] if matches else None
        return printable(action).strip() or None

    def _apply(self, action: Any) -> Transition:
        shown = self.answers[int(action)] if self.view == "vector" else str(action)
        score, error = self.score(shown)
        gain = max(0.0, score - self._best)
        self._best = max(self._best, score)
        full = score >= 1.0 - 1e-9
        self._solved = self._solved or full
        self._left -= 1
        self._history.append((shown, score, error))
        self._last_score = score
        vector = {"task": 1.0 if full else 0.0, "progress": gain, "validity": 0.0}
        return gain, vector, full or self._left == 0

    def score(self, shown: str) -> tuple[float, str | None]:
        """reasoning-gym's score of an answer as the agent wrote it (printable form): (score in [0, 1], error).

        The printable form is mapped back (``ascii_map``) first. An answer that does not fully match
        ``answer_pattern`` never reaches the verifier (some verifiers ``eval`` the answer) and scores
        ``screened_score``, what the verifier gives an unparseable answer; a verifier that raises scores 0.
        """
        answer = shown
        for symbol, replacement in self.ascii_map.items():
            answer = answer.replace(replacement, symbol)
        if self.answer_pattern is not None and not self.answer_pattern.fullmatch(answer):
            return self.screened_score, "screened"
        try:
            value = float(self._dataset.score_answer(answer, self._entry))
        except Exception as exc:  # a third-party verifier that raises on odd text: a wrong answer
            return 0.0, f"verifier raised {type(exc).__name__}"
        if not math.isfinite(value):
            return 0.0, "verifier returned a non-finite score"
        return min(1.0, max(0.0, value)), None

    def reference_answer(self) -> str:
        """The task's reference answer, in the form an agent types it (printable, ``ascii_map`` applied)."""
        return printable(str(self._entry["answer"]), self.ascii_map)

    def oracle_action(self) -> int:
        if self.answers is None:
            raise NotImplementedError(f"{self.task}: answers are free text; use oracle()")
        return self.answers.index(self.reference_answer())

    def oracle(self) -> Any:
        """The reference answer: its index in the vector view, its text in the text view."""
        return self.oracle_action() if self.view == "vector" else self.reference_answer()

    def action_labels(self) -> list[str]:
        """The enumerable answers, or (free-text tasks) a menu of decoys: reference answers of other items."""
        if self.answers is not None:
            return list(self.answers)
        return list(decoys(self.task, self._config_json, json.dumps(self.ascii_map, sort_keys=True)))

    def admissible_actions(self) -> list[str] | None:
        return list(self.answers) if self.answers is not None else None

    def outcome(self) -> tuple[bool, float]:
        return self._solved, float(min(1.0, max(0.0, self._best)))

    def vector_observation(self) -> np.ndarray:
        tried = np.zeros(self.n_actions, dtype=np.float32)
        for shown, _, _ in self._history:
            if self.answers is not None and shown in self.answers:
                tried[self.answers.index(shown)] = 1.0
        left = np.array([self._left / self.attempts], dtype=np.float32)
        return np.concatenate([self._features, tried, left])

    def text_observation(self) -> str:
        lines = [self._question.rstrip()]
        for number, (shown, score, _) in enumerate(self._history, start=1):
            verdict = "correct" if score >= 1.0 - 1e-9 else "not correct"
            lines.append(f"Attempt {number}: {describe_action(shown)!a} scored {score:.2f} of 1 ({verdict}).")
        if self._solved or self._left == 0:
            lines.append("The episode is over.")
        else:
            lines.append(f"Attempts left: {self._left} of {self.attempts}. Reply with the answer only.")
        return printable("\n".join(lines))

    # ------------------------------------------------------------- gym API
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        observation, info = super().reset(seed=seed, options=options)
        info["dataset_seed"] = self.dataset_seed
        return observation, info

    def step(self, action: Any):
        self._last_score = None
        observation, reward, terminated, truncated, info = super().step(action)
        info["dataset_seed"] = self.dataset_seed
        info["score"] = self._last_score
        if self._history and self._last_score is not None and self._history[-1][2]:
            info["score_note"] = self._history[-1][2]
        return observation, reward, terminated, truncated, info
