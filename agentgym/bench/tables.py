"""A run's results as a readable text table, and the one way an interval is printed."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

TABLE_COLUMNS = (
    ("success", "success_rate"),
    ("norm. score", "normalized_score"),
    ("return", "return"),
    ("steps", "steps"),
    ("score gap", "score_gap"),
    ("excess steps", "excess_steps"),
    ("invalid", "invalid_action_rate"),
)
RECIPE_COLUMNS = (
    ("success", "success_rate"),
    ("norm. score", "normalized_score"),
    ("return", "return"),
    ("proxy return", "proxy_return"),
)
WIDE_METRICS = ("return", "steps", "score_gap", "excess_steps", "proxy_return")
USAGE_COLUMNS = (("tokens/episode", "tokens"), ("tokens/success", "tokens_per_success"))  # cells of LLM agents
COUNT_METRICS = ("tokens", "tokens_per_success")
_SHOWN_MAGNITUDE = 1e15  # beyond it a number is shown in scientific notation, so a line stays short


def format_number(value: Any, digits: int = 3) -> str:
    """``0.512``; ``?`` for anything that is not a finite number. Never raises.

    Example:
        >>> format_number(0.51234), format_number(None), format_number(10**400), format_number(float("nan"))
        ('0.512', '?', '?', '?')
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "?"
    try:
        number = float(value)
    except OverflowError:
        return "?"
    if not math.isfinite(number):
        return "?"
    return f"{number:.{digits}e}" if abs(number) >= _SHOWN_MAGNITUDE else f"{number:.{digits}f}"


def format_interval(interval: Any, digits: int = 3) -> str:
    """``0.512 [0.430, 0.600]``; ``-`` for an undefined value, ``?`` for an unreadable bound. Never raises.

    Example:
        >>> format_interval({"mean": 0.5, "ci_low": 0.25, "ci_high": None})
        '0.500 [0.250, ?]'
    """
    if not isinstance(interval, Mapping) or interval.get("mean") is None:
        return "-"
    return (f"{format_number(interval['mean'], digits)} [{format_number(interval.get('ci_low'), digits)}, "
            f"{format_number(interval.get('ci_high'), digits)}]")


def _grid(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(value).ljust(width) for value, width in zip(row, widths)).rstrip()
             for row in [header, *rows]]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return lines


def _count(entry: Mapping[str, Any]) -> str:
    return f"{entry['episodes']}" + (f" ({entry['failed']} failed)" if entry["failed"] else "")


def _metric_cells(metrics: Mapping[str, Any], columns: tuple[tuple[str, str], ...]) -> list[str]:
    return [format_interval(metrics.get(name), 0 if name in COUNT_METRICS else 1 if name in WIDE_METRICS else 2)
            for _, name in columns]


def _recipe_lines(recipes: list[dict[str, Any]]) -> list[str]:
    rows = [[row["env"].removeprefix("agentgym/"), row["recipe"], row["reward"],
             ",".join(map(str, row["train_seeds"])), _count(row), *_metric_cells(row["metrics"], RECIPE_COLUMNS),
             format_interval(row["probability_of_improvement_vs_env"])] for row in recipes]
    lines = ["", "training recipes: true outcome of the trained agents, pooled over training seeds "
                 "(two-level bootstrap CI); proxy return = the training reward's own return"]
    lines += _grid(["env", "recipe", "reward", "seeds", "n", *(t for t, _ in RECIPE_COLUMNS), "P(> env)"], rows)
    for row in recipes:
        for name, value in (row.get("reward_diagnostics") or {}).items():
            shown = f"{value:.3f}" if isinstance(value, float) else str(value)
            lines.append(f"  {row['env'].removeprefix('agentgym/')} {row['reward']}: {name.replace('_', ' ')} "
                         f"{shown} (held out)")
    return lines


def format_table(results: Mapping[str, Any]) -> str:
    """A readable table: one row per cell, metrics as mean [95% CI]; then the aggregates."""
    columns: tuple[tuple[str, str], ...] = TABLE_COLUMNS
    if any(cell["metrics"].get("tokens") for cell in results["cells"]):
        columns += USAGE_COLUMNS
    rows = [[cell["env"].removeprefix("agentgym/"), cell["agent"] + ("*" if cell.get("reference") else ""),
             cell["reward"], _count(cell), *_metric_cells(cell["metrics"], columns)]
            for cell in results["cells"]]
    lines = _grid(["env", "agent", "reward", "n", *(title for title, _ in columns)], rows)
    lines.append("metrics: mean [95% bootstrap CI]; norm. score: random = 0, oracle = 1; * = reference cell; "
                 "n: scored episodes (failed: harness failures, not scored)")
    if columns != TABLE_COLUMNS:
        lines.append("tokens: prompt + completion tokens read and written per episode, and in all over all successes "
                     "(paired bootstrap; '-' without successes, '?' for an unbounded interval)")
    recipes = results["aggregates"].get("recipes", [])
    if recipes:
        lines += _recipe_lines(recipes)
    by_agent = results["aggregates"].get("by_agent", {})
    if by_agent:
        lines.append("")
        lines.append("across envs: IQM of normalized score (stratified bootstrap 95% CI), mean success rate")
        for name, entry in by_agent.items():
            lines.append(f"  {name:<28} IQM {format_interval(entry.get('iqm_normalized_score'))}"
                         f"   success {format_interval(entry.get('mean_success_rate'))}")
    incomplete = [cell["cell"] for cell in results["cells"] if cell.get("failed")]
    if incomplete:
        lines += ["", f"incomplete: {len(incomplete)} cell{'s' if len(incomplete) > 1 else ''} with failed episodes "
                      f"({', '.join(incomplete[:5])}{', ...' if len(incomplete) > 5 else ''}); "
                      "re-run with --resume to complete them before submitting"]
    return "\n".join(lines)
