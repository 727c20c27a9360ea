"""Token ids and log-probabilities of completions for fine-tuning, with the prompt encoded once.

Tokenisation follows TRL's (``DPOTrainer``, ``KTOTrainer``), so the same example gives the same
tokens here and there: a conversational example renders ``prompt`` with the generation prompt and
``prompt + completion`` with the chat template; a plain-text example appends the EOS token to the
completion; the completion starts where the two token sequences part (usually right after the prompt).

:func:`completion_logps` scores several completions of each prompt the way the inference backend
reuses a prompt prefix: the prompts run once (left-padded into one batch), their key/value cache
is repeated once per completion, and all completions then run together after it. A pair's chosen
and rejected completions thus share one prompt pass (forward and backward). :func:`sequence_logps`
is the plain reference: every prompt + completion as its own full sequence.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any, NamedTuple

import torch


class Encoded(NamedTuple):
    """One prompt's token ids and those of each of its completions."""

    prompt: list[int]
    completions: list[list[int]]


def _ids(tokenizer: Any, text_or_chat: Any, **template: Any) -> list[int]:
    if isinstance(text_or_chat, list):
        result = tokenizer.apply_chat_template(text_or_chat, tokenize=True, return_dict=True, **template)
        ids = result["input_ids"]
    else:
        ids = tokenizer(text=text_or_chat)["input_ids"]
    return list(ids[0] if ids and isinstance(ids[0], list) else ids)


def _common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def encode(tokenizer: Any, prompt: Any, completions: Sequence[Any]) -> Encoded:
    """Token ids of ``prompt`` and of each completion after it, as TRL tokenises them.

    ``prompt`` and the completions are all strings (TRL's standard format: the EOS token is appended
    to each completion) or all chat-message lists (its conversational format).
    """
    if isinstance(prompt, list):
        prompt_ids = _ids(tokenizer, prompt, add_generation_prompt=True)
        full = [_ids(tokenizer, prompt + list(completion)) for completion in completions]
    else:
        eos = tokenizer.eos_token or ""
        texts = [c if c.endswith(eos) else c + eos for c in completions]
        prompt_ids = _ids(tokenizer, prompt)
        full = [_ids(tokenizer, prompt + text) for text in texts]
    shared = min(_common_prefix(prompt_ids, ids) for ids in full)
    return Encoded(prompt_ids[:shared], [ids[shared:] for ids in full])


def _token_logps(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """``log softmax(logits)[target]`` without materialising the whole log-softmax."""
    if logits.dtype in (torch.float16, torch.bfloat16):
        logits = logits.float()
    return logits.gather(-1, targets.unsqueeze(-1)).squeeze(-1) - torch.logsumexp(logits, dim=-1)


def _cache_keyword(model: Any) -> str:
    """The forward keyword of the key/value cache: ``cache`` (transformers >= 5.2x) or ``past_key_values``."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return "cache" if "cache" in inspect.signature(type(base).forward).parameters else "past_key_values"


class CompletionLogps(NamedTuple):
    """Summed log-probability and token count of each completion, flattened in prompt order."""

    logps: torch.Tensor
    lengths: torch.Tensor


def completion_logps(model: Any, prompts: Sequence[Sequence[int]], completions: Sequence[Sequence[Sequence[int]]],
                     pad_id: int) -> CompletionLogps:
    """Log-probabilities of every completion of every prompt, each prompt encoded once.

    Args:
        model: a transformers causal LM (a peft model too); gradients flow when enabled.
        prompts: the token ids of each prompt.
        completions: per prompt, the token ids of its completions (each non-empty).
        pad_id: the id put in padding (masked out).

    Returns:
        logps and lengths with one entry per completion, in the order ``completions`` lists them.
    """
    device = next(model.parameters()).device
    if any(not prompt for prompt in prompts):
        raise ValueError("every prompt needs at least one token")
    rows = [i for i, own in enumerate(completions) for _ in own]
    flat = [list(c) for own in completions for c in own]
    if not flat or any(not c for c in flat):
        raise ValueError("every prompt needs at least one non-empty completion")
    widths = [len(p) for p in prompts]
    width = max(widths)
    ids = torch.full((len(prompts), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(prompts), width), dtype=torch.long)
    positions = torch.zeros((len(prompts), width), dtype=torch.long)
    for i, prompt in enumerate(prompts):
        n = len(prompt)
        ids[i, width - n:] = torch.as_tensor(list(prompt))
        mask[i, width - n:] = 1
        positions[i, width - n:] = torch.arange(n)
    out = model(input_ids=ids.to(device), attention_mask=mask.to(device), position_ids=positions.to(device),
                use_cache=True, logits_to_keep=1)
    cache = out.cache if getattr(out, "cache", None) is not None else out.past_key_values
    index = torch.tensor(rows, device=device)
    cache.reorder_cache(index)  # one copy of each prompt's keys/values per completion
    first_logits = out.logits[:, -1].index_select(0, index)

    length = max(len(c) for c in flat)
    completion_ids = torch.full((len(flat), length), pad_id, dtype=torch.long)
    completion_mask = torch.zeros((len(flat), length), dtype=torch.long)
    for r, tokens in enumerate(flat):
        completion_ids[r, :len(tokens)] = torch.as_tensor(tokens)
        completion_mask[r, :len(tokens)] = 1
    completion_positions = torch.tensor([widths[i] for i in rows])[:, None] + torch.arange(length)[None]
    completion_ids, completion_mask = completion_ids.to(device), completion_mask.to(device)
    total: torch.Tensor | int = 0
    if length > 1:
        follow = model(input_ids=completion_ids[:, :-1],
                       attention_mask=torch.cat([mask.to(device).index_select(0, index), completion_mask[:, :-1]], 1),
                       position_ids=completion_positions[:, :-1].to(device), use_cache=True,
                       **{_cache_keyword(model): cache})
        per_token = _token_logps(follow.logits, completion_ids[:, 1:]) * completion_mask[:, 1:]
        total = per_token.sum(dim=1)
    first = _token_logps(first_logits, completion_ids[:, 0])
    lengths = completion_mask.sum(dim=1)
    return CompletionLogps(first + total, lengths)


def sequence_logps(model: Any, prompts: Sequence[Sequence[int]], completions: Sequence[Sequence[Sequence[int]]]
                   ) -> CompletionLogps:
    """The plain reference for :func:`completion_logps`: each prompt + completion run alone, unpadded."""
    device = next(model.parameters()).device
    logps, lengths = [], []
    for prompt, own in zip(prompts, completions):
        for completion in own:
            tokens = torch.tensor([list(prompt) + list(completion)], device=device)
            logits = model(input_ids=tokens).logits[0, len(prompt) - 1:-1]
            logps.append(_token_logps(logits, tokens[0, len(prompt):]).sum())
            lengths.append(len(completion))
    return CompletionLogps(torch.stack(logps), torch.tensor(lengths))
