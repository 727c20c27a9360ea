"""Executors: where cells run. ``local`` runs them in this process; ``process`` in a pool.

Either way every finished episode reaches the ``emit`` callback of the main process as soon
as it ends, so it is on disk before the next one finishes.

The pool's processes (the workers and the manager that carries their records) die with the
main process however it ends: on Linux the kernel kills them when it exits
(``PR_SET_PDEATHSIG``), and everywhere a watchdog thread in each of them exits once its parent
is gone. Ctrl-C and SIGTERM are the main process's to handle: the workers ignore SIGINT; the
main process notes the signal, stops within a fraction of a second (never in the middle of a
write), ends the pool, keeps every episode that had finished and raises
:class:`KeyboardInterrupt` (:class:`Terminated` for SIGTERM).
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import os
import queue
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from multiprocessing.managers import SyncManager
from pathlib import Path
from typing import Any

from agentgym.agents.base import Agent
from agentgym.agents.registry import load_agent_specs, make_agent
from agentgym.bench.loop import failed_record, run_cell
from agentgym.bench.suite import Cell
from agentgym.core.errors import UntrustedCodeError
from agentgym.envs.registration import load_env_specs

Work = list[tuple[Cell, list[tuple[str, int, int]]]]
Emit = Callable[[dict[str, Any]], None]
EXECUTORS = ("local", "process")

PARENT_POLL_SECONDS = 0.5  # how often a pool process checks that the main process still lives
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


class Terminated(KeyboardInterrupt):
    """The run's main process got SIGTERM: it stops as on Ctrl-C (finished episodes kept, pool ended)."""

    def __init__(self, message: str = "terminated (SIGTERM)") -> None:
        super().__init__(message)


def _build_agent(cell: Cell, cache: dict[str, Agent]) -> tuple[Agent | None, str | None]:
    name = cell.agent.name
    if name not in cache:
        try:
            cache[name] = make_agent(cell.agent)
        except UntrustedCodeError:  # a refusal of the spec, not a failure of its episodes: stop the run
            raise
        except Exception:
            return None, "agent could not be built:\n" + traceback.format_exc()
    return cache[name], None


def run_local(work: Work, emit: Emit, batch_size: int) -> None:
    agents: dict[str, Agent] = {}
    try:
        for cell, pending in work:
            agent, error = _build_agent(cell, agents)
            run_cell(cell, pending, agent, emit, batch_size=batch_size, agent_error=error)
    finally:
        for agent in agents.values():
            agent.close()


# --- the pool's processes die with the main process ------------------------------------------

def _set_parent_death_signal(signum: int) -> bool:
    """Ask Linux to send ``signum`` to this process when its parent ends; False where unavailable."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_SET_PDEATHSIG, int(signum), 0, 0, 0) == 0
    except (OSError, AttributeError, TypeError):
        return False


def _watch_parent(parent_pid: int, interval: float) -> None:
    # an orphan is re-parented (to init or a subreaper): its parent pid changes
    while os.getppid() == parent_pid:
        time.sleep(interval)
    os._exit(1)


def die_with_parent(parent_pid: int, interval: float = PARENT_POLL_SECONDS) -> None:
    """Make this process (a child of the run's main process ``parent_pid``) end when the main one ends.

    Called first thing in every pool process: SIGINT is ignored (Ctrl-C reaches the whole process
    group; the main process handles it), SIGTERM gets its default action back (a handler inherited
    through fork would swallow ``Process.terminate``), Linux kills this process when its parent
    exits (``prctl(PR_SET_PDEATHSIG, SIGKILL)``), and a daemon thread exits it within ``interval``
    seconds of noticing it was orphaned, where prctl is unavailable.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _set_parent_death_signal(getattr(signal, "SIGKILL", signal.SIGTERM))
    if os.getppid() != parent_pid:  # the parent ended before the death signal was armed
        os._exit(1)
    threading.Thread(target=_watch_parent, args=(parent_pid, interval), name="agentgym-parent-watchdog",
                     daemon=True).start()


@contextlib.contextmanager
def _stop_requests() -> Iterator[list[int]]:
    """While the pool runs, SIGINT and SIGTERM only note a stop request (the signal numbers, in order).

    The main loop checks the list between records, so a stop never lands in the middle of a call
    to the manager or of a write to the episodes file. Outside the main thread nothing changes.
    """
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield received
        return

    def note(signum: int, frame: Any) -> None:
        received.append(signum)

    previous = {signum: signal.signal(signum, note) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield received
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)


# --- the process executor ---------------------------------------------------------------------

_worker_queue: Any = None


def _share_cores(workers: int) -> None:
    """Give a worker its share of the cores for intra-op threads (torch, OpenMP), not all of them:
    ``workers`` processes each running as many threads as there are cores only fight for them."""
    threads = max(1, (os.cpu_count() or 1) // max(1, workers))
    os.environ["OMP_NUM_THREADS"] = str(threads)  # for a torch imported later in this worker
    if "torch" in sys.modules:  # inherited through fork
        sys.modules["torch"].set_num_threads(threads)


def _init_worker(records: Any, env_dirs: Sequence[str], agent_dirs: Sequence[str], workers: int = 1,
                 parent_pid: int | None = None) -> None:
    global _worker_queue
    if parent_pid is not None:
        die_with_parent(parent_pid)
    _worker_queue = records
    _share_cores(workers)
    for folder in env_dirs:
        load_env_specs(Path(folder))
    for folder in agent_dirs:
        load_agent_specs(Path(folder))


def _worker_run(cell: Cell, pending: list[tuple[str, int, int]], batch_size: int) -> None:
    agents: dict[str, Agent] = {}
    agent, error = _build_agent(cell, agents)
    try:
        run_cell(cell, pending, agent, _worker_queue.put, batch_size=batch_size, agent_error=error)
    finally:
        if agent is not None:
            agent.close()


def _end_pool(pool: ProcessPoolExecutor) -> None:
    """Stop a pool now: queued cells are cancelled, running workers terminated (their unfinished
    episodes are simply not recorded: a resumed run does them)."""
    processes = list((getattr(pool, "_processes", None) or {}).values())
    for process in processes:
        with contextlib.suppress(Exception):
            process.terminate()
    deadline = time.monotonic() + 3.0
    for process in processes:  # one that handles SIGTERM itself (a library may install a handler) is killed
        with contextlib.suppress(Exception):
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                process.kill()
    pool.shutdown(wait=True, cancel_futures=True)


def _drain(records: Any, seen: set[str], emit: Emit, block: bool) -> None:
    """Emit the records waiting in the queue (waiting a little for the first one when ``block``)."""
    while True:
        try:
            record = records.get(timeout=0.2) if block else records.get_nowait()
        except queue.Empty:
            return
        seen.add(record["key"])
        emit(record)
        block = False


def _emit_worker_failures(futures: dict[Future, tuple[Cell, list[tuple[str, int, int]]]], seen: set[str],
                          emit: Emit) -> None:
    """A worker died (or raised outside an episode): what it did not report is recorded as failed."""
    for future, (cell, pending) in futures.items():
        error = future.exception()
        if error is None:
            continue
        text = "".join(traceback.format_exception(error))
        for key, seed, repeat in pending:
            if key not in seen:
                seen.add(key)
                emit(failed_record(cell, key, seed, repeat, "worker failed:\n" + text))


def run_process(work: Work, emit: Emit, batch_size: int, workers: int,
                env_dirs: Sequence[str] = (), agent_dirs: Sequence[str] = ()) -> None:
    """One task per cell over a pool of processes; records come back through a queue.

    Raises:
        KeyboardInterrupt: on SIGINT (Ctrl-C), :class:`Terminated` on SIGTERM, once the pool is
            ended and every record that reached the main process is emitted.
    """
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    parent_pid = os.getpid()
    seen: set[str] = set()
    pool: ProcessPoolExecutor | None = None
    ended = False

    with _stop_requests() as stop:
        manager = SyncManager(ctx=context)
        manager.start(die_with_parent, (parent_pid,))
        try:
            records = manager.Queue()

            def drain(block: bool) -> None:
                _drain(records, seen, emit, block)

            pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker,
                                       initargs=(records, list(env_dirs), list(agent_dirs), workers, parent_pid))
            futures: dict[Future, tuple[Cell, list[tuple[str, int, int]]]] = {}
            for cell, pending in work:
                if stop:
                    break
                futures[pool.submit(_worker_run, cell, pending, batch_size)] = (cell, pending)
            while not stop and any(not f.done() for f in futures):
                drain(block=True)
            if not stop:
                drain(block=False)
                pool.shutdown(wait=True)
                ended = True
                _emit_worker_failures(futures, seen, emit)
            else:
                ended = True
                _end_pool(pool)
                drain(block=False)  # what finished before the stop is kept
        finally:
            if pool is not None and not ended:  # an error (say, a full disk): end the pool, then raise it
                with contextlib.suppress(Exception):
                    _end_pool(pool)
            manager.shutdown()
    if stop:
        raise Terminated() if stop[0] == signal.SIGTERM else KeyboardInterrupt()
