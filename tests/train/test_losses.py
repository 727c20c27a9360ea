"""Each loss against its closed form on hand-computed numbers, plus the invariants that define it.

Inputs (two pairs): policy log-probabilities chosen (-1, -2), rejected (-3, -1.5); reference chosen
(-2, -2.5), rejected (-2, -1). So the log-ratios are chosen (1, 0.5), rejected (-1, -0.5) and
``delta`` = (2, 1). Completion lengths: chosen (2, 4), rejected (1, 2).
"""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from agentgym.core.errors import UnknownNameError  # noqa: E402
from agentgym.train import losses  # noqa: E402

PC, PR = torch.tensor([-1.0, -2.0]), torch.tensor([-3.0, -1.5])
RC, RR = torch.tensor([-2.0, -2.5]), torch.tensor([-2.0, -1.0])
LC, LR = torch.tensor([2.0, 4.0]), torch.tensor([1.0, 2.0])
PAIR = dict(policy_chosen_logps=PC, policy_rejected_logps=PR, ref_chosen_logps=RC, ref_rejected_logps=RR)


def softplus(x: float) -> float:
    """``-log sigmoid(-x)`` = ``log(1 + e^x)``."""
    return math.log1p(math.exp(x))


def sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def close(value, expected, tol=1e-6):
    assert float(torch.as_tensor(value).detach()) == pytest.approx(expected, abs=tol)


def test_dpo_closed_form():
    out = losses.dpo_loss(**PAIR, beta=0.5)  # beta * delta = (1, 0.5)
    close(out.loss, (softplus(-1.0) + softplus(-0.5)) / 2)
    close(out.loss, 0.39366933584)  # (0.31326169 + 0.47407698) / 2, by hand
    close(out.metrics["rewards_chosen"], 0.5 * (1.0 + 0.5) / 2)
    close(out.metrics["rewards_rejected"], 0.5 * (-1.0 - 0.5) / 2)
    close(out.metrics["margins"], 0.5 * (2 + 1) / 2)
    close(out.metrics["accuracy"], 1.0)


def test_cdpo_and_robust_closed_forms():
    z = (1.0, 0.5)
    out = losses.cdpo_loss(**PAIR, beta=0.5, label_smoothing=0.2)
    close(out.loss, sum(0.8 * softplus(-x) + 0.2 * softplus(x) for x in z) / 2)
    out = losses.robust_dpo_loss(**PAIR, beta=0.5, label_smoothing=0.2)
    close(out.loss, sum((0.8 * softplus(-x) - 0.2 * softplus(x)) / 0.6 for x in z) / 2)
    with pytest.raises(ValueError, match="flip rate"):
        losses.robust_dpo_loss(**PAIR, label_smoothing=0.5)


def test_ipo_closed_form_plain_and_length_normalised():
    close(losses.ipo_loss(**PAIR, beta=0.5).loss, ((2 - 1) ** 2 + (1 - 1) ** 2) / 2)
    # h = 1/2 - (-1)/1 = 1.5 and 0.5/4 - (-0.5)/2 = 0.375; 1/(2 beta) = 1
    out = losses.ipo_loss(**PAIR, chosen_lengths=LC, rejected_lengths=LR, beta=0.5)
    close(out.loss, (0.5 ** 2 + 0.625 ** 2) / 2)


def test_hinge_closed_form():
    close(losses.hinge_loss(**PAIR, beta=0.5).loss, (0.0 + 0.5) / 2)


def test_simpo_closed_form():
    # mean log-probs: chosen (-0.5, -0.5), rejected (-3, -0.75); m = 2 * (c - r) - 1 = (4, -0.5)
    out = losses.simpo_loss(PC, PR, LC, LR, beta=2.0, gamma=1.0)
    close(out.loss, (softplus(-4.0) + softplus(0.5)) / 2)
    close(out.metrics["accuracy"], 1.0)
    smoothed = losses.simpo_loss(PC, PR, LC, LR, beta=2.0, gamma=1.0, label_smoothing=0.1)
    close(smoothed.loss, sum(0.9 * softplus(-m) + 0.1 * softplus(m) for m in (4.0, -0.5)) / 2)


def test_orpo_closed_form():
    def log_odds(p: float) -> float:
        return p - math.log(1 - math.exp(p))

    ratio_terms = [softplus(-(log_odds(c) - log_odds(r))) for c, r in ((-0.5, -3.0), (-0.5, -0.75))]
    nll = (1.0 + 2.0) / (2 + 4)  # token-mean NLL of the chosen completions
    out = losses.orpo_loss(PC, PR, LC, LR, beta=0.1)
    close(out.loss, nll + 0.1 * sum(ratio_terms) / 2)
    close(out.metrics["nll"], 0.5)


def test_kto_closed_form_with_batch_kl_reference_point():
    policy, ref = torch.tensor([-1.0, -2.0, -3.0, -4.0]), torch.tensor([-1.5, -1.5, -2.5, -3.0])
    labels = torch.tensor([True, False, True, False])
    kl_policy, kl_ref = torch.tensor([-2.0, -3.0]), torch.tensor([-2.5, -3.1])  # z0 = mean(0.5, 0.1) = 0.3
    out = losses.kto_loss(policy, ref, labels, kl_policy, kl_ref, beta=1.0, desirable_weight=1.0,
                          undesirable_weight=1.5)
    # log-ratios (0.5, -0.5, -0.5, -1.0)
    expected = [1 - sigmoid(0.5 - 0.3), 1.5 * (1 - sigmoid(0.3 + 0.5)), 1 - sigmoid(-0.5 - 0.3),
                1.5 * (1 - sigmoid(0.3 + 1.0))]
    close(out.loss, sum(expected) / 4)
    close(out.metrics["kl"], 0.3)
    close(out.metrics["rewards_chosen"], (0.5 - 0.5) / 2)
    # a negative KL estimate is clamped to 0; no KL log-probs means z0 = 0
    clamped = losses.kto_loss(policy, ref, labels, kl_ref, kl_policy, beta=1.0)
    plain = losses.kto_loss(policy, ref, labels, beta=1.0)
    close(clamped.loss, float(plain.loss))
    close(plain.loss, (1 - sigmoid(0.5) + 1 - sigmoid(0.5) + 1 - sigmoid(-0.5) + 1 - sigmoid(1.0)) / 4)


def test_kto_reference_point_is_detached():
    kl_policy = torch.tensor([-1.0, -2.0], requires_grad=True)
    z0 = losses.kto_reference_point(kl_policy, torch.tensor([-2.0, -2.0]))
    assert not z0.requires_grad and float(z0) == pytest.approx(0.5)


def test_sft_closed_form():
    out = losses.sft_loss(torch.tensor([-2.0, -6.0]), torch.tensor([2.0, 3.0]))
    close(out.loss, 8 / 5)


def test_gradients_flow_to_the_policy_only():
    policy_c = PC.clone().requires_grad_(True)
    ref_c = RC.clone().requires_grad_(True)
    out = losses.dpo_loss(policy_c, PR, ref_c.detach(), RR, beta=0.5)
    out.loss.backward()
    # d/d pi_c of mean(-log s(beta delta)) = -beta * s(-beta delta) / n
    expected = [-0.5 * sigmoid(-1.0) / 2, -0.5 * sigmoid(-0.5) / 2]
    assert policy_c.grad.tolist() == pytest.approx(expected, abs=1e-7)
    assert all(not value.requires_grad for value in out.metrics.values())


def test_group_advantages_and_policy_gradient_closed_form():
    returns = torch.tensor([1.0, 0.0, 1.0, 1.0])
    groups = ["a", "a", "b", "b"]
    advantages = losses.group_advantages(returns, groups, eps=0.0)
    # group a: mean 0.5, unbiased std sqrt(0.5); group b: all equal, advantage 0
    assert advantages.tolist() == pytest.approx([0.5 / math.sqrt(0.5), -0.5 / math.sqrt(0.5), 0.0, 0.0])
    loo = losses.group_advantages(returns, groups, baseline="loo", scale=False)
    assert loo.tolist() == pytest.approx([1.0, -1.0, 0.0, 0.0])
    batch = losses.group_advantages(returns, baseline="batch", scale=False)
    assert batch.tolist() == pytest.approx([0.25, -0.75, 0.25, 0.25])

    logps = torch.tensor([-1.0, -2.0, -0.5, -0.3], requires_grad=True)
    out = losses.policy_gradient_loss(logps, returns, groups, eps=0.0)
    a = 0.5 / math.sqrt(0.5)
    close(out.loss, -(a * -1.0 + -a * -2.0) / 4)
    out.loss.backward()
    assert logps.grad.tolist() == pytest.approx([-a / 4, a / 4, 0.0, 0.0])


def test_policy_gradient_clipping_and_kl_penalty():
    logps = torch.tensor([-1.0, -1.0])
    old = torch.tensor([-1.5, -0.5])  # ratios e^0.5 = 1.65 and e^-0.5 = 0.61
    returns, groups = torch.tensor([1.0, 0.0]), [0, 0]
    out = losses.policy_gradient_loss(logps, returns, groups, scale=False, old_logps=old, clip_epsilon=0.2)
    # advantages (0.5, -0.5): min(1.65 * 0.5, 1.2 * 0.5) = 0.6; min(0.61 * -0.5, 0.8 * -0.5) = -0.4
    close(out.loss, -(0.6 - 0.4) / 2)
    close(out.metrics["clip_fraction"], 1.0)
    ref = torch.tensor([-1.2, -0.8])
    with_kl = losses.policy_gradient_loss(logps, returns, groups, scale=False, ref_logps=ref, kl_coef=0.1)
    kl = sum(math.exp(q) - q - 1 for q in (-0.2, 0.2)) / 2
    close(with_kl.loss, 0.0 + 0.1 * kl)


def test_registry_names_data_and_did_you_mean():
    assert {"sft", "dpo", "ipo", "cdpo", "robust", "hinge", "kto", "simpo", "orpo", "grpo", "reinforce"} <= set(
        losses.LOSSES.names())
    assert losses.loss_spec("kto").data == "kto" and losses.loss_spec("simpo").reference is False
    assert losses.loss_spec("reinforce").parameters()["baseline"] == "batch"
    with pytest.raises(UnknownNameError, match="did you mean 'simpo'"):
        losses.loss_spec("simppo")
    # a spec passes each function only what it declares, and its own defaults
    out = losses.loss_spec("cdpo")(**PAIR, chosen_lengths=LC, rejected_lengths=LR, beta=0.5, unrelated=1)
    close(out.loss, float(losses.cdpo_loss(**PAIR, beta=0.5, label_smoothing=0.1).loss))


logps = st.floats(min_value=-30.0, max_value=-0.01, allow_nan=False)
pairs = st.lists(st.tuples(logps, logps, logps, logps), min_size=1, max_size=6)


def _tensors(rows):
    columns = list(zip(*rows))
    return {name: torch.tensor(column, dtype=torch.float64) for name, column in zip(PAIR, columns)}


def _swapped(data):
    return dict(policy_chosen_logps=data["policy_rejected_logps"], policy_rejected_logps=data["policy_chosen_logps"],
                ref_chosen_logps=data["ref_rejected_logps"], ref_rejected_logps=data["ref_chosen_logps"])


@settings(max_examples=30, deadline=None)
@given(pairs, st.floats(0.01, 2.0), st.floats(0.0, 0.45))
def test_dpo_family_invariants(rows, beta, eps):
    data = _tensors(rows)
    dpo = float(losses.dpo_loss(**data, beta=beta).loss)
    assert float(losses.cdpo_loss(**data, beta=beta, label_smoothing=0.0).loss) == pytest.approx(dpo, rel=1e-9)
    assert float(losses.robust_dpo_loss(**data, beta=beta, label_smoothing=0.0).loss) == pytest.approx(dpo, rel=1e-9)
    # cDPO is the expected DPO loss when the label is flipped with probability eps
    expected = (1 - eps) * dpo + eps * float(losses.dpo_loss(**_swapped(data), beta=beta).loss)
    assert float(losses.cdpo_loss(**data, beta=beta, label_smoothing=eps).loss) == pytest.approx(expected, rel=1e-9)
    # robust DPO is unbiased: its expectation over flips of the observed label is the clean DPO loss
    robust = float(losses.robust_dpo_loss(**data, beta=beta, label_smoothing=eps).loss)
    robust_flipped = float(losses.robust_dpo_loss(**_swapped(data), beta=beta, label_smoothing=eps).loss)
    assert (1 - eps) * robust + eps * robust_flipped == pytest.approx(dpo, rel=1e-7, abs=1e-9)
    # a constant added to both policy log-probabilities of a pair changes no reference-based pairwise loss
    shifted = dict(data, policy_chosen_logps=data["policy_chosen_logps"] + 3.0,
                   policy_rejected_logps=data["policy_rejected_logps"] + 3.0)
    for loss in (losses.dpo_loss, losses.ipo_loss, losses.hinge_loss):
        assert float(loss(**shifted, beta=beta).loss) == pytest.approx(float(loss(**data, beta=beta).loss), rel=1e-9)
