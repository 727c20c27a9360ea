"""Runs made by hand: episode records of known outcomes, written and summarised as the runner would.

The results come from :func:`agentgym.bench.results.build_results` on the records read back from
the episodes file, exactly as ``agentgym run`` writes them, so a crafted run is a faithful stand-in
for a real one without running any env.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from agentgym.bench.episode_log import read_episodes
from agentgym.bench.results import build_results
from agentgym.core.files import sha256_text

ENVS = ("toy/GridA-v0", "toy/GridB-v0")
RATES = {"oracle": 0.9, "random": 0.2, "mine": 0.6}
SEEDS = tuple(range(100, 110))
PROVENANCE = {"agentgym_version": "0.1.0", "git_commit": "0123456789abcdef0123456789abcdef01234567",
              "python": "3.11.7", "torch": None, "gymnasium": "1.0.0", "platform": "Linux-test",
              "created_at": "2026-11-23T04:00:00+00:00", "executor": "local", "workers": 1,
              "command": "agentgym run crafted"}


def suite_info(name: str = "crafted", version: int = 1, tag: str = "") -> dict[str, Any]:
    return {"name": name, "version": version, "hash": sha256_text(f"{name}@{version}{tag}")}


def episode(env: str, agent: str, seed: int, *, rate: float, status: str = "ok", repeat: int = 0,
            reward: str = "env", split: str = "test") -> dict[str, Any]:
    """One record as the runner writes it; success is a fixed function of (agent rate, seed)."""
    cell = f"{env}|{agent}|{reward}|{split}"
    success = (seed * 7919 + sum(map(ord, env))) % 100 < rate * 100
    steps = 5 + (seed % 7) if success else 20
    record = {"key": f"{cell}/{seed}/{repeat}", "cell": cell, "env": env, "agent": agent, "reward": reward,
              "split": split, "seed": seed, "repeat": repeat, "reference": agent in ("random", "oracle"),
              "status": status, "error": None, "success": success, "progress": 1.0 if success else 0.25,
              "steps": steps, "env_return": (1.0 - 0.01 * steps) if success else -0.1 * (seed % 3),
              "proxy_return": 1.0 if success else 0.0, "reward_vector": {"task": 1.0 if success else 0.0},
              "invalid_actions": seed % 2, "terminated": success, "truncated": not success,
              "agent_info": {}, "wall_seconds": 0.01}
    if status != "ok":
        record.update(error=f"{status}: boom", success=None, progress=None, env_return=None, proxy_return=None,
                      reward_vector={}, terminated=False, truncated=False, steps=3)
    return record


def make_records(rates: dict[str, float] | None = None, envs: tuple[str, ...] = ENVS, seeds=SEEDS,
                 statuses: dict[tuple[str, str, int], str] | None = None) -> list[dict[str, Any]]:
    """Records of every (env, agent, seed); ``statuses`` marks some (env, agent, seed) agent_error or failed."""
    statuses = statuses or {}
    return [episode(env, agent, seed, rate=rate, status=statuses.get((env, agent, seed), "ok"))
            for env in envs for agent, rate in (rates or RATES).items() for seed in seeds]


def write_run(folder: Path, records: list[dict[str, Any]], *, suite: dict[str, Any] | None = None,
              shuffle_seed: int = 0, scores: dict[str, str] | None = None) -> Path:
    """episodes.jsonl (in a shuffled finishing order) and results.json in ``folder``; the results path."""
    folder.mkdir(parents=True, exist_ok=True)
    finished = list(records)
    random.Random(shuffle_seed).shuffle(finished)
    episodes_path = folder / "episodes.jsonl"
    episodes_path.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in finished), encoding="utf-8")
    cell_order = list(dict.fromkeys(r["cell"] for r in records))
    results = build_results(read_episodes(episodes_path), suite or suite_info(), episodes_path, PROVENANCE,
                            seed=0, cell_order=cell_order, scores=scores)
    path = folder / "results.json"
    path.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return path


def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def save(path: Path, results: dict[str, Any]) -> None:
    path.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
