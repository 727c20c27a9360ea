"""Ratings from pairwise games: Bradley-Terry on the Elo scale with bootstrap intervals; Wilson intervals.

Bradley-Terry is fitted by Newton's method on all games (a draw is half a win to each side), on the
Elo scale (400 points = 10:1 odds), mean 1500, or one agent at 1000 (``anchor``); ``prior_draws``
virtual draws per pair keep an unbeaten agent's rating finite; 95% intervals by percentile bootstrap
over games within pairs. Win/draw/loss rates get 95% Wilson score intervals (``scipy.stats.binomtest``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy.stats import binomtest

from agentgym.core.types import Interval

ELO = 400.0 / np.log(10.0)
"""Elo points per unit of Bradley-Terry log-strength."""


def bradley_terry(points: np.ndarray, *, prior_draws: float = 1.0, iterations: int = 100) -> np.ndarray:
    """Bradley-Terry log-strengths ``theta`` (mean 0; P(i beats j) = 1 / (1 + exp(theta_j - theta_i))).

    ``points[i, j]`` are agent i's points against agent j (win 1, draw 1/2 to each side). ``prior_draws``
    virtual draws are added between every two agents (0: the plain maximum-likelihood fit, finite only
    when no agent is unbeaten or winless). Newton's method with step halving; ``400 / ln 10`` x theta = Elo.
    """
    wins = np.asarray(points, dtype=float) + prior_draws / 2 * (1 - np.eye(len(points)))
    games = wins + wins.T
    theta = np.zeros(len(wins))

    def log_likelihood(t: np.ndarray) -> float:
        return float(-(wins * np.logaddexp(0.0, t[None, :] - t[:, None])).sum())

    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(theta[None, :] - theta[:, None]))  # p[i, j] = P(i beats j)
        gradient = wins.sum(1) - (games * p).sum(1)
        curvature = games * p * p.T
        hessian = curvature - np.diag(curvature.sum(1))
        step = np.linalg.lstsq(-hessian, gradient, rcond=None)[0]
        current = log_likelihood(theta)
        scale = 1.0
        while scale > 1e-6 and log_likelihood(theta + scale * step) < current - 1e-12:
            scale /= 2
        theta = theta + scale * step
        theta -= theta.mean()
        if np.max(np.abs(scale * step)) < 1e-10:
            break
    return theta


def elo_ratings(records: Sequence[Any], names: list[str], *, prior_draws: float, anchor: str | None,
             n_bootstrap: int, seed: int) -> dict[str, Interval]:
    """Elo-scale Bradley-Terry ratings with percentile-bootstrap intervals (games resampled within pairs).

    ``records`` are games with ``first``, ``second``, ``winner`` (a name or None for a draw) and ``pair``.
    """
    first = np.array([names.index(r.first) for r in records])
    second = np.array([names.index(r.second) for r in records])
    score = np.array([0.5 if r.winner is None else float(r.winner == r.first) for r in records])
    groups = [np.flatnonzero([r.pair == pair for r in records]) for pair in sorted({r.pair for r in records})]

    def fit(games: np.ndarray) -> np.ndarray:
        points = np.zeros((len(names), len(names)))
        np.add.at(points, (first[games], second[games]), score[games])
        np.add.at(points, (second[games], first[games]), 1.0 - score[games])
        elo = ELO * bradley_terry(points, prior_draws=prior_draws)
        return elo - elo[names.index(anchor)] + 1000.0 if anchor is not None else elo - elo.mean() + 1500.0

    estimate = fit(np.arange(len(records)))
    rng = np.random.default_rng(seed)
    replicates = [fit(np.concatenate([g[rng.integers(len(g), size=len(g))] for g in groups]))
                  for _ in range(n_bootstrap)]
    lows, highs = np.quantile(replicates, [0.025, 0.975], axis=0) if n_bootstrap else np.full((2, len(names)), np.nan)
    return {name: Interval(float(e), float(min(lo, e)), float(max(hi, e)))
            for name, e, lo, hi in zip(names, estimate, lows, highs)}


def wilson_interval(count: int, total: int) -> Interval:
    ci = binomtest(count, total).proportion_ci(confidence_level=0.95, method="wilson")
    return Interval(count / total, float(ci.low), float(ci.high))
