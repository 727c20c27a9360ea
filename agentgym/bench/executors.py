"""Executors: where cells run. ``local`` runs them in this process; ``process`` in a pool.

Either way every finished episode reaches the ``emit`` callback of the main process as soon
as it ends, so it is on disk before the next one finishes.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import sys
import traceback
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from agentgym.agents.base import Agent
from agentgym.agents.registry import make_agent
from agentgym.bench.loop import failed_record, run_cell
from agentgym.bench.suite import Cell

Work = list[tuple[Cell, list[tuple[str, int, int]]]]
Emit = Callable[[dict[str, Any]], None]
EXECUTORS = ("local", "process")


def _build_agent(cell: Cell, cache: dict[str, Agent]) -> tuple[Agent | None, str | None]:
    name = cell.agent.name
    if name not in cache:
        try:
            cache[name] = make_agent(cell.agent)
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


_worker_queue: Any = None


def _share_cores(workers: int) -> None:
    """Give a worker its share of the cores for intra-op threads (torch, OpenMP), not all of them:
    ``workers`` processes each running as many threads as there are cores only fight for them."""
    threads = max(1, (os.cpu_count() or 1) // max(1, workers))
    os.environ["OMP_NUM_THREADS"] = str(threads)  # for a torch imported later in this worker
    if "torch" in sys.modules:  # inherited through fork
        sys.modules["torch"].set_num_threads(threads)


def _init_worker(records: Any, env_dirs: Sequence[str], agent_dirs: Sequence[str], workers: int = 1) -> None:
    global _worker_queue
    _worker_queue = records
    _share_cores(workers)
    from agentgym.agents.registry import load_agent_specs
    from agentgym.envs.registration import load_env_specs

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


def run_process(work: Work, emit: Emit, batch_size: int, workers: int,
                env_dirs: Sequence[str] = (), agent_dirs: Sequence[str] = ()) -> None:
    """One task per cell over a pool of processes; records come back through a queue."""
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    manager = context.Manager()
    records = manager.Queue()
    seen: set[str] = set()

    def drain(block: bool) -> None:
        while True:
            try:
                record = records.get(timeout=0.2) if block else records.get_nowait()
            except queue.Empty:
                return
            seen.add(record["key"])
            emit(record)
            block = False

    try:
        with ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker,
                                 initargs=(records, list(env_dirs), list(agent_dirs), workers)) as pool:
            futures = {pool.submit(_worker_run, cell, pending, batch_size): (cell, pending) for cell, pending in work}
            while any(not f.done() for f in futures):
                drain(block=True)
            drain(block=False)
            for future, (cell, pending) in futures.items():
                error = future.exception()
                if error is None:
                    continue
                # a worker died (or raised outside an episode): what it did not report is failed
                text = "".join(traceback.format_exception(error))
                for key, seed, repeat in pending:
                    if key not in seen:
                        seen.add(key)
                        emit(failed_record(cell, key, seed, repeat, "worker failed:\n" + text))
    finally:
        manager.shutdown()
