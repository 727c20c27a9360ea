"""A run's ``results.json``, built from its episode records by the one function the runner and
``agentgym submit`` share, and the comparison that tells a recomputed results file from a claimed one.

The episode log lives in :mod:`agentgym.bench.episode_log`, provenance in
:mod:`agentgym.bench.provenance` and the text table in :mod:`agentgym.bench.tables`; their public
names are re-exported here.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from agentgym.bench.episode_log import EpisodeLog, read_episodes
from agentgym.bench.provenance import provenance
from agentgym.bench.tables import format_interval, format_table
from agentgym.core.errors import AgentGymError
from agentgym.core.files import sha256_file
from agentgym.core.redact import redact_data
from agentgym.metrics.episodes import summarize
from agentgym.metrics.recipes import summarize_recipes
from agentgym.records import RESULTS_SCHEMA_VERSION, episode_counts

__all__ = [
    "EpisodeLog",
    "build_results",
    "format_interval",
    "format_table",
    "order_records",
    "provenance",
    "read_episodes",
    "read_results",
    "results_differences",
]

RTOL = 1e-9
ATOL = 1e-12
# What results.json takes from its inputs rather than computing from the episodes.
INPUT_KEYS = ("schema_version", "suite", "provenance", "episodes_file", "episodes_sha256", "bootstrap_seed")


def order_records(records: Sequence[Mapping[str, Any]],
                  cell_order: Sequence[str] | None = None) -> list[Mapping[str, Any]]:
    """The canonical order of a run's records: by cell (``cell_order``, then first appearance), seed, repeat.

    The metrics' bootstraps depend on this order, so the runner (suite order) and ``submit`` (the
    order of results.json's cells) give the same numbers whatever order the episodes finished in.
    """
    rank: dict[str, int] = {cell: i for i, cell in enumerate(dict.fromkeys(cell_order or ()))}
    for record in records:
        rank.setdefault(record["cell"], len(rank))
    return sorted(records, key=lambda r: (rank[r["cell"]], r["seed"], r["repeat"]))


def _counts_by(records: Sequence[Mapping[str, Any]], fields: tuple[str, ...]) -> dict[tuple, Any]:
    groups: dict[tuple, list[Mapping[str, Any]]] = {}
    for record in records:
        groups.setdefault(tuple(record.get(f) for f in fields), []).append(record)
    return {key: episode_counts(group) for key, group in groups.items()}


def build_results(records: Sequence[Mapping[str, Any]], suite: Mapping[str, Any], episodes_path: str | Path,
                  provenance: Mapping[str, Any], *, seed: int = 0, cell_order: Sequence[str] | None = None,
                  scores: Mapping[str, str] | None = None) -> dict[str, Any]:
    """``results.json`` of a run: per-cell metrics, aggregates, counts and provenance.

    The runner writes what this returns; ``agentgym submit`` calls it again on the episodes file and
    refuses results that differ. Counts follow :func:`agentgym.records.episode_counts`: a cell's
    ``episodes`` are its scored episodes (ok and agent_error), ``failed`` its harness failures, and
    a cell with failures is ``incomplete``.

    Args:
        records: The run's episode records, as read back from ``episodes.jsonl``, in any order.
        suite: ``{"name", "version", "hash"}`` of the suite.
        episodes_path: The episodes file (its name and SHA-256 go into the results).
        provenance: The provenance block; its strings are redacted again here.
        seed: Seed of every bootstrap; recorded as ``bootstrap_seed``.
        cell_order: Order of the cells (the suite's); cells not listed follow in order of appearance.
        scores: Score kind per env id for envs whose card this install does not have (see
            :func:`agentgym.metrics.episodes.summarize`); the cards decide for the others.
    """
    ordered = order_records(records, cell_order)
    cells, aggregates = summarize(ordered, seed=seed, scores=scores)
    recipes = summarize_recipes(ordered, seed=seed, scores=scores)
    if recipes:
        counts = _counts_by(ordered, ("env", "split", "recipe", "reward"))
        for row in recipes:
            row["episodes"], row["failed"] = counts[(row["env"], row["split"], row["recipe"], row["reward"])]
        aggregates["recipes"] = recipes
    counts = _counts_by(ordered, ("cell",))
    references = {record["cell"] for record in ordered if record.get("reference")}
    seeds: dict[str, set[int]] = {}
    for record in ordered:
        seeds.setdefault(record["cell"], set()).add(record["seed"])
    for cell in cells:
        cell["episodes"], cell["failed"] = counts[(cell["cell"],)]
        cell["incomplete"] = cell["failed"] > 0
        cell["reference"] = cell["cell"] in references
        cell["seeds"] = sorted(seeds.get(cell["cell"], ()))
    episodes_path = Path(episodes_path)
    return {
        "schema_version": RESULTS_SCHEMA_VERSION,
        "suite": {key: suite[key] for key in ("name", "version", "hash")},
        "provenance": redact_data(dict(provenance)),
        "episodes_file": episodes_path.name,
        "episodes_sha256": sha256_file(episodes_path),
        "bootstrap_seed": seed,
        "n_episodes": sum(cell["episodes"] for cell in cells),
        "n_failed": sum(cell["failed"] for cell in cells),
        "cells": cells,
        "aggregates": aggregates,
    }


def _close(a: Any, b: Any, rtol: float, atol: float) -> bool:
    numbers = (int, float)
    if isinstance(a, bool) or isinstance(b, bool) or not (isinstance(a, numbers) and isinstance(b, numbers)):
        return type(a) is type(b) and a == b
    try:
        return math.isclose(float(a), float(b), rel_tol=rtol, abs_tol=atol)
    except OverflowError:
        return a == b


def _item_label(item: Any, index: int) -> str:
    if isinstance(item, Mapping):
        for fields in (("cell",), ("x", "y"), ("env", "recipe", "reward")):
            if all(isinstance(item.get(f), str) for f in fields):
                return f"[{' vs '.join(item[f] for f in fields)}]" if fields == ("x", "y") else \
                    f"[{'|'.join(item[f] for f in fields)}]"
    return f"[{index}]"


def _differences(claimed: Any, actual: Any, path: str, out: list[str], rtol: float, atol: float) -> None:
    if isinstance(claimed, Mapping) and isinstance(actual, Mapping):
        for key in actual:
            if key not in claimed:
                out.append(f"{path}.{key}: missing, the episodes give {_short(actual[key])}")
        for key in claimed:
            where = f"{path}.{key}" if path else str(key)
            if key not in actual:
                out.append(f"{where}: not computed from the episodes (results say {_short(claimed[key])})")
            else:
                _differences(claimed[key], actual[key], where, out, rtol, atol)
    elif isinstance(claimed, list) and isinstance(actual, list):
        if len(claimed) != len(actual):
            out.append(f"{path}: {len(claimed)} items, the episodes give {len(actual)}")
            return
        for i, (a, b) in enumerate(zip(claimed, actual)):
            _differences(a, b, path + _item_label(b, i), out, rtol, atol)
    elif not _close(claimed, actual, rtol, atol):
        out.append(f"{path}: results say {_short(claimed)}, the episodes give {_short(actual)}")


def _short(value: Any) -> str:
    text = json.dumps(value, allow_nan=True, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def results_differences(claimed: Mapping[str, Any], recomputed: Mapping[str, Any], *,
                        rtol: float = RTOL, atol: float = ATOL) -> list[str]:
    """Where ``claimed`` results differ from ``recomputed`` ones beyond float noise, one line each.

    Cells are matched by id and named as ``cell 'env|agent|reward|split'``; everything computed from
    the episodes is compared (counts, metrics, aggregates), the inputs (:data:`INPUT_KEYS`) are not.
    """
    out: list[str] = []
    claimed_cells = {c.get("cell"): c for c in claimed.get("cells", []) if isinstance(c, Mapping)}
    actual_cells = {c["cell"]: c for c in recomputed["cells"]}
    for cell_id, cell in actual_cells.items():
        if cell_id not in claimed_cells:
            out.append(f"cell {cell_id!r}: in the episodes but not in the results")
        else:
            _differences(claimed_cells[cell_id], cell, f"cell {cell_id!r}", out, rtol, atol)
    out += [f"cell {cell_id!r}: in the results but has no episodes" for cell_id in claimed_cells
            if cell_id not in actual_cells]
    if not out and list(claimed_cells) != list(actual_cells):
        out.append("cells: listed in another order than the episodes give")
    for key in sorted(set(claimed) | set(recomputed)):
        if key in INPUT_KEYS or key == "cells":
            continue
        if key not in recomputed:
            out.append(f"{key}: not computed from the episodes")
        elif key not in claimed:
            out.append(f"{key}: missing, the episodes give {_short(recomputed[key])}")
        else:
            _differences(claimed[key], recomputed[key], key, out, rtol, atol)
    return out


def read_results(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise AgentGymError(f"cannot read results {path}: {exc}") from None
