"""A DPO epoch with agentgym's trainer against TRL's ``DPOTrainer``: same pairs, same initial weights, one run.

The pairs are step preferences from an env (oracle's action preferred, ``outcome`` labels), each
prompt the chat the LLM agent sees. Both trainers get the same model (the default SmolLM2-135M-Instruct,
float32) with the same LoRA adapters (same seed: identical initial weights), AdamW at a constant
learning rate, gradient clipping at 1.0, no shuffling, no dropout, no gradient checkpointing and no
mixed precision (TRL's defaults turn on the last two; they would change the numbers and the speed).
TRL computes the reference log-probabilities at every step by default (``--trl-precompute`` times
its precomputed variant too); agentgym computes them once before training.

Printed: the loss of each step from both trainers (they must agree within 1e-5: the script exits
with status 1 if not), the wall time of each epoch (tokenisation, reference, steps and, for agentgym,
saving the adapter) and the ratio, plus the machine and its load.

    python benchmarks/perf/dpo_vs_trl.py [--pairs 32] [--batch 8] [--env toy] [--history 0]
        [--model default] [--lr 5e-4] [--beta 0.1] [--lora-r 16] [--threads 0] [--trl-precompute] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import ClassVar

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TQDM_DISABLE", "1")

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from agentgym.agents.llm.default_model import default_model_dir
from agentgym.agents.llm.prompts import build_chat, load_template, visible_history
from agentgym.testing import toy
from agentgym.train import datasets
from agentgym.train.formats import Dataset
from agentgym.train.llm import FinetuneConfig, finetune
from agentgym.train.logprobs import encode


class AgentPrompt:
    """The LLM agent's chat at a turn (its template and history window) and its answer format."""

    def __init__(self, history: int = 4, window: str = "block") -> None:
        self.history, self.window = history, window
        self.tag = f"llm-agent(history={history})"

    def chat(self, turns, observation, card):
        template = load_template(None, card.family if card is not None else None)
        return build_chat(template, visible_history(list(turns), self.history, self.window), str(observation))

    def answer(self, action: str) -> str:
        return f"Action: {action}"


def build_pairs(env_id: str, n: int, history: int) -> Dataset:
    records: list = []
    seed = 0
    while len(records) < n:
        found = datasets.preference_dataset(env_id, AgentPrompt(history), labels="outcome",
                                            seeds=range(seed, seed + 8), pairs_per_state=None)
        records += found.records
        seed += 8
    return Dataset("prefs", records[:n], found.provenance)


def load_model(source: str):
    tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=True)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(source, dtype=torch.float32, local_files_only=True)
    return model, tokenizer


def with_lora(model, r: int, seed: int):
    from peft import LoraConfig, get_peft_model  # noqa: PLC0415 - optional peft, only for this comparison

    torch.manual_seed(seed)
    return get_peft_model(model, LoraConfig(r=r, lora_alpha=2 * r, lora_dropout=0.0, target_modules="all-linear",
                                            task_type="CAUSAL_LM"))


def run_trl(model, tokenizer, data: Dataset, args, out: Path, precompute: bool):
    from datasets import Dataset as HFDataset  # noqa: PLC0415 - optional datasets, only for TRL
    from trl import DPOConfig, DPOTrainer  # noqa: PLC0415 - optional trl, only for this comparison

    class RecordingDPOTrainer(DPOTrainer):
        """Keeps the exact loss of every training step (the logged one is rounded to 4 decimals)."""

        recorded: ClassVar[list[float]] = []

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            loss = super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
            if self.model.training:
                self.recorded.append(float((loss[0] if return_outputs else loss).detach()))
            return loss

    RecordingDPOTrainer.recorded = []
    config = DPOConfig(output_dir=str(out), per_device_train_batch_size=args.batch, num_train_epochs=1,
                       learning_rate=args.lr, lr_scheduler_type="constant", warmup_steps=0, weight_decay=0.0,
                       max_grad_norm=1.0, optim="adamw_torch", beta=args.beta, loss_type=["sigmoid"],
                       train_sampling_strategy="sequential", gradient_checkpointing=False, bf16=False, fp16=False,
                       use_cpu=True, logging_strategy="no", save_strategy="no", report_to=[], seed=args.seed,
                       precompute_ref_log_probs=precompute, max_length=None, dataloader_num_workers=0,
                       disable_tqdm=True)
    started = time.perf_counter()
    trainer = RecordingDPOTrainer(model=model, args=config, train_dataset=HFDataset.from_list(data.records),
                                  processing_class=tokenizer)
    prepared = time.perf_counter()
    trainer.train()
    finished = time.perf_counter()
    return list(RecordingDPOTrainer.recorded), finished - started, finished - prepared


def machine() -> str:
    cpu = platform.processor() or "cpu"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    return (f"{cpu}; {os.cpu_count()} cores; torch {torch.__version__} on {torch.get_num_threads()} threads; "
            f"load average {load}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=32)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--env", default="toy", help="an env id, or 'toy' for the test corridor (short prompts)")
    parser.add_argument("--history", type=int, default=0, help="earlier turns shown in the prompt (the agent's 4)")
    parser.add_argument("--model", default="default", help="'default' (SmolLM2-135M-Instruct) or a local folder")
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--beta", type=float, default=0.1)
    parser.add_argument("--lora-r", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--trl-precompute", action="store_true", help="also time TRL with precomputed references")
    parser.add_argument("--tolerance", type=float, default=1e-5)
    parser.add_argument("--json", help="write the figures to this file")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    env_id = toy.register() if args.env == "toy" else args.env
    if args.model == "default":
        source = str(default_model_dir())
    else:
        source = args.model
    print(f"machine: {machine()}")
    data = build_pairs(env_id, args.pairs, args.history)
    _, tokenizer = load_model(source)
    encoded = [encode(tokenizer, r["prompt"], [r["chosen"], r["rejected"]]) for r in data.records]
    prompt_tokens = sum(len(e.prompt) for e in encoded) / len(encoded)
    completion_tokens = sum(len(c) for e in encoded for c in e.completions) / (2 * len(encoded))
    print(f"data: {len(data.records)} pairs from {env_id} (history {args.history}), mean prompt {prompt_tokens:.0f} "
          f"tokens, mean completion {completion_tokens:.1f} tokens; batch {args.batch}, LoRA r={args.lora_r}, "
          f"lr {args.lr}, beta {args.beta}")

    figures: dict = {"machine": machine(), "pairs": len(data.records), "env": env_id, "batch": args.batch,
                     "prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens}
    with tempfile.TemporaryDirectory() as tmp:
        model, tokenizer = load_model(source)
        model = with_lora(model, args.lora_r, args.seed)
        config = FinetuneConfig(loss="dpo", loss_kwargs={"beta": args.beta}, learning_rate=args.lr,
                                batch_size=args.batch, epochs=1, shuffle=False, eval_fraction=0.0,
                                eval_every=10**9, save_every=10**9, max_grad_norm=1.0, seed=args.seed)
        started = time.perf_counter()
        result = finetune(model, tokenizer, data, Path(tmp) / "agentgym", config)
        ours_s = time.perf_counter() - started
        ours = [row["loss"] for row in result.curve["train"]]
        ours_steps_s = sum(row["seconds"] for row in result.curve["train"])
        del model, result

        model, tokenizer = load_model(source)
        model = with_lora(model, args.lora_r, args.seed)
        trl_losses, trl_s, trl_steps_s = run_trl(model, tokenizer, data, args, Path(tmp) / "trl", precompute=False)
        del model
        variants = {"TRL DPOTrainer": (trl_losses, trl_s, trl_steps_s)}
        if args.trl_precompute:
            model, tokenizer = load_model(source)
            model = with_lora(model, args.lora_r, args.seed)
            variants["TRL, precomputed reference"] = run_trl(model, tokenizer, data, args, Path(tmp) / "trl-pre",
                                                             precompute=True)

    print("\nstep  agentgym     TRL          |difference|")
    for step, (a, b) in enumerate(zip(ours, trl_losses), 1):
        print(f"{step:>4}  {a:.8f}  {b:.8f}  {abs(a - b):.2e}")
    difference = max(abs(a - b) for a, b in zip(ours, trl_losses))
    agree = len(ours) == len(trl_losses) and difference <= args.tolerance
    print(f"\nlosses agree within {args.tolerance:g}: {agree} (largest difference {difference:.2e} over "
          f"{len(ours)} steps; the loss moves {abs(ours[-1] - ours[0]):.2e} from the first step to the last)")
    print(f"\n{'trainer':<28} {'epoch s':>8} {'steps s':>8}   ratio (TRL / agentgym, epoch)")
    print(f"{'agentgym (LoRA, shared prompt)':<28} {ours_s:>8.1f} {ours_steps_s:>8.1f}")
    figures.update(agentgym={"losses": ours, "epoch_s": ours_s, "steps_s": ours_steps_s}, agree=agree,
                   max_difference=difference)
    for name, (losses, total, steps) in variants.items():
        print(f"{name:<28} {total:>8.1f} {steps:>8.1f}   {total / ours_s:.2f}x")
        figures[name] = {"losses": losses, "epoch_s": total, "steps_s": steps, "ratio": total / ours_s}
    print(f"\nmachine at the end: {machine()}")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())
