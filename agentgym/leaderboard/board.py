"""Submitting results.json files to a leaderboard.json, atomically and without losing submissions."""

from __future__ import annotations

import copy
import json
import os
from datetime import datetime, timezone
from pathlib import Path

import filelock

from agentgym.core.errors import SubmissionError
from agentgym.core.files import atomic_write_text, canonical_json, sha256_file, sha256_text
from agentgym.leaderboard.render import render_markdown
from agentgym.leaderboard.schema import BOARD_SCHEMA_VERSION, parse_json, validate_board, validate_results

DEFAULT_MAX_BYTES = 5_000_000
MAX_LABEL_CHARS = 200
LOCK_TIMEOUT_S = 120.0
MARKDOWN_NAME = "leaderboard.md"


def empty_board() -> dict:
    """A leaderboard with no submissions."""
    return {"schema_version": BOARD_SCHEMA_VERSION, "submissions": []}




def submission_id(results: dict) -> str:
    """The id of a submission: SHA-256 hex of the canonical JSON of its results."""
    return sha256_text(canonical_json(results))




def load_leaderboard(path: str | os.PathLike) -> dict:
    """Load and check a leaderboard; a missing file is an empty board.

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
        board = parse_json(text, what)
        validate_board(board, what)
    except SubmissionError as err:
        raise SubmissionError(f"{err}\n{what} is corrupt; it was left untouched: repair or move it away") from None
    return board


def _read_results(path: Path, max_bytes: int) -> dict:
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


def _check_label(label: str | None) -> None:
    if label is None:
        return
    if not isinstance(label, str):
        raise SubmissionError(f"label must be a string or None, not {type(label).__name__}")
    if len(label) > MAX_LABEL_CHARS:
        raise SubmissionError(f"label is {len(label)} characters, over the limit of {MAX_LABEL_CHARS}")
    if any((ch.isspace() and ch != " ") or not ch.isprintable() for ch in label):
        raise SubmissionError(f"label {label!r} holds control characters or line breaks")


def _entries(results: dict) -> list[dict]:
    entries = []
    for key, agg in sorted(results["aggregates"]["by_agent"].items()):
        agent, reward = key.rsplit("|", 1)
        entries.append(
            {
                "agent": agent,
                "reward": reward,
                "envs": list(agg["envs"]),
                "iqm_normalized_score": copy.deepcopy(agg["iqm_normalized_score"]),
                "mean_success_rate": copy.deepcopy(agg["mean_success_rate"]),
            }
        )
    return entries


def _duplicate_of(board: dict, submission: dict) -> dict | None:
    for existing in board["submissions"]:
        if existing["id"] == submission["id"]:
            return existing
        same_episodes = existing["episodes_sha256"] == submission["episodes_sha256"]
        if same_episodes and existing["suite"]["hash"] == submission["suite"]["hash"]:
            return existing
    return None






def submit_results(
    results_path: str | os.PathLike,
    leaderboard_path: str | os.PathLike,
    *,
    label: str | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> dict:
    """Check a results.json and append it to a leaderboard; also rewrite ``leaderboard.md`` beside the board.

    The episodes file named by ``episodes_file`` is looked for beside the results; when present its
    SHA-256 must match ``episodes_sha256`` (``episodes_verified: true``), when absent the submission
    is accepted with ``episodes_verified: false``. The merge holds a file lock, re-reads the board,
    and replaces it atomically; a missing board is created, a corrupt one is never overwritten.

    Args:
        results_path: The results.json to submit.
        leaderboard_path: The leaderboard.json to append to.
        label: A short free-text name shown on the board.
        max_bytes: Largest results file accepted; checked before parsing.

    Returns:
        The new submission, as stored on the board.

    Raises:
        SubmissionError: the results or the board are refused; the message names the problem.
    """
    results_path, board_path = Path(results_path), Path(leaderboard_path)
    _check_label(label)
    results = _read_results(results_path, max_bytes)
    validate_results(results)
    episodes_path = results_path.parent / results["episodes_file"]
    verified = episodes_path.is_file()
    if verified:
        actual = sha256_file(episodes_path)
        if actual != results["episodes_sha256"]:
            raise SubmissionError(
                f"episodes checksum mismatch: {episodes_path} has sha256 {actual}, "
                f"but the results say episodes_sha256 {results['episodes_sha256']}"
            )
    submission = {
        "id": submission_id(results),
        "submitted_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "label": label,
        "suite": copy.deepcopy(results["suite"]),
        "provenance": copy.deepcopy(results["provenance"]),
        "episodes_sha256": results["episodes_sha256"],
        "episodes_verified": verified,
        "entries": _entries(results),
    }
    board_path.parent.mkdir(parents=True, exist_ok=True)
    lock = filelock.FileLock(str(board_path) + ".lock", timeout=LOCK_TIMEOUT_S)
    try:
        with lock:
            board = load_leaderboard(board_path)
            duplicate = _duplicate_of(board, submission)
            if duplicate is not None:
                name = f" (label {duplicate['label']!r})" if duplicate.get("label") else ""
                raise SubmissionError(
                    f"duplicate submission: these results (or their episodes, for suite "
                    f"{results['suite']['name']}@{results['suite']['version']}) are already on {board_path} "
                    f"as submission {duplicate['id'][:12]}{name}, submitted {duplicate['submitted_at']}"
                )
            board["submissions"].append(submission)
            validate_board(board, "the merged leaderboard")
            atomic_write_text(board_path, json.dumps(board, indent=2, ensure_ascii=False, allow_nan=False) + "\n")
            atomic_write_text(board_path.parent / MARKDOWN_NAME, render_markdown(board))
    except filelock.Timeout:
        raise SubmissionError(
            f"leaderboard {board_path} stayed locked for {LOCK_TIMEOUT_S:.0f} s by another submission; try again"
        ) from None
    return submission
