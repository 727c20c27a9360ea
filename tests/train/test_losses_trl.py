"""Each loss against TRL's own code on the same inputs (same loss within 1e-6).

TRL keeps its losses inside its trainers, so the tests call the trainers' loss methods on a stand-in
``self`` holding only what those methods read, without building a trainer:

- DPO, IPO, hinge, robust DPO and SFT: ``trl/trainer/dpo_trainer.py`` ``DPOTrainer._compute_loss``
  (TRL 1.16: the ``loss_type`` branches from line 1387), fed precomputed reference log-probabilities
  and a stand-in model whose per-token log-probabilities sum to the given sequence log-probabilities;
- KTO: ``trl/trainer/kto_trainer.py`` ``KTOTrainer._compute_loss`` (line 1370; the batch KL reference
  point at line 1443), with its ``_compute_kl_logps`` on the mismatched completions;
- SimPO and conservative DPO (label smoothing): ``trl/experimental/cpo/cpo_trainer.py`` ``CPOTrainer.cpo_loss``
  (line 678). TRL 1.16's ``DPOTrainer`` no longer smooths labels in its ``sigmoid`` loss; the CPO
  ``sigmoid`` branch is the same formula on whatever margin it is given, so it is fed the log-ratios;
- ORPO: ``trl/experimental/orpo/orpo_trainer.py`` ``ORPOTrainer.odds_ratio_loss`` (line 670) for the
  odds-ratio term; TRL's NLL term is a cross-entropy over prompt and completion tokens computed in its
  forward pass, so only the odds-ratio term is compared.
"""

from __future__ import annotations

from collections import defaultdict
from types import MethodType, SimpleNamespace

import pytest

torch = pytest.importorskip("torch")
trl_dpo = pytest.importorskip("trl.trainer.dpo_trainer")
trl_kto = pytest.importorskip("trl.trainer.kto_trainer")
trl_cpo = pytest.importorskip("trl.experimental.cpo.cpo_trainer")
trl_orpo = pytest.importorskip("trl.experimental.orpo.orpo_trainer")

from agentgym.train import losses  # noqa: E402

TOL = 1e-6
generator = torch.Generator().manual_seed(0)
N = 5
LENGTHS_C = torch.tensor([3, 1, 4, 2, 5])
LENGTHS_R = torch.tensor([2, 4, 1, 3, 2])
PC = -torch.rand(N, generator=generator, dtype=torch.float64) * 6 - 0.2
PR = -torch.rand(N, generator=generator, dtype=torch.float64) * 6 - 0.2
RC = -torch.rand(N, generator=generator, dtype=torch.float64) * 6 - 0.2
RR = -torch.rand(N, generator=generator, dtype=torch.float64) * 6 - 0.2


class _Accelerator:
    device = torch.device("cpu")

    @staticmethod
    def gather_for_metrics(value):
        return value

    gather = gather_for_metrics


class FakeModel:
    """Stands in for TRL's patched forward (``fused_lm_head=True``): row ``j`` of ``input_ids`` starts with
    the code ``j``; its per-token log-probabilities put the row's whole sequence log-probability on the
    first completion position (so their sum over the completion, and their mean over all completion
    tokens of a batch, are what the losses read)."""

    training = True

    def __init__(self, table: dict[int, float]) -> None:
        self.table = table

    def __call__(self, input_ids, labels=None, **kwargs):
        rows, width = input_ids.shape
        log_probs = torch.zeros(rows, width - 1, dtype=torch.float64)
        for j in range(rows):
            log_probs[j, 0] = self.table[int(input_ids[j, 0])]
        zeros = torch.zeros(rows, width - 1)
        return SimpleNamespace(log_probs=log_probs, entropy=zeros, mean_logits=zeros,
                               is_top1=zeros.bool())


def _trainer_self(**attributes):
    fields = dict(accelerator=_Accelerator(), aux_loss_enabled=False, ld_alpha=None, precompute_ref_logps=True,
                  f_divergence_type="reverse_kl", use_weighting=False, _total_train_tokens=0, _tp_size=1,
                  _metrics={"train": defaultdict(list), "eval": defaultdict(list)}, label_smoothing=0.0,
                  loss_weights=[1.0])
    fields.update(attributes)
    return SimpleNamespace(**fields)


def _rows(codes, lengths, width):
    """input_ids (first column the code), and a completion mask covering columns 1..length."""
    ids = torch.zeros(len(codes), width, dtype=torch.long)
    mask = torch.zeros(len(codes), width, dtype=torch.long)
    for j, (code, length) in enumerate(zip(codes, lengths)):
        ids[j, 0] = code
        mask[j, 1:1 + int(length)] = 1
    return ids, mask


def trl_dpo_loss(loss_type: str, beta: float, label_smoothing: float = 0.0) -> float:
    """TRL's ``DPOTrainer._compute_loss`` on the module's pairs."""
    table = {j: float(PC[j]) for j in range(N)} | {N + j: float(PR[j]) for j in range(N)}
    width = int(max(LENGTHS_C.max(), LENGTHS_R.max())) + 1
    ids, mask = _rows(list(range(2 * N)), torch.cat([LENGTHS_C, LENGTHS_R]), width)
    inputs = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "completion_mask": mask,
              "ref_chosen_logps": RC, "ref_rejected_logps": RR}
    fake = _trainer_self(model=FakeModel(table), loss_types=[loss_type], beta=beta, label_smoothing=label_smoothing)
    return float(trl_dpo.DPOTrainer._compute_loss(fake, fake.model, inputs, return_outputs=False))


PAIRS = dict(policy_chosen_logps=PC, policy_rejected_logps=PR, ref_chosen_logps=RC, ref_rejected_logps=RR)


@pytest.mark.parametrize("beta", [0.1, 0.7])
def test_dpo_sigmoid_matches_trl(beta):
    assert float(losses.dpo_loss(**PAIRS, beta=beta).loss) == pytest.approx(trl_dpo_loss("sigmoid", beta), abs=TOL)


@pytest.mark.parametrize("beta", [0.1, 0.7])
def test_hinge_matches_trl(beta):
    assert float(losses.hinge_loss(**PAIRS, beta=beta).loss) == pytest.approx(trl_dpo_loss("hinge", beta), abs=TOL)


@pytest.mark.parametrize("beta", [0.1, 0.7])
def test_ipo_matches_trl_length_normalised(beta):
    ours = losses.ipo_loss(**PAIRS, chosen_lengths=LENGTHS_C.double(), rejected_lengths=LENGTHS_R.double(), beta=beta)
    assert float(ours.loss) == pytest.approx(trl_dpo_loss("ipo", beta), abs=TOL)


@pytest.mark.parametrize("eps", [0.0, 0.1, 0.3])
def test_robust_dpo_matches_trl(eps):
    ours = losses.robust_dpo_loss(**PAIRS, beta=0.3, label_smoothing=eps)
    assert float(ours.loss) == pytest.approx(trl_dpo_loss("robust", 0.3, eps), abs=TOL)


def test_sft_matches_trl():
    ours = losses.sft_loss(PC, LENGTHS_C.double())
    assert float(ours.loss) == pytest.approx(trl_dpo_loss("sft", 0.1), abs=TOL)


def test_dpo_metrics_match_trl():
    beta = 0.4
    table = {j: float(PC[j]) for j in range(N)} | {N + j: float(PR[j]) for j in range(N)}
    ids, mask = _rows(list(range(2 * N)), torch.cat([LENGTHS_C, LENGTHS_R]), 6)
    fake = _trainer_self(model=FakeModel(table), loss_types=["sigmoid"], beta=beta)
    trl_dpo.DPOTrainer._compute_loss(fake, fake.model, {
        "input_ids": ids, "attention_mask": torch.ones_like(ids), "completion_mask": mask,
        "ref_chosen_logps": RC, "ref_rejected_logps": RR}, return_outputs=False)
    logged = fake._metrics["train"]
    ours = losses.dpo_loss(**PAIRS, beta=beta).metrics
    for ours_name, trl_name in [("rewards_chosen", "rewards/chosen"), ("rewards_rejected", "rewards/rejected"),
                                ("margins", "rewards/margins"), ("accuracy", "rewards/accuracies")]:
        assert float(ours[ours_name]) == pytest.approx(logged[trl_name][0], abs=TOL)


def _cpo_self(loss_type: str, beta: float, label_smoothing: float = 0.0, gamma: float = 0.5):
    return SimpleNamespace(alpha=0.0, loss_type=loss_type, beta=beta, label_smoothing=label_smoothing,
                           simpo_gamma=gamma, accelerator=_Accelerator())


@pytest.mark.parametrize(("beta", "gamma", "eps"), [(2.0, 1.0, 0.0), (2.5, 1.4, 0.0), (1.0, 0.5, 0.1)])
def test_simpo_matches_trl(beta, gamma, eps):
    # CPOTrainer computes SimPO on the length-averaged log-probabilities (get_batch_logps(average_log_prob=True))
    losses_trl, _, _ = trl_cpo.CPOTrainer.cpo_loss(_cpo_self("simpo", beta, eps, gamma), PC / LENGTHS_C,
                                                  PR / LENGTHS_R)
    ours = losses.simpo_loss(PC, PR, LENGTHS_C.double(), LENGTHS_R.double(), beta=beta, gamma=gamma,
                             label_smoothing=eps)
    assert float(ours.loss) == pytest.approx(float(losses_trl.mean()), abs=TOL)


@pytest.mark.parametrize("eps", [0.0, 0.1, 0.25])
def test_cdpo_matches_trl_label_smoothed_sigmoid(eps):
    beta = 0.3
    losses_trl, _, _ = trl_cpo.CPOTrainer.cpo_loss(_cpo_self("sigmoid", beta, eps), PC - RC, PR - RR)
    ours = losses.cdpo_loss(**PAIRS, beta=beta, label_smoothing=eps)
    assert float(ours.loss) == pytest.approx(float(losses_trl.mean()), abs=TOL)


@pytest.mark.parametrize("beta", [0.1, 1.0])
def test_orpo_odds_ratio_term_matches_trl(beta):
    fake = SimpleNamespace(beta=beta, accelerator=_Accelerator())
    mean_c, mean_r = PC / LENGTHS_C, PR / LENGTHS_R
    losses_trl, chosen_rewards, _, _, log_odds = trl_orpo.ORPOTrainer.odds_ratio_loss(fake, mean_c, mean_r)
    ours = losses.orpo_loss(PC, PR, LENGTHS_C.double(), LENGTHS_R.double(), beta=beta)
    # TRL: loss = nll - mean(beta * log s(log odds ratio))
    assert float(ours.loss - ours.metrics["nll"]) == pytest.approx(float(-losses_trl.mean()), abs=TOL)
    assert float(ours.metrics["log_odds_ratio"]) == pytest.approx(float(log_odds), abs=TOL)
    assert float(ours.metrics["rewards_chosen"]) == pytest.approx(float(chosen_rewards.mean()), abs=TOL)


@pytest.mark.parametrize(("weights", "kl_shift"), [((1.0, 1.0), 0.0), ((1.0, 1.33), 0.4), ((0.8, 1.0), -2.0)])
def test_kto_matches_trl(weights, kl_shift):
    """Four completions (two desirable) and their mismatched KL completions; ``kl_shift`` moves the
    policy's KL log-probabilities so the batch KL estimate is positive, or negative (clamped to 0)."""
    policy = torch.tensor([-2.0, -3.5, -1.2, -4.0], dtype=torch.float64)
    ref = torch.tensor([-2.4, -3.0, -1.9, -3.1], dtype=torch.float64)
    labels = torch.tensor([True, False, True, False])
    kl_ref = torch.tensor([-5.0, -4.2, -6.1, -3.3], dtype=torch.float64)
    kl_policy = kl_ref + torch.tensor([0.3, -0.1, 0.5, 0.2], dtype=torch.float64) + kl_shift
    table = {j: float(policy[j]) for j in range(4)} | {10 + j: float(kl_policy[j]) for j in range(4)}
    ids, mask = _rows(range(4), [2, 3, 1, 2], 5)
    kl_ids, kl_mask = _rows(range(10, 14), [3, 1, 2, 2], 5)
    batch = {"label": labels.long(), "input_ids": ids, "attention_mask": torch.ones_like(ids), "completion_mask": mask,
             "KL_input_ids": kl_ids, "KL_attention_mask": torch.ones_like(kl_ids), "KL_completion_mask": kl_mask,
             "ref_logps": ref, "ref_KL_logps": kl_ref}
    fake = _trainer_self(model=FakeModel(table), loss_type="kto", beta=0.5, calculate_KL=True,
                         desirable_weight=weights[0], undesirable_weight=weights[1])
    fake._compute_kl_logps = MethodType(trl_kto.KTOTrainer._compute_kl_logps, fake)
    trl_loss = float(trl_kto.KTOTrainer._compute_loss(fake, fake.model, batch, return_outputs=False))
    ours = losses.kto_loss(policy, ref, labels, kl_policy, kl_ref, beta=0.5, desirable_weight=weights[0],
                           undesirable_weight=weights[1])
    assert float(ours.loss) == pytest.approx(trl_loss, abs=TOL)
    assert float(ours.metrics["kl"]) == pytest.approx(fake._metrics["train"]["kl"][0], abs=TOL)
