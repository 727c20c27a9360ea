"""Loss variants for LLM policies: small pure functions of per-sequence log-probabilities.

Every loss takes the summed log-probability of each completion under the policy (and, where the
loss needs one, under the frozen reference), returns a :class:`LossOutput` (the mean loss and
detached metrics) and knows nothing about models, tokenizers or trainers. Notation below:
``pi_c``, ``pi_r`` are the policy's log-probabilities of the chosen and rejected completions,
``ref_c``, ``ref_r`` the reference's, ``|y|`` a completion's token count, ``s`` the logistic
function and ``delta = (pi_c - ref_c) - (pi_r - ref_r)``.

The registry :data:`LOSSES` maps a name to a :class:`LossSpec`: the function, the data it trains
on (``pairs``: prompt/chosen/rejected; ``sft``: prompt/completion; ``kto``: prompt/completion/label;
``online``: rollouts with returns) and whether it needs reference log-probabilities. A trainer
calls a spec with everything it has computed; the spec passes each function only the arguments
it declares.

Example:
    >>> import torch
    >>> out = dpo_loss(torch.tensor([-1.0]), torch.tensor([-3.0]), torch.tensor([-2.0]), torch.tensor([-2.0]),
    ...                beta=0.5)
    >>> round(float(out.loss), 4), float(out.metrics["accuracy"])
    (0.3133, 1.0)
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F

from agentgym.core.registry import Registry


class LossOutput(NamedTuple):
    """A loss value (a 0-d tensor with gradient) and its metrics (detached 0-d tensors)."""

    loss: torch.Tensor
    metrics: dict[str, torch.Tensor]


class LossSpec(NamedTuple):
    """A registered loss: its function, the data it trains on, and whether it needs a reference model."""

    name: str
    function: Callable[..., LossOutput]
    data: str
    """``pairs`` (prompt/chosen/rejected), ``sft`` (prompt/completion), ``kto`` (prompt/completion/label)
    or ``online`` (rollouts and their returns: :mod:`agentgym.train.online`)."""
    reference: bool
    """Whether the loss reads reference log-probabilities (a frozen copy of the starting policy)."""
    defaults: dict[str, Any] | None = None
    """Hyper-parameters this name sets (``reinforce`` is the policy gradient with a batch baseline)."""

    def parameters(self) -> dict[str, Any]:
        """The loss's hyper-parameters (keyword-only arguments) and their defaults under this name."""
        found = {name: p.default for name, p in inspect.signature(self.function).parameters.items()
                 if p.kind is inspect.Parameter.KEYWORD_ONLY}
        return {**found, **(self.defaults or {})}

    def __call__(self, **available: Any) -> LossOutput:
        """Call the function with the arguments it declares, taken from this name's defaults, then
        ``available`` (what the function does not declare is ignored)."""
        accepted = inspect.signature(self.function).parameters
        given = {**(self.defaults or {}), **available}
        return self.function(**{name: value for name, value in given.items() if name in accepted})


LOSSES: Registry[LossSpec] = Registry("loss", entry_point_group="agentgym.losses")
DATA_KINDS = ("pairs", "sft", "kto", "online")


def register_loss(name: str, *, data: str = "pairs", reference: bool = True, **defaults: Any):
    """Decorator registering a loss function under ``name`` (see :class:`LossSpec`), with the
    hyper-parameter ``defaults`` this name implies; returns the function unchanged."""
    if data not in DATA_KINDS:
        raise ValueError(f"data must be one of {DATA_KINDS}, not {data!r}")

    def decorate(function: Callable[..., LossOutput]) -> Callable[..., LossOutput]:
        LOSSES.add(name, LossSpec(name, function, data, reference, dict(defaults)), override=True)
        return function

    return decorate


def loss_spec(name: str) -> LossSpec:
    """The registered loss ``name``; an unknown name raises with a did-you-mean hint."""
    return LOSSES.get(name)


def _pair_metrics(chosen_rewards: torch.Tensor, rejected_rewards: torch.Tensor, **extra: torch.Tensor
                  ) -> dict[str, torch.Tensor]:
    chosen_rewards, rejected_rewards = chosen_rewards.detach(), rejected_rewards.detach()
    metrics = {
        "rewards_chosen": chosen_rewards.mean(),
        "rewards_rejected": rejected_rewards.mean(),
        "margins": (chosen_rewards - rejected_rewards).mean(),
        "accuracy": (chosen_rewards > rejected_rewards).float().mean(),
    }
    metrics.update({name: value.detach() for name, value in extra.items()})
    return metrics


def _logratios(policy_chosen_logps, policy_rejected_logps, ref_chosen_logps, ref_rejected_logps):
    return policy_chosen_logps - ref_chosen_logps, policy_rejected_logps - ref_rejected_logps


@register_loss("dpo")
def dpo_loss(policy_chosen_logps: torch.Tensor, policy_rejected_logps: torch.Tensor,
             ref_chosen_logps: torch.Tensor, ref_rejected_logps: torch.Tensor, *, beta: float = 0.1) -> LossOutput:
    """Sigmoid DPO (Rafailov et al. 2023, "Direct Preference Optimization", eq. 7).

    ``loss = mean(-log s(beta * delta))``; rewards ``beta * (pi - ref)``.
    """
    chosen, rejected = _logratios(policy_chosen_logps, policy_rejected_logps, ref_chosen_logps, ref_rejected_logps)
    losses = -F.logsigmoid(beta * (chosen - rejected))
    return LossOutput(losses.mean(), _pair_metrics(beta * chosen, beta * rejected))


@register_loss("cdpo")
def cdpo_loss(policy_chosen_logps: torch.Tensor, policy_rejected_logps: torch.Tensor,
              ref_chosen_logps: torch.Tensor, ref_rejected_logps: torch.Tensor, *, beta: float = 0.1,
              label_smoothing: float = 0.1) -> LossOutput:
    """Conservative DPO (Mitchell 2023, "A note on DPO with noisy preferences"): DPO with label smoothing ``eps``.

    ``loss = mean(-(1 - eps) log s(beta * delta) - eps log s(-beta * delta))``: the label is trusted
    with probability ``1 - eps``. ``eps = 0`` is DPO.
    """
    chosen, rejected = _logratios(policy_chosen_logps, policy_rejected_logps, ref_chosen_logps, ref_rejected_logps)
    logits = beta * (chosen - rejected)
    losses = -(1 - label_smoothing) * F.logsigmoid(logits) - label_smoothing * F.logsigmoid(-logits)
    return LossOutput(losses.mean(), _pair_metrics(beta * chosen, beta * rejected))


@register_loss("robust")
def robust_dpo_loss(policy_chosen_logps: torch.Tensor, policy_rejected_logps: torch.Tensor,
                    ref_chosen_logps: torch.Tensor, ref_rejected_logps: torch.Tensor, *, beta: float = 0.1,
                    label_smoothing: float = 0.1) -> LossOutput:
    """Robust DPO (Chowdhury et al. 2024, "Provably Robust DPO: Aligning Language Models with Noisy
    Feedback"), for labels flipped with rate ``eps < 1/2``.

    ``loss = mean([-(1 - eps) log s(beta * delta) + eps log s(-beta * delta)] / (1 - 2 eps))``: an
    unbiased estimate of the clean-label DPO loss.
    """
    if not 0.0 <= label_smoothing < 0.5:
        raise ValueError(f"robust DPO needs 0 <= label_smoothing < 0.5 (the flip rate), not {label_smoothing}")
    chosen, rejected = _logratios(policy_chosen_logps, policy_rejected_logps, ref_chosen_logps, ref_rejected_logps)
    logits = beta * (chosen - rejected)
    losses = (-(1 - label_smoothing) * F.logsigmoid(logits)
              + label_smoothing * F.logsigmoid(-logits)) / (1 - 2 * label_smoothing)
    return LossOutput(losses.mean(), _pair_metrics(beta * chosen, beta * rejected))


@register_loss("ipo")
def ipo_loss(policy_chosen_logps: torch.Tensor, policy_rejected_logps: torch.Tensor,
             ref_chosen_logps: torch.Tensor, ref_rejected_logps: torch.Tensor,
             chosen_lengths: torch.Tensor | None = None, rejected_lengths: torch.Tensor | None = None, *,
             beta: float = 0.1) -> LossOutput:
    """IPO (Azar et al. 2023, "A General Theoretical Paradigm to Understand Learning from Human Preferences", eq. 17).

    ``loss = mean((h - 1 / (2 beta))^2)`` with ``h = delta``; given token counts, each log-ratio is
    divided by its completion's length first (``h = (pi_c - ref_c)/|y_c| - (pi_r - ref_r)/|y_r|``), as
    TRL does (the form the IPO authors used, so ``beta`` does not depend on completion length).
    """
    chosen, rejected = _logratios(policy_chosen_logps, policy_rejected_logps, ref_chosen_logps, ref_rejected_logps)
    if chosen_lengths is not None and rejected_lengths is not None:
        h = chosen / chosen_lengths.clamp(min=1) - rejected / rejected_lengths.clamp(min=1)
    else:
        h = chosen - rejected
    losses = (h - 1 / (2 * beta)) ** 2
    return LossOutput(losses.mean(), _pair_metrics(beta * chosen, beta * rejected))


@register_loss("hinge")
def hinge_loss(policy_chosen_logps: torch.Tensor, policy_rejected_logps: torch.Tensor,
               ref_chosen_logps: torch.Tensor, ref_rejected_logps: torch.Tensor, *, beta: float = 0.1) -> LossOutput:
    """Hinge loss on the margin (SLiC: Zhao et al. 2023, "SLiC-HF: Sequence Likelihood Calibration
    with Human Feedback"), here on the log-ratios to the reference, as in TRL.

    ``loss = mean(max(0, 1 - beta * delta))``: ``1 / beta`` is the margin the chosen must win by.
    """
    chosen, rejected = _logratios(policy_chosen_logps, policy_rejected_logps, ref_chosen_logps, ref_rejected_logps)
    losses = torch.relu(1 - beta * (chosen - rejected))
    return LossOutput(losses.mean(), _pair_metrics(beta * chosen, beta * rejected))


def kto_reference_point(policy_kl_logps: torch.Tensor, ref_kl_logps: torch.Tensor) -> torch.Tensor:
    """KTO's reference point ``z0``: the batch estimate of KL(policy || reference), detached and clamped at 0.

    ``z0 = max(0, mean(pi(y'|x) - ref(y'|x)))`` over mismatched pairs ``(x_i, y_{i-1})`` of the batch
    (each prompt with another example's completion), as TRL's ``KTOTrainer`` computes it.
    """
    return (policy_kl_logps - ref_kl_logps).mean().detach().clamp(min=0)


@register_loss("kto", data="kto")
def kto_loss(policy_logps: torch.Tensor, ref_logps: torch.Tensor, labels: torch.Tensor,
             policy_kl_logps: torch.Tensor | None = None, ref_kl_logps: torch.Tensor | None = None, *,
             beta: float = 0.1, desirable_weight: float = 1.0, undesirable_weight: float = 1.0) -> LossOutput:
    """KTO (Ethayarajh et al. 2024, "KTO: Model Alignment as Prospect Theoretic Optimization", eq. 7).

    Unpaired: each completion is labelled desirable (``labels`` true) or undesirable. With
    ``r = pi - ref`` and the reference point ``z0`` (:func:`kto_reference_point`; 0 without KL log-probs):
    desirable ``l = w_D (1 - s(beta (r - z0)))``, undesirable ``l = w_U (1 - s(beta (z0 - r)))``;
    ``loss = mean(l)`` over all completions.
    """
    labels = labels.bool()
    z0 = (kto_reference_point(policy_kl_logps, ref_kl_logps) if policy_kl_logps is not None
          and ref_kl_logps is not None else policy_logps.new_zeros(()))
    logratios = policy_logps - ref_logps
    losses = torch.where(labels, desirable_weight * (1 - torch.sigmoid(beta * (logratios - z0))),
                         undesirable_weight * (1 - torch.sigmoid(beta * (z0 - logratios))))
    rewards = (beta * logratios).detach()
    nan = rewards.new_tensor(float("nan"))
    chosen = rewards[labels].mean() if labels.any() else nan
    rejected = rewards[~labels].mean() if (~labels).any() else nan
    metrics = {"rewards_chosen": chosen, "rewards_rejected": rejected, "margins": chosen - rejected,
               "accuracy": (torch.where(labels, rewards > 0, rewards < 0)).float().mean(), "kl": z0.detach()}
    return LossOutput(losses.mean(), metrics)


@register_loss("simpo", reference=False)
def simpo_loss(policy_chosen_logps: torch.Tensor, policy_rejected_logps: torch.Tensor,
               chosen_lengths: torch.Tensor, rejected_lengths: torch.Tensor, *, beta: float = 2.0,
               gamma: float = 1.0, label_smoothing: float = 0.0) -> LossOutput:
    """SimPO (Meng et al. 2024, "SimPO: Simple Preference Optimization with a Reference-Free Reward").

    Reference-free, length-normalised: ``m = beta * (pi_c / |y_c| - pi_r / |y_r|) - gamma``;
    ``loss = mean(-(1 - eps) log s(m) - eps log s(-m))`` (``eps = 0`` in the paper); rewards
    ``beta * pi / |y|``.
    """
    chosen = beta * policy_chosen_logps / chosen_lengths.clamp(min=1)
    rejected = beta * policy_rejected_logps / rejected_lengths.clamp(min=1)
    margin = chosen - rejected - gamma
    losses = -(1 - label_smoothing) * F.logsigmoid(margin) - label_smoothing * F.logsigmoid(-margin)
    return LossOutput(losses.mean(), _pair_metrics(chosen, rejected))


def _log1mexp(x: torch.Tensor) -> torch.Tensor:
    """``log(1 - exp(x))`` for ``x < 0``, stable on both sides of ``-log 2``."""
    return torch.where(x < -0.6931471805599453, torch.log1p(-torch.exp(x)), torch.log(-torch.expm1(x)))


@register_loss("orpo", reference=False)
def orpo_loss(policy_chosen_logps: torch.Tensor, policy_rejected_logps: torch.Tensor,
              chosen_lengths: torch.Tensor, rejected_lengths: torch.Tensor, *, beta: float = 0.1) -> LossOutput:
    """ORPO (Hong et al. 2024, "ORPO: Monolithic Preference Optimization without Reference Model", eqs. 4-7).

    With the per-token mean log-probabilities ``p = pi / |y|`` and odds ``odds(y) = e^p / (1 - e^p)``:
    ``loss = NLL + beta * mean(-log s(log odds(y_c) - log odds(y_r)))``, where NLL is the chosen
    completions' token-mean negative log-likelihood (the SFT term; TRL also counts prompt tokens in it).
    """
    chosen = policy_chosen_logps / chosen_lengths.clamp(min=1)
    rejected = policy_rejected_logps / rejected_lengths.clamp(min=1)
    log_odds = (chosen - rejected) - (_log1mexp(chosen) - _log1mexp(rejected))
    odds_ratio_loss = -F.logsigmoid(log_odds).mean()
    nll = -policy_chosen_logps.sum() / chosen_lengths.sum().clamp(min=1)
    metrics = _pair_metrics(beta * chosen, beta * rejected, nll=nll, log_odds_ratio=log_odds.mean())
    return LossOutput(nll + beta * odds_ratio_loss, metrics)


@register_loss("sft", data="sft", reference=False)
def sft_loss(policy_logps: torch.Tensor, lengths: torch.Tensor) -> LossOutput:
    """Supervised fine-tuning: the token-mean negative log-likelihood of the completions.

    ``loss = -sum_i pi_i / sum_i |y_i|`` (every completion token weighs the same, as in TRL's
    ``SFTTrainer`` and its DPO ``sft`` loss).
    """
    tokens = lengths.sum().clamp(min=1)
    nll = -policy_logps.sum() / tokens
    return LossOutput(nll, {"nll": nll.detach(), "tokens": tokens.detach().float()})


# ------------------------------------------------------------------------------ online RL
BASELINES = ("group", "loo", "batch", "none")


def group_advantages(returns: torch.Tensor, group_ids: Any = None, *, baseline: str = "group",
                     scale: bool = True, eps: float = 1e-6) -> torch.Tensor:
    """Advantages ``A_i = (R_i - b_i) / (std_g + eps)`` of returns ``R`` against a baseline ``b``.

    ``baseline``: ``group`` (the mean return of ``i``'s group: rollouts from the same start state, as
    GRPO), ``loo`` (the mean of the *other* members of the group: RLOO), ``batch`` (the batch mean:
    REINFORCE with a mean baseline) or ``none``. ``scale`` divides by the group's (``batch``: the batch's)
    standard deviation (unbiased), as GRPO does; a group of one, or of equal returns, is not scaled.
    Without ``group_ids`` the batch is one group.
    """
    if baseline not in BASELINES:
        raise ValueError(f"baseline must be one of {BASELINES}, not {baseline!r}")
    returns = returns.detach().to(torch.float64)
    device = returns.device
    if group_ids is None or baseline == "batch":
        inverse = torch.zeros(len(returns), dtype=torch.long, device=device)
    else:
        if not isinstance(group_ids, torch.Tensor):  # any hashable labels: seeds, state keys
            index: dict[Any, int] = {}
            group_ids = torch.tensor([index.setdefault(g, len(index)) for g in group_ids], dtype=torch.long)
        inverse = torch.unique(group_ids, return_inverse=True)[1].to(device)
    n_groups = int(inverse.max()) + 1 if len(returns) else 0
    counts = torch.zeros(n_groups, dtype=returns.dtype, device=device).index_add_(0, inverse, torch.ones_like(returns))
    sums = torch.zeros(n_groups, dtype=returns.dtype, device=device).index_add_(0, inverse, returns)
    means = sums / counts
    if baseline == "none":
        advantages = returns.clone()
    elif baseline == "loo":
        others = (counts[inverse] - 1).clamp(min=1)
        advantages = torch.where(counts[inverse] > 1, returns - (sums[inverse] - returns) / others,
                                 torch.zeros_like(returns))
    else:
        advantages = returns - means[inverse]
    if scale:
        deviations = (returns - means[inverse]) ** 2
        squares = torch.zeros(n_groups, dtype=returns.dtype, device=device).index_add_(0, inverse, deviations)
        std = torch.where(counts > 1, (squares / (counts - 1).clamp(min=1)).sqrt(), torch.zeros_like(counts))
        spread = std[inverse]
        advantages = torch.where(spread > 0, advantages / (spread + eps), advantages)  # a tied group stays as is
    return advantages.to(torch.float32)


@register_loss("grpo", data="online", reference=False)
@register_loss("reinforce", data="online", reference=False, baseline="batch", scale=False)
def policy_gradient_loss(logps: torch.Tensor, returns: torch.Tensor, group_ids: Any = None, *,
                         baseline: str = "group", scale: bool = True, old_logps: torch.Tensor | None = None,
                         clip_epsilon: float = 0.2, ref_logps: torch.Tensor | None = None, kl_coef: float = 0.0,
                         eps: float = 1e-6) -> LossOutput:
    """Policy gradient with a baseline over whole episodes: REINFORCE (Williams 1992) to GRPO (Shao et al. 2024).

    ``logps[i]`` is the log-probability of rollout ``i`` under the policy: for a multi-step episode,
    the sum over its steps of ``log pi(a_t | s_t)``; ``returns[i]`` its return under the reward variant
    being optimised; ``group_ids[i]`` its start state (rollouts of one seed form a group). With
    advantages ``A`` from :func:`group_advantages`:

    - on-policy (no ``old_logps``): ``loss = -mean(A_i * logps_i)``, the REINFORCE estimator;
    - with the log-probabilities the rollouts were sampled under (``old_logps``), GRPO's clipped
      surrogate ``loss = -mean(min(rho_i A_i, clip(rho_i, 1 - e, 1 + e) A_i))``, ``rho = exp(logps - old_logps)``;
    - with ``ref_logps`` and ``kl_coef > 0``, GRPO's KL penalty ``+ kl_coef * mean(exp(q) - q - 1)``,
      ``q = ref_logps - logps`` (the "k3" estimator of KL(policy || reference)).

    ``baseline="group", scale=True`` is GRPO's group-normalised advantage; ``baseline="loo"`` is RLOO
    (Ahmadian et al. 2024); ``baseline="batch"`` is REINFORCE with the batch-mean baseline.
    """
    advantages = group_advantages(returns, group_ids, baseline=baseline, scale=scale, eps=eps).to(logps.device)
    if old_logps is None:
        surrogate = advantages * logps
        clipped = logps.new_zeros(())
    else:
        ratio = torch.exp(logps - old_logps.detach())
        bounded = torch.clamp(ratio, 1 - clip_epsilon, 1 + clip_epsilon)
        surrogate = torch.minimum(ratio * advantages, bounded * advantages)
        clipped = ((ratio - bounded).abs() > 0).float().mean()
    loss = -surrogate.mean()
    kl = logps.new_zeros(())
    if ref_logps is not None:
        q = ref_logps.detach() - logps
        kl = (torch.exp(q) - q - 1).mean()
        loss = loss + kl_coef * kl
    metrics = {"return": returns.detach().float().mean(), "advantage_abs": advantages.abs().mean(),
               "kl": kl.detach(), "clip_fraction": clipped}
    return LossOutput(loss, metrics)
