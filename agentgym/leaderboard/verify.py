"""What ``submit`` checks beyond the schema: complete cells, reference cells, and numbers that the
episodes file reproduces.

A submission is *verified* when its episodes file is present beside it, matches its checksum,
and every count, metric and aggregate recomputed from it by :func:`agentgym.bench.results.build_results`
(the function the runner wrote them with) equals the submitted one within float noise.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from agentgym.bench.episode_log import EpisodeLogError, read_episodes
from agentgym.bench.results import build_results, results_differences
from agentgym.core.errors import SubmissionError, UnknownNameError
from agentgym.core.files import sha256_file
from agentgym.envs.registration import env_spec
from agentgym.metrics.normalize import SCORES
from agentgym.records import REFERENCE_AGENTS, REFERENCE_REWARD, Results

_MAX_NAMED = 10


def _names(items: list[str]) -> str:
    shown = ", ".join(items[:_MAX_NAMED])
    return shown + (f" and {len(items) - _MAX_NAMED} more" if len(items) > _MAX_NAMED else "")


def incomplete_cells(data: Any) -> list[str]:
    """Cells of a loaded results.json (valid or not) that report failed episodes."""
    cells = data.get("cells") if isinstance(data, Mapping) else None
    found = []
    for i, cell in enumerate(cells if isinstance(cells, list) else []):
        if not isinstance(cell, Mapping):
            continue
        failed = cell.get("failed")
        if (isinstance(failed, int) and not isinstance(failed, bool) and failed > 0) or cell.get("incomplete") is True:
            found.append(str(cell.get("cell", f"cells[{i}]"))[:200])
    return found


def check_complete(data: Any) -> None:
    """Refuse results with failed episodes in one plain sentence that names the cells.

    Raises:
        SubmissionError: some cell, or the run as a whole, reports failed episodes.
    """
    cells = incomplete_cells(data)
    if cells:
        raise SubmissionError(f"cells with failed episodes: {_names(cells)}; re-run with --resume")
    failed = data.get("n_failed") if isinstance(data, Mapping) else None
    if isinstance(failed, int) and not isinstance(failed, bool) and failed > 0:
        raise SubmissionError(f"the run reports {failed} failed episodes; re-run with --resume")


def _card(env: str) -> Any | None:
    try:
        return env_spec(env).card
    except (UnknownNameError, KeyError):
        return None  # an env this install does not know: its card's claims cannot be checked


def reference_problems(results: Results) -> list[str]:
    """Missing reference cells, and reference cells at odds with their env card's oracle claims.

    Every task (env, split) needs a ``random`` cell on the ``env`` reward, and an ``oracle`` one
    unless its card says the env has no oracle (for an env this install does not know: whenever
    a cell of the task reports a normalized score). An oracle the card says always succeeds must.
    """
    problems = []
    tasks: dict[tuple[str, str], dict[str, Any]] = {}
    for cell in results.cells:
        task = tasks.setdefault((cell.env, cell.split), {"agents": {}, "normalized": False})
        if cell.reward == REFERENCE_REWARD:
            task["agents"][cell.agent] = cell
        task["normalized"] |= cell.metrics.normalized_score is not None
    for (env, split), task in tasks.items():
        card = _card(env)
        needed = [name for name in REFERENCE_AGENTS if name != "oracle"
                  or (card.oracle != "none" if card is not None else task["normalized"])]
        missing = [name for name in needed if name not in task["agents"]]
        if missing:
            problems.append(f"{env} ({split}): no {' or '.join(missing)} reference cell on the "
                            f"{REFERENCE_REWARD!r} reward")
        oracle = task["agents"].get("oracle")
        if card is not None and card.oracle_always_succeeds and oracle is not None:
            rate = oracle.metrics.success_rate.mean if oracle.metrics.success_rate is not None else None
            if rate is not None and rate < 1.0:
                problems.append(f"{env} ({split}): the oracle succeeds on {rate:.3f} of episodes, but the env's "
                                "card says it always succeeds")
    return problems


def unknown_env_scores(results: Results) -> dict[str, str]:
    """The score kind the results claim for each env this install has no card for (the cards decide the rest)."""
    scores: dict[str, str] = {}
    for cell in results.cells:
        normalization = (cell.model_extra or {}).get("normalization")
        kind = normalization.get("score") if isinstance(normalization, Mapping) else None
        if kind in SCORES and cell.env not in scores and _card(cell.env) is None:
            scores[cell.env] = kind
    return scores


def verify_episodes(data: Mapping[str, Any], results: Results, results_path: Path) -> bool:
    """Whether the submission is verified: its episodes file reproduces every number (True), or is absent (False).

    Raises:
        SubmissionError: the episodes file does not match its checksum, cannot be read, or gives
            other numbers than the results (each difference named by cell and metric).
    """
    episodes_path = results_path.parent / results.episodes_file
    if not episodes_path.is_file():
        return False
    actual = sha256_file(episodes_path)
    if actual != results.episodes_sha256:
        raise SubmissionError(f"episodes checksum mismatch: {episodes_path} has sha256 {actual}, "
                              f"but the results say episodes_sha256 {results.episodes_sha256}")
    try:
        records = read_episodes(episodes_path)
    except EpisodeLogError as err:
        raise SubmissionError(str(err)) from None
    recomputed = build_results(records, data["suite"], episodes_path, data["provenance"],
                               seed=results.bootstrap_seed, cell_order=[cell.cell for cell in results.cells],
                               scores=unknown_env_scores(results))
    differences = results_differences(data, recomputed)
    if differences:
        listed = "\n".join(f"  - {line}" for line in differences[:_MAX_NAMED])
        more = f"\n  ... and {len(differences) - _MAX_NAMED} more" if len(differences) > _MAX_NAMED else ""
        error = SubmissionError(f"results do not match their episodes file {episodes_path.name} "
                                f"({len(differences)} difference{'s' if len(differences) > 1 else ''} beyond float "
                                f"noise):\n{listed}{more}")
        error.problems = differences
        raise error
    return True
