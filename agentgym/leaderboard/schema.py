"""Checking results.json and leaderboard.json through their typed models (:mod:`agentgym.records`).

A document is refused with every problem listed, each with its JSON path: first what no model can
express (NaN, numbers beyond any range, control or format characters, absurd nesting), then the
model's own checks (types, ranges, names, consistency of counts and ids).
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from typing import Any, NoReturn, TypeVar

from pydantic import BaseModel, ValidationError

from agentgym.core.errors import SubmissionError
from agentgym.records import (
    BOARD_SCHEMA_VERSION,
    MAX_MAGNITUDE,
    MAX_TEXT_CHARS,
    RESULTS_SCHEMA_VERSION,
    Board,
    Results,
    json_schema,
    schema_text,
)

__all__ = ["BOARD_SCHEMA_VERSION", "RESULTS_SCHEMA_VERSION", "json_path", "load_schema", "parse_json",
           "raise_problems", "schema_text", "structure_problems", "validate_board", "validate_results"]

MAX_DEPTH = 32
MAX_INTEGER = 2**53  # beyond it an integer is not exactly a JSON number anywhere else
_MAX_LISTED = 20  # problems spelled out in an error message; the rest are counted
_MAX_PROBLEM_CHARS = 300
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_UNSAFE_CATEGORIES = {"Cc", "Cf", "Co", "Cs", "Cn", "Zl", "Zp"}  # controls, bidi and zero-width, unassigned

Model = TypeVar("Model", bound=BaseModel)


def load_schema(name: str) -> dict:
    """The JSON Schema ``name`` (``results`` or ``leaderboard``), generated from its model."""
    return json_schema(name)


class _Constant:
    """Stands in for a NaN/Infinity token while parsing, so that its JSON path can be reported."""

    def __init__(self, token: str) -> None:
        self.token = token


def parse_json(text: str, what: str = "file") -> Any:
    """Parse strict JSON: NaN, Infinity and -Infinity are refused, with their JSON paths, and so are
    objects that repeat a key.

    Raises:
        SubmissionError: ``text`` is not valid JSON.
    """
    repeated: list[str] = []

    def unique_keys(pairs: list[tuple[str, Any]]) -> dict:
        obj: dict = {}
        for key, value in pairs:
            if key in obj:
                repeated.append(key)
            obj[key] = value
        return obj

    try:
        data = json.loads(text, parse_constant=_Constant, object_pairs_hook=unique_keys)
    except (ValueError, RecursionError) as err:  # JSONDecodeError (and the int digit limit) are ValueErrors
        raise SubmissionError(f"{what} is not valid JSON: {_short(str(err))}") from None
    if repeated:  # parsers differ on which of two equal keys wins: such a document means two things
        shown = ", ".join(sorted({_short(repr(key)) for key in repeated})[:5])
        raise SubmissionError(f"{what} is not valid JSON: a key repeats within one object ({shown})")
    found: list[str] = []
    stack: list[tuple[tuple, Any]] = [((), data)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, _Constant):
            found.append(f"{json_path(path)}: {value.token}")
        elif isinstance(value, dict):
            stack.extend(((*path, k), v) for k, v in value.items())
        elif isinstance(value, list):
            stack.extend(((*path, i), v) for i, v in enumerate(value))
    if found:
        raise_problems(f"{what} is not valid JSON: NaN, Infinity and -Infinity are refused", sorted(found))
    return data


def json_path(parts: Any) -> str:
    """``$.cells[0].metrics["pass^2"]``-style path of a sequence of keys and indices."""
    out = "$"
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif isinstance(part, str) and _IDENTIFIER.match(part):
            out += f".{part}"
        else:
            out += f"[{json.dumps(str(part))}]"
    return out


def _short(text: str) -> str:
    return text if len(text) <= _MAX_PROBLEM_CHARS else text[: _MAX_PROBLEM_CHARS - 3] + "..."


def _unsafe(text: str) -> str | None:
    for char in text:
        if unicodedata.category(char) in _UNSAFE_CATEGORIES:
            return f"U+{ord(char):04X} ({unicodedata.name(char, unicodedata.category(char))})"
    return None


def _leaf_problem(value: Any) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return None if abs(value) <= MAX_INTEGER else "an integer beyond +-2**53 is refused"
    if isinstance(value, float):
        if not math.isfinite(value):
            return f"{value!r} is not a finite number (NaN/Infinity are refused)"
        return None if abs(value) <= MAX_MAGNITUDE else f"{value!r} is beyond +-{MAX_MAGNITUDE:g}"
    if isinstance(value, str):
        if len(value) > MAX_TEXT_CHARS:
            return f"a string of {len(value)} characters, over the limit of {MAX_TEXT_CHARS}"
        unsafe = _unsafe(value)
        return None if unsafe is None else f"holds {unsafe}: control and format characters are refused"
    return f"{type(value).__name__} is not a JSON value"


def structure_problems(data: Any) -> list[str]:
    """What no model can say about ``data``: non-JSON values, unbounded numbers, unsafe text, depth."""
    problems: list[str] = []
    stack: list[tuple[tuple, Any]] = [((), data)]
    while stack:
        path, value = stack.pop()
        if len(path) > MAX_DEPTH:
            problems.append(f"{json_path(path[:MAX_DEPTH])}: nested deeper than {MAX_DEPTH} levels")
            continue
        if isinstance(value, dict):
            for key, item in value.items():
                if not isinstance(key, str):
                    problems.append(f"{json_path(path)}: key {key!r} is not a string")
                    continue
                problem = _leaf_problem(key)
                if problem is not None:
                    problems.append(f"{json_path(path)}: a key {problem}")
                    continue
                stack.append(((*path, key), item))
        elif isinstance(value, list):
            stack.extend(((*path, i), item) for i, item in enumerate(value))
        else:
            problem = _leaf_problem(value)
            if problem is not None:
                problems.append(f"{json_path(path)}: {problem}")
    return sorted(problems)


def _model_problems(model: type[Model], data: Any) -> tuple[Model | None, list[str]]:
    try:
        return model.model_validate(data), []
    except ValidationError as err:
        problems = []
        for error in err.errors(include_url=False):
            message = error["msg"].removeprefix("Value error, ")
            value = error.get("input")
            if error["type"] != "value_error" and not isinstance(value, dict | list):
                message += f", got {_short(repr(value))[:60]}"
            problems.append(_short(f"{json_path(error['loc'])}: {message}"))
        return None, list(dict.fromkeys(problems))


def raise_problems(what: str, problems: list[str]) -> NoReturn:
    listed = "\n".join(f"  - {p}" for p in problems[:_MAX_LISTED])
    more = f"\n  ... and {len(problems) - _MAX_LISTED} more" if len(problems) > _MAX_LISTED else ""
    err = SubmissionError(f"{what} ({len(problems)} problem{'s' if len(problems) != 1 else ''}):\n{listed}{more}")
    err.problems = list(problems)
    raise err


def validate_results(data: Any) -> Results:
    """Check a loaded results.json: plain bounded JSON, this schema version, then the :class:`Results` model.

    Raises:
        SubmissionError: listing every problem found, each with its JSON path (also in ``err.problems``).
    """
    structure = structure_problems(data)
    if structure:
        raise_problems("results refused", structure)
    version = data.get("schema_version") if isinstance(data, dict) else None
    if version is not None and version != RESULTS_SCHEMA_VERSION:
        raise SubmissionError(
            f"results refused: schema_version {version!r} is not accepted; this agentgym reads version "
            f"{RESULTS_SCHEMA_VERSION} (metrics are defined differently since): re-run the suite with it")
    results, problems = _model_problems(Results, data)
    if problems:
        raise_problems("results refused", problems)
    assert results is not None  # no problems: validated
    return results


def validate_board(data: Any, what: str = "leaderboard") -> Board:
    """Check a loaded leaderboard.json against the :class:`Board` model.

    Raises:
        SubmissionError: listing every problem found.
    """
    problems = structure_problems(data)
    board: Board | None = None
    if not problems:
        board, problems = _model_problems(Board, data)
    if problems:
        raise_problems(f"{what} is invalid", problems)
    assert board is not None  # no problems: validated
    return board
