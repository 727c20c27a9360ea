"""Two-level and paired bootstraps: training runs, then env seeds (the repeats of a seed stay together).

Data of one agent on one task: ``{run: {env seed: values of that seed's repeats}}``; a run is a
training seed for trained agents, and there is one run for every other agent. A replicate draws
runs with replacement, then, within each drawn run, env seeds with replacement, and pools the
values. When two agents are compared on the same env seeds (every run of both holds the same
seeds) the comparison is *paired*: one draw of env seeds serves every run of both sides, so an
env seed's difficulty, shared by both, cancels instead of looking like an effect.

Few runs: with G runs a bootstrap of run means has variance ``(G - 1) / G`` of the unbiased one,
and its spread is itself estimated from G values. So a replicate draws ``G - 1`` runs (not G; the
variance of a mean of G - 1 draws from G values is ``s^2 / G`` with the unbiased ``s^2``), and the
percentile interval is widened about the estimate by ``t_{df} / z`` (df = G - 1 for one agent,
``G_x + G_y - 2`` for a comparison), as a t interval would be. With one run per side neither
applies and this is the ordinary (clustered) bootstrap. Measured (3 training seeds x 30 episodes,
episodes N(mu_seed, 1), mu_seed ~ N(0, sd), both variants alike, 1000 trials): the 95% interval of
P(improvement) excludes 0.5 in 0.0 / 0.1 / 2.2 / 4.5 / 7.5% of trials for sd = 0 / 0.25 / 0.5 / 1 / 2
(pooling the episodes: 8 / 25 / 49 / 62 / 71%; 5 training seeds: 0.0 / 1.1 / 3.1 / 5.1 / 5.5%). When
the seed effect dominates, 3 seeds cannot do better: 3 runs of one variant all above the 3 of the
other happens in 1 case out of 10 by chance alone. The price is width when seeds do not differ.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from functools import lru_cache

import numpy as np
from scipy import stats as sps

from agentgym.core.types import Interval
from agentgym.metrics import stats

Runs = Mapping[Hashable, Mapping[Hashable, np.ndarray]]
"""``{run: {env seed: values of its repeats}}``."""

_MAX_BLOCK = 4_000_000


def as_runs(groups: Mapping[Hashable, Sequence[float] | np.ndarray | Mapping[Hashable, np.ndarray]]) -> dict:
    """``{run: {seed: array}}`` from ``{run: values}`` (every value its own seed, pairing with no
    other) or ``{run: {seed: values}}``; NaN values, and runs and seeds left without values, are dropped."""
    out = {}
    anonymous = object()  # values given without seeds pair with nothing
    for run, data in groups.items():
        if isinstance(data, Mapping):
            seeds = {seed: np.asarray(v, dtype=float).ravel() for seed, v in data.items()}
        else:
            seeds = {(anonymous, i): v for i, v in enumerate(np.asarray(data, dtype=float).ravel()[:, None])}
        seeds = {seed: v[~np.isnan(v)] for seed, v in seeds.items()}
        seeds = {seed: v for seed, v in seeds.items() if v.size}
        if seeds:
            out[run] = seeds
    return out


def order_key(key: Hashable) -> tuple:
    """Sort key of run and seed labels: numbers in numeric order, anything else by its repr."""
    return (0, key, "") if isinstance(key, int | float) and not isinstance(key, bool) else (1, 0, repr(key))


def _pooled(runs: Runs) -> np.ndarray:
    return np.concatenate([v for seeds in runs.values() for v in seeds.values()]) if runs else np.empty(0)


@lru_cache(maxsize=64)
def expansion(df: int, confidence: float) -> float:
    """``t_{df, (1 + c) / 2} / z_{(1 + c) / 2}``; 1 when df < 1."""
    if df < 1:
        return 1.0
    q = 0.5 + confidence / 2.0
    return float(sps.t.ppf(q, df) / sps.norm.ppf(q))


class _Side:
    """One agent's runs as a padded tensor ``(runs, seeds, repeats)`` with a mask."""

    def __init__(self, runs: Runs, seed_order: Sequence[Hashable] | None = None) -> None:
        self.runs = [runs[r] for r in sorted(runs, key=order_key)]
        orders = [list(seed_order) if seed_order is not None else sorted(seeds, key=order_key) for seeds in self.runs]
        self.n_seeds = np.asarray([len(o) for o in orders])
        depth = max(len(v) for seeds in self.runs for v in seeds.values())
        shape = (len(self.runs), int(self.n_seeds.max()), depth)
        self.values: np.ndarray = np.zeros(shape)
        self.mask: np.ndarray = np.zeros(shape, dtype=bool)
        for g, (seeds, order) in enumerate(zip(self.runs, orders)):
            for s, key in enumerate(order):
                v = seeds[key]
                self.values[g, s, :v.size], self.mask[g, s, :v.size] = v, True

    @property
    def n_runs(self) -> int:
        return len(self.runs)

    def draw(self, rng: np.random.Generator, size: int, seeds: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """``(values, weights)`` of ``size`` replicates, shape ``(size, slots * seeds * repeats)``.

        ``seeds`` (``size x n_seeds`` indices) is a shared draw of env seeds (paired), else each
        drawn run draws its own.
        """
        slots = max(self.n_runs - 1, 1)
        parts_v, parts_w = [], []
        for _ in range(slots):
            g = rng.integers(0, self.n_runs, size=size)
            if seeds is None:
                width = self.values.shape[1]
                s = (rng.random((size, width)) * self.n_seeds[g][:, None]).astype(int)
                keep = np.arange(width)[None, :] < self.n_seeds[g][:, None]
            else:
                s, keep = seeds, np.ones(seeds.shape, dtype=bool)
            parts_v.append(self.values[g[:, None], s].reshape(size, -1))
            parts_w.append((self.mask[g[:, None], s] & keep[:, :, None]).reshape(size, -1))
        return np.concatenate(parts_v, axis=1), np.concatenate(parts_w, axis=1).astype(float)


def _blocks(n_resamples: int, width: int):
    block = max(1, min(n_resamples, _MAX_BLOCK // max(width, 1)))
    for start in range(0, n_resamples, block):
        yield start, min(block, n_resamples - start)


def _widen(estimate: float, replicates: np.ndarray, confidence: float, df: int,
           bounds: tuple[float, float] | None) -> Interval:
    base = stats._percentile_interval(estimate, replicates, confidence)
    if math.isnan(base.low):
        return base
    factor = expansion(df, confidence)
    low, high = estimate - (estimate - base.low) * factor, estimate + (base.high - estimate) * factor
    if bounds is not None:
        low, high = max(low, bounds[0]), min(high, bounds[1])
    return Interval(estimate, min(low, estimate), max(high, estimate))


def two_level_ci(groups: Mapping[Hashable, Sequence[float] | np.ndarray | Mapping[Hashable, np.ndarray]], *,
                 confidence: float = 0.95, n_resamples: int = 2000, seed: int = 0,
                 bounds: tuple[float, float] | None = None) -> Interval:
    """Mean of all values (pooled over runs) with a two-level bootstrap interval.

    Replicate: draw ``max(G - 1, 1)`` of the G runs with replacement, then env seeds within each
    drawn run; its statistic is the pooled mean. Interval: percentile, widened about the estimate
    by ``t_{G-1} / z`` (module docstring), clipped to ``bounds``.
    """
    runs = as_runs(groups)
    if not runs:
        return stats.NAN_INTERVAL
    estimate = float(_pooled(runs).mean())
    side = _Side(runs)
    rng = np.random.default_rng(seed)
    replicates = np.empty(n_resamples)
    width = max(side.n_runs - 1, 1) * side.values[0].size
    for start, size in _blocks(n_resamples, width):
        values, weights = side.draw(rng, size, None)
        replicates[start:start + size] = (values * weights).sum(axis=1) / weights.sum(axis=1)
    return _widen(estimate, replicates, confidence, side.n_runs - 1, bounds)


def is_paired(x: Runs, y: Runs) -> bool:
    """Whether every run of both sides holds the same env seeds (a paired comparison)."""
    sets = [frozenset(seeds) for side in (x, y) for seeds in side.values()]
    return bool(sets) and all(s == sets[0] for s in sets)


def _prob_greater_weighted(xr: np.ndarray, xw: np.ndarray, yr: np.ndarray, yw: np.ndarray, k: int) -> np.ndarray:
    """Row-wise P(X > Y) + P(X = Y) / 2 of weighted samples given as integer ranks in ``[0, k)``, by
    counting ranks (no n x m comparison)."""
    rows = xr.shape[0]
    offset = (k * np.arange(rows))[:, None]
    cx = np.bincount((xr + offset).ravel(), weights=xw.ravel(), minlength=rows * k).reshape(rows, k)
    cy = np.bincount((yr + offset).ravel(), weights=yw.ravel(), minlength=rows * k).reshape(rows, k)
    below = np.cumsum(cy, axis=1) - cy
    return (cx * (below + 0.5 * cy)).sum(axis=1) / (cx.sum(axis=1) * cy.sum(axis=1))


def prob_improvement_runs(x_by_task: Mapping[str, Runs], y_by_task: Mapping[str, Runs], *,
                          confidence: float = 0.95, n_resamples: int = 2000, seed: int = 0,
                          paired: bool | None = None) -> tuple[Interval, bool]:
    """Average over shared tasks of P(X > Y) (ties 1/2) over the pooled episodes, with a two-level
    (paired where possible) bootstrap interval. Returns ``(interval, paired)``.

    Per task, a replicate draws ``max(G - 1, 1)`` runs of each side, then env seeds: one shared
    draw when the task is paired (:func:`is_paired`; ``paired=False`` forces independent draws),
    else each drawn run its own. The percentile interval is widened by ``t_{df} / z`` with
    ``df = min over tasks of (G_x + G_y - 2)`` and clipped to [0, 1].
    """
    tasks = sorted(t for t in x_by_task if t in y_by_task)
    pairs = [(as_runs(x_by_task[t]), as_runs(y_by_task[t])) for t in tasks]
    pairs = [(x, y) for x, y in pairs if x and y]
    if not pairs:
        return stats.NAN_INTERVAL, False
    rng = np.random.default_rng(seed)
    estimates, replicates = [], np.zeros(n_resamples)
    all_paired, df = True, math.inf
    for x, y in pairs:
        estimates.append(stats.prob_greater(_pooled(x), _pooled(y)))
        pair = is_paired(x, y) if paired is None else paired and is_paired(x, y)
        all_paired &= pair
        order = sorted(next(iter(x.values())), key=order_key) if pair else None
        xs, ys = _Side(x, order), _Side(y, order)
        union = np.unique(np.concatenate([xs.values[xs.mask], ys.values[ys.mask]]))
        xs.values, ys.values = np.searchsorted(union, xs.values), np.searchsorted(union, ys.values)
        df = min(df, xs.n_runs + ys.n_runs - 2)
        width = max(xs.n_runs - 1, 1) * xs.values[0].size + max(ys.n_runs - 1, 1) * ys.values[0].size
        for start, size in _blocks(n_resamples, width):
            shared = rng.integers(0, len(order), size=(size, len(order))) if order is not None else None
            xv, xw = xs.draw(rng, size, shared)
            yv, yw = ys.draw(rng, size, shared)
            replicates[start:start + size] += _prob_greater_weighted(xv, xw, yv, yw, union.size + 1)
    replicates /= len(pairs)
    return _widen(float(np.mean(estimates)), replicates, confidence, int(df), (0.0, 1.0)), all_paired
