"""The leaderboard: check results.json files, merge them into leaderboard.json, and rank and render it.

Example:
    >>> from agentgym.leaderboard import load_leaderboard, ranked_rows, render_table
    >>> print(render_table(ranked_rows(load_leaderboard("no-such-board.json"))), end="")
    (no submissions)
"""

from agentgym.leaderboard.board import (
    check_submission,
    load_leaderboard,
    migrate_board,
    submission_id,
    submit_results,
)
from agentgym.leaderboard.render import md_escape, plain, ranked_rows, render_markdown, render_table
from agentgym.leaderboard.schema import load_schema, validate_board, validate_results

__all__ = [
    "check_submission",
    "load_leaderboard",
    "load_schema",
    "md_escape",
    "migrate_board",
    "plain",
    "ranked_rows",
    "render_markdown",
    "render_table",
    "submission_id",
    "submit_results",
    "validate_board",
    "validate_results",
]
