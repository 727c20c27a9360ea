"""Parsing an agent's action into a checked tool call, and running the call.

An action is JSON (``{"tool": NAME, "args": {...}}``) or the text form ``name(arg=value, ...)``.
The text form goes through ``ast.parse`` and only a call of a bare tool name with literal string
or number arguments is accepted: nothing is ever evaluated. Anything else (a non-string, malformed
text or JSON, an unknown or unlisted tool, missing, extra, repeated or mistyped arguments, too
long an action or string) raises :class:`InvalidCall`.
"""

from __future__ import annotations

import ast
import json
import math
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from agentgym.envs.tooluse.tools import TOOLS, ToolError, Workspace, shown
from agentgym.envs.tooluse.world import norm

MAX_ACTION_LENGTH = 2000
MAX_STRING_LENGTH = 200
MAX_NUMBER = 1e12
Value = str | int | float


class InvalidCall(ValueError):
    """The action is not a well-formed call of a listed tool."""


def _literal(value: Any) -> Value:
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)):  # bool too; the type check refuses it
        return value
    raise InvalidCall(f"argument values must be plain strings or numbers, not {type(value).__name__}")


@dataclass(frozen=True)
class Call:
    """A validated tool call; arguments in the tool's declared order."""

    tool: str
    args: tuple[tuple[str, Value], ...] = ()

    def kwargs(self) -> dict[str, Value]:
        return dict(self.args)

    def label(self) -> str:
        """Text form that :func:`parse_call` reads back to this call."""
        return f"{self.tool}(" + ", ".join(f"{n}={ascii(v) if isinstance(v, str) else repr(v)}"
                                           for n, v in self.args) + ")"

    def key(self) -> tuple:
        """Identity of the call's meaning: names ignore case and spacing, numbers compare to 1e-6."""
        return (self.tool, tuple((n, norm(v) if isinstance(v, str) else round(float(v), 6)) for n, v in self.args))


def _check_type(tool_name: str, name: str, kind: str, value: Any) -> Value:
    where = f"{tool_name}: argument {name!r}"
    if isinstance(value, str) and "str" in kind:
        if len(value) > MAX_STRING_LENGTH:
            raise InvalidCall(f"{where} is longer than {MAX_STRING_LENGTH} characters")
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool) and kind != "str":
        if not math.isfinite(value) or abs(value) > MAX_NUMBER:
            raise InvalidCall(f"{where} must be a finite number below {MAX_NUMBER:g} in magnitude")
        if kind == "int":
            if value != int(value):
                raise InvalidCall(f"{where} must be a whole number")
            return int(value)
        return value
    raise InvalidCall(f"{where} must be of type {kind}, not {type(value).__name__}")


def bind(tool_name: Any, positional: Iterable[Any], keywords: dict[Any, Any], listed: Iterable[str]) -> Call:
    """Validate a call against the tool's signature; raises :class:`InvalidCall`."""
    listed = tuple(listed)
    if not isinstance(tool_name, str) or tool_name not in listed:
        raise InvalidCall(f"unknown tool {shown(tool_name)}; the tools are {', '.join(listed)}")
    spec = TOOLS[tool_name]
    names = [n for n, _ in spec.params]
    positional = list(positional)
    if len(positional) > len(names):
        raise InvalidCall(f"{tool_name} takes {len(names)} arguments, got {len(positional)} positional ones")
    given = dict(zip(names, positional))
    for name, value in keywords.items():
        if name in given:
            raise InvalidCall(f"{tool_name}: argument {shown(name)} given twice")
        if name not in names:
            raise InvalidCall(f"{tool_name} has no argument {shown(name)}; its signature is {spec.signature()}")
        given[name] = value
    missing = [n for n in names if n not in given]
    if missing:
        raise InvalidCall(f"{tool_name} is missing {', '.join(missing)}; its signature is {spec.signature()}")
    return Call(tool_name, tuple((n, _check_type(tool_name, n, t, given[n])) for n, t in spec.params))


def _from_json(text: str) -> tuple[Any, list, dict]:
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        raise InvalidCall("malformed JSON; write {\"tool\": NAME, \"args\": {...}}") from None
    if not isinstance(data, dict) or "tool" not in data or not set(data) <= {"tool", "args"}:
        raise InvalidCall("a JSON call is an object with the keys \"tool\" and \"args\" only")
    args = data.get("args", {})
    if not isinstance(args, dict):
        raise InvalidCall("\"args\" must be a JSON object of argument names and values")
    return data["tool"], [], {name: _literal(value) for name, value in args.items()}


def _literal_node(node: ast.AST) -> Value:
    if isinstance(node, ast.Constant) and isinstance(node.value, (str, int, float)):
        return node.value
    if (isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd))
            and isinstance(node.operand, ast.Constant)):
        value = node.operand.value
        if isinstance(value, (int, float)) and not isinstance(value, bool):  # a parsed int or float, not a bool
            return -value if isinstance(node.op, ast.USub) else value
    raise InvalidCall(f"arguments must be literal strings or numbers, not {type(node).__name__}")


def _from_text(text: str) -> tuple[Any, list, dict]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tree = ast.parse(text, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError, OverflowError):
        raise InvalidCall("not a tool call; write name(arg=value, ...) or JSON") from None
    call = tree.body
    if not isinstance(call, ast.Call) or not isinstance(call.func, ast.Name):
        raise InvalidCall("not a tool call; write name(arg=value, ...) with a bare tool name")
    if any(k.arg is None for k in call.keywords):
        raise InvalidCall("**keyword unpacking is not allowed")
    return call.func.id, [_literal_node(a) for a in call.args], {k.arg: _literal_node(k.value) for k in call.keywords}


def parse_call(action: Any, listed: Iterable[str]) -> Call:
    """Parse an agent's action into a validated :class:`Call` of a listed tool, or raise :class:`InvalidCall`."""
    if not isinstance(action, str):
        raise InvalidCall(f"an action is a string (a tool call), not {type(action).__name__}")
    text = action.strip().strip("`").strip()
    if len(text) > MAX_ACTION_LENGTH:
        raise InvalidCall(f"the action is longer than {MAX_ACTION_LENGTH} characters")
    if not text:
        raise InvalidCall("empty action; call a tool")
    tool_name, positional, keywords = _from_json(text) if text.startswith("{") else _from_text(text)
    return bind(tool_name, positional, keywords, listed)


def run_tool(ws: Workspace, call: Call) -> tuple[dict[str, Any], bool]:
    """Execute a validated call: (result, ok); a :class:`ToolError` becomes ``{"error": ...}``."""
    try:
        return TOOLS[call.tool].function(ws, **call.kwargs()), True
    except ToolError as exc:
        return {"error": str(exc)}, False
