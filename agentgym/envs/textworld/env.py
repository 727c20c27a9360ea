"""TextWorld games under the agentgym contract: text and vector views, walkthrough oracle.

The episode seed *is* the game seed: ``reset(seed=s)`` plays the game generated with seed ``s``
(see :mod:`agentgym.envs.textworld.generate`; generated once, then cached). A game plays the
same every time, so ``reset()`` without a seed replays the current game (before any, the first
train seed): pass seeds to vary games, as agentgym's runner and SB3 training (``TrainSplitSeeds``)
do. The game runs in TextWorld's own interpreter through ``textworld.start``.

Actions are the game's admissible commands (TextWorld's list, sorted), at most ``max_commands``
of them (beyond that, ``examine ...`` commands are dropped first, then the list is cut; the
oracle never needs an ``examine``). Text matching one of them, ignoring case, repeated spaces,
quotes and a final period, is played. Any other text is an invalid action: it is counted,
``validity`` is -1 and the game state does not change, but the observation shows what the game
would have answered (the text is tried on a snapshot of the interpreter, then rolled back).
Meta-commands (``save``, ``restore``, ``script``, ``quit``, ``restart``, ``undo``, ``verbose`` and the
rest of the Inform library's out-of-world and debugging verbs, see :data:`META_VERBS`) never reach
the interpreter: they are invalid actions, not probed (``save`` and ``script`` would write files
into the working directory), and never among the playable commands.

Example:
    >>> env = TextWorldEnv(view="text", params={"world_size": 1, "nb_objects": 2, "quest_length": 1})
    >>> obs, info = env.reset(seed=0)
    >>> obs.startswith("Goal:"), "look" in info["admissible_actions"]
    (True, True)
"""

from __future__ import annotations

import re
import warnings
from collections import Counter
from typing import Any, ClassVar

import numpy as np

from agentgym.envs.base import AgentGymEnv, Transition
from agentgym.envs.textworld.featurize import Featurizer
from agentgym.envs.textworld.generate import GAME_FILE, ensure_game, game_request

PROBE_MAX_CHARS = 150
META_VERBS = frozenset({
    # the Inform library's out-of-world actions (Inform 7 standard rules; Inform 6 library meta verbs)
    "save", "restore", "load", "restart", "quit", "q", "die", "end", "verify", "undo", "oops", "o", "again", "g",
    "script", "transcript", "unscript", "noscript", "verbose", "long", "brief", "normal", "superbrief", "short",
    "notify", "pronouns", "nouns", "score", "full", "fullscore", "version",
    # debugging verbs of Inform's debug builds (recording and replay read and write files)
    "recording", "replay", "random", "trace", "actions", "rules", "scenes", "purloin", "abstract", "gonear",
    "showme", "showverb", "showheap", "tree", "test", "relations", "responses", "routines", "messages",
    "changes", "timers", "daemons", "glklist", "goto", "xpurloin", "xtree", "xabstract", "scope", "debug",
})
"""First words of commands that never reach the interpreter (the TextWorld interpreter's own list of
out-of-world verbs, plus the library's debugging verbs in case a game was compiled with them)."""
FILE_VERBS = frozenset({"save", "restore", "load", "script", "transcript", "unscript", "noscript", "recording",
                        "replay"})
"""Verbs that read or write files: a probe naming one anywhere (even as a noun) is not sent."""
_CLAUSE_BREAK = re.compile(r"[.,;:!?]|\bthen\b")
DICT_CHARS = 9
_BANNER_LINE = re.compile(r"^[\s_|\\/$<>]*[_|\\/$][\s_|\\/$<>]*$")
_DEBUG_TAG = re.compile(r"\[[^\]\n]+\]\n?")
_EXTRA_INFO = re.compile(r"<(inventory|description|score|moves)>.*?</\1>", re.DOTALL)
_STATUS = re.compile(r"\s{2,}-= [^\n]*=-\s*-?\d+/\d+\s*$")  # the status line, after a yes/no question


def _is_verb(word: str, verbs: frozenset[str]) -> bool:
    # the Z-machine dictionary keeps 9 characters: "transcriptxyz" is "transcript" to the game
    return word in verbs or (len(word) >= DICT_CHARS and any(word[:DICT_CHARS] == v[:DICT_CHARS] for v in verbs))


def is_meta_command(text: str, *, anywhere: bool = False) -> bool:
    """Whether ``text`` holds a meta-command: one of its clauses (Inform runs ``look. save`` and
    ``x me then save`` as two commands) starts with a verb of :data:`META_VERBS`. With ``anywhere``,
    a verb of :data:`FILE_VERBS` anywhere in the text counts too."""
    for clause in _CLAUSE_BREAK.split(text.lower()):
        words = re.findall(r"[a-z0-9]+", clause)
        if words and _is_verb(words[0], META_VERBS):
            return True
        if anywhere and any(_is_verb(word, FILE_VERBS) for word in words):
            return True
    return False


def squeeze(text: str) -> str:
    """Text with trailing spaces and runs of blank lines removed."""
    return re.sub(r"\n{3,}", "\n\n", "\n".join(line.rstrip() for line in (text or "").split("\n"))).strip()


def clean_feedback(text: str) -> str:
    """The game's text without TextWorld's banner, the prompt and status line, or debug tags."""
    text = _EXTRA_INFO.sub("", _DEBUG_TAG.sub("", text or ""))
    lines = text.rstrip().split("\n")
    if lines and lines[-1].lstrip().startswith(">"):
        lines.pop()  # the prompt, followed by the status line "-= Room =-score/moves"
    lines = [line for line in lines if not (_BANNER_LINE.match(line) or line.startswith("Would you like to RESTART"))]
    return squeeze(_STATUS.sub("", "\n".join(lines)))


class TextWorldEnv(AgentGymEnv):
    """Play a generated TextWorld game: reach the goal (win) within the step limit.

    Reward vector: ``task`` = points scored this step (+ ``win_bonus`` on winning); ``progress``
    = points this step / the game's max score (sums to the final share); ``efficiency`` =
    ``-step_cost`` per played command; ``validity`` = -1 on an invalid action. The native scalar
    reward is TextWorld's own: the points scored this step. Success: the game is won; progress:
    score / max score. Losing (cooking: burning or eating the wrong thing) ends the episode.
    """

    aspects = ("task", "progress", "efficiency", "validity")
    REQUEST: ClassVar[dict[str, bool]] = {
        "feedback": True, "description": True, "inventory": True, "objective": True, "score": True,
        "max_score": True, "admissible_commands": True, "policy_commands": True, "won": True, "lost": True}

    def __init__(self, view: str = "vector", generator: str = "custom", params: dict[str, Any] | None = None,
                 max_commands: int = 64, step_cost: float = 0.01, win_bonus: float = 1.0,
                 render_mode: str | None = None) -> None:
        self.request = game_request(generator, params)
        self.featurizer = Featurizer(max_commands)
        super().__init__(view=view, n_actions=int(max_commands), render_mode=render_mode,
                         vector_observation_space=self.featurizer.space)
        self.step_cost, self.win_bonus = float(step_cost), float(win_bonus)
        self._game: Any = None
        self._game_path = ""
        self.game_seed: int | None = None
        self._state: Any = None
        self._commands: list[str] = []
        self._tried: Counter[str] = Counter()
        self._text = ""
        self._probe: str | None = None
        self._last_command = ""

    # ----------------------------------------------------------------- game
    def _load(self, seed: int) -> None:
        import textworld  # noqa: PLC0415 - optional textworld

        path = str(ensure_game(self.request, seed) / GAME_FILE)
        if path != self._game_path:
            self.close()
            with warnings.catch_warnings():  # jericho: "not fully supported"; TextWorld tracks the state itself
                warnings.simplefilter("ignore")
                self._game = textworld.start(path, request_infos=textworld.EnvInfos(**self.REQUEST))
            self._game.seed(1)  # the interpreter's RNG: fixed, so a game plays the same every time
            self._game_path = path
        self.game_seed = seed

    def _observe(self, state: Any) -> None:
        self._state = state
        self._text = clean_feedback(state["feedback"])
        if self._last_command == "" and state["objective"]:  # the intro repeats the goal, shown apart
            self._text = self._text.replace(state["objective"].strip(), "").strip()
        commands = sorted({c for c in state["admissible_commands"] or [] if not is_meta_command(c)}) or ["look"]
        if len(commands) > self.n_actions:
            kept = [c for c in commands if not c.startswith("examine ")]
            commands = (kept + [c for c in commands if c.startswith("examine ")])[:self.n_actions]
            commands.sort()
        self._commands = commands

    @property
    def done(self) -> bool:
        return bool(self._state is not None and (self._state["won"] or self._state["lost"]))

    # ----------------------------------------------------------------- hooks
    def _reset_state(self, seed: int | None, options: dict[str, Any] | None) -> None:
        if seed is None:  # replay the current game; before any, the first train seed
            seed = self.game_seed if self.game_seed is not None else (
                self.card.splits["train"].start if self.card is not None else 0)
        self._load(int(seed))
        self._tried = Counter()
        self._probe, self._last_command = None, ""
        self._observe(self._game.reset())

    def _apply(self, action: int) -> Transition:
        vector = dict.fromkeys(self.aspects, 0.0)
        if self.done:  # stepping past the end: nothing happens
            return 0.0, vector, True
        command = self._commands[action]
        before = int(self._state["score"] or 0)
        self._tried[command] += 1
        self._last_command = command
        state, _, _ = self._game.step(command)
        self._observe(state)
        points = float(int(state["score"] or 0) - before)
        vector["task"] = points + (self.win_bonus if state["won"] else 0.0)
        vector["progress"] = points / self.max_score
        vector["efficiency"] = -self.step_cost
        return points, vector, self.done

    @property
    def max_score(self) -> float:
        return float(max(int(self._state["max_score"] or 1), 1))

    def step(self, action: Any):
        self._probe = None
        if self.view == "text" and isinstance(action, str) and not self.done and self.read_action(action) is None:
            self._probe = self._ask_game(action)
        return super().step(action)

    def _ask_game(self, text: str) -> str:
        """What the game answers to ``text``, asked on a snapshot of the interpreter that is then restored.
        Meta-commands are never sent (see the module doc)."""
        # printable ASCII only, and no backslash: the interpreter (dumb frotz) reads "\\x" and co. as its own commands
        cleaned = " ".join("".join(c if c.isascii() and c.isprintable() and c != "\\" else " " for c in text).split())
        cleaned = cleaned[:PROBE_MAX_CHARS]
        if is_meta_command(cleaned, anywhere=True):
            return "(nothing: meta-commands such as save, restore, script, quit or undo are never sent to the game)"
        frotz = self._game.unwrapped._jericho
        saved = frotz.get_state()
        try:
            answer, *_ = frotz.step(cleaned)
        except Exception as exc:  # the interpreter refusing odd input must not end the episode
            answer = f"(the game could not read it: {type(exc).__name__})"
        finally:
            frotz.set_state(saved)
        return clean_feedback(answer) or "(no answer)"

    def _match_label(self, text: str) -> int | None:
        text = " ".join(text.split())
        if any(c.isdigit() and not (c.isascii() and c.isdecimal()) for c in text):
            return None  # "²" is a digit to str.isdigit but not to int(): no command has one anyway
        return super()._match_label(text)

    def vector_observation(self) -> np.ndarray:
        limit = self._max_steps or 100
        state = self._state
        return self.featurizer.encode(
            goal=state["objective"] or "", room=f"{self._text}\n{state['description'] or ''}",
            inventory=state["inventory"] or "", commands=self._commands, tried=self._tried,
            shares=(float(state["score"] or 0) / self.max_score, self._elapsed / limit))

    def text_observation(self) -> str:
        state = self._state
        parts = []
        if self._probe is not None:
            parts.append(f"The game's answer to it: {self._probe}")
        parts.append(f"Goal: {state['objective']}")
        if self._last_command:
            parts.append(f"> {self._last_command}")
        parts.append(self._text)
        description = squeeze(state["description"])
        if description and " ".join(description.split()) not in " ".join(self._text.split()) and not self.done:
            parts.append(f"Room: {description}")
        parts.append(f"Inventory: {squeeze(state['inventory'])}")
        parts.append(f"Score: {int(state['score'] or 0)} of {int(self.max_score)} points.")
        return "\n".join(parts)

    def action_labels(self) -> list[str]:
        return self._commands + [""] * (self.n_actions - len(self._commands))

    def action_mask(self) -> np.ndarray:
        mask = np.zeros(self.n_actions, dtype=bool)
        mask[:len(self._commands)] = True
        return mask

    def outcome(self) -> tuple[bool, float]:
        score = float(self._state["score"] or 0)
        return bool(self._state["won"]), min(max(score / self.max_score, 0.0), 1.0)

    def walkthrough(self) -> list[str]:
        """TextWorld's remaining walkthrough from the current state (empty once won, lost or unwinnable)."""
        return list(self._state["policy_commands"] or []) if self._state is not None else []

    def oracle_action(self) -> int:
        """TextWorld's walkthrough from the current state (replanned after any detour); "look" if it has none."""
        for command in [*self.walkthrough()[:1], "look", "inventory"]:
            if command in self._commands:
                return self._commands.index(command)
        return 0

    def close(self) -> None:
        if self._game is not None:
            self._game.close()
        self._game, self._game_path = None, ""
        super().close()
