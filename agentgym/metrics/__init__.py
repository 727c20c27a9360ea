"""Decision-quality metrics with confidence intervals.

:mod:`~agentgym.metrics.status` says which episodes count (ok and agent_error are scored, failed
ones make a cell incomplete); :mod:`~agentgym.metrics.normalize` grades each env on its card's
score; :mod:`~agentgym.metrics.intervals` gives Wilson intervals for rates and BCa otherwise, on
distinct episodes (:mod:`~agentgym.metrics.distinct`); :mod:`~agentgym.metrics.hierarchical` the
two-level and paired bootstraps of trained agents; :mod:`~agentgym.metrics.aggregate` rliable's IQM
of a runs x tasks matrix and P(improvement); :mod:`~agentgym.metrics.stats` the bootstrap, IQM,
probability of improvement and pass^k primitives; :mod:`~agentgym.metrics.episodes` and
:mod:`~agentgym.metrics.recipes` turn a run's episode records into per-cell metrics and aggregates.
"""

from agentgym.metrics.aggregate import iqm_matrix, iqm_matrix_ci, iqm_of_runs, run_of, score_matrix
from agentgym.metrics.distinct import distinct_index, distinct_summary, episode_identity
from agentgym.metrics.episodes import METRICS, pass_hat_k_metrics, summarize
from agentgym.metrics.hierarchical import prob_improvement_runs, two_level_ci
from agentgym.metrics.intervals import jeffreys_interval, rate_interval, wilson_interval
from agentgym.metrics.normalize import Normalizer, References, card_score, episode_score
from agentgym.metrics.recipes import summarize_recipes
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
from agentgym.metrics.status import (
    AGENT_ERROR,
    FAILED,
    OK,
    Completeness,
    cell_completeness,
    count_statuses,
    is_scored,
    scored_record,
    scored_records,
)

__all__ = [
    "AGENT_ERROR",
    "FAILED",
    "METRICS",
    "OK",
    "Completeness",
    "Normalizer",
    "References",
    "bootstrap_ci",
    "card_score",
    "cell_completeness",
    "count_statuses",
    "distinct_index",
    "distinct_summary",
    "episode_identity",
    "episode_score",
    "iqm",
    "iqm_ci",
    "iqm_matrix",
    "iqm_matrix_ci",
    "iqm_of_runs",
    "is_scored",
    "jeffreys_interval",
    "mean_of_means_ci",
    "pass_hat_k",
    "pass_hat_k_metrics",
    "pass_hat_k_per_seed",
    "prob_greater",
    "prob_improvement_runs",
    "probability_of_improvement",
    "rate_interval",
    "run_of",
    "score_matrix",
    "scored_record",
    "scored_records",
    "stratified_bootstrap_ci",
    "summarize",
    "summarize_recipes",
    "two_level_ci",
    "wilson_interval",
]
