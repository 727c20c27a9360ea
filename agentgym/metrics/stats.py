"""Statistics behind the metrics: bootstrap confidence intervals, IQM, probability of improvement, pass^k.

Pure numpy/scipy. Every random draw comes from ``np.random.default_rng(seed)``, so results are
deterministic given ``seed``. Empty inputs give ``Interval(nan, nan, nan)`` rather than raising,
so a missing metric shows up as null in reports.

References:
    Agarwal et al. 2021, "Deep RL at the Edge of the Statistical Precipice" (rliable): IQM,
    stratified bootstrap, probability of improvement.
    Yao et al. 2024, "tau-bench": pass^k.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from scipy import stats

from agentgym.core.errors import ConfigError
from agentgym.core.types import Interval

NAN_INTERVAL = Interval(math.nan, math.nan, math.nan)

# Caps the size of one vectorized block of bootstrap resamples (resamples x sample size), to bound memory.
_MAX_BLOCK = 4_000_000


def _bracket(mean: float, low: float, high: float) -> Interval:
    """An interval widened, if needed, to contain its point estimate.

    BCa in pathological cases, or float round-off on near-constant data, can put the estimate a
    hair outside its own interval; reports assume ``low <= mean <= high``.
    """
    mean, low, high = float(mean), float(low), float(high)
    if math.isnan(mean):
        return NAN_INTERVAL
    return Interval(mean, min(low, mean), max(high, mean))


def bootstrap_ci(
    values: Sequence[float] | np.ndarray,
    statistic: Callable[..., float] = np.mean,
    *,
    confidence: float = 0.95,
    n_resamples: int = 2000,
    seed: int = 0,
) -> Interval:
    """Bootstrap confidence interval of ``statistic(values)`` (BCa, percentile when BCa is undefined).

    Args:
        values: One-dimensional sample.
        statistic: Reduces a sample to a number; it should accept ``axis`` so scipy can vectorize it.
        confidence: Confidence level of the two-sided interval.
        n_resamples: Number of bootstrap resamples.
        seed: Seed of the resampling.

    Returns:
        The estimate on the whole sample and its interval. One value or all-equal values give
        ``[v, v]``; an empty sample gives ``Interval(nan, nan, nan)``.
    """
    data = np.asarray(values, dtype=float).ravel()
    if data.size == 0:
        return NAN_INTERVAL
    estimate = float(statistic(data))
    if data.size == 1 or np.all(data == data[0]):
        return Interval(estimate, estimate, estimate)
    batch = max(1, min(n_resamples, _MAX_BLOCK // data.size))
    for method in ("BCa", "percentile"):
        with warnings.catch_warnings():
            # BCa warns (and returns NaN) on samples whose jackknife is degenerate; we fall back instead.
            warnings.simplefilter("ignore")
            result = stats.bootstrap(
                (data,),
                statistic,
                n_resamples=n_resamples,
                batch=batch,
                confidence_level=confidence,
                method=method,
                rng=np.random.default_rng(seed),
            )
        low, high = result.confidence_interval
        if not (math.isnan(low) or math.isnan(high)):
            return _bracket(estimate, low, high)
    return Interval(estimate, math.nan, math.nan)


def iqm(values: Sequence[float] | np.ndarray) -> float:
    """Interquartile mean: the mean of the middle 50% of the values (25% trimmed from each end).

    Robust to outliers yet less noisy than the median (Agarwal et al. 2021). NaN when empty.
    """
    data = np.asarray(values, dtype=float).ravel()
    if data.size == 0:
        return math.nan
    return float(stats.trim_mean(data, 0.25))


def _percentile_interval(estimate: float, replicates: np.ndarray, confidence: float) -> Interval:
    replicates = replicates[~np.isnan(replicates)]
    if replicates.size == 0:
        return Interval(estimate, math.nan, math.nan)
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(replicates, [alpha, 1.0 - alpha])
    return _bracket(estimate, low, high)


def stratified_bootstrap_ci(
    groups: Mapping[str, Sequence[float] | np.ndarray],
    statistic: Callable[[Mapping[str, np.ndarray]], Any],
    *,
    confidence: float = 0.95,
    n_resamples: int = 2000,
    seed: int = 0,
    vectorized: bool = False,
) -> Interval:
    """Percentile bootstrap CI of a statistic of several groups, resampling within each group.

    Each group (typically a task) is resampled with replacement at its own size, independently
    of the others, so every replicate keeps the task composition fixed.

    Args:
        groups: Group name -> sample.
        statistic: Maps ``{group name: sample}`` to a number.
        confidence: Confidence level of the two-sided interval.
        n_resamples: Number of bootstrap resamples.
        seed: Seed of the resampling.
        vectorized: If True, ``statistic`` takes ``{name: array of shape (resamples, group size)}``
            and returns one value per row; much faster than one Python call per resample.

    Returns:
        ``statistic(groups)`` and its interval; ``Interval(nan, nan, nan)`` when every group is empty.
    """
    # Sorted names: the draws do not depend on the mapping's insertion order.
    data = {name: np.asarray(groups[name], dtype=float).ravel() for name in sorted(groups)}
    if not data or all(v.size == 0 for v in data.values()):
        return NAN_INTERVAL
    if vectorized:
        estimate = float(np.asarray(statistic({name: v[None, :] for name, v in data.items()})).ravel()[0])
    else:
        estimate = float(statistic(data))
    if math.isnan(estimate):
        return NAN_INTERVAL
    rng = np.random.default_rng(seed)
    block = max(1, min(n_resamples, _MAX_BLOCK // max(sum(v.size for v in data.values()), 1)))
    replicates = np.empty(n_resamples)
    done = 0
    while done < n_resamples:
        size = min(block, n_resamples - done)
        drawn = {name: v[rng.integers(0, v.size, size=(size, v.size))] if v.size else np.empty((size, 0))
                 for name, v in data.items()}
        if vectorized:
            replicates[done:done + size] = np.asarray(statistic(drawn), dtype=float).ravel()
        else:
            for r in range(size):
                replicates[done + r] = statistic({name: sample[r] for name, sample in drawn.items()})
        done += size
    return _percentile_interval(estimate, replicates, confidence)


def iqm_ci(
    scores_by_task: Mapping[str, Sequence[float] | np.ndarray],
    *,
    confidence: float = 0.95,
    n_resamples: int = 2000,
    seed: int = 0,
) -> Interval:
    """IQM of all scores pooled across tasks, with a CI by stratified bootstrap over tasks."""

    def pooled_iqm(groups: Mapping[str, np.ndarray]) -> np.ndarray:
        return stats.trim_mean(np.concatenate(list(groups.values()), axis=1), 0.25, axis=1)

    return stratified_bootstrap_ci(
        scores_by_task, pooled_iqm, confidence=confidence, n_resamples=n_resamples, seed=seed, vectorized=True
    )


def mean_of_means_ci(
    values_by_task: Mapping[str, Sequence[float] | np.ndarray],
    *,
    confidence: float = 0.95,
    n_resamples: int = 2000,
    seed: int = 0,
) -> Interval:
    """Mean over tasks of each task's mean (tasks weigh equally), with a stratified-bootstrap CI.

    Empty tasks are left out.
    """
    groups = {name: v for name, v in values_by_task.items() if np.asarray(v).size}

    def task_mean(sample: Mapping[str, np.ndarray]) -> np.ndarray:
        return np.mean([v.mean(axis=1) for v in sample.values()], axis=0)

    return stratified_bootstrap_ci(
        groups, task_mean, confidence=confidence, n_resamples=n_resamples, seed=seed, vectorized=True
    )


def prob_greater(x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray) -> float:
    """P(X > Y) + P(X = Y) / 2 over all pairs: the Mann-Whitney U of ``x`` divided by ``len(x) * len(y)``.

    Equals ``scipy.stats.mannwhitneyu(x, y).statistic / (n * m)``, computed by sorting (no p-value).
    """
    xs = np.asarray(x, dtype=float).ravel()
    ys = np.sort(np.asarray(y, dtype=float).ravel())
    if xs.size == 0 or ys.size == 0:
        return math.nan
    below = np.searchsorted(ys, xs, side="left")
    below_or_tied = np.searchsorted(ys, xs, side="right")
    return float((below.sum() + 0.5 * (below_or_tied - below).sum()) / (xs.size * ys.size))


def ratio_ci(
    numerator: Sequence[float] | np.ndarray,
    denominator: Sequence[float] | np.ndarray,
    *,
    confidence: float = 0.95,
    n_resamples: int = 2000,
    seed: int = 0,
) -> Interval:
    """``sum(numerator) / sum(denominator)`` (say tokens per success) with a paired percentile
    bootstrap interval over the units (episodes). NaN when the denominator sums to 0; a resample
    whose denominator sums to 0 counts as +inf, so an interval may be unbounded above."""
    num = np.asarray(numerator, dtype=float).ravel()
    den = np.asarray(denominator, dtype=float).ravel()
    if num.size != den.size:
        raise ConfigError(f"numerator and denominator differ in length ({num.size} vs {den.size})")
    if num.size == 0 or den.sum() == 0:
        return NAN_INTERVAL
    counts = _resample_counts(np.random.default_rng(seed), num.size, n_resamples)
    with np.errstate(divide="ignore", invalid="ignore"):
        replicates = (counts @ num) / (counts @ den)
    replicates[np.isnan(replicates)] = np.inf  # 0 / 0: no successes in the resample
    alpha = (1.0 - confidence) / 2.0
    # inverted_cdf picks resample values: interpolating between two infinities would give NaN
    low, high = np.quantile(replicates, [alpha, 1.0 - alpha], method="inverted_cdf")
    return _bracket(float(num.sum() / den.sum()), low, high)


def _resample_counts(rng: np.random.Generator, n: int, n_resamples: int) -> np.ndarray:
    """How often each of ``n`` points appears in each of ``n_resamples`` resamples with replacement."""
    # Offsetting row r's indices by r * n lets one bincount count all rows (far faster than rng.multinomial).
    drawn = rng.integers(0, n, size=(n_resamples, n)) + n * np.arange(n_resamples)[:, None]
    return np.bincount(drawn.ravel(), minlength=n * n_resamples).reshape(n_resamples, n)


def _prob_greater_replicates(xs: np.ndarray, ys: np.ndarray, rng: np.random.Generator, n_resamples: int) -> np.ndarray:
    """``prob_greater`` of ``n_resamples`` independent resamples of ``xs`` and of ``ys``, in O(resamples (n + m)).

    A resample of ``x`` is held as counts of the sorted points; their running sum gives, for every
    ``y_j``, how many resampled ``x`` lie below or tie with it, so no n-by-m comparison is formed.
    """
    xs = np.sort(xs)
    n, m = xs.size, ys.size
    left, right = np.searchsorted(xs, ys, side="left"), np.searchsorted(xs, ys, side="right")
    out = np.empty(n_resamples)
    block = max(1, _MAX_BLOCK // (n + m + 1))
    for start in range(0, n_resamples, block):
        size = min(block, n_resamples - start)
        cum = np.zeros((size, n + 1))
        np.cumsum(_resample_counts(rng, n, size), axis=1, out=cum[:, 1:])
        # Resampled x above y_j, plus half of those tied with it.
        wins = n - cum[:, right] + 0.5 * (cum[:, right] - cum[:, left])
        picked = rng.integers(0, m, size=(size, m))  # the resample of y
        out[start:start + size] = np.take_along_axis(wins, picked, axis=1).sum(axis=1) / (n * m)
    return out


def probability_of_improvement(
    x_by_task: Mapping[str, Sequence[float] | np.ndarray],
    y_by_task: Mapping[str, Sequence[float] | np.ndarray],
    *,
    confidence: float = 0.95,
    n_resamples: int = 2000,
    seed: int = 0,
) -> Interval:
    """Average over shared tasks of P(X > Y) (ties count 1/2), with a stratified-bootstrap CI.

    Only tasks where both ``x`` and ``y`` have scores count. Per task the estimate depends on
    scores only through their order, so it is invariant to any increasing transform of the task's
    scores. The bootstrap resamples ``x`` and ``y`` independently within each task.

    Returns:
        The estimate and its percentile interval; ``Interval(nan, nan, nan)`` with no shared task.
    """
    tasks = sorted(t for t in x_by_task if t in y_by_task and np.size(x_by_task[t]) and np.size(y_by_task[t]))
    if not tasks:
        return NAN_INTERVAL
    rng = np.random.default_rng(seed)
    estimates = []
    replicates = np.zeros(n_resamples)
    for task in tasks:
        xs = np.asarray(x_by_task[task], dtype=float).ravel()
        ys = np.asarray(y_by_task[task], dtype=float).ravel()
        estimates.append(prob_greater(xs, ys))
        replicates += _prob_greater_replicates(xs, ys, rng, n_resamples)
    replicates /= len(tasks)
    return _percentile_interval(float(np.mean(estimates)), replicates, confidence)


def pass_hat_k_per_seed(trials: Sequence[Sequence[bool]], k: int) -> np.ndarray:
    """Per-seed pass^k, every seed counted: ``C(c, k) / C(n, k)`` for a seed with ``n`` trials and ``c`` successes.

    That is the chance that ``k`` trials drawn without replacement from the seed's ``n`` all
    succeed, an unbiased estimator of ``p^k`` (tau-bench). A seed with fewer than ``k``
    successes contributes 0, also one with fewer than ``k`` trials (only an incomplete cell has
    one; 0 is then conservative), so every k uses the same seeds and the mean is non-increasing in k.

    Args:
        trials: One sequence of success flags per seed.
        k: Number of trials that must all succeed; at least 1.

    Returns:
        One value per seed, in input order (seeds with no trial left out).
    """
    if k < 1:
        raise ConfigError(f"pass^k needs k >= 1, got {k}")
    values = []
    for seed_trials in trials:
        n = len(seed_trials)
        if n == 0:
            continue
        c = int(sum(bool(t) for t in seed_trials))
        values.append(math.comb(c, k) / math.comb(n, k) if c >= k else 0.0)
    return np.asarray(values, dtype=float)


def pass_hat_k(trials: Sequence[Sequence[bool]], k: int) -> float:
    """pass^k averaged over every seed (:func:`pass_hat_k_per_seed`).

    Raises:
        ValueError: If ``k < 1`` or no seed has ``k`` trials.
    """
    values = pass_hat_k_per_seed(trials, k)
    most = max((len(t) for t in trials), default=0)
    if most < k:
        raise ConfigError(f"pass^{k} needs a seed with at least {k} trials; the most any seed has is {most}")
    return float(values.mean())
