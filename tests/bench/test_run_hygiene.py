"""The runner's hygiene (issue 18, points 7-9): no orphans, one run per folder, no foreign folder overwritten.

7. The pool's processes die with the main process (kill -9, SIGTERM, Ctrl-C), and Ctrl-C prints one line.
8. A second run into a folder in use is refused at once.
9. ``--out`` that is a file, unwritable, or holds anything but a run of this suite is refused
   (unless ``force``), in one line.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import yaml
from processes import alive, descendants, wait_gone

from agentgym.bench.run import LOCK_NAME, run_suite
from agentgym.bench.suite import Suite
from agentgym.core.errors import AgentGymError, RunFolderError

posix_only = pytest.mark.skipif(os.name != "posix", reason="signals and process groups are POSIX")


class Run:
    """``agentgym run`` as a subprocess in its own session (so its whole process group can be signalled
    and, whatever the test's outcome, cleaned up); output goes to files, never to pipes that orphans
    would hold open."""

    def __init__(self, tmp_path: Path, *args: str, name: str = "run") -> None:
        self.out = tmp_path / name
        self.stdout, self.stderr = tmp_path / f"{name}.stdout", tmp_path / f"{name}.stderr"
        self.episodes = self.out / "episodes.jsonl"
        self.tracked: dict[int, object] = {}
        command = [sys.executable, "-m", "agentgym.cli.main", "run", *args, "--out", str(self.out), "--no-progress"]
        with self.stdout.open("wb") as out, self.stderr.open("wb") as err:
            self.process = subprocess.Popen(command, stdout=out, stderr=err, start_new_session=True)

    def lines(self) -> int:
        try:
            return self.episodes.read_bytes().count(b"\n")
        except OSError:
            return 0

    def track(self) -> None:
        self.tracked.update(descendants(self.process.pid))

    def wait_for_episodes(self, count: int = 1, timeout: float = 120) -> None:
        """Wait until ``count`` episodes are written, tracking the run's processes meanwhile."""
        deadline = time.monotonic() + timeout
        while self.lines() < count and self.process.poll() is None and time.monotonic() < deadline:
            self.track()
            time.sleep(0.02)
        self.track()
        assert self.process.poll() is None, f"the run ended before the test could stop it: {self.err()}"
        assert self.lines() >= count, f"no episode after {timeout} s: {self.err()}"

    def err(self) -> str:
        return self.stderr.read_text(errors="replace")

    def cleanup(self) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)  # the group outlives its leader: orphans included
        for pid in alive(self.tracked):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=10)


@pytest.fixture()
def runs():
    started: list[Run] = []
    yield started
    for run in started:
        run.cleanup()


POOL = ("smoke", "--executor", "process", "--workers", "2")


# --- 7. orphans ---------------------------------------------------------------------------------

@posix_only
@pytest.mark.slow
def test_kill_9_of_the_main_process_leaves_no_worker_or_manager(tmp_path, runs):
    run = Run(tmp_path, *POOL)
    runs.append(run)
    run.wait_for_episodes(1)
    assert len(run.tracked) >= 3, f"expected a manager and two workers, found {run.tracked}"
    run.process.kill()  # SIGKILL, the main process only
    run.process.wait(timeout=10)
    assert wait_gone(run.tracked, 5.0) == [], "pool processes outlived the run's main process"


@posix_only
@pytest.mark.slow
def test_sigterm_ends_the_pool_cleanly(tmp_path, runs):
    run = Run(tmp_path, *POOL)
    runs.append(run)
    run.wait_for_episodes(1)
    run.process.send_signal(signal.SIGTERM)
    assert run.process.wait(timeout=30) in (130, 143), run.err()
    assert wait_gone(run.tracked, 5.0) == []
    assert "Traceback" not in run.err()
    data = run.episodes.read_bytes()
    assert data.endswith(b"\n") and all(json.loads(line)["key"] for line in data.splitlines())


def _slow_suite(tmp_path: Path, name: str, episodes: int, delay: float) -> str:
    """One long cell of a slow agent: with two workers, one of them is idle the whole time."""
    suite = {"name": name, "version": 1, "envs": ["agentgym/FrozenLake-v0"], "references": False,
             "episodes": episodes, "batch_size": 2,
             "agents": [{"name": "slow", "entry_point": "agentgym.testing.toy:SlowRandomAgent",
                         "kwargs": {"delay": delay}}]}
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(suite))
    return str(path)


@posix_only
@pytest.mark.slow
def test_ctrl_c_stops_at_once_in_one_line(tmp_path, runs):
    run = Run(tmp_path, _slow_suite(tmp_path, "ctrlc", episodes=60, delay=0.1), "--executor", "process",
              "--workers", "2")
    runs.append(run)
    run.wait_for_episodes(1)
    os.killpg(run.process.pid, signal.SIGINT)  # what the terminal sends on Ctrl-C: the whole foreground group
    started = time.monotonic()
    try:
        code = run.process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        code = None
    waited = time.monotonic() - started
    err = run.err()
    assert code == 130, err
    assert waited < 15, f"Ctrl-C waited {waited:.0f} s for the workers to finish their cells"
    assert wait_gone(run.tracked, 5.0) == []
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    data = run.episodes.read_bytes()
    assert data.endswith(b"\n") and 1 <= data.count(b"\n") < 60
    assert all(json.loads(line)["key"] for line in data.splitlines())


WATCHED_CHILD = textwrap.dedent("""
    import multiprocessing, os, sys, time
    from agentgym.bench import executors

    executors._set_parent_death_signal = lambda signum: False  # as where prctl does not exist

    def child(parent):
        executors.die_with_parent(parent, interval=0.1)
        time.sleep(120)

    if __name__ == "__main__":
        process = multiprocessing.get_context("fork").Process(target=child, args=(os.getpid(),))
        process.start()
        print(process.pid, flush=True)
        time.sleep(120)
""")


@posix_only
def test_the_watchdog_ends_an_orphan_where_prctl_is_unavailable(tmp_path):
    script = tmp_path / "parent.py"
    script.write_text(WATCHED_CHILD)
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True,
                              start_new_session=True)
    try:
        child = int(parent.stdout.readline())
        tracked = descendants(parent.pid)
        assert child in tracked
        time.sleep(0.3)
        assert alive(tracked) == [child]  # the watchdog leaves a child with a parent alone
        parent.kill()
        parent.wait(timeout=10)
        assert wait_gone(tracked, 3.0) == []
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(parent.pid, signal.SIGKILL)
        parent.wait(timeout=10)
        parent.stdout.close()


# --- 8. one run per folder ----------------------------------------------------------------------

def _suite(env_id: str, **overrides) -> Suite:
    data = {"name": "toy", "version": 1, "envs": [env_id], "agents": ["random", "oracle"], "rewards": ["env"],
            "split": "test", "episodes": 5}
    data.update(overrides)
    return Suite.model_validate(data)


def _run(suite: Suite, out: Path, **kwargs):
    return run_suite(suite, out, progress=False, print_table=False, **kwargs)


def test_a_folder_in_use_is_refused_at_once(tmp_path, corridor):
    from filelock import FileLock

    out = tmp_path / "run"
    out.mkdir()
    with FileLock(str(out / LOCK_NAME)):  # another run holds the folder
        started = time.monotonic()
        with pytest.raises(RunFolderError, match="another run is writing to"):
            _run(_suite(corridor), out)
        assert time.monotonic() - started < 5
        assert not (out / "episodes.jsonl").exists() and not (out / "suite.json").exists()
    assert _run(_suite(corridor), out).results["n_episodes"] == 10  # released: the folder is usable again


@posix_only
@pytest.mark.slow
def test_a_second_concurrent_run_is_refused_and_the_first_is_untouched(tmp_path, runs):
    path = _slow_suite(tmp_path, "busy", episodes=12, delay=0.05)
    first = Run(tmp_path, path, "--executor", "process", "--workers", "2")
    runs.append(first)
    first.wait_for_episodes(1)
    second = subprocess.run([sys.executable, "-m", "agentgym.cli.main", "run", path, "--out", str(first.out),
                             "--resume", "--no-progress"], capture_output=True, text=True, timeout=120)
    assert second.returncode == 2 and "another run is writing to" in second.stderr, second.stderr
    assert len(second.stderr.strip().splitlines()) == 1 and "Traceback" not in second.stderr
    with pytest.raises(RunFolderError, match="another run is writing to"):  # in use comes before "--resume"
        run_suite(path, first.out, progress=False, print_table=False)
    assert first.process.wait(timeout=120) == 0, first.err()
    keys = [json.loads(line)["key"] for line in first.episodes.read_text().splitlines()]
    assert len(keys) == len(set(keys)) == 12


# --- 9. --out safety ------------------------------------------------------------------------------

def test_a_folder_of_other_files_is_refused_and_left_alone(tmp_path, corridor):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "results.json").write_text('{"my": "own results"}\n')
    (out / "notes.txt").write_text("do not touch\n")
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    for resume in (False, True):
        with pytest.raises(RunFolderError, match=r"holds no agentgym run.*--force"):
            _run(_suite(corridor), out, resume=resume)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # not even a lock file was left


def test_a_suite_json_not_written_by_agentgym_is_refused(tmp_path, corridor):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "suite.json").write_text('{"name": "my own suite file"}\n')
    with pytest.raises(RunFolderError, match=r"suite\.json that no agentgym run wrote"):
        _run(_suite(corridor), out)
    assert (out / "suite.json").read_text() == '{"name": "my own suite file"}\n'


def test_a_run_of_another_suite_is_refused_without_force(tmp_path, corridor):
    out = tmp_path / "run"
    _run(_suite(corridor, episodes=3), out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    with pytest.raises(RunFolderError, match=r"different suite.*--force"):
        _run(_suite(corridor), out)
    with pytest.raises(RunFolderError, match=r"cannot resume.*different suite"):
        _run(_suite(corridor), out, resume=True, force=True)  # force cannot make another suite's episodes ours
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_force_writes_into_the_folder_and_sets_the_old_run_files_aside(tmp_path, corridor):
    out = tmp_path / "run"
    out.mkdir()
    (out / "results.json").write_text('{"my": "own results"}\n')
    (out / "notes.txt").write_text("do not touch\n")
    outcome = _run(_suite(corridor), out, force=True)
    assert outcome.results["n_episodes"] == 10
    (aside,) = out.glob("results.replaced-*.json")
    assert aside.read_text() == '{"my": "own results"}\n'
    assert (out / "notes.txt").read_text() == "do not touch\n"
    # now a run of another suite is there: force replaces it, its episodes kept aside, not mixed in
    outcome = _run(_suite(corridor, episodes=3), out, force=True)
    assert outcome.ran == 6 and outcome.results["n_episodes"] == 6
    assert len((out / "episodes.jsonl").read_text().splitlines()) == 6
    (old,) = out.glob("episodes.replaced-*.jsonl")
    assert len(old.read_text().splitlines()) == 10


def test_force_starts_a_run_of_this_suite_over_and_resume_still_continues(tmp_path, corridor):
    out = tmp_path / "run"
    _run(_suite(corridor), out)
    with pytest.raises(RunFolderError, match="--resume"):
        _run(_suite(corridor), out)
    assert _run(_suite(corridor), out, resume=True, force=True).ran == 0  # a run of this suite is resumed
    assert _run(_suite(corridor), out, force=True).ran == 10  # started over
    assert len(list(out.glob("episodes.replaced-*.jsonl"))) == 1


def test_what_a_killed_run_leaves_behind_is_no_obstacle(tmp_path, corridor):
    out = tmp_path / "run"
    out.mkdir()
    (out / LOCK_NAME).write_text("")  # killed after taking the lock,
    (out / ".suite.json.0123456789ab.tmp").write_text("{")  # in the middle of writing suite.json
    assert _run(_suite(corridor), out).results["n_episodes"] == 10


def test_out_that_is_a_file_or_unwritable_is_one_line_error(tmp_path, corridor, capsys):
    from agentgym.cli.main import main

    a_file = tmp_path / "results.txt"
    a_file.write_text("mine\n")
    with pytest.raises(RunFolderError, match="is a file, not a folder"):
        _run(_suite(corridor), a_file)
    with pytest.raises(RunFolderError, match="cannot create the run folder"):
        _run(_suite(corridor), a_file / "run")
    assert a_file.read_text() == "mine\n"
    assert main(["run", "smoke", "--out", str(a_file), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1 and "Traceback" not in err


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs /proc, a place nobody can write")
def test_out_in_a_place_nobody_can_write_is_a_project_error(tmp_path, corridor):
    with pytest.raises(RunFolderError, match="cannot create the run folder"):
        _run(_suite(corridor), "/proc/agentgym-run")


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root may write into a read-only folder")
def test_a_read_only_folder_is_a_project_error(tmp_path, corridor):
    out = tmp_path / "read-only"
    out.mkdir()
    out.chmod(0o555)
    try:
        with pytest.raises(RunFolderError, match="cannot write to the run folder"):
            _run(_suite(corridor), out)
    finally:
        out.chmod(0o755)


def test_run_folder_error_is_a_project_error():
    assert issubclass(RunFolderError, AgentGymError)
