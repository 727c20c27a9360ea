"""``agentgym run``: a suite, expanded into cells, run into a folder of results.

The run folder holds ``suite.json`` (the expanded suite and its hash), ``episodes.jsonl``
(append-only) and ``results.json``. With ``resume=True`` a killed run continues: the
episodes already in the file are kept, the rest are run, none twice.

The folder is guarded: one run at a time (``.run.lock``, held while the run writes; a second
run into it is refused at once), and a folder that holds anything but a run of this suite is
refused unless ``force=True`` (whose files of another run are then set aside, never deleted).
SIGTERM stops a run the way Ctrl-C does: the finished episodes are kept, the pool is ended,
and :class:`KeyboardInterrupt` (:class:`Terminated`) is raised.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import signal
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout
from tqdm import tqdm

from agentgym.agents.registry import load_agent_specs
from agentgym.bench.episode_log import EpisodeLog
from agentgym.bench.executors import EXECUTORS, Terminated, run_local, run_process
from agentgym.bench.provenance import provenance
from agentgym.bench.suite import Suite, expand, load_suite
from agentgym.core.errors import AgentGymError, RunFolderError
from agentgym.core.files import write_json_atomic
from agentgym.core.redact import redact_data
from agentgym.envs.registration import load_env_specs

__all__ = ["LOCK_NAME", "RunOutcome", "Terminated", "run_suite"]

LOCK_NAME = ".run.lock"
RUN_FILES = ("suite.json", "episodes.jsonl", "results.json")  # what a run writes, and --force sets aside
_SCRATCH = re.compile(r"^\..+\.[0-9a-f]{12}\.tmp$")  # core.files.atomic_write_text's temp files, left by a kill
logger = logging.getLogger(__name__)


@dataclass
class RunOutcome:
    out_dir: Path
    results_path: Path
    results: dict[str, Any]
    ran: int
    skipped: int


def run_suite(suite: Suite | str | Path, out_dir: str | Path, *, executor: str = "local", workers: int = 1,
              resume: bool = False, force: bool = False, env_dirs: list[str] | None = None,
              agent_dirs: list[str] | None = None, progress: bool = True, print_table: bool = True) -> RunOutcome:
    """Run every pending episode of ``suite`` into ``out_dir`` and write results.json.

    Args:
        resume: Continue the run of this suite already in ``out_dir`` (its episodes are kept).
        force: Write into a folder that holds other files or another suite's run; the files of
            that run (``suite.json``, ``episodes.jsonl``, ``results.json``) are renamed aside,
            never deleted. Without ``resume``, this suite's own earlier episodes are set aside too
            and the run starts over.

    Raises:
        RunFolderError: ``out_dir`` is a file, cannot be created or written, is in use by another
            run, or holds something other than a run of this suite (without ``force``).
        KeyboardInterrupt: on Ctrl-C, or :class:`Terminated` on SIGTERM; the finished episodes
            are on disk and ``resume=True`` continues.

    Example:
        >>> outcome = run_suite("smoke", "/tmp/agentgym-doctest-run", progress=False,
        ...                     print_table=False)  # doctest: +SKIP
    """
    if executor not in EXECUTORS:
        raise AgentGymError(f"unknown executor {executor!r}; choose one of {EXECUTORS}")
    if workers < 1:
        raise AgentGymError("--workers must be at least 1")
    for folder in env_dirs or []:
        load_env_specs(Path(folder))
    for folder in agent_dirs or []:
        load_agent_specs(Path(folder))
    if not isinstance(suite, Suite):
        suite = load_suite(suite)
    expanded = expand(suite)
    suite_record = {"name": suite.name, "version": suite.version, "hash": expanded.hash}

    out = Path(out_dir)
    _make_folder(out)
    _claim(out, expanded.hash, resume=resume, force=force, dry=True)  # refuse before leaving a lock file
    with _run_lock(out), _sigterm_stops():
        _claim(out, expanded.hash, resume=resume, force=force, dry=False)  # again, now that no run can interfere
        return _run_locked(suite, expanded, suite_record, out, executor=executor, workers=workers,
                           env_dirs=env_dirs, agent_dirs=agent_dirs, progress=progress, print_table=print_table)


def _run_locked(suite: Suite, expanded: Any, suite_record: dict[str, Any], out: Path, *, executor: str,
                workers: int, env_dirs: list[str] | None, agent_dirs: list[str] | None, progress: bool,
                print_table: bool) -> RunOutcome:
    episodes_path = out / "episodes.jsonl"
    write_json_atomic(out / "suite.json", redact_data({**suite_record, "spec": suite.model_dump(mode="json")}))

    log = EpisodeLog(episodes_path)
    done = log.done_keys()
    work = []
    for cell in expanded.cells:
        pending = [key for key in cell.episode_keys() if key[0] not in done]
        if pending:
            work.append((cell, pending))
    total = sum(len(pending) for _, pending in work)
    bar = tqdm(total=total, desc=f"{suite.name}", unit="ep", disable=not progress, file=sys.stderr)

    def emit(record: dict[str, Any]) -> None:
        log.append(record)
        bar.update(1)
        if record["status"] != "ok":
            last = (record.get("error") or record["status"]).strip().splitlines()[-1:] or [record["status"]]
            agent_error = record["status"] == "agent_error"
            how = "scored as a failure of the agent" if agent_error else "failed (cell incomplete)"
            bar.write(f"episode {record['key']} {how}: {last[0]}")

    try:
        if executor == "process" and workers > 1:
            run_process(work, emit, suite.batch_size, workers, env_dirs or [], agent_dirs or [])
        else:
            run_local(work, emit, suite.batch_size)
    finally:
        bar.close()
        log.close()

    # lazy import: the metrics pull scipy (seconds); the first episode and the forked workers need none of it
    from agentgym.bench.results import build_results, format_table  # noqa: PLC0415 - scipy, see above

    # suite order, not finishing order: the numbers must not depend on executor or resume
    order = {key: i for i, key in enumerate(key for cell in expanded.cells for key, _, _ in cell.episode_keys())}
    records = sorted((record for record in log.records if record["key"] in order), key=lambda r: order[r["key"]])
    results = build_results(records, suite_record, episodes_path, provenance(executor, workers), seed=suite.seed,
                            cell_order=[cell.id for cell in expanded.cells])
    results_path = out / "results.json"
    write_json_atomic(results_path, results)
    if results["aggregates"].get("recipes"):
        from agentgym.bench.plots import save_recipe_plots  # noqa: PLC0415  # lazy import: matplotlib, recipe suites only

        save_recipe_plots(expanded.cells, results["aggregates"]["recipes"], out)
    if print_table:
        print(format_table(results))
        print(f"\nwrote {results_path} and {episodes_path}")
    return RunOutcome(out, results_path, results, ran=total, skipped=len(done & order.keys()))


# --- the run folder ---------------------------------------------------------------------------

def _make_folder(out: Path) -> None:
    """``out`` exists as a folder, or a one-line :class:`RunFolderError` says why it cannot."""
    try:
        if out.exists() and not out.is_dir():
            raise RunFolderError(f"--out {out} is a file, not a folder; choose a folder for the run")
        out.mkdir(parents=True, exist_ok=True)
    except RunFolderError:
        raise
    except OSError as exc:
        raise RunFolderError(f"cannot create the run folder {out}: {exc.strerror or exc}") from None


@contextlib.contextmanager
def _run_lock(out: Path) -> Iterator[None]:
    """Hold ``<out>/.run.lock`` for the run; a folder another run holds is refused at once.

    The lock is an OS lock on an open file (flock), so a killed run releases it with its last
    process; the file itself stays.
    """
    lock = FileLock(str(out / LOCK_NAME))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise RunFolderError(f"another run is writing to {out} (it holds {out / LOCK_NAME}); wait for it to end "
                             "or choose another --out folder") from None
    except OSError as exc:
        raise RunFolderError(f"cannot write to the run folder {out}: {exc.strerror or exc}") from None
    try:
        yield
    finally:
        lock.release()


def _entries(out: Path) -> list[str]:
    """Names in ``out`` other than the run's own lock and temp files."""
    try:
        names = [path.name for path in out.iterdir()]
    except OSError as exc:
        raise RunFolderError(f"cannot read the run folder {out}: {exc.strerror or exc}") from None
    return [name for name in names if name != LOCK_NAME and not _SCRATCH.match(name)]


def _previous_suite(out: Path) -> dict[str, Any] | None:
    """``suite.json`` of the run in ``out`` when it is one agentgym wrote, else None."""
    try:
        previous = json.loads((out / "suite.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return previous if isinstance(previous, dict) and isinstance(previous.get("hash"), str) else None


def _claim(out: Path, suite_hash: str, *, resume: bool, force: bool, dry: bool) -> None:
    """Refuse ``out`` unless it is empty or a run of this suite (or ``force``); with ``dry=False``,
    set aside what ``force`` replaces."""
    entries = _entries(out)
    if not entries:
        return
    episodes = out / "episodes.jsonl"
    has_episodes = episodes.is_file() and episodes.stat().st_size > 0
    previous = _previous_suite(out)
    if previous is not None and previous["hash"] == suite_hash:
        if dry or not has_episodes or resume:  # (whether the run is in use decides first: checked under the lock)
            return
        if not force:
            raise RunFolderError(f"{episodes} already holds episodes: pass --resume to continue that run, "
                                 "--force to start it over, or choose another --out folder")
        replaced: tuple[str, ...] = ("episodes.jsonl", "results.json")
    else:
        if previous is not None:
            what = (f"holds a run of a different suite ({previous.get('name')} hash "
                    f"{str(previous.get('hash'))[:12]})")
        elif "suite.json" in entries:
            what = "holds a suite.json that no agentgym run wrote"
        else:
            what = f"is not empty ({_listing(entries)}) and holds no agentgym run"
        if resume and has_episodes:
            raise RunFolderError(f"cannot resume: {out} {what}")
        if not force:
            raise RunFolderError(f"{out} {what}; choose an empty or new --out folder, or pass --force to write "
                                 "this run into it (its run files are renamed aside, not deleted)")
        replaced = RUN_FILES
    if not dry:
        _set_aside(out, replaced)


def _listing(names: list[str], shown: int = 3) -> str:
    names = sorted(names)
    return ", ".join(names[:shown]) + (f" and {len(names) - shown} more" if len(names) > shown else "")


def _set_aside(out: Path, names: tuple[str, ...]) -> None:
    """Rename the run files ``names`` found in ``out`` to ``<stem>.replaced-<UTC time><suffix>``."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    for name in names:
        path = out / name
        if not path.exists():
            continue
        target = path.with_name(f"{path.stem}.replaced-{stamp}{path.suffix}")
        try:
            path.rename(target)
        except OSError as exc:
            raise RunFolderError(f"cannot set {path} aside: {exc.strerror or exc}") from None
        logger.warning("--force: %s renamed to %s", path, target.name)


# --- signals ----------------------------------------------------------------------------------

@contextlib.contextmanager
def _sigterm_stops() -> Iterator[None]:
    """While a run holds its folder, SIGTERM raises :class:`Terminated` (a KeyboardInterrupt) so the
    run stops as on Ctrl-C: ``finally`` blocks run, workers are ended, the lock is released.
    Only the main thread can install handlers; elsewhere nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, frame: Any) -> None:
        raise Terminated()

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)
