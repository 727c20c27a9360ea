"""Submitting results.json files to a leaderboard.json: checked, then merged atomically under a lock.

Nothing is written unless every check passes, in this order: the label; the file's size and
strict JSON; complete cells (one plain message naming those with failed episodes); the
:class:`agentgym.records.Results` model (types, finite bounded numbers, declared ranges, names);
the reference cells; the episodes file (checksum, then every number recomputed from it); then,
under the lock, duplicates and names that look like names already on the board.
"""

from __future__ import annotations

import copy
import json
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import filelock

from agentgym.core.errors import SubmissionError
from agentgym.core.files import atomic_write_text, canonical_json, sha256_text
from agentgym.core.redact import redact_data
from agentgym.leaderboard.render import render_markdown
from agentgym.leaderboard.schema import parse_json, raise_problems, validate_board, validate_results
from agentgym.leaderboard.verify import check_complete, reference_problems, verify_episodes
from agentgym.records import (
    BOARD_SCHEMA_VERSION,
    MAX_TEXT_CHARS,
    REFERENCE_AGENTS,
    RESULTS_SCHEMA_VERSION,
    Results,
    check_label,
    confusable,
)

DEFAULT_MAX_BYTES = 5_000_000
LOCK_TIMEOUT_S = 120.0
MARKDOWN_NAME = "leaderboard.md"
_MIGRATION_NOTE = (
    "{n} submission{s} under results schema version 1 {were} dropped when the board moved to schema version "
    f"{BOARD_SCHEMA_VERSION}: the metrics changed definition (episodes failed by the agent are scored as "
    "failures, the IQM is rliable's over a runs x tasks matrix, the normalized score uses each card's score) and "
    "the numbers could not be recomputed. Dropped: {dropped}. Re-run those suites and submit again."
)


def empty_board() -> dict:
    """A leaderboard with no submissions."""
    return {"schema_version": BOARD_SCHEMA_VERSION, "notes": [], "submissions": []}


def submission_id(results: dict) -> str:
    """The id of a submission: SHA-256 hex of the canonical JSON of its results."""
    return sha256_text(canonical_json(results))


def _ascii(text: Any) -> str:
    return "".join(c if " " <= c <= "~" else ascii(c)[1:-1] for c in str(text))


def migrate_board(data: Any) -> Any:
    """A board of an older schema version brought to this one; anything else is returned as it is.

    Version 1 submissions are dropped, with a note on the board naming them: their numbers were
    computed under the old metric definitions and their episodes are not on the board to recompute.

    Example:
        >>> migrate_board({"schema_version": 1, "submissions": []})["schema_version"]
        2
    """
    if not isinstance(data, dict) or data.get("schema_version") != 1 or not isinstance(data.get("submissions"), list):
        return data
    old = [sub for sub in data["submissions"] if isinstance(sub, dict)]
    named = []
    for sub in old:
        given = sub.get("suite")
        suite = given if isinstance(given, dict) else {}
        name = sub.get("label") or str(sub.get("id", ""))[:12]
        named.append(f"{_ascii(suite.get('name'))}@{_ascii(suite.get('version'))} ({_ascii(name)})")
    note = _MIGRATION_NOTE.format(n=len(old), s="s" if len(old) != 1 else "", were="were" if len(old) != 1 else "was",
                                  dropped="; ".join(named) or "none")
    return {**empty_board(), "notes": [note[:MAX_TEXT_CHARS]]}


def load_leaderboard(path: str | os.PathLike) -> dict:
    """Load and check a leaderboard; a missing file is an empty board, an older version is migrated.

    Raises:
        SubmissionError: the file exists but is unreadable, not JSON, or not a valid leaderboard.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return empty_board()
    except OSError as err:
        raise SubmissionError(f"cannot read leaderboard {path}: {err}") from None
    what = f"leaderboard {path}"
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise SubmissionError(f"{what} is corrupt (not UTF-8: {err}); it was left untouched") from None
    try:
        board = migrate_board(parse_json(text, what))
        validate_board(board, what)
    except SubmissionError as err:
        raise SubmissionError(f"{err}\n{what} is corrupt; it was left untouched: repair or move it away") from None
    return board


def _read_results(path: Path, max_bytes: int) -> Any:
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise SubmissionError(f"no results file at {path}") from None
    except OSError as err:
        raise SubmissionError(f"cannot read results file {path}: {err}") from None
    if not path.is_file():
        raise SubmissionError(f"results path {path} is not a file")
    if size > max_bytes:
        raise SubmissionError(f"results file {path} is {size} bytes, over the limit of {max_bytes} bytes")
    with open(path, "rb") as handle:
        raw = handle.read(max_bytes + 1)  # the file may have grown since stat()
    if len(raw) > max_bytes:
        raise SubmissionError(f"results file {path} is over the limit of {max_bytes} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise SubmissionError(f"results file {path} is not valid JSON (not UTF-8: {err})") from None
    return parse_json(text, f"results file {path}")


def _check_label(label: Any) -> None:
    if label is None:
        return
    if not isinstance(label, str):
        raise SubmissionError(f"label must be a string or None, not {type(label).__name__}")
    try:
        check_label(label)
    except ValueError as err:
        raise SubmissionError(str(err)) from None


def _entries(results: Results, data: dict) -> list[dict]:
    scored: dict[str, int] = {}
    for cell in results.cells:
        key = f"{cell.agent}|{cell.reward}"
        scored[key] = scored.get(key, 0) + cell.episodes
    entries = []
    for key, agg in sorted(data["aggregates"]["by_agent"].items()):
        agent, reward = key.split("|")
        entries.append({"agent": agent, "reward": reward, "envs": list(agg["envs"]), "n_episodes": scored[key],
                        "iqm_normalized_score": copy.deepcopy(agg.get("iqm_normalized_score")),
                        "mean_success_rate": copy.deepcopy(agg.get("mean_success_rate"))})
    return entries


def _names(suite: str, entries: list[dict]) -> dict[str, set[str]]:
    return {"suite": {suite}, "agent": {e["agent"] for e in entries}, "reward": {e["reward"] for e in entries},
            "env": {task.split("|")[0] for e in entries for task in e["envs"]}}


def _confusable_problems(submission: dict, board: dict | None) -> list[str]:
    """Names of the submission that look like another name (on the board, among its own, or a reference agent)."""
    mine = _names(submission["suite"]["name"], submission["entries"])
    theirs: dict[str, set[str]] = {kind: set() for kind in mine}
    theirs["agent"] |= set(REFERENCE_AGENTS)
    for sub in (board or {}).get("submissions", []):
        for kind, names in _names(sub["suite"]["name"], sub["entries"]).items():
            theirs[kind] |= names
    problems = []
    for kind, names in mine.items():
        for name in sorted(names):
            other = confusable(name, sorted(theirs[kind] | names))
            if other is not None:
                where = "already on the board" if other in theirs[kind] else "in the same results"
                problems.append(f"{kind} name {name!r} looks like {other!r} {where} (names that differ only by "
                                "case, 0/o or 1/l/i are refused)")
    return problems


def _duplicate_of(board: dict, submission: dict) -> dict | None:
    for existing in board["submissions"]:
        if existing["id"] == submission["id"]:
            return existing
        same_episodes = existing["episodes_sha256"] == submission["episodes_sha256"]
        if same_episodes and existing["suite"]["hash"] == submission["suite"]["hash"]:
            return existing
    return None


def check_submission(results_path: str | os.PathLike, *, label: str | None = None,
                     max_bytes: int = DEFAULT_MAX_BYTES) -> dict:
    """Every check of a results file that needs no board; the submission it would make now.

    Raises:
        SubmissionError: the results are refused; the message names the problem.
    """
    results_path = Path(results_path)
    _check_label(label)
    data = _read_results(results_path, max_bytes)
    check_complete(data)
    results = validate_results(data)
    problems = reference_problems(results)
    if problems:
        raise_problems("results refused: the reference cells are not as they must be", problems)
    verified = verify_episodes(data, results, results_path)
    entries = _entries(results, data)
    submission = {
        "id": submission_id(data),
        "submitted_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "label": label,
        "suite": {key: data["suite"][key] for key in ("name", "version", "hash")},
        "results_schema_version": RESULTS_SCHEMA_VERSION,
        "provenance": redact_data(data["provenance"]),
        "episodes_sha256": results.episodes_sha256,
        "episodes_verified": verified,
        "entries": entries,
    }
    problems = _confusable_problems(submission, None)
    if problems:
        raise_problems("results refused", problems)
    return submission


def _write_board(board_path: Path, board: dict) -> None:
    try:
        atomic_write_text(board_path, json.dumps(board, indent=2, ensure_ascii=False, allow_nan=False) + "\n")
        atomic_write_text(board_path.parent / MARKDOWN_NAME, render_markdown(board))
    except OSError as err:
        raise SubmissionError(f"cannot write leaderboard {board_path}: {err}") from None


def submit_results(
    results_path: str | os.PathLike,
    leaderboard_path: str | os.PathLike,
    *,
    label: str | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> dict:
    """Check a results.json and append it to a leaderboard; also rewrite ``leaderboard.md`` beside the board.

    With the episodes file named by ``episodes_file`` beside the results, every count, metric and
    aggregate is recomputed from it with the runner's own function and must match
    (``episodes_verified: true``); without it the submission is accepted as unverified, shown apart
    and never ranked. Cells with failed episodes are refused. The merge holds a file lock, re-reads
    the board, and replaces it atomically; a missing board is created, a corrupt one never
    overwritten, and a refused submission leaves the board byte for byte as it was.

    Args:
        results_path: The results.json to submit.
        leaderboard_path: The leaderboard.json to append to.
        label: A short name shown on the board: printable ASCII, at most 200 characters.
        max_bytes: Largest results file accepted; checked before parsing.

    Returns:
        The new submission, as stored on the board.

    Raises:
        SubmissionError: the results or the board are refused; the message names the problem.
    """
    board_path = Path(leaderboard_path)
    if board_path.is_dir():
        raise SubmissionError(f"leaderboard path {board_path} is a folder; give the leaderboard.json file")
    submission = check_submission(results_path, label=label, max_bytes=max_bytes)
    try:
        board_path.parent.mkdir(parents=True, exist_ok=True)
        with filelock.FileLock(str(board_path) + ".lock", timeout=LOCK_TIMEOUT_S):
            board = load_leaderboard(board_path)
            duplicate = _duplicate_of(board, submission)
            if duplicate is not None:
                name = f" (label {duplicate['label']!r})" if duplicate.get("label") else ""
                suite = submission["suite"]
                raise SubmissionError(
                    f"duplicate submission: these results (or their episodes, for suite {suite['name']}@"
                    f"{suite['version']}) are already on {board_path} as submission {duplicate['id'][:12]}{name}, "
                    f"submitted {duplicate['submitted_at']}")
            problems = _confusable_problems(submission, board)
            if problems:
                raise_problems("results refused", problems)
            board["submissions"].append(submission)
            validate_board(board, "the merged leaderboard")
            _write_board(board_path, board)
    except filelock.Timeout:
        raise SubmissionError(
            f"leaderboard {board_path} stayed locked for {LOCK_TIMEOUT_S:.0f} s by another submission; try again"
        ) from None
    except OSError as err:
        raise SubmissionError(f"cannot write leaderboard {board_path}: {err}") from None
    return submission
