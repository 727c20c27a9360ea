"""Plots saved beside results: learning curves, and reward variants compared with their CIs.

matplotlib is optional (``pip install 'agentgym[plots]'``); without it, plotting is skipped
with a note, never an error, so a run's numbers never depend on a plotting library.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from agentgym.train.sb3 import learning_curve, model_path, resolve_train_config


def _pyplot():
    try:
        import matplotlib  # noqa: PLC0415 - optional matplotlib

        matplotlib.use("Agg")  # files only, no display
        import matplotlib.pyplot as plt  # noqa: PLC0415 - optional matplotlib
    except ImportError:
        print("note: matplotlib is not installed; plots skipped (pip install 'agentgym[plots]')", file=sys.stderr)
        return None
    return plt


def plot_learning_curves(curves: Mapping[str, Mapping[str, Any]], path: Path) -> Path | None:
    """Proxy return (left) and true success rate (right) against timesteps, one line per curve."""
    plt = _pyplot()
    if plt is None or not curves:
        return None
    figure, (proxy_axis, true_axis) = plt.subplots(1, 2, figsize=(11, 4))
    for label, curve in curves.items():
        steps = [p["timesteps"] for p in curve["points"]]
        proxy_axis.plot(steps, [p["proxy_return"] for p in curve["points"]], marker="o", label=label)
        true_axis.plot(steps, [p["success_rate"] for p in curve["points"]], marker="o", label=label)
    proxy_axis.set(title="proxy return (training reward)", xlabel="timesteps")
    true_axis.set(title="true success rate (held-out seeds)", xlabel="timesteps", ylim=(-0.05, 1.05))
    true_axis.legend(fontsize="small")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def plot_variant_comparison(rows: Sequence[Mapping[str, Any]], path: Path, metric: str = "success_rate") -> Path | None:
    """One panel per env: ``metric`` by reward variant with its 95% CI, per recipe."""
    plt = _pyplot()
    if plt is None or not rows:
        return None
    envs = list(dict.fromkeys(row["env"] for row in rows))
    figure, axes = plt.subplots(1, len(envs), figsize=(4.5 * len(envs), 3.8), squeeze=False)
    for axis, env in zip(axes[0], envs):
        mine = [row for row in rows if row["env"] == env and row["metrics"].get(metric)]
        labels = [f"{row['recipe']}\n{row['reward']}" for row in mine]
        means = [row["metrics"][metric]["mean"] for row in mine]
        errors = [[m - row["metrics"][metric]["ci_low"] for m, row in zip(means, mine)],
                  [row["metrics"][metric]["ci_high"] - m for m, row in zip(means, mine)]]
        axis.bar(range(len(mine)), means, yerr=errors, capsize=4)
        axis.set_xticks(range(len(mine)), labels, fontsize="small")
        axis.set_title(env.removeprefix("agentgym/"))
        axis.set_ylabel(metric.replace("_", " "))
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def save_recipe_plots(cells: Sequence[Any], rows: Sequence[Mapping[str, Any]], out: Path) -> list[Path]:
    """The variant comparison and, per env, the learning curves of every recipe agent that has one."""
    saved = [plot_variant_comparison(rows, out / "reward_variants.png")]
    by_env: dict[str, dict[str, Any]] = {}
    for cell in cells:
        if cell.recipe is None:
            continue
        kwargs = cell.agent.kwargs
        config = resolve_train_config(kwargs["train"], kwargs.get("per_env", {}).get(cell.env))
        curve = learning_curve(model_path(cell.env, kwargs["algo"], kwargs["policy"], config))
        if curve is not None:
            by_env.setdefault(cell.env, {})[cell.agent.name] = curve
    for env, curves in by_env.items():
        name = env.replace("/", "_")
        saved.append(plot_learning_curves(curves, out / f"learning_curves_{name}.png"))
    return [path for path in saved if path is not None]
