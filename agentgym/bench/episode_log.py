"""``episodes.jsonl``: the append-only, resumable log of a run's finished episodes.

Two readers with two duties. :class:`EpisodeLog` opens a log to resume a run: it keeps every
record it can read, moves the lines it cannot (corrupt, or repeating a key) to
``episodes.quarantine.jsonl`` with their line numbers, and says so. :func:`read_episodes` reads a
log to verify a submission: any such line is refused.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from agentgym.core.errors import AgentGymError
from agentgym.core.files import atomic_write_text
from agentgym.records import EpisodeRecord

QUARANTINE_NAME = "episodes.quarantine.jsonl"
logger = logging.getLogger(__name__)


class EpisodeLogError(AgentGymError):
    """An episodes file that cannot back a submission; the message names the line."""


def _lines(data: bytes) -> list[tuple[int, bytes]]:
    """(1-based number, line with its "\\n") of ``data``; only "\\n" ends a line, and only the last may lack it."""
    parts = data.split(b"\n")
    lines = [(i, part + b"\n") for i, part in enumerate(parts[:-1], start=1)]
    if parts[-1]:
        lines.append((len(parts), parts[-1]))
    return lines


def _parse(line: bytes) -> dict[str, Any] | str:
    """The record of one line, or why it is not one."""
    try:
        record = json.loads(line.decode("utf-8"))
    except (ValueError, RecursionError) as err:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        return f"not JSON ({err})"
    if not isinstance(record, dict) or not isinstance(record.get("key"), str):
        return "not an episode record (no key)"
    return record


class EpisodeLog:
    """``episodes.jsonl``: one JSON line per finished episode, flushed as it is written.

    Opening an existing log reads the records already there. A last line cut short by a kill (no
    newline at its end) is dropped, so a resumed run redoes that one episode. Any other line that
    is not a record, or repeats the key of an earlier one, is moved to ``episodes.quarantine.jsonl``
    beside the log (``{"line": N, "reason": ..., "text": ...}``) with a warning; every readable
    record is kept.

    Attributes:
        records: The records, as JSON would read them back (what was written, not what was passed).
        quarantined: Line numbers (1-based) of the lines moved to the quarantine file on opening.

    Example:
        >>> import tempfile
        >>> log = EpisodeLog(Path(tempfile.mkdtemp()) / "episodes.jsonl")
        >>> log.append({"key": "c/0/0", "status": "ok"}); log.close()
        >>> sorted(log.done_keys())
        ['c/0/0']
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.records: list[dict[str, Any]] = []
        self.quarantined: list[int] = []
        if self.path.exists():
            self._recover()
        self._handle = self.path.open("a", encoding="utf-8")

    def _recover(self) -> None:
        data = self.path.read_bytes()
        kept: list[bytes] = []
        bad: list[dict[str, Any]] = []
        seen: set[str] = set()
        for number, line in _lines(data):
            if not line.endswith(b"\n"):
                break  # the last line, cut short by a kill: redone on resume
            if not line.strip():
                continue
            record = _parse(line)
            if isinstance(record, dict) and record["key"] in seen:
                record = f"repeats the key {record['key']!r} of an earlier line"
            if isinstance(record, str):
                bad.append({"line": number, "reason": record, "text": line.decode("utf-8", "replace").rstrip("\n")})
                continue
            seen.add(record["key"])
            self.records.append(record)
            kept.append(line)
        cleaned = b"".join(kept)
        if cleaned == data:
            return
        if bad:
            quarantine = self.path.with_name(QUARANTINE_NAME)
            with quarantine.open("a", encoding="utf-8") as handle:
                for entry in bad:
                    handle.write(json.dumps({"file": self.path.name, **entry}, ensure_ascii=True) + "\n")
            self.quarantined = [entry["line"] for entry in bad]
            logger.warning("%s: %d unreadable or repeated line%s (%s) moved to %s; the %d good records are kept",
                           self.path, len(bad), "s" if len(bad) > 1 else "",
                           ", ".join(map(str, self.quarantined[:10])) + (", ..." if len(bad) > 10 else ""),
                           quarantine, len(self.records))
        atomic_write_text(self.path, cleaned.decode("utf-8"))

    def done_keys(self) -> set[str]:
        return {record["key"] for record in self.records}

    def append(self, record: Mapping[str, Any]) -> None:
        line = json.dumps(record, sort_keys=True, allow_nan=False)
        self._handle.write(line + "\n")
        self._handle.flush()
        self.records.append(json.loads(line))

    def close(self) -> None:
        self._handle.close()


def read_episodes(path: Path, *, max_bytes: int = 1 << 30, max_lines: int = 10_000_000) -> list[dict[str, Any]]:
    """Every record of a complete episodes file, each checked against :class:`EpisodeRecord`.

    Raises:
        EpisodeLogError: a line is not a valid record, repeats a key, or the file is unreadable or
            too large; the message names the first such line.
    """
    try:
        size = Path(path).stat().st_size
        if size > max_bytes:
            raise EpisodeLogError(f"{path} is {size} bytes, over the limit of {max_bytes}")
        data = Path(path).read_bytes()
    except OSError as err:
        raise EpisodeLogError(f"cannot read {path}: {err}") from None
    records: list[dict[str, Any]] = []
    seen: set[str] = set()
    for number, line in _lines(data):
        if number > max_lines:
            raise EpisodeLogError(f"{path} has more than {max_lines} lines")
        where = f"{Path(path).name} line {number}"
        if not line.endswith(b"\n"):
            raise EpisodeLogError(f"{where} is cut short (no line end): resume the run to complete it")
        record = _parse(line)
        if isinstance(record, str):
            raise EpisodeLogError(f"{where} is {record}: resume the run to quarantine it, then re-run")
        try:
            EpisodeRecord.model_validate(record)
        except ValidationError as err:
            first = err.errors()[0]
            place = ".".join(map(str, first["loc"]))
            raise EpisodeLogError(f"{where} is not a valid episode record: "
                                  f"{place + ': ' if place else ''}{first['msg']}") from None
        if record["key"] in seen:
            raise EpisodeLogError(f"{where} repeats episode {record['key']!r}")
        seen.add(record["key"])
        records.append(record)
    return records
