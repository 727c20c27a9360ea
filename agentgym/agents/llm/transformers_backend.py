"""Local LLM backend on Hugging Face transformers (CPU or GPU).

Two levers, both on by default and neither changing greedy outputs:

- ``batch``: all chats of a call decode together (left padding + attention masks + explicit
  position ids), in chunks of ``max_batch`` rows. Their prompts run together when their
  lengths are within ``prefill_slack`` of each other (default 1.25 on GPU; 1.0 on CPU, where
  a padded batch takes a slower attention path than separate passes), else in groups whose
  caches are then packed into one batch for decoding;
- ``prefix_cache``: the key/value cache of every processed prompt is kept (keyed by its
  token ids, LRU, at most ``cache_tokens`` tokens) and a later prompt that starts with the
  same tokens (the same episode one step later, or the shared instructions of another
  episode) reuses the longest common prefix and runs only its new tokens.

A batch row is laid out ``[pad][cached prefix][pad][new tokens]``: padding is masked out and
positions are given explicitly, so rows with different cached and new lengths share one pass.
"""

from __future__ import annotations

import os
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import DynamicCache

from agentgym.agents.llm.backend import Chat, Completion, Scores

KV = list[tuple[torch.Tensor, torch.Tensor]]  # per layer (keys, values), each [1, heads, tokens, dim]


class PrefixCache:
    """Key/value caches of earlier prompts, found by the longest common token prefix."""

    def __init__(self, max_tokens: int = 32768) -> None:
        self.max_tokens = max_tokens
        self.entries: OrderedDict[int, tuple[np.ndarray, KV]] = OrderedDict()
        self._next = 0

    def lookup(self, ids: np.ndarray) -> tuple[int, KV | None, int | None]:
        """(reusable length, its KV sliced to that length, entry id); at least one token is left to run."""
        best, best_key = 0, None
        for key, (tokens, _) in self.entries.items():
            n = min(len(tokens), len(ids) - 1)
            if n <= best:
                continue
            diff = np.flatnonzero(tokens[:n] != ids[:n])
            common = int(diff[0]) if diff.size else n
            if common > best:
                best, best_key = common, key
        if best_key is None:
            return 0, None, None
        self.entries.move_to_end(best_key)
        kv = self.entries[best_key][1]
        return best, [(k[:, :, :best], v[:, :, :best]) for k, v in kv], best_key

    def store(self, ids: np.ndarray, kv: KV, supersedes: int | None) -> None:
        if supersedes is not None and supersedes in self.entries:
            old = self.entries[supersedes][0]
            if len(old) <= len(ids) and np.array_equal(old, ids[: len(old)]):
                del self.entries[supersedes]  # the new entry covers it
        self.entries[self._next] = (ids, kv)
        self._next += 1
        while sum(len(tokens) for tokens, _ in self.entries.values()) > self.max_tokens and len(self.entries) > 1:
            self.entries.popitem(last=False)

    def clear(self) -> None:
        self.entries.clear()


def _resolve_model(model: str, local_files_only: bool) -> str:
    if model == "default":
        from agentgym.agents.llm.default_model import default_model_dir

        return str(default_model_dir())
    if Path(model).expanduser().exists():
        return str(Path(model).expanduser())
    if local_files_only:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
    return model


class TransformersBackend:
    """A causal LM from transformers. ``model``: ``default`` (SmolLM2-135M-Instruct), a local folder,
    a hub id (from the local HF cache unless ``local_files_only=False``), or a loaded model
    (then pass ``tokenizer`` too)."""

    name = "transformers"
    supports_score = True

    def __init__(self, model: Any = "default", *, tokenizer: Any = None, device: str = "auto",
                 dtype: str = "auto", batch: bool = True, prefix_cache: bool = True, max_batch: int = 16,
                 cache_tokens: int = 32768, local_files_only: bool = True, trust_remote_code: bool = False,
                 prefill_slack: float | None = None) -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.device = torch.device(device)
        self.model_name = model if isinstance(model, str) else getattr(model, "name_or_path", type(model).__name__)
        if isinstance(model, str):
            source = _resolve_model(model, local_files_only)
            dtypes = {"auto": torch.bfloat16 if self.device.type == "cuda" else torch.float32,
                      "float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
            if dtype not in dtypes:
                raise ValueError(f"dtype must be one of {sorted(dtypes)}, not {dtype!r}")
            torch_dtype = dtypes[dtype]
            options = {"local_files_only": local_files_only, "trust_remote_code": trust_remote_code}
            tokenizer = tokenizer or AutoTokenizer.from_pretrained(source, **options)
            model = AutoModelForCausalLM.from_pretrained(source, dtype=torch_dtype, **options)
        if tokenizer is None:
            raise ValueError("pass tokenizer= with a loaded model")
        self.model = model.to(self.device).eval()
        self.tokenizer = tokenizer
        self.batch, self.max_batch = batch, max(1, max_batch) if batch else 1
        self.cache = PrefixCache(cache_tokens) if prefix_cache else None
        # padded prompts need an explicit attention mask, which sends CPU attention down a slow path
        self.prefill_slack = prefill_slack if prefill_slack is not None else 1.25 if self.device.type == "cuda" else 1.0
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        eos = getattr(model.generation_config, "eos_token_id", None) if model.generation_config else None
        self.eos_ids = {tokenizer.eos_token_id, *(eos if isinstance(eos, list) else [eos])} - {None}

    # ------------------------------------------------------------------ tokens
    def encode_chat(self, chat: Chat) -> np.ndarray:
        text = self.tokenizer.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)
        return np.asarray(self.tokenizer(text, add_special_tokens=False)["input_ids"], dtype=np.int64)

    def _encode_text(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    # --------------------------------------------------------------- forward
    def _pack(self, rows: list[tuple[KV | None, list[int]]]):
        """Batch rows (cached prefix, new tokens) as ``[pad][prefix][pad][new]``: (ids, mask, positions, cache)."""
        past_lens = [0 if kv is None else kv[0][0].shape[2] for kv, _ in rows]
        new_lens = [len(ids) for _, ids in rows]
        b, p_max, n_max = len(rows), max(past_lens), max(new_lens)
        ids = torch.full((b, n_max), self.pad_id, dtype=torch.long)
        mask = torch.zeros((b, p_max + n_max), dtype=torch.long)
        positions = torch.zeros((b, n_max), dtype=torch.long)
        for i, (p, n) in enumerate(zip(past_lens, new_lens)):
            if n:
                ids[i, n_max - n:] = torch.tensor(rows[i][1])
            mask[i, p_max - p: p_max] = 1
            mask[i, p_max + n_max - n:] = 1
            positions[i, n_max - n:] = torch.arange(p, p + n)
        cache = DynamicCache(config=self.model.config)
        if p_max > 0:
            layers = []
            template = next(kv for kv, _ in rows if kv is not None)
            for layer, (k0, v0) in enumerate(template):
                keys = k0.new_zeros((b, k0.shape[1], p_max, k0.shape[3]))
                values = v0.new_zeros((b, v0.shape[1], p_max, v0.shape[3]))
                for i, (kv, _) in enumerate(rows):
                    if kv is not None and past_lens[i]:
                        keys[i, :, p_max - past_lens[i]:] = kv[layer][0][0]
                        values[i, :, p_max - past_lens[i]:] = kv[layer][1][0]
                layers.append((keys, values))
            cache = DynamicCache(ddp_cache_data=layers, config=self.model.config)
        next_pos = torch.tensor([p + n for p, n in zip(past_lens, new_lens)])
        return ids.to(self.device), mask.to(self.device), positions.to(self.device), cache, next_pos

    def _run(self, rows: list[tuple[KV | None, list[int]]], all_logits: bool = False):
        """One forward pass over rows (cached prefix, new tokens): (logits, cache, mask, next positions)."""
        ids, mask, positions, cache, next_pos = self._pack(rows)
        out = self.model(input_ids=ids, attention_mask=mask, position_ids=positions, past_key_values=cache,
                         use_cache=True, logits_to_keep=0 if all_logits else 1)
        return out.logits.float(), out.past_key_values, mask, next_pos

    def _extract(self, cache, row: int, mask: torch.Tensor) -> KV:
        """Row ``row``'s unpadded prompt KV (columns where the mask is 1)."""
        keep = torch.nonzero(mask[row]).flatten()
        return [(layer.keys[row: row + 1].index_select(2, keep), layer.values[row: row + 1].index_select(2, keep))
                for layer in cache.layers]

    @staticmethod
    def _groups(lengths: list[int], slack: float = 1.25) -> list[list[int]]:
        """Rows grouped by length so that padding adds at most ``slack - 1`` of a group's tokens."""
        groups: list[list[int]] = []
        for i in sorted(range(len(lengths)), key=lengths.__getitem__):
            group = groups[-1] + [i] if groups else [i]
            if len(groups) and lengths[i] * len(group) <= slack * sum(lengths[j] for j in group):
                groups[-1] = group
            else:
                groups.append([i])
        return groups

    def _prefill(self, prompts: list[np.ndarray], pack: bool = True):
        """Run prompts, reusing cached prefixes and storing theirs: (last logits, cache, mask, next positions,
        reused lengths, per-row KV). Rows of very different lengths run in separate groups (padding would
        cost more than batching saves); with ``pack`` their caches are then packed into one batch."""
        rows, reused, sources = [], [], []
        for ids in prompts:
            n, kv, key = self.cache.lookup(ids) if self.cache is not None else (0, None, None)
            rows.append((kv, ids[n:].tolist()))
            reused.append(n)
            sources.append(key)
        groups = self._groups([len(new) for _, new in rows], self.prefill_slack)
        kvs: list[KV] = [[] for _ in rows]
        cache = mask = next_pos = None
        if len(groups) == 1:
            logits, cache, mask, next_pos = self._run(rows)
            if self.cache is not None or not pack:
                kvs = [self._extract(cache, i, mask) for i in range(len(rows))]
        else:
            last: list[torch.Tensor] = [torch.empty(0)] * len(rows)
            for group in groups:
                group_logits, group_cache, group_mask, _ = self._run([rows[i] for i in group])
                for j, i in enumerate(group):
                    last[i], kvs[i] = group_logits[j: j + 1], self._extract(group_cache, j, group_mask)
            if pack:
                _, mask, _, cache, next_pos = self._pack([(kv, []) for kv in kvs])
            logits = torch.cat(last)
        if self.cache is not None:
            for i, ids in enumerate(prompts):
                self.cache.store(ids, kvs[i], sources[i])
        return logits, cache, mask, next_pos, reused, kvs

    # ------------------------------------------------------------- generate
    @torch.inference_mode()
    def generate(self, chats: list[Chat], *, max_new_tokens: int, temperature: float = 0.0,
                 seeds: list[int] | None = None, stop: list[str] | None = None) -> list[Completion]:
        prompts = [self.encode_chat(chat) for chat in chats]
        results: list[Completion] = []
        for start in range(0, len(prompts), self.max_batch):
            chunk = range(start, min(start + self.max_batch, len(prompts)))
            chunk_seeds = [seeds[i] if seeds else i for i in chunk]
            results.extend(self._generate_chunk([prompts[i] for i in chunk], max_new_tokens, temperature,
                                                chunk_seeds, stop or []))
        return results

    def _generate_chunk(self, prompts, max_new_tokens, temperature, seeds, stop) -> list[Completion]:
        started = time.perf_counter()
        logits, cache, mask, next_pos, reused, _ = self._prefill(prompts)
        b = len(prompts)
        generators = [torch.Generator().manual_seed(int(s)) for s in seeds] if temperature > 0 else []
        outputs: list[list[int]] = [[] for _ in range(b)]
        texts = [""] * b
        done = [False] * b
        for step in range(max_new_tokens):
            last = logits[:, -1, :].cpu()
            if temperature > 0:
                probs = torch.softmax(last / temperature, dim=-1)
                chosen = [int(torch.multinomial(probs[i], 1, generator=generators[i])) for i in range(b)]
            else:
                chosen = last.argmax(dim=-1).tolist()
            for i, token in enumerate(chosen):
                if done[i]:
                    continue
                if token in self.eos_ids:
                    done[i] = True
                    continue
                outputs[i].append(token)
                texts[i] = self.tokenizer.decode(outputs[i], skip_special_tokens=True)
                if any(s in texts[i] for s in stop):
                    done[i] = True
            if all(done) or step == max_new_tokens - 1:
                break
            feed = torch.tensor([[self.pad_id if done[i] else chosen[i]] for i in range(b)], device=self.device)
            mask = torch.cat([mask, torch.ones((b, 1), dtype=mask.dtype, device=self.device)], dim=1)
            out = self.model(input_ids=feed, attention_mask=mask, position_ids=next_pos[:, None].to(self.device),
                             past_key_values=cache, use_cache=True)
            logits, cache, next_pos = out.logits.float(), out.past_key_values, next_pos + 1
        latency = time.perf_counter() - started
        results = []
        for i in range(b):
            text = texts[i]
            cuts = [text.index(s) for s in stop if s in text]
            results.append(Completion(text=text[: min(cuts)] if cuts else text, prompt_tokens=len(prompts[i]),
                                      completion_tokens=len(outputs[i]), latency_s=latency,
                                      cached_tokens=reused[i]))
        return results

    # ---------------------------------------------------------------- score
    @torch.inference_mode()
    def score(self, chats: list[Chat], candidates: list[list[str]]) -> list[Scores]:
        """Each chat's prompt runs once; its candidates then run together as continuations of its KV."""
        results: list[Scores] = []
        for start in range(0, len(chats), self.max_batch):
            chunk = range(start, min(start + self.max_batch, len(chats)))
            results.extend(self._score_chunk([chats[i] for i in chunk], [candidates[i] for i in chunk]))
        return results

    def _score_chunk(self, chats: list[Chat], candidates: list[list[str]]) -> list[Scores]:
        started = time.perf_counter()
        prompts = [self.encode_chat(chat) for chat in chats]
        logits, _, _, _, reused, kvs = self._prefill(prompts, pack=False)
        first = torch.log_softmax(logits[:, -1, :], dim=-1).cpu()
        options = [[self._encode_text(option) for option in chat_options] for chat_options in candidates]
        if any(not tokens for chat_options in options for tokens in chat_options):
            raise ValueError(f"a candidate has no tokens: {candidates}")
        logprobs: list[list[float]] = [[] for _ in chats]
        counts: list[list[int]] = [[] for _ in chats]
        width = max(self.max_batch, max((len(c) for c in candidates), default=1))
        # candidates of chats with similar prompt lengths share passes (little padding in the prefix)
        for group in self._groups([len(ids) for ids in prompts], self.prefill_slack):
            parts: list[list[tuple[int, list[int]]]] = [[]]
            for owner in group:  # a chat's candidates always share one pass
                if parts[-1] and len(parts[-1]) + len(options[owner]) > width:
                    parts.append([])
                parts[-1].extend((owner, tokens) for tokens in options[owner])
            for part in parts:
                cont, _, _, _ = self._run([(kvs[owner], tokens) for owner, tokens in part], all_logits=True)
                cont = torch.log_softmax(cont, dim=-1).cpu()
                n_max = cont.shape[1]
                for j, (owner, tokens) in enumerate(part):
                    n = len(tokens)
                    total = float(first[owner, tokens[0]])
                    for k in range(1, n):
                        total += float(cont[j, n_max - n + k - 1, tokens[k]])
                    logprobs[owner].append(total)
                    counts[owner].append(n)
        latency = time.perf_counter() - started
        return [Scores(logprobs[i], counts[i], prompt_tokens=len(prompts[i]), latency_s=latency,
                       cached_tokens=reused[i]) for i in range(len(chats))]

    def close(self) -> None:
        if self.cache is not None:
            self.cache.clear()
        self.model = None
