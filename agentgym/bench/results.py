"""The run's outputs: the episodes file (append-only, resumable), results.json and the table."""

from __future__ import annotations

import json
import platform
import subprocess
import sys
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from agentgym.core.errors import AgentGymError
from agentgym.core.files import sha256_file
from agentgym.leaderboard.render import format_interval

RESULTS_SCHEMA_VERSION = 1


class EpisodeLog:
    """``episodes.jsonl``: one JSON line per finished episode, flushed as it is written.

    Opening an existing log reads the keys already there; a line cut short by a kill (no
    newline at the end, or not JSON) is dropped from the file, so a resumed run redoes that
    one episode and repeats none.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.records: list[dict[str, Any]] = []
        if path.exists():
            self._recover()
        self._handle = path.open("a", encoding="utf-8")

    def _recover(self) -> None:
        data = self.path.read_bytes()
        good_end = 0
        position = 0
        for line in data.splitlines(keepends=True):
            position += len(line)
            if not line.endswith(b"\n"):
                break
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                break
            if not isinstance(record, dict) or "key" not in record:
                break
            self.records.append(record)
            good_end = position
        if good_end < len(data):
            with self.path.open("r+b") as handle:
                handle.truncate(good_end)

    def done_keys(self) -> set[str]:
        return {record["key"] for record in self.records}

    def append(self, record: dict[str, Any]) -> None:
        self._handle.write(json.dumps(record, sort_keys=True) + "\n")
        self._handle.flush()
        self.records.append(record)

    def close(self) -> None:
        self._handle.close()




def _package_version(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def _git_commit() -> str | None:
    root = Path(__file__).resolve().parents[2]
    try:
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    commit = out.stdout.strip()
    return commit if out.returncode == 0 and len(commit) == 40 else None


def provenance(executor: str, workers: int) -> dict[str, Any]:
    import agentgym

    return {
        "agentgym_version": agentgym.__version__,
        "git_commit": _git_commit(),
        "python": platform.python_version(),
        "torch": _package_version("torch"),
        "gymnasium": _package_version("gymnasium"),
        "platform": platform.platform(),
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "executor": executor,
        "workers": workers,
        "command": " ".join(sys.argv[:1] and [Path(sys.argv[0]).name, *sys.argv[1:]]),
    }




def build_results(suite_info: dict[str, Any], episodes_path: Path, records: list[dict[str, Any]],
                  prov: dict[str, Any], *, seed: int) -> dict[str, Any]:
    from agentgym.metrics.episodes import summarize
    from agentgym.metrics.recipes import summarize_recipes

    cells, aggregates = summarize(records, seed=seed)
    recipes = summarize_recipes(records, seed=seed)
    if recipes:
        aggregates["recipes"] = recipes
    references = {record["cell"] for record in records if record.get("reference")}
    seeds: dict[str, set[int]] = {}
    for record in records:
        seeds.setdefault(record["cell"], set()).add(record["seed"])
    for cell in cells:
        cell["reference"] = cell["cell"] in references
        cell["seeds"] = sorted(seeds.get(cell["cell"], ()))
    failed = sum(record["status"] != "ok" for record in records)
    return {
        "schema_version": RESULTS_SCHEMA_VERSION,
        "suite": suite_info,
        "provenance": prov,
        "episodes_file": episodes_path.name,
        "episodes_sha256": sha256_file(episodes_path),
        "n_episodes": len(records),
        "n_failed": failed,
        "cells": cells,
        "aggregates": aggregates,
    }




TABLE_COLUMNS = (
    ("success", "success_rate"),
    ("norm. score", "normalized_score"),
    ("return", "return"),
    ("steps", "steps"),
    ("regret", "regret"),
    ("invalid", "invalid_action_rate"),
)


RECIPE_COLUMNS = (
    ("success", "success_rate"),
    ("norm. score", "normalized_score"),
    ("return", "return"),
    ("proxy return", "proxy_return"),
)
WIDE_METRICS = ("return", "steps", "regret", "proxy_return")
USAGE_COLUMNS = (("tokens/episode", "tokens"), ("tokens/success", "tokens_per_success"))  # cells of LLM agents
COUNT_METRICS = ("tokens", "tokens_per_success")


def _grid(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(value).ljust(width) for value, width in zip(row, widths)).rstrip()
             for row in [header, *rows]]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return lines


def _count(entry: dict[str, Any]) -> str:
    return f"{entry['episodes']}" + (f" ({entry['failed']} failed)" if entry["failed"] else "")


def _metric_cells(metrics: dict[str, Any], columns: tuple[tuple[str, str], ...]) -> list[str]:
    return [format_interval(metrics.get(name), 0 if name in COUNT_METRICS else 1 if name in WIDE_METRICS else 2)
            for _, name in columns]


def format_table(results: dict[str, Any]) -> str:
    """A readable table: one row per cell, metrics as mean [95% CI]; then the aggregates."""
    columns = TABLE_COLUMNS
    if any(cell["metrics"].get("tokens") for cell in results["cells"]):
        columns += USAGE_COLUMNS
    rows = [[cell["env"].removeprefix("agentgym/"), cell["agent"] + ("*" if cell.get("reference") else ""),
             cell["reward"], _count(cell), *_metric_cells(cell["metrics"], columns)]
            for cell in results["cells"]]
    lines = _grid(["env", "agent", "reward", "n", *(title for title, _ in columns)], rows)
    lines.append("metrics: mean [95% bootstrap CI]; norm. score: random = 0, oracle = 1; * = reference cell")
    if columns != TABLE_COLUMNS:
        lines.append("tokens: prompt + completion tokens read and written per episode, and in all over all successes "
                     "(paired bootstrap; '-' without successes, '?' for an unbounded interval)")
    recipes = results["aggregates"].get("recipes", [])
    if recipes:
        rows = [[row["env"].removeprefix("agentgym/"), row["recipe"], row["reward"],
                 ",".join(map(str, row["train_seeds"])), _count(row), *_metric_cells(row["metrics"], RECIPE_COLUMNS),
                 format_interval(row["probability_of_improvement_vs_env"])] for row in recipes]
        lines += ["", "training recipes: true outcome of the trained agents, pooled over training seeds "
                      "(two-level bootstrap CI); proxy return = the training reward's own return"]
        lines += _grid(["env", "recipe", "reward", "seeds", "n", *(t for t, _ in RECIPE_COLUMNS), "P(> env)"], rows)
        for row in recipes:
            for name, value in (row.get("reward_diagnostics") or {}).items():
                shown = f"{value:.3f}" if isinstance(value, float) else str(value)
                lines.append(f"  {row['env'].removeprefix('agentgym/')} {row['reward']}: {name.replace('_', ' ')} "
                             f"{shown} (held out)")
    by_agent = results["aggregates"].get("by_agent", {})
    if by_agent:
        lines.append("")
        lines.append("across envs: IQM of normalized score (stratified bootstrap 95% CI), mean success rate")
        for name, entry in by_agent.items():
            lines.append(f"  {name:<28} IQM {format_interval(entry.get('iqm_normalized_score'))}"
                         f"   success {format_interval(entry.get('mean_success_rate'))}")
    return "\n".join(lines)


def read_results(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise AgentGymError(f"cannot read results {path}: {exc}") from exc
