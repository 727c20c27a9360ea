"""Ranking a leaderboard, and showing it as a text table or a Markdown page.

Entries rank only against entries scored on the same tasks: the same suite name and version and
the same set of (env, split) tasks, named by a short hash (the *env set*). Within such a group
verified entries are ranked; unverified ones (no episodes file at submission) are shown apart,
unranked. Every function here is total on any board, valid or not: whatever a stored board holds,
it renders, and every text it prints is escaped (printable ASCII in the terminal; Markdown-safe).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from agentgym.bench.tables import format_interval
from agentgym.core.files import canonical_json, sha256_text

_MAX_CELL = 40  # characters of a free-text column in the text table
_MD_ESCAPES = {"\\": "\\\\", "|": "\\|", "`": "\\`", "*": "\\*", "_": "\\_", "[": "\\[", "]": "\\]", "~": "\\~",
               "<": "&lt;", ">": "&gt;", "&": "&amp;"}


def _dict(value: Any) -> Mapping:
    return value if isinstance(value, Mapping) else {}


def _list(value: Any) -> list:
    return value if isinstance(value, list) else []


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def _text(value: Any, default: str = "?") -> str:
    """A stored value as text; ``default`` for what is not text or a modest number (str() of a huge int raises)."""
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) < 10**18:
        return str(value)
    return default


def _mean(interval: Any) -> float | None:
    return _number(_dict(interval).get("mean"))


def plain(text: Any) -> str:
    """``text`` as printable ASCII on one line: other characters (controls, bidi, zero-width, any
    non-ASCII) shown as ``\\uXXXX`` escapes, runs of white space as one space.

    Example:
        >>> plain("evil\\x1b[31m\\u202eoracle\\nx")
        'evil\\\\x1b[31m\\\\u202eoracle x'
    """
    text = " ".join(str(text).split())
    return "".join(char if " " <= char <= "~" else ascii(char)[1:-1] for char in text)


def md_escape(text: Any) -> str:
    """Text safe inside a Markdown table cell: plain ASCII on one line, no pipes, markup or HTML."""
    return "".join(_MD_ESCAPES.get(char, char) for char in plain(text))


def _code(text: str) -> str:
    """A Markdown code span of an id: only its letters and digits (escapes do not work inside backticks)."""
    return "`" + "".join(char for char in text if char.isascii() and char.isalnum()) + "`"


def env_set_id(envs: Any) -> str:
    """A short id of a set of tasks (``env|split`` labels): entries rank only against the same set."""
    labels = sorted({_text(task) for task in _list(envs)})
    return sha256_text(canonical_json(labels))[:12]


def _version(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 10**18 else -1


def _score_key(row: dict) -> tuple:
    iqm, success = _mean(row["iqm_normalized_score"]), _mean(row["mean_success_rate"])
    return (iqm is None, -(iqm or 0.0), success is None, -(success or 0.0))


def _matches(row: dict, suite: str | None) -> bool:
    return suite is None or suite in (row["suite"], f"{row['suite']}@{row['suite_version']}")


def _row(sub: Mapping, entry: Mapping) -> dict:
    suite = _dict(sub.get("suite"))
    envs = [_text(task) for task in _list(entry.get("envs"))]
    episodes = entry.get("n_episodes")
    return {
        "rank": None,
        "group": "",
        "suite": _text(suite.get("name")),
        "suite_version": _version(suite.get("version")),
        "suite_hash": _text(suite.get("hash"), ""),
        "env_set": env_set_id(envs),
        "agent": _text(entry.get("agent")),
        "reward": _text(entry.get("reward")),
        "envs": envs,
        "n_episodes": episodes if isinstance(episodes, int) and not isinstance(episodes, bool)
        and 0 <= episodes < 10**18 else None,
        "iqm_normalized_score": entry.get("iqm_normalized_score"),
        "mean_success_rate": entry.get("mean_success_rate"),
        "submitted_at": _text(sub.get("submitted_at"), ""),
        "label": sub.get("label") if isinstance(sub.get("label"), str) else None,
        "id": _text(sub.get("id"), ""),
        "episodes_verified": sub.get("episodes_verified") is True,
    }


def ranked_rows(board: Any, suite: str | None = None) -> list[dict]:
    """One row per submission entry, grouped by (suite, version, env set) and ranked within its group.

    Verified entries are ranked by the IQM normalized score's mean, highest first (no score last),
    then by the mean success rate; rows equal on both share a rank (1, 2, 2, 4). Unverified entries
    follow their group's ranked ones with ``rank`` None. Groups come by suite name, newest version
    first, then the env set with the most tasks.

    Args:
        board: A loaded leaderboard.
        suite: Keep only this suite, given as ``name`` or ``name@version``.
    """
    rows = [_row(_dict(sub), _dict(entry)) for sub in _list(_dict(board).get("submissions"))
            for entry in _list(_dict(sub).get("entries"))]
    rows = [row for row in rows if _matches(row, suite)]
    rows.sort(key=lambda r: (r["suite"], -r["suite_version"], -len(set(r["envs"])), r["env_set"],
                             not r["episodes_verified"], *_score_key(r), r["submitted_at"], r["id"], r["agent"]))
    group, previous, rank, ranked = None, None, 0, 0
    for row in rows:
        row["group"] = f"{row['suite']}@{row['suite_version']}/{row['env_set']}"
        if row["group"] != group:
            group, previous, ranked = row["group"], None, 0
        if not row["episodes_verified"]:
            continue
        ranked += 1
        key = _score_key(row)
        if key != previous:
            rank, previous = ranked, key
        row["rank"] = rank
    return rows


def _submitted(text: str) -> str:
    return text[:16].replace("T", " ")


def _clip(text: Any, width: int = _MAX_CELL) -> str:
    text = plain(text)
    return text if len(text) <= width else text[: width - 3] + "..."


_TABLE_COLUMNS = ("rank", "suite", "envs", "agent", "reward", "IQM norm. score [CI]", "success [CI]", "submitted",
                  "label", "id")


def _table_cells(row: dict) -> list[str]:
    return [
        "-" if row["rank"] is None else str(row["rank"]),
        _clip(f"{row['suite']}@{row['suite_version']}"),
        f"{len(set(row['envs']))} ({row['env_set'][:8]})",
        _clip(row["agent"]),
        _clip(row["reward"]),
        format_interval(row["iqm_normalized_score"]),
        format_interval(row["mean_success_rate"]),
        _clip(_submitted(row["submitted_at"]), 16),
        _clip(row["label"] or ""),
        _clip(row["id"][:8], 8) + ("" if row["episodes_verified"] else "*"),
    ]


def render_table(rows: list[dict]) -> str:
    """A fixed-width text table of ``ranked_rows`` output; ``*`` after an id marks an unverified, unranked entry."""
    if not rows:
        return "(no submissions)\n"
    body = [_table_cells(row) for row in rows]
    widths = [max(len(cells[i]) for cells in [list(_TABLE_COLUMNS), *body]) for i in range(len(_TABLE_COLUMNS))]

    def line(cells: list[str]) -> str:
        return "  ".join(c.rjust(w) if i == 0 else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    lines = [line(list(_TABLE_COLUMNS)), "  ".join("-" * w for w in widths)]
    for i, (row, cells) in enumerate(zip(rows, body)):
        if i and row["group"] != rows[i - 1]["group"]:
            lines.append("")
        lines.append(line(cells))
    text = "\n".join(s.rstrip() for s in lines) + "\n"
    text += "envs: number of tasks (env set id); entries are ranked only within the same suite version and env set\n"
    if any(not row["episodes_verified"] for row in rows):
        text += "* unverified: no episodes file at submission, numbers not recomputed; not ranked\n"
    return text


def _md_rows(group: list[dict]) -> list[str]:
    lines = ["| Rank | Agent | Reward | IQM norm. score [CI] | Success rate [CI] | Episodes | Submitted | Label | Id |",
             "|---:|---|---|---|---|---:|---|---|---|"]
    for row in group:
        episodes = "?" if row["n_episodes"] is None else row["n_episodes"]
        cells = [
            "-" if row["rank"] is None else str(row["rank"]),
            md_escape(row["agent"]),
            md_escape(row["reward"]),
            format_interval(row["iqm_normalized_score"]),
            format_interval(row["mean_success_rate"]),
            md_escape(episodes),
            md_escape(_submitted(row["submitted_at"])),
            md_escape(row["label"] or ""),
            _code(row["id"][:8]),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def render_markdown(board: Any) -> str:
    """The leaderboard page in Markdown: one section per (suite version, env set), verified entries ranked."""
    submissions = _list(_dict(board).get("submissions"))
    lines = [
        "# agentgym leaderboard",
        "",
        f"{len(submissions)} submission{'s' if len(submissions) != 1 else ''}. Entries are ranked only against "
        "entries of the same suite version scored on the same tasks (env set), by the IQM of the normalized score "
        "(higher is better; unscored last), then by the mean success rate. Only verified entries are ranked: their "
        "numbers were recomputed from their episodes file at submission. Brackets hold confidence intervals. "
        "Generated by `agentgym.leaderboard`; do not edit by hand.",
    ]
    notes = [_text(note) for note in _list(_dict(board).get("notes"))]
    if notes:
        lines += ["", "## Notes", ""] + [f"- {md_escape(note)}" for note in notes]
    groups: dict[str, list[dict]] = {}
    for row in ranked_rows(board):
        groups.setdefault(row["group"], []).append(row)
    if not groups:
        lines += ["", "_No submissions yet._"]
    for group in groups.values():
        first = group[0]
        tasks = sorted(set(first["envs"]))
        lines += ["", f"## {md_escape(first['suite'])}@{first['suite_version']}, {len(tasks)} "
                      f"task{'s' if len(tasks) != 1 else ''} (env set {_code(first['env_set'])})", ""]
        shown = [md_escape(task.replace("|", " (", 1) + ")" if "|" in task else task) for task in tasks]
        lines.append("Tasks: " + (", ".join(shown) or "none") + ".")
        hashes = sorted({row["suite_hash"][:12] for row in group})
        if len(hashes) == 1:
            lines.append(f"Suite spec hash {_code(hashes[0])}.")
        else:
            listed = ", ".join(_code(h) for h in hashes)
            lines.append(f"**Suite spec hashes differ between submissions ({listed}): compare with care.**")
        verified = [row for row in group if row["episodes_verified"]]
        unverified = [row for row in group if not row["episodes_verified"]]
        if verified:
            lines += ["", *_md_rows(verified)]
        if unverified:
            lines += ["", "Unverified (no episodes file at submission, numbers not recomputed; not ranked):", "",
                      *_md_rows(unverified)]
    return "\n".join(lines) + "\n"
