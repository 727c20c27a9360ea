"""``agentgym run``: a suite, expanded into cells, run into a folder of results.

The run folder holds ``suite.json`` (the expanded suite and its hash), ``episodes.jsonl``
(append-only) and ``results.json``. With ``resume=True`` a killed run continues: the
episodes already in the file are kept, the rest are run, none twice.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from agentgym.agents.registry import load_agent_specs
from agentgym.bench.executors import EXECUTORS, run_local, run_process
from agentgym.bench.plots import save_recipe_plots
from agentgym.bench.results import EpisodeLog, build_results, format_table, provenance
from agentgym.bench.suite import Suite, expand, load_suite
from agentgym.core.errors import AgentGymError
from agentgym.core.files import write_json_atomic
from agentgym.envs.registration import load_env_specs


@dataclass
class RunOutcome:
    out_dir: Path
    results_path: Path
    results: dict[str, Any]
    ran: int
    skipped: int


def run_suite(suite: Suite | str | Path, out_dir: str | Path, *, executor: str = "local", workers: int = 1,
              resume: bool = False, env_dirs: list[str] | None = None, agent_dirs: list[str] | None = None,
              progress: bool = True, print_table: bool = True) -> RunOutcome:
    """Run every pending episode of ``suite`` into ``out_dir`` and write results.json.

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

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    episodes_path = out / "episodes.jsonl"
    suite_path = out / "suite.json"
    suite_record = {"name": suite.name, "version": suite.version, "hash": expanded.hash}
    if episodes_path.exists() and episodes_path.stat().st_size > 0:
        if not resume:
            raise AgentGymError(f"{episodes_path} already holds episodes: pass --resume to continue that run, "
                                "or choose another --out folder")
        if suite_path.exists():
            previous = json.loads(suite_path.read_text(encoding="utf-8"))
            if previous.get("hash") != expanded.hash:
                raise AgentGymError(f"cannot resume: {out} holds a run of a different suite "
                                    f"({previous.get('name')} hash {str(previous.get('hash'))[:12]})")
    write_json_atomic(suite_path, {**suite_record, "spec": suite.model_dump(mode="json")})

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
            bar.write(f"episode {record['key']} failed: {record['error'].strip().splitlines()[-1]}")

    try:
        if executor == "process" and workers > 1:
            run_process(work, emit, suite.batch_size, workers, env_dirs or [], agent_dirs or [])
        else:
            run_local(work, emit, suite.batch_size)
    finally:
        bar.close()
        log.close()

    # suite order, not finishing order: the numbers must not depend on executor or resume
    order = {key: i for i, key in enumerate(key for cell in expanded.cells for key, _, _ in cell.episode_keys())}
    records = sorted((record for record in log.records if record["key"] in order), key=lambda r: order[r["key"]])
    results = build_results(suite_record, episodes_path, records, provenance(executor, workers), seed=suite.seed)
    results_path = out / "results.json"
    write_json_atomic(results_path, results)
    if results["aggregates"].get("recipes"):
        save_recipe_plots(expanded.cells, results["aggregates"]["recipes"], out)
    if print_table:
        print(format_table(results))
        print(f"\nwrote {results_path} and {episodes_path}")
    return RunOutcome(out, results_path, results, ran=total, skipped=len(done & order.keys()))
