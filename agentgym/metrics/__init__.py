"""Decision-quality metrics with confidence intervals.

:mod:`agentgym.metrics.stats` holds the statistics (bootstrap CIs, IQM, probability of improvement,
pass^k); :mod:`agentgym.metrics.episodes` turns a run's episode records into per-cell metrics and
cross-env aggregates.
"""

from agentgym.metrics.episodes import METRICS, References, pass_hat_k_metrics, summarize
from agentgym.metrics.stats import (
    bootstrap_ci,
    iqm,
    iqm_ci,
    mean_of_means_ci,
    pass_hat_k,
    pass_hat_k_per_seed,
    prob_greater,
    probability_of_improvement,
    stratified_bootstrap_ci,
)

__all__ = [
    "METRICS",
    "References",
    "bootstrap_ci",
    "iqm",
    "iqm_ci",
    "mean_of_means_ci",
    "pass_hat_k",
    "pass_hat_k_metrics",
    "pass_hat_k_per_seed",
    "prob_greater",
    "probability_of_improvement",
    "stratified_bootstrap_ci",
    "summarize",
]
