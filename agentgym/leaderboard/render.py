"""Ranking a leaderboard, and showing it as a text table or a Markdown page."""

from __future__ import annotations

from typing import Any

_MAX_CELL = 40  # characters of a free-text column in the text table
_MD_ESCAPES = {"\\": "\\\\", "|": "\\|", "`": "\\`", "*": "\\*", "_": "\\_", "[": "\\[", "]": "\\]",
               "<": "&lt;", ">": "&gt;", "&": "&amp;"}


def _mean(interval: Any) -> float | None:
    value = interval.get("mean") if isinstance(interval, dict) else None
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _sort_key(row: dict) -> tuple:
    iqm, success = _mean(row["iqm_normalized_score"]), _mean(row["mean_success_rate"])
    return (iqm is None, -(iqm or 0.0), success is None, -(success or 0.0))


def _matches(sub: dict, suite: str | None) -> bool:
    if suite is None:
        return True
    name, version = sub["suite"]["name"], sub["suite"]["version"]
    return suite == name or suite == f"{name}@{version}"


def ranked_rows(board: dict, suite: str | None = None) -> list[dict]:
    """One row per submission entry, ranked within each (suite name, suite version).

    Ranked by the IQM normalized score's mean, highest first (no score last), then by the mean
    success rate; rows equal on both share a rank (1, 2, 2, 4). Rows come grouped by suite name,
    newest version first, then by rank, then by submission time.

    Args:
        board: A loaded leaderboard.
        suite: Keep only this suite, given as ``name`` or ``name@version``.
    """
    rows = []
    for sub in board.get("submissions", []):
        if not _matches(sub, suite):
            continue
        for entry in sub.get("entries", []):
            rows.append(
                {
                    "rank": 0,
                    "suite": sub["suite"]["name"],
                    "suite_version": sub["suite"]["version"],
                    "suite_hash": sub["suite"]["hash"],
                    "agent": entry["agent"],
                    "reward": entry["reward"],
                    "envs": list(entry["envs"]),
                    "iqm_normalized_score": entry["iqm_normalized_score"],
                    "mean_success_rate": entry["mean_success_rate"],
                    "submitted_at": sub["submitted_at"],
                    "label": sub.get("label"),
                    "id": sub["id"],
                    "episodes_verified": sub["episodes_verified"],
                }
            )
    rows.sort(key=lambda r: (r["suite"], -r["suite_version"], *_sort_key(r), r["submitted_at"], r["id"], r["agent"]))
    group, previous, rank, start = None, None, 0, 0
    for position, row in enumerate(rows):
        if (row["suite"], row["suite_version"]) != group:
            group, previous, start = (row["suite"], row["suite_version"]), None, position
        key = _sort_key(row)
        if key != previous:
            rank, previous = position - start + 1, key
        row["rank"] = rank
    return rows


def format_interval(interval: dict | None, digits: int = 3) -> str:
    """``0.512 [0.430, 0.600]``; ``-`` for an undefined value."""
    if not isinstance(interval, dict) or interval.get("mean") is None:
        return "-"

    def number(value: Any) -> str:
        return "?" if value is None else f"{value:.{digits}f}"

    return f"{number(interval['mean'])} [{number(interval.get('ci_low'))}, {number(interval.get('ci_high'))}]"


def _submitted(text: str) -> str:
    return text[:16].replace("T", " ")


def _clip(text: str, width: int = _MAX_CELL) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 3] + "..."


_TABLE_COLUMNS = (
    "rank", "suite", "agent", "reward", "IQM norm. score [CI]", "success [CI]", "submitted", "label", "id"
)


def _table_cells(row: dict) -> list[str]:
    return [
        str(row["rank"]),
        _clip(f"{row['suite']}@{row['suite_version']}"),
        _clip(row["agent"]),
        _clip(row["reward"]),
        format_interval(row["iqm_normalized_score"]),
        format_interval(row["mean_success_rate"]),
        _submitted(row["submitted_at"]),
        _clip(row["label"] or ""),
        row["id"][:8] + ("" if row["episodes_verified"] else "*"),
    ]


def render_table(rows: list[dict]) -> str:
    """A fixed-width text table of ``ranked_rows`` output; ``*`` after an id marks unverified episodes."""
    if not rows:
        return "(no submissions)\n"
    body = [_table_cells(row) for row in rows]
    widths = [max(len(cells[i]) for cells in [list(_TABLE_COLUMNS), *body]) for i in range(len(_TABLE_COLUMNS))]
    right = {0}  # right-align the rank

    def line(cells: list[str]) -> str:
        return "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    lines = [line(list(_TABLE_COLUMNS)), "  ".join("-" * w for w in widths)] + [line(cells) for cells in body]
    text = "\n".join(s.rstrip() for s in lines) + "\n"
    if any(not row["episodes_verified"] for row in rows):
        text += "* episodes file not checked (it was absent at submission)\n"
    return text


def md_escape(text: Any) -> str:
    """Text safe inside a Markdown table cell: no line breaks, pipes or markup."""
    return "".join(_MD_ESCAPES.get(ch, ch) for ch in " ".join(str(text).split()))


def render_markdown(board: dict) -> str:
    """The leaderboard page in Markdown: one ranked table per suite version."""
    submissions = board.get("submissions", [])
    lines = [
        "# agentgym leaderboard",
        "",
        f"{len(submissions)} submission{'s' if len(submissions) != 1 else ''}. Ranked within each suite version by "
        "the IQM of the normalized score (higher is better; unscored last), then by the mean success rate. "
        "Brackets hold confidence intervals. Generated by `agentgym.leaderboard`; do not edit by hand.",
    ]
    rows = ranked_rows(board)
    groups: dict[tuple[str, int], list[dict]] = {}
    for row in rows:
        groups.setdefault((row["suite"], row["suite_version"]), []).append(row)
    if not groups:
        lines += ["", "_No submissions yet._"]
    for (name, version), group in groups.items():
        hashes = sorted({row["suite_hash"] for row in group})
        lines += ["", f"## {md_escape(name)}@{version}", ""]
        if len(hashes) == 1:
            lines.append(f"Suite spec hash `{hashes[0][:12]}`.")
        else:
            shown = ", ".join(f"`{h[:12]}`" for h in hashes)
            lines.append(f"**Suite spec hashes differ between submissions ({shown}): compare with care.**")
        lines += [
            "",
            "| Rank | Agent | Reward | IQM norm. score [CI] | Success rate [CI] | Envs | Submitted | Label "
            "| Episodes | Id |",
            "|---:|---|---|---|---|---:|---|---|---|---|",
        ]
        for row in group:
            cells = [
                str(row["rank"]),
                md_escape(row["agent"]),
                md_escape(row["reward"]),
                format_interval(row["iqm_normalized_score"]),
                format_interval(row["mean_success_rate"]),
                str(len(row["envs"])),
                _submitted(row["submitted_at"]),
                md_escape(row["label"] or ""),
                "verified" if row["episodes_verified"] else "not checked",
                f"`{row['id'][:8]}`",
            ]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
