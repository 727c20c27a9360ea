"""The processes of a run, tracked while it runs so that orphans can be found after a kill.

Shared by the runner-hygiene and chaos tests: psutil where installed, else /proc.
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path

import pytest

try:
    import psutil
except ImportError:  # the tests fall back on /proc
    psutil = None

def _proc_table() -> dict[int, tuple[int, str, str]]:
    """pid -> (parent pid, state, start time) from /proc."""
    table = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                text = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            fields = text[text.rindex(")") + 2:].split()
            table[int(entry)] = (int(fields[1]), fields[0], fields[19])
    return table


def descendants(pid: int) -> dict[int, object]:
    """pid -> identity (start time) of every process below ``pid``."""
    if psutil is not None:
        found = {}
        with contextlib.suppress(psutil.Error):
            for child in psutil.Process(pid).children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    found[child.pid] = child.create_time()
        return found
    if not Path("/proc/self/stat").exists():
        pytest.skip("needs psutil or /proc to find a run's processes")
    table = _proc_table()
    found, frontier = {}, [pid]
    while frontier:
        parent = frontier.pop()
        for child, (ppid, _, start) in table.items():
            if ppid == parent and child not in found:
                found[child] = start
                frontier.append(child)
    return found


def alive(tracked: dict[int, object]) -> list[int]:
    """The tracked processes still running (a zombie has ended; a reused pid is another process)."""
    if psutil is not None:
        running = []
        for pid, identity in tracked.items():
            with contextlib.suppress(psutil.Error):
                process = psutil.Process(pid)
                if process.create_time() == identity and process.status() != psutil.STATUS_ZOMBIE:
                    running.append(pid)
        return running
    table = _proc_table()
    return [pid for pid, identity in tracked.items()
            if pid in table and table[pid][2] == identity and table[pid][1] != "Z"]


def wait_gone(tracked: dict[int, object], seconds: float) -> list[int]:
    deadline = time.monotonic() + seconds
    while (running := alive(tracked)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return running
