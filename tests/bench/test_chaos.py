"""Chaos: a process-executor run killed at random moments, resumed each time, loses, repeats and orphans nothing.

Issue 18, "Done when": at least 10 kills, alternating SIGKILL of the whole process group (main
process, manager and workers at once) and SIGKILL of the main process alone (its pool must then
die by itself), each followed by ``--resume``. The final episodes must be exactly those of an
uninterrupted reference run, record for record (wall times aside), with no key lost or repeated.

Set AGENTGYM_CHAOS_SEED to replay a schedule of kill moments (timings still vary with the machine).
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from processes import alive, descendants, psutil, wait_gone

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(os.name != "posix", reason="signals and process groups are POSIX")]

KILLS = 10
SUITE = {
    "name": "chaos", "version": 1, "envs": ["agentgym/FrozenLake-v0"], "episodes": 40, "batch_size": 2,
    # two reference agents that finish at once, three slow ones that keep the workers busy: 200 episodes
    "agents": ["random", "oracle",
               *({"name": f"slow-{seed}", "entry_point": "agentgym.testing.toy:SlowRandomAgent",
                  "kwargs": {"delay": 0.05, "seed": seed}} for seed in (1, 2, 3))],
}
N_EPISODES = 5 * 40


def _stable(record: dict[str, Any]) -> dict[str, Any]:
    """A record without what may differ between two correct runs: wall times."""
    return {key: value for key, value in record.items() if "wall" not in key}


def _records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _without_wall(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: _without_wall(v) for k, v in data.items() if "wall" not in k}
    if isinstance(data, list):
        return [_without_wall(v) for v in data]
    return data


def test_random_kills_and_resumes_lose_repeat_and_orphan_nothing(tmp_path):
    if psutil is None and not Path("/proc/self/stat").exists():
        pytest.skip("needs psutil or /proc to find a run's processes")
    seed = int(os.environ.get("AGENTGYM_CHAOS_SEED", time.time_ns() % 2**32))
    rng = random.Random(seed)
    suite = tmp_path / "chaos.yaml"
    suite.write_text(yaml.safe_dump(SUITE))
    out, reference = tmp_path / "run", tmp_path / "reference"
    base = [sys.executable, "-m", "agentgym.cli.main", "run", str(suite), "--no-progress"]
    logs = tmp_path / "logs"
    logs.mkdir()

    def start(name: str, *args: str) -> subprocess.Popen:
        with (logs / f"{name}.out").open("wb") as stdout, (logs / f"{name}.err").open("wb") as stderr:
            return subprocess.Popen([*base, *args], stdout=stdout, stderr=stderr, start_new_session=True)

    def lines() -> int:
        try:
            return (out / "episodes.jsonl").read_bytes().count(b"\n")
        except OSError:
            return 0

    # the uninterrupted reference runs meanwhile (its agent mostly sleeps), on the local executor
    ref = start("reference", "--out", str(reference), "--executor", "local")
    every: dict[int, object] = {}  # every process any chaos run started
    history = []
    try:
        for attempt in range(KILLS):
            group = attempt % 2 == 0
            name = f"chaos-{attempt}"
            process = start(name, "--out", str(out), "--executor", "process", "--workers", "2",
                            *(["--resume"] if attempt else []))
            tracked: dict[int, object] = {}
            before = lines()
            if rng.random() < 0.3:  # any moment: imports, lock, suite.json, pool start, first episodes
                deadline = time.monotonic() + rng.uniform(0.05, 2.5)
                while time.monotonic() < deadline and process.poll() is None:
                    tracked.update(descendants(process.pid))
                    time.sleep(0.01)
            else:  # in the middle of the episodes: once this run has written one, a little later
                deadline = time.monotonic() + 120
                while lines() <= before and process.poll() is None and time.monotonic() < deadline:
                    tracked.update(descendants(process.pid))
                    time.sleep(0.01)
                pause = time.monotonic() + rng.uniform(0.0, 0.4)
                while time.monotonic() < pause and process.poll() is None:
                    tracked.update(descendants(process.pid))
                    time.sleep(0.01)
            assert process.poll() is None, (
                f"run {attempt} ended before its kill (exit {process.returncode}, seed {seed}): "
                f"{(logs / f'{name}.err').read_text()[-2000:]}")
            tracked.update(descendants(process.pid))
            every.update(tracked)
            if group:
                os.killpg(process.pid, signal.SIGKILL)
            else:
                process.kill()  # the main process only: its pool must follow it
            process.wait(timeout=30)
            history.append((attempt, "group" if group else "main", before, lines(), len(tracked)))
            assert wait_gone(tracked, 5.0) == [], f"orphans after kill {attempt} ({history}, seed {seed})"
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)  # nothing is left to kill; belt and braces

        final = start("final", "--out", str(out), "--executor", "process", "--workers", "2", "--resume")
        assert final.wait(timeout=300) == 0, (logs / "final.err").read_text()[-3000:]
        assert ref.wait(timeout=300) == 0, (logs / "reference.err").read_text()[-3000:]
    finally:
        for process_pid in alive(every):
            with contextlib.suppress(ProcessLookupError):
                os.kill(process_pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(ref.pid, signal.SIGKILL)
        ref.wait(timeout=30)

    print(f"chaos seed {seed}: (attempt, kill, lines before, lines after, processes) {history}")
    assert len(history) >= KILLS
    assert any(after > before for _, _, before, after, _ in history), f"no kill landed mid-run: {history}"
    assert alive(every) == [], "processes of the killed runs are still alive"
    records, expected = _records(out / "episodes.jsonl"), _records(reference / "episodes.jsonl")
    keys = [record["key"] for record in records]
    assert len(keys) == len(set(keys)), f"repeated episodes (seed {seed}, {history})"
    assert len(expected) == N_EPISODES and set(keys) == {record["key"] for record in expected}, (
        f"lost episodes (seed {seed}, {history})")
    assert not (out / "episodes.quarantine.jsonl").exists(), "a kill corrupted a line before the last"
    by_key = {record["key"]: _stable(record) for record in records}
    assert all(by_key[record["key"]] == _stable(record) for record in expected), "records differ from the reference"
    results, clean = (json.loads((folder / "results.json").read_text()) for folder in (out, reference))
    assert _without_wall(results["cells"]) == _without_wall(clean["cells"])
    assert _without_wall(results["aggregates"]) == _without_wall(clean["aggregates"])
