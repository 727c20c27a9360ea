"""Prompt templates (one per env family, in ``prompts/*.txt``), chat building and answer parsing.

A template file has a ``version: N`` line, then a ``[system]`` and a ``[user]`` section.
``{format}`` in the system text becomes the answer-format instructions, ``{observation}`` in
the user text the env's text observation (which already lists the valid actions). Optional
``[example_observation]``, ``[example_thought]`` and ``[example_action]`` sections make a
one-shot demonstration exchange after the system message (small models need it to keep to
the answer format)::

    version: 1
    [system]
    You are playing a grid game ... {format}
    [user]
    {observation}
    [example_observation]
    You are at cell 1. Valid actions: left, right
    [example_thought]
    The goal is to the right.
    [example_action]
    right
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from agentgym.core.errors import ConfigError
from agentgym.envs.card import EnvCard

FAMILIES = ("classic", "textworld", "games", "tooluse", "planning")
FORMAT_PLAIN = "Reply with exactly one line: Action: <your action, written exactly as listed or as the task says>"
FORMAT_REASONING = (
    "Reply with exactly two lines: first Thought: <one short sentence of reasoning>, "
    "then Action: <your action, written exactly as listed or as the task says>"
)
_SECTION = re.compile(r"^\[(system|user|example_observation|example_thought|example_action)\]\s*$", re.MULTILINE)


@dataclass(frozen=True)
class PromptTemplate:
    """A parsed template; ``tag`` (``name@vN``) identifies it in decisions and results."""

    name: str
    version: int
    system: str
    user: str
    example: tuple[str, str, str] | None = None
    """(observation, thought, action) of the one-shot demonstration, if any."""

    @property
    def tag(self) -> str:
        return f"{self.name}@v{self.version}"

    def system_message(self, reasoning: bool) -> str:
        return self.system.replace("{format}", FORMAT_REASONING if reasoning else FORMAT_PLAIN).strip()

    def user_message(self, observation: str) -> str:
        return self.user.replace("{observation}", str(observation)).strip()


def parse_template(text: str, name: str = "inline") -> PromptTemplate:
    """Parse template text (see the module docstring)."""
    header, *rest = _SECTION.split(text)
    version = re.search(r"^\s*version:\s*(\d+)\s*$", header, re.MULTILINE)
    sections = {key: body.strip() for key, body in zip(rest[::2], rest[1::2])}
    if version is None or not {"system", "user"} <= set(sections) or len(rest) != 2 * len(sections):
        raise ConfigError(f"prompt template {name!r} needs a 'version: N' line, then [system] and [user] sections "
                         "(each once)")
    if "{observation}" not in sections["user"]:
        raise ConfigError(f"prompt template {name!r}: its [user] section must contain {{observation}}")
    example = None
    if "example_observation" in sections and "example_action" in sections:
        example = (sections["example_observation"], sections.get("example_thought", ""), sections["example_action"])
    return PromptTemplate(name, int(version.group(1)), sections["system"], sections["user"], example)


def builtin_template(family: str | None) -> PromptTemplate:
    """The built-in template of an env family (``generic`` for families without one)."""
    name = family if family in FAMILIES else "generic"
    text = (resources.files("agentgym.agents.llm") / "prompts" / f"{name}.txt").read_text(encoding="utf-8")
    return parse_template(text, name)


def load_template(spec: str | None, family: str | None) -> PromptTemplate:
    """The template for ``family`` given a spec's ``prompt``: None (built-in), a family name,
    a file path, or the template text itself (inline in YAML)."""
    if spec is None:
        return builtin_template(family)
    if "[system]" in spec:
        return parse_template(spec, "inline")
    if spec in FAMILIES or spec == "generic":
        return builtin_template(spec)
    path = Path(spec).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"prompt template {spec!r} is not a file, a family name {FAMILIES} or inline text")
    return parse_template(path.read_text(encoding="utf-8"), path.stem)


def visible_history(turns: list, window: int, mode: str = "block") -> list:
    """The earlier turns shown in the prompt.

    ``sliding``: exactly the last ``window`` turns. ``block`` (default): the window moves in
    blocks of ``window`` turns, so between ``window`` and ``2 * window - 1`` turns are shown and
    the prompt only grows between block starts, which lets the backend reuse its prefix cache.
    """
    if window <= 0:
        return []
    if mode == "sliding":
        return turns[-window:]
    return turns[max(0, (len(turns) // window - 1) * window):]


def build_chat(template: PromptTemplate, history: list[tuple[str, str]], observation: str,
               reasoning: bool = False) -> list[dict[str, str]]:
    """System instructions, then (observation, answer) pairs of the shown history, then the observation."""
    chat = [{"role": "system", "content": template.system_message(reasoning)}]
    if template.example is not None:
        observation_text, thought, action = template.example
        answer = f"Thought: {thought}\nAction: {action}" if reasoning and thought else f"Action: {action}"
        chat.append({"role": "user", "content": template.user_message(observation_text)})
        chat.append({"role": "assistant", "content": answer})
    for past_observation, action in history:
        chat.append({"role": "user", "content": template.user_message(past_observation)})
        chat.append({"role": "assistant", "content": f"Action: {action}"})
    chat.append({"role": "user", "content": template.user_message(observation)})
    return chat


class AgentPrompt:
    """The chat the LLM agent sees at a turn, as a function of the episode's turns so far.

    :class:`~agentgym.agents.llm.agent.LLMAgent` builds its chats with it, and
    :mod:`agentgym.train.datasets` builds training prompts with it (its ``Prompter``), so a
    fine-tuned model is trained on exactly the prompts it is played with.

    Example:
        >>> AgentPrompt(history=0).chat([], "You are at cell 0.", None)[-1]
        {'role': 'user', 'content': 'You are at cell 0.'}
    """

    def __init__(self, prompt: str | None = None, history: int = 4, window: str = "block",
                 reasoning: bool = False) -> None:
        self.prompt, self.history, self.window, self.reasoning = prompt, history, window, reasoning
        self._templates: dict[str | None, PromptTemplate] = {}

    @property
    def tag(self) -> str:
        return f"llm-agent(prompt={self.prompt or 'built-in'}, history={self.history}, window={self.window})"

    def template(self, family: str | None) -> PromptTemplate:
        if family not in self._templates:
            self._templates[family] = load_template(self.prompt, family)
        return self._templates[family]

    def chat(self, turns: Sequence[tuple[str, str]], observation: str,
             card: EnvCard | None = None) -> list[dict[str, str]]:
        """``turns``: every earlier (observation, action) of the episode; ``card``: the env's (its family
        picks the template)."""
        family = card.family if card is not None else None
        shown = visible_history(list(turns), self.history, self.window)
        return build_chat(self.template(family), shown, str(observation), self.reasoning)

    def answer(self, action: str) -> str:
        """The answer that takes ``action``, as the agent writes (and scores) it."""
        return f"Action: {action}"


def retry_message(answer: str, admissible: list[str], reasoning: bool) -> str:
    shown = answer if answer.strip() else "(empty)"
    return (f"{shown!r} is not a valid action. Valid actions: {', '.join(admissible)}. "
            + (FORMAT_REASONING if reasoning else FORMAT_PLAIN))


_ACTION = re.compile(r"action\s*:\s*", re.IGNORECASE)
_THOUGHT = re.compile(r"^\s*thought\s*:\s*", re.IGNORECASE)


@dataclass(frozen=True)
class ParsedAnswer:
    """What a model's reply says: the action text to send and the thought before it (if any)."""

    action: str
    rationale: str
    admissible: bool | None
    """True/False when the env listed its valid actions, else None."""


def _clean(text: str) -> str:
    return text.strip().strip("`*'\"<>[]").strip().rstrip(".").strip()


def parse_answer(text: str, admissible: list[str] | None = None) -> ParsedAnswer:
    """Parse ``Thought: ... Action: ...`` (either part optional) from a reply, leniently.

    The action is the rest of the line after the last ``Action:``, else the first non-empty
    line. With a list of valid actions it is mapped onto one of them, ignoring case and
    quotes, or, failing that, onto the longest valid action it mentions as a whole phrase.

    Example:
        >>> parse_answer("Thought: the goal is right.\\nAction: `Right`.", ["left", "right"]).action
        'right'
    """
    matches = list(_ACTION.finditer(text))
    if matches:
        last = matches[-1]
        action = text[last.end():].strip().splitlines()[0] if text[last.end():].strip() else ""
        rationale = _THOUGHT.sub("", text[: last.start()]).strip()
    else:
        lines = [line for line in text.splitlines() if line.strip()]
        action, rationale = (lines[0] if lines else ""), ""
    action = _clean(action)
    if admissible is None:
        return ParsedAnswer(action, rationale, None)
    lowered = {label.lower(): label for label in admissible}
    if action.lower() in lowered:
        return ParsedAnswer(lowered[action.lower()], rationale, True)
    if action.isdigit() and int(action) < len(admissible):  # the env reads a bare number as an index
        return ParsedAnswer(admissible[int(action)], rationale, True)
    mentioned = [label for label in admissible
                 if re.search(rf"(?<!\w){re.escape(label.lower())}(?!\w)", action.lower())]
    if mentioned:
        longest = max(mentioned, key=len)
        if sum(len(label) == len(longest) for label in mentioned) == 1:
            return ParsedAnswer(longest, rationale, True)
    return ParsedAnswer(action, rationale, False)
