"""Fine-tuning a causal LM under a loss variant: LoRA by default, a cached reference, checkpoints, resume.

One loop for every loss of :mod:`agentgym.train.losses` that trains on a dataset (``pairs``, ``sft``
or ``kto`` data, :mod:`agentgym.train.formats`):

1. the examples are tokenised as TRL tokenises them, and a held-out share is set aside;
2. the model gets LoRA adapters (peft; ``lora=False`` trains every weight);
3. for the losses that need a reference, its log-probabilities are computed once, before the
   first update, by the same model with its adapters disabled (with full fine-tuning: the model
   before any update, so no copy is kept), and cached in the run folder;
4. each step scores the batch's completions with the prompt encoded once per example
   (:func:`agentgym.train.logprobs.completion_logps`: chosen and rejected share the prompt pass),
   calls the loss, clips the gradient and takes an AdamW step (constant learning rate);
5. every ``eval_every`` steps the held-out examples are scored (loss, reward margins, accuracy)
   and an optional ``evaluate(model, step)`` callback adds its own numbers (e.g. true success on
   held-out seeds); every ``save_every`` steps a checkpoint is written.

The run folder holds ``config.json``, ``curve.json`` (rewritten as it grows), ``reference_logps.pt``,
``checkpoint/`` (the latest: trainable weights, optimizer, step, random state; written to a
temporary folder and swapped in, so a kill never leaves half of one) and at the end ``adapter/``
(LoRA: a peft adapter folder, with the tokenizer) or ``model/`` (full fine-tuning). A run started
again on the same folder with the same config resumes from its checkpoint: batches come in an order
fixed by the seed and the step, so the resumed run takes the steps the killed one would have.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch

from agentgym.core.errors import AgentGymError
from agentgym.core.files import canonical_json, write_json_atomic
from agentgym.core.version import __version__
from agentgym.train.formats import Dataset
from agentgym.train.logprobs import completion_logps, encode
from agentgym.train.losses import LossOutput, LossSpec, loss_spec

CONFIG_FILE, CURVE_FILE, REFERENCE_FILE = "config.json", "curve.json", "reference_logps.pt"
CHECKPOINT_DIR, STATE_FILE, ADAPTER_DIR, MODEL_DIR = "checkpoint", "state.pt", "adapter", "model"


@dataclass
class FinetuneConfig:
    """How to fine-tune (every field can be set from a suite's loss recipe or the CLI)."""

    loss: str = "dpo"
    """A registered loss (``agentgym.train.losses.LOSSES``) that trains on a dataset: dpo, ipo, cdpo, ..."""
    loss_kwargs: dict[str, Any] = field(default_factory=dict)
    """The loss's hyper-parameters, e.g. ``{"beta": 0.1}``."""
    lora: bool = True
    """Train LoRA adapters (peft); False trains every weight."""
    lora_r: int = 16
    """LoRA rank."""
    lora_alpha: int = 32
    """LoRA scaling numerator (the update is scaled by ``lora_alpha / lora_r``)."""
    lora_dropout: float = 0.0
    """Dropout on the LoRA input (0 keeps a step deterministic)."""
    lora_targets: str | list[str] = "all-linear"
    """Modules that get adapters: peft's ``all-linear`` or a list of module names."""
    learning_rate: float = 1e-4
    """AdamW step size (constant)."""
    weight_decay: float = 0.0
    """AdamW weight decay."""
    max_grad_norm: float | None = 1.0
    """Clip the gradient's global norm to this (None: no clipping)."""
    epochs: int = 1
    """Passes over the training examples."""
    batch_size: int = 8
    """Examples (pairs) per step."""
    shuffle: bool = True
    """Shuffle the examples each epoch (by ``seed`` and the epoch); False keeps the file's order."""
    seed: int = 0
    """Seeds the held-out split, the order, the LoRA initialisation and dropout."""
    eval_fraction: float = 0.1
    """Share of the examples held out to score the curve on (0: none)."""
    eval_every: int = 20
    """Score the held-out examples (and call ``evaluate``) every this many steps, and at the end."""
    save_every: int = 50
    """Write a checkpoint every this many steps, and at the end."""


class FinetuneResult(NamedTuple):
    """The trained model (a peft model with LoRA), its curve, and the run folder."""

    model: Any
    curve: dict[str, list[dict[str, Any]]]
    out: Path


class _Example(NamedTuple):
    prompt: list[int]
    completions: list[list[int]]
    """pairs: (chosen, rejected); sft: (completion,); kto: (completion, another example's completion)."""
    label: bool | None = None


def _texts(dataset: Dataset, data: str) -> list[tuple[Any, list[Any], bool | None]]:
    """(prompt, completions, label) per example, in the shape the loss's data needs."""
    records, kind = dataset.records, dataset.kind
    if data == "pairs" and kind == "prefs":
        return [(r["prompt"], [r["chosen"], r["rejected"]], None) for r in records]
    if data == "sft" and kind in ("sft", "kto", "prefs"):
        if kind == "kto":
            records = [r for r in records if r["label"]]
        key = "chosen" if kind == "prefs" else "completion"
        return [(r["prompt"], [r[key]], None) for r in records]
    if data == "kto" and kind == "kto":
        return [(r["prompt"], [r["completion"]], bool(r["label"])) for r in records]
    if data == "kto" and kind == "prefs":  # unpaired: each chosen desirable, each rejected not
        return [(r["prompt"], [r[key]], key == "chosen") for r in records for key in ("chosen", "rejected")]
    raise AgentGymError(f"a {data} loss cannot train on {kind} data; make {'prefs' if data == 'pairs' else data} "
                        "data (agentgym data prefs|sft)")


def _with_kl_completions(examples: list[_Example], batch_size: int) -> list[_Example]:
    """KTO's mismatched pairs, as TRL builds them: within each chunk of ``batch_size`` examples (file order),
    example ``i`` also gets the completion of example ``i - 1`` (the first gets the chunk's last)."""
    paired = []
    for start in range(0, len(examples), batch_size):
        chunk = examples[start:start + batch_size]
        for i, example in enumerate(chunk):
            paired.append(example._replace(completions=[example.completions[0], chunk[i - 1].completions[0]]))
    return paired


def _with_lora(model: Any, config: FinetuneConfig) -> Any:
    try:
        from peft import LoraConfig, PeftModel, get_peft_model  # noqa: PLC0415 - optional: only LoRA runs need peft
    except ImportError as exc:
        raise AgentGymError(f"LoRA fine-tuning needs peft: pip install peft ({exc}); or set lora=False") from exc
    if isinstance(model, PeftModel):
        return model
    torch.manual_seed(config.seed)
    return get_peft_model(model, LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha,
                                            lora_dropout=config.lora_dropout, target_modules=config.lora_targets,
                                            task_type="CAUSAL_LM"))


def _adapters_off(model: Any):
    """The reference: the same model with its adapters disabled (a no-op without adapters)."""
    return model.disable_adapter() if hasattr(model, "disable_adapter") else contextlib.nullcontext()


def _batches(n: int, size: int) -> list[range]:
    return [range(start, min(start + size, n)) for start in range(0, n, size)]


def score_examples(model: Any, examples: list[_Example], pad_id: int, batch_size: int) -> torch.Tensor:
    """Log-probabilities ``[examples, completions]`` without gradient (the reference, and evaluation)."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            parts = [completion_logps(model, [examples[i].prompt for i in rows],
                                      [examples[i].completions for i in rows], pad_id).logps.view(len(rows), -1)
                     for rows in _batches(len(examples), batch_size)]
    finally:
        model.train(was_training)
    return torch.cat(parts).float()


def _reference(model: Any, examples: list[_Example], pad_id: int, batch_size: int, out: Path) -> torch.Tensor:
    """The reference log-probabilities of every example: from the run folder's cache, else computed once."""
    key = hashlib.sha256(canonical_json([[e.prompt, e.completions] for e in examples]).encode()).hexdigest()
    path = out / REFERENCE_FILE
    if path.is_file():
        cached = torch.load(path)
        if cached.get("key") == key:
            return cached["logps"]
    with _adapters_off(model):
        logps = score_examples(model, examples, pad_id, batch_size)
    tmp = path.with_suffix(".tmp")
    torch.save({"key": key, "logps": logps}, tmp)
    tmp.replace(path)
    return logps


def batch_loss(spec: LossSpec, model: Any, examples: list[_Example], reference: torch.Tensor | None, pad_id: int,
               loss_kwargs: dict[str, Any]) -> tuple[LossOutput, int]:
    """The loss of a batch (with gradient) and the number of tokens the model ran."""
    scored = completion_logps(model, [e.prompt for e in examples], [e.completions for e in examples], pad_id)
    logps = scored.logps.view(len(examples), -1)
    lengths = scored.lengths.view(len(examples), -1).to(logps.dtype)
    tokens = sum(len(e.prompt) for e in examples) + int(scored.lengths.sum())
    if spec.data == "pairs":
        available: dict[str, Any] = dict(policy_chosen_logps=logps[:, 0], policy_rejected_logps=logps[:, 1],
                                         chosen_lengths=lengths[:, 0], rejected_lengths=lengths[:, 1])
        if reference is not None:
            available.update(ref_chosen_logps=reference[:, 0], ref_rejected_logps=reference[:, 1])
    elif spec.data == "sft":
        available = dict(policy_logps=logps[:, 0], lengths=lengths[:, 0])
    else:
        labels = torch.tensor([bool(e.label) for e in examples])
        available = dict(policy_logps=logps[:, 0], policy_kl_logps=logps[:, 1].detach(), labels=labels)
        if reference is not None:
            available.update(ref_logps=reference[:, 0], ref_kl_logps=reference[:, 1])
    return spec(**available, **loss_kwargs), tokens


def _trainable_state(model: Any, lora: bool) -> dict[str, torch.Tensor]:
    if lora:
        from peft import get_peft_model_state_dict  # noqa: PLC0415 - optional: only LoRA runs need peft

        return {name: value.detach().clone() for name, value in get_peft_model_state_dict(model).items()}
    return {name: value.detach().clone() for name, value in model.state_dict().items()}


def _load_trainable_state(model: Any, state: dict[str, torch.Tensor], lora: bool) -> None:
    if lora:
        from peft import set_peft_model_state_dict  # noqa: PLC0415 - optional: only LoRA runs need peft

        set_peft_model_state_dict(model, state)
    else:
        model.load_state_dict(state)


def _publish(build: Callable[[Path], None], target: Path) -> None:
    """Write a folder with ``build`` next to ``target``, then swap it in (the old one is removed after)."""
    tmp = target.with_name(f".{target.name}.tmp")
    old = target.with_name(f".{target.name}.old")
    for leftover in (tmp, old):
        shutil.rmtree(leftover, ignore_errors=True)
    tmp.mkdir(parents=True)
    build(tmp)
    if target.exists():
        target.rename(old)
    tmp.rename(target)
    shutil.rmtree(old, ignore_errors=True)


def _save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """The checkpoint's folder, swapped in whole (a kill leaves the previous one)."""
    _publish(lambda folder: torch.save(state, folder / path.name), path.parent)


def _save_final(model: Any, tokenizer: Any, out: Path, lora: bool) -> Path:
    target = out / (ADAPTER_DIR if lora else MODEL_DIR)

    def build(folder: Path) -> None:
        model.save_pretrained(folder)
        tokenizer.save_pretrained(folder)

    _publish(build, target)
    return target


def _metrics_row(output: LossOutput) -> dict[str, float | None]:
    row = {"loss": float(output.loss.detach())}
    row.update({name: float(value) for name, value in output.metrics.items()})
    return {name: (None if isinstance(value, float) and math.isnan(value) else value) for name, value in row.items()}


def _loss_for(config: FinetuneConfig) -> LossSpec:
    spec = loss_spec(config.loss)
    if spec.data == "online":
        raise AgentGymError(f"loss {config.loss!r} trains from rollouts, not a dataset (agentgym.train.online)")
    unknown = set(config.loss_kwargs) - set(spec.parameters())
    if unknown:
        raise AgentGymError(f"loss {config.loss!r} has no parameter(s) {sorted(unknown)}; "
                            f"it takes {sorted(spec.parameters())}")
    return spec


def _open_run(out: Path, identity: dict[str, Any], resume: bool, spec: LossSpec) -> None:
    """Create the run folder, refusing to resume another run's checkpoint, and write ``config.json``."""
    out.mkdir(parents=True, exist_ok=True)
    saved = json.loads((out / CONFIG_FILE).read_text()) if (out / CONFIG_FILE).is_file() else None
    if saved is not None and resume and (out / CHECKPOINT_DIR / STATE_FILE).is_file() and \
            {key: saved.get(key) for key in identity} != json.loads(json.dumps(identity)):
        raise AgentGymError(f"{out} holds a run with another config or data; use another folder, or resume=False")
    write_json_atomic(out / CONFIG_FILE, {**identity, "loss_data": spec.data, "agentgym_version": __version__})


def _split_examples(tokenizer: Any, data: Dataset, spec: LossSpec, config: FinetuneConfig
                    ) -> tuple[list[_Example], list[_Example]]:
    """(training, held-out) examples, tokenised; the held-out share is drawn by the seed."""
    texts = _texts(data, spec.data)
    order = np.random.default_rng(config.seed).permutation(len(texts))
    n_eval = min(len(texts) - 1, round(config.eval_fraction * len(texts))) if config.eval_fraction > 0 else 0

    def prepare(indices: list[int]) -> list[_Example]:
        found = [_Example(*encode(tokenizer, texts[i][0], texts[i][1]), texts[i][2]) for i in indices]
        return _with_kl_completions(found, config.batch_size) if spec.data == "kto" else found

    train = prepare(sorted(order[n_eval:].tolist()))
    if not train:
        raise AgentGymError("no training examples left after holding out the evaluation share")
    return train, prepare(sorted(order[:n_eval].tolist()))


def _held_out_metrics(spec: LossSpec, model: Any, examples: list[_Example], reference: torch.Tensor | None,
                      pad_id: int, config: FinetuneConfig) -> dict[str, Any]:
    """The loss and its metrics over the held-out examples (batch means weighted by batch size)."""
    batches = _batches(len(examples), config.batch_size)
    model.eval()
    with torch.no_grad():
        rows = [_metrics_row(batch_loss(spec, model, [examples[i] for i in batch],
                                        reference[list(batch)] if reference is not None else None, pad_id,
                                        config.loss_kwargs)[0]) for batch in batches]
    averaged: dict[str, Any] = {}
    for name in rows[0]:
        values = [(value, len(batch)) for row, batch in zip(rows, batches) if (value := row[name]) is not None]
        averaged[name] = sum(v * w for v, w in values) / sum(w for _, w in values) if values else None
    return averaged


def _batch_rows(config: FinetuneConfig, step: int, n: int) -> tuple[int, list[int]]:
    """(epoch, example indices) of training step ``step`` (0-based): fixed by the seed, the epoch and the step."""
    epoch, position = divmod(step, math.ceil(n / config.batch_size))
    order = np.random.default_rng([config.seed, epoch]).permutation(n) if config.shuffle else np.arange(n)
    return epoch, order[position * config.batch_size:(position + 1) * config.batch_size].tolist()


def finetune(model: Any, tokenizer: Any, data: Dataset, out: str | Path, config: FinetuneConfig | None = None, *,
             evaluate: Callable[[Any, int], dict[str, float]] | None = None, resume: bool = True,
             stop_after: int | None = None) -> FinetuneResult:
    """Fine-tune ``model`` on ``data`` under ``config.loss`` into the run folder ``out`` (see the module docstring).

    Args:
        model: a transformers causal LM, in float32 for CPU training; with LoRA it is wrapped (and the
            adapters injected into it) by peft.
        tokenizer: its tokenizer (with a chat template for conversational data).
        data: examples of the format the loss trains on (:func:`agentgym.train.formats.read_dataset`);
            SFT also trains on the chosen completions of preference data.
        out: the run folder; a checkpoint there is resumed when ``resume`` and the config is the same.
        evaluate: called as ``evaluate(model, step)`` at every evaluation; its numbers join the curve.
        stop_after: stop once this many steps are done in all (a planned interruption; resume later).
    """
    config = config or FinetuneConfig()
    spec = _loss_for(config)
    out = Path(out)
    _open_run(out, {"config": asdict(config), "data": data.provenance, "examples": len(data.records),
                    "base_model": str(getattr(model, "name_or_path", type(model).__name__))}, resume, spec)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    train, held_out = _split_examples(tokenizer, data, spec, config)
    if config.lora:
        model = _with_lora(model, config)
    reference = _reference(model, train + held_out, pad_id, config.batch_size, out) if spec.reference else None
    train_reference, held_out_reference = (None, None) if reference is None else \
        (reference[:len(train)], reference[len(train):])

    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=config.learning_rate, weight_decay=config.weight_decay)
    checkpoint = out / CHECKPOINT_DIR / STATE_FILE
    curve: dict[str, list[dict[str, Any]]] = {"train": [], "eval": []}
    step = 0
    if resume and checkpoint.is_file():
        state = torch.load(checkpoint, weights_only=False)
        _load_trainable_state(model, state["weights"], config.lora)
        optimizer.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["torch_rng"])
        step, curve = state["step"], state["curve"]
    else:
        shutil.rmtree(checkpoint.parent, ignore_errors=True)
        torch.manual_seed(config.seed)  # dropout draws, if any
    total = math.ceil(len(train) / config.batch_size) * config.epochs

    def evaluate_now() -> None:
        row: dict[str, Any] = {"step": step}
        if held_out:
            row.update(_held_out_metrics(spec, model, held_out, held_out_reference, pad_id, config))
        if evaluate is not None:
            model.eval()
            row.update(evaluate(model, step))
        curve["eval"].append(row)
        write_json_atomic(out / CURVE_FILE, curve)

    if step == 0:
        evaluate_now()
    while step < total and (stop_after is None or step < stop_after):
        epoch, rows = _batch_rows(config, step, len(train))
        started = time.perf_counter()
        model.train()
        output, tokens = batch_loss(spec, model, [train[i] for i in rows],
                                    None if train_reference is None else train_reference[rows], pad_id,
                                    config.loss_kwargs)
        optimizer.zero_grad(set_to_none=True)
        output.loss.backward()
        if config.max_grad_norm is not None:
            torch.nn.utils.clip_grad_norm_(trainable, config.max_grad_norm)
        optimizer.step()
        step += 1
        seconds = time.perf_counter() - started
        curve["train"].append({"step": step, "epoch": epoch, **_metrics_row(output), "tokens": tokens,
                               "seconds": round(seconds, 4), "tokens_per_s": round(tokens / max(seconds, 1e-9), 1)})
        write_json_atomic(out / CURVE_FILE, curve)
        if step % config.eval_every == 0 or step == total:
            evaluate_now()
        if step % config.save_every == 0 or step == total or step == stop_after:
            _save_checkpoint(checkpoint, {"weights": _trainable_state(model, config.lora), "step": step,
                                          "optimizer": optimizer.state_dict(), "torch_rng": torch.get_rng_state(),
                                          "curve": curve})
    model.eval()
    if step == total:
        _save_final(model, tokenizer, out, config.lora)
    return FinetuneResult(model, curve, out)


def load_finetuned(base: Any, run: str | Path, merge: bool = True) -> Any:
    """The fine-tuned model of a run folder: ``base`` with the run's adapter (merged by default), or its full model."""
    run = Path(run)
    if (run / ADAPTER_DIR).is_dir() or (run / "adapter_config.json").is_file():
        from peft import PeftModel  # noqa: PLC0415 - optional: only LoRA runs need peft

        adapter = run / ADAPTER_DIR if (run / ADAPTER_DIR).is_dir() else run
        model = PeftModel.from_pretrained(base, str(adapter))
        return model.merge_and_unload() if merge else model
    if (run / MODEL_DIR).is_dir():
        from transformers import AutoModelForCausalLM  # noqa: PLC0415 - optional heavy dependency, loaded on use

        return AutoModelForCausalLM.from_pretrained(str(run / MODEL_DIR))
    raise AgentGymError(f"{run} holds no finished fine-tuning ({ADAPTER_DIR}/ or {MODEL_DIR}/)")
