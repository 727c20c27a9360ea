"""Episode status: which episodes are scored, how an agent's failure is scored, and cell completeness.

One definition, used by every metric (and exported for the runner and ``submit``):

- ``"ok"``: a finished episode, scored as recorded.
- ``"agent_error"``: the *agent* failed (``act`` raised, output unparseable past its retries, an
  endpoint refused after retries). Scored as a failure of the agent: ``success`` 0, ``progress`` 0,
  ``env_return`` the return accumulated up to the failure (the runner stores it; None counts as
  0.0), ``proxy_return`` likewise, ``steps`` and ``invalid_actions`` as recorded.
- ``"failed"`` (or any other status): the *harness or env* failed. Left out of every metric; the
  cell is incomplete and ``--resume`` re-runs the episode.

Counts: ``n_episodes`` = ok + agent_error (the episodes scored); ``n_failed`` = harness failures.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from agentgym.records import FAILED_STATUS, SCORED_STATUSES

OK = "ok"
AGENT_ERROR = "agent_error"
FAILED = FAILED_STATUS

__all__ = ["AGENT_ERROR", "FAILED", "OK", "Completeness", "cell_completeness", "count_statuses", "is_failed",
           "is_scored", "scored_record", "scored_records"]


def is_scored(record: Mapping[str, Any]) -> bool:
    """Whether the episode counts in the metrics: status ``ok`` or ``agent_error``."""
    return record.get("status") in SCORED_STATUSES


def is_failed(record: Mapping[str, Any]) -> bool:
    """A harness or env failure: any status that is not scored."""
    return not is_scored(record)


def _number(value: Any) -> float:
    return 0.0 if value is None else float(value)


def scored_record(record: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The record as the metrics see it: itself when ``ok``; when ``agent_error`` a copy with
    ``success=False``, ``progress=0.0`` and returns made numbers (None -> 0.0); None when failed."""
    status = record.get("status")
    if status == OK:
        return record
    if status == AGENT_ERROR:
        return {**record, "success": False, "progress": 0.0, "env_return": _number(record.get("env_return")),
                "proxy_return": _number(record.get("proxy_return")), "steps": int(record.get("steps") or 0),
                "invalid_actions": int(record.get("invalid_actions") or 0)}
    return None


def scored_records(records: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """:func:`scored_record` of every record, failed ones left out, order kept."""
    return [scored for scored in map(scored_record, records) if scored is not None]


class Completeness(NamedTuple):
    """Whether a cell has every episode it should: ``complete`` iff ``n_failed == 0``."""

    complete: bool
    n_failed: int
    failed_keys: list[str]


def cell_completeness(records: Iterable[Mapping[str, Any]]) -> Completeness:
    """``(complete, n_failed, failed_keys)`` of one cell's records (keys sorted; what ``--resume`` re-runs).

    Example:
        >>> cell_completeness([{"key": "c/0/0", "status": "ok"}, {"key": "c/1/0", "status": "failed"}])
        Completeness(complete=False, n_failed=1, failed_keys=['c/1/0'])
    """
    failed = sorted(str(r.get("key")) for r in records if is_failed(r))
    return Completeness(not failed, len(failed), failed)


def count_statuses(records: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """``{"n_episodes": ok + agent_error, "n_agent_errors": agent_error, "n_failed": harness failures}``."""
    counts = {"n_episodes": 0, "n_agent_errors": 0, "n_failed": 0}
    for record in records:
        if is_scored(record):
            counts["n_episodes"] += 1
            counts["n_agent_errors"] += record.get("status") == AGENT_ERROR
        else:
            counts["n_failed"] += 1
    return counts
