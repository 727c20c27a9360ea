"""The JSON Schemas of results.json and leaderboard.json, and the checks the schemas cannot express."""

from __future__ import annotations

import functools
import json
import math
import re
from datetime import datetime
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator

from agentgym.core.errors import SubmissionError

RESULTS_SCHEMA_VERSION = 1
BOARD_SCHEMA_VERSION = 1
SCHEMA_NAMES = ("results", "leaderboard")
CI_TOLERANCE = 1e-9
_MAX_LISTED = 50  # problems spelled out in an error message; the rest are counted
_MAX_PROBLEM_CHARS = 300
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def schema_text(name: str) -> str:
    """The text of the packaged schema ``name`` (``results`` or ``leaderboard``)."""
    if name not in SCHEMA_NAMES:
        raise ValueError(f"no schema {name!r}; expected one of {SCHEMA_NAMES}")
    return resources.files("agentgym.leaderboard").joinpath("schemas", f"{name}.schema.json").read_text("utf-8")


@functools.cache
def _validator(name: str) -> Draft202012Validator:
    schema = json.loads(schema_text(name))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def load_schema(name: str) -> dict:
    """The packaged schema ``name`` (``results`` or ``leaderboard``) as a dict (a fresh copy)."""
    return json.loads(schema_text(name))


class _Constant:
    """Stands in for a NaN/Infinity token while parsing, so that its JSON path can be reported."""

    def __init__(self, token: str) -> None:
        self.token = token


def parse_json(text: str, what: str = "file") -> Any:
    """Parse strict JSON: NaN, Infinity and -Infinity are refused, with their JSON paths.

    Raises:
        SubmissionError: ``text`` is not valid JSON.
    """
    try:
        data = json.loads(text, parse_constant=_Constant)
    except (ValueError, RecursionError) as err:  # JSONDecodeError is a ValueError
        raise SubmissionError(f"{what} is not valid JSON: {err}") from None
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
        _raise(f"{what} is not valid JSON: NaN, Infinity and -Infinity are refused", sorted(found))
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


def _structure_problems(data: Any) -> tuple[list[str], list[str]]:
    """Walk ``data`` (without recursion): (non-JSON structure problems, non-finite number problems)."""
    structure: list[str] = []
    non_finite: list[str] = []
    stack: list[tuple[tuple, Any]] = [((), data)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, float):
            if not math.isfinite(value):
                non_finite.append(f"{json_path(path)}: {value!r} is not a finite number (NaN/Infinity are refused)")
        elif isinstance(value, dict):
            for key, item in value.items():
                if not isinstance(key, str):
                    structure.append(f"{json_path(path)}: key {key!r} is not a string")
                else:
                    stack.append(((*path, key), item))
        elif isinstance(value, list):
            stack.extend(((*path, i), item) for i, item in enumerate(value))
        elif value is not None and not isinstance(value, (str, int, bool)):
            structure.append(f"{json_path(path)}: {type(value).__name__} is not a JSON value")
    return structure, sorted(non_finite)


def _schema_problems(name: str, data: Any) -> list[str]:
    return [_short(f"{json_path(err.absolute_path)}: {err.message}") for err in _validator(name).iter_errors(data)]


def _raise(what: str, problems: list[str]) -> None:
    listed = "\n".join(f"  - {p}" for p in problems[:_MAX_LISTED])
    more = f"\n  ... and {len(problems) - _MAX_LISTED} more" if len(problems) > _MAX_LISTED else ""
    err = SubmissionError(f"{what} ({len(problems)} problem{'s' if len(problems) != 1 else ''}):\n{listed}{more}")
    err.problems = list(problems)
    raise err


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _ci_problems(path: tuple, interval: Any) -> list[str]:
    """ci_low <= mean <= ci_high (within CI_TOLERANCE) for an interval dict whose three values are numbers."""
    if not isinstance(interval, dict):
        return []
    values = [interval.get(k) for k in ("ci_low", "mean", "ci_high")]
    if not all(_is_number(v) and (not isinstance(v, float) or math.isfinite(v)) for v in values):
        return []
    low, mean, high = values
    problems = []
    if _above(low, mean):
        problems.append(f"{json_path(path)}: ci_low {low!r} is above mean {mean!r}")
    if _above(mean, high):
        problems.append(f"{json_path(path)}: mean {mean!r} is above ci_high {high!r}")
    if _above(low, high) and not problems:
        problems.append(f"{json_path(path)}: ci_low {low!r} is above ci_high {high!r}")
    return problems


def _above(a: float, b: float) -> bool:
    """``a > b + CI_TOLERANCE``, exact for huge integers too."""
    if not a > b:
        return False
    try:
        return a - b > CI_TOLERANCE
    except OverflowError:  # an integer too large for a float: the gap is huge
        return True


def _dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list:
    return value if isinstance(value, list) else []


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _results_semantics(data: dict) -> list[str]:
    problems: list[str] = []
    cells = _list(data.get("cells"))
    seen_cells: dict[str, int] = {}
    pairs: set[str] = set()
    episodes_total, failed_total, counts_known = 0, 0, True
    for i, cell in enumerate(cells):
        if not isinstance(cell, dict):
            counts_known = False
            continue
        parts = [cell.get(k) for k in ("env", "agent", "reward", "split")]
        if all(isinstance(p, str) for p in parts):
            expected = "|".join(parts)
            if isinstance(cell.get("cell"), str) and cell["cell"] != expected:
                problems.append(f"{json_path(('cells', i, 'cell'))}: {cell['cell']!r} should be {expected!r}")
            pairs.add(f"{parts[1]}|{parts[2]}")
            if expected in seen_cells:
                problems.append(f"{json_path(('cells', i))}: cell {expected!r} repeats cells[{seen_cells[expected]}]")
            seen_cells.setdefault(expected, i)
        episodes, failed = _count(cell.get("episodes")), _count(cell.get("failed"))
        if episodes is None or failed is None:
            counts_known = False
        else:
            episodes_total += episodes
            failed_total += failed
            if failed > episodes:
                problems.append(f"{json_path(('cells', i))}: failed {failed} is above episodes {episodes}")
        for name, interval in _dict(cell.get("metrics")).items():
            problems += _ci_problems(("cells", i, "metrics", name), interval)
    n_episodes, n_failed = _count(data.get("n_episodes")), _count(data.get("n_failed"))
    if counts_known and isinstance(data.get("cells"), list):
        if n_episodes is not None and n_episodes != episodes_total:
            problems.append(f"$.n_episodes: {n_episodes} differs from the cells' total of {episodes_total} episodes")
        if n_failed is not None and n_failed != failed_total:
            problems.append(f"$.n_failed: {n_failed} differs from the cells' total of {failed_total} failed episodes")
    if n_episodes is not None and n_failed is not None and n_failed > n_episodes:
        problems.append(f"$.n_failed: {n_failed} is above n_episodes {n_episodes}")
    aggregates = _dict(data.get("aggregates"))
    for key, agg in _dict(aggregates.get("by_agent")).items():
        if cells and pairs and key not in pairs:
            problems.append(f"{json_path(('aggregates', 'by_agent', key))}: no cell has agent|reward {key!r}")
        for name in ("iqm_normalized_score", "mean_success_rate"):
            problems += _ci_problems(("aggregates", "by_agent", key, name), _dict(agg).get(name))
    for i, item in enumerate(_list(aggregates.get("probability_of_improvement"))):
        problems += _ci_problems(("aggregates", "probability_of_improvement", i), item)
    created = _dict(data.get("provenance")).get("created_at")
    if isinstance(created, str) and not _is_timestamp(created):
        problems.append(f"$.provenance.created_at: {created!r} is not an ISO 8601 time stamp")
    return problems


def _is_timestamp(text: str) -> bool:
    try:
        datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
    except ValueError:
        return False
    return True


def validate_results(data: dict) -> None:
    """Check a loaded results.json against the schema and the rules the schema cannot express.

    The rules beyond the schema: no NaN or Infinity anywhere, ``ci_low <= mean <= ci_high``,
    cell ids and counts consistent with ``n_episodes``/``n_failed``, aggregates naming agents
    that have cells, and a parseable ``provenance.created_at``.

    Raises:
        SubmissionError: listing every problem found, each with its JSON path (also in ``err.problems``).
    """
    structure, non_finite = _structure_problems(data)
    if structure:
        _raise("results are not plain JSON data", structure + non_finite)
    if isinstance(data, dict) and "schema_version" in data and data["schema_version"] != RESULTS_SCHEMA_VERSION:
        _raise(
            "results refused",
            [f"$.schema_version: unsupported schema_version {data['schema_version']!r}; "
             f"this agentgym reads version {RESULTS_SCHEMA_VERSION}"],
        )
    problems = non_finite + _schema_problems("results", data)
    if isinstance(data, dict):
        problems += _results_semantics(data)
    if problems:
        _raise("results refused", problems)


def validate_board(data: dict, what: str = "leaderboard") -> None:
    """Check a loaded leaderboard.json against its schema; submission ids must be unique.

    Raises:
        SubmissionError: listing every problem found.
    """
    structure, non_finite = _structure_problems(data)
    problems = structure + non_finite
    if not structure:
        problems += _schema_problems("leaderboard", data)
    seen: set[str] = set()
    for i, sub in enumerate(_list(_dict(data).get("submissions"))):
        sub_id = _dict(sub).get("id")
        if isinstance(sub_id, str):
            if sub_id in seen:
                problems.append(f"{json_path(('submissions', i, 'id'))}: id {sub_id[:12]}... repeats")
            seen.add(sub_id)
    if problems:
        _raise(f"{what} is invalid", problems)
