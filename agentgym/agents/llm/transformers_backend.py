"""Local LLM backend on Hugging Face transformers (CPU or GPU).

Two levers, both on by default and neither changing greedy outputs:

- ``batch``: the chats of a call decode together in one padded batch (left padding, attention
  masks, explicit position ids), in chunks of ``max_batch`` rows. Their prompts run together
  when their new-token counts are within ``prefill_slack`` of each other: default 1.25 on GPU;
  0 (never) on CPU, where a prompt is already a matrix-matrix product, so a padded pass saves
  nothing and costs the copies into the batch and a masked (slower) attention;
- ``prefix_cache``: the key/value cache of every processed prompt is kept (keyed by its token
  ids, LRU, at most ``cache_tokens`` tokens) and a later prompt that starts with the same tokens
  (the same episode one step later, or the shared instructions of another episode) reuses the
  longest common prefix and runs only its new tokens.

Keys and values live in preallocated buffers that grow in place (``kv_cache.KVBuffer``), not in
tensors concatenated at every token: a prompt that extends the whole of a cached one (the same
episode a step later) writes its new tokens into that entry's buffer, and decoding writes into
the buffer it reads. The only copies are a borrowed prefix (another entry's first tokens) and,
with ``batch``, one packing of the prompts into the decoding batch.
A batch row is laid out ``[pad][cached prefix][pad][new tokens]``: padding is masked out and
positions are given explicitly, so rows with different cached and new lengths share one pass.
Scoring runs all candidates of a chat in one pass after its prompt, each candidate seeing the
prompt and its own earlier tokens only (a 4D attention mask), so the prompt is never copied.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from agentgym.agents.llm.backend import Chat, Completion, Scores
from agentgym.agents.llm.default_model import default_model_dir
from agentgym.agents.llm.kv_cache import KVBuffer, PrefixCache
from agentgym.core.errors import ConfigError


def _resolve_model(model: str, local_files_only: bool) -> str:
    if model == "default":
        return str(default_model_dir())
    if Path(model).expanduser().exists():
        return str(Path(model).expanduser())
    if local_files_only:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
    return model


class TransformersBackend:
    """A causal LM from transformers. ``model``: ``default`` (SmolLM2-135M-Instruct), a local folder,
    a hub id (from the local HF cache unless ``local_files_only=False``), or a loaded model
    (then pass ``tokenizer`` too).

    ``dtype`` defaults to float32 on every device, where greedy answers do not depend on the
    levers (checked on CPU and CUDA). ``bfloat16``/``float16`` halve memory and are faster on a
    GPU, but a padded batch then rounds differently from a single row, and near-ties can break
    the other way; ``auto`` takes the checkpoint's own dtype. ``adapter``: a run folder of
    ``agentgym finetune`` (or its ``adapter/``), merged into the model when it loads."""

    name = "transformers"
    supports_score = True

    def __init__(self, model: Any = "default", *, tokenizer: Any = None, device: str = "auto",
                 dtype: str = "float32", batch: bool = True, prefix_cache: bool = True, max_batch: int = 16,
                 cache_tokens: int = 32768, local_files_only: bool = True, trust_remote_code: bool = False,
                 prefill_slack: float | None = None, adapter: str | None = None) -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: PLC0415 - slow auto classes, at load

        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.device = torch.device(device)
        self.model_name = model if isinstance(model, str) else getattr(model, "name_or_path", type(model).__name__)
        if isinstance(model, str):
            source = _resolve_model(model, local_files_only)
            dtypes = {"auto": "auto", "float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
            if dtype not in dtypes:
                raise ConfigError(f"dtype must be one of {sorted(dtypes)}, not {dtype!r}")
            torch_dtype = dtypes[dtype]
            options = {"local_files_only": local_files_only, "trust_remote_code": trust_remote_code}
            tokenizer = tokenizer or AutoTokenizer.from_pretrained(source, **options)
            model = AutoModelForCausalLM.from_pretrained(source, dtype=torch_dtype, **options)
        if tokenizer is None:
            raise ConfigError("pass tokenizer= with a loaded model")
        if adapter is not None:  # a fine-tuning run folder or its adapter/ (agentgym finetune), merged in
            from agentgym.train.llm import load_finetuned  # noqa: PLC0415  # lazy import: peft, only for adapters

            model = load_finetuned(model, Path(adapter).expanduser())
            self.model_name = f"{self.model_name}+{Path(adapter).expanduser().resolve()}"
        self.model = model.to(self.device).eval()
        self.tokenizer = tokenizer
        self.batch, self.max_batch = batch, max(1, max_batch) if batch else 1
        self.cache = PrefixCache(cache_tokens) if prefix_cache else None
        self._scratch: KVBuffer | None = None
        self.prefill_slack = prefill_slack if prefill_slack is not None else 1.25 if self.device.type == "cuda" else 0.0
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        eos = getattr(model.generation_config, "eos_token_id", None) if model.generation_config else None
        self.eos_ids = {tokenizer.eos_token_id, *(eos if isinstance(eos, list) else [eos])} - {None}
        config = self.model.config.get_text_config()
        head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
        heads = getattr(config, "num_key_value_heads", None) or config.num_attention_heads
        self.kv_shape = (config.num_hidden_layers, heads, head_dim, self.model.dtype, self.device)

    # ------------------------------------------------------------------ tokens
    def encode_chat(self, chat: Chat) -> np.ndarray:
        text = self.tokenizer.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)
        return np.asarray(self.tokenizer(text, add_special_tokens=False)["input_ids"], dtype=np.int64)

    def _encode_text(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    # --------------------------------------------------------------- forward
    def _new_buffer(self, rows: int, capacity: int) -> KVBuffer:
        return KVBuffer.empty(self.kv_shape, rows, capacity)

    def _scratch_buffer(self, rows: int, capacity: int) -> KVBuffer:
        """A batch buffer for one pass or one decoding, reused across calls: a fresh allocation of
        this size every step costs more (first-touch page faults on CPU) than the work it holds."""
        scratch = self._scratch
        if scratch is None or scratch.keys[0].shape[0] < rows or scratch.capacity < capacity:
            scratch = self._scratch = self._new_buffer(max(rows, self.max_batch), capacity + capacity // 4)
        return KVBuffer([k[:rows] for k in scratch.keys], [v[:rows] for v in scratch.values], 0)

    def _extend(self, row: KVBuffer, new: np.ndarray) -> torch.Tensor:
        """Run ``new`` tokens after a one-row buffer's contents, in place: the last token's logits [1, vocab].
        No padding, so no attention mask: the causal mask follows from the buffer's length."""
        start = row.length
        ids = torch.as_tensor(new, dtype=torch.long, device=self.device)[None]
        positions = torch.arange(start, start + len(new), device=self.device)[None]
        out = self.model(input_ids=ids, position_ids=positions, past_key_values=row.cache(), use_cache=True,
                         logits_to_keep=1)
        return out.logits[:, -1].float()

    def _pack(self, rows: list[KVBuffer], extra: int) -> tuple[KVBuffer, torch.Tensor]:
        """The rows' contents right-aligned in one (scratch) batch buffer with ``extra`` free columns
        after them, and the 2D attention mask marking the contents (padding zeroed, masked out)."""
        past = [row.length for row in rows]
        p_max = max(past)
        batch = self._scratch_buffer(len(rows), p_max + extra)
        mask = torch.zeros((len(rows), p_max + extra), dtype=torch.long, device=self.device)
        for j, (row, p) in enumerate(zip(rows, past)):
            batch.zero(j, 0, p_max - p)
            batch.write(j, p_max - p, row, 0, 0, p)
            mask[j, p_max - p: p_max] = 1
        batch.length = p_max
        return batch, mask

    def _extend_together(self, rows: list[KVBuffer], news: list[np.ndarray]) -> torch.Tensor:
        """Run each row's new tokens after its contents in one padded pass laid out
        ``[pad][contents][pad][new]``; each row's new keys/values are then appended to its buffer."""
        past, counts = [row.length for row in rows], [len(new) for new in news]
        b, n_max = len(rows), max(counts)
        batch, mask = self._pack(rows, n_max)
        end = batch.length + n_max
        ids = torch.full((b, n_max), self.pad_id, dtype=torch.long)
        positions = torch.zeros((b, n_max), dtype=torch.long)
        for j, (p, n) in enumerate(zip(past, counts)):
            ids[j, n_max - n:] = torch.as_tensor(news[j], dtype=torch.long)
            mask[j, end - n:] = 1
            positions[j, n_max - n:] = torch.arange(p, p + n)
        out = self.model(input_ids=ids.to(self.device), attention_mask=mask, position_ids=positions.to(self.device),
                         past_key_values=batch.cache(), use_cache=True, logits_to_keep=1)
        for j, (row, p, n) in enumerate(zip(rows, past, counts)):
            row.reserve(p + n)
            row.write(0, p, batch, j, end - n, end)
            row.length = p + n
        return out.logits[:, -1].float()

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

    def _prefill(self, prompts: list[np.ndarray], reserve: int) -> tuple[torch.Tensor, list[KVBuffer], list[int]]:
        """Run prompts, reusing cached prefixes and storing theirs: (last-token logits [b, vocab], one
        one-row buffer per prompt holding it, with room for ``reserve`` more tokens, reused lengths).

        A prompt that extends the whole of a cached one continues in that entry's buffer; one that
        shares only part of an entry, or an entry that another prompt of this call holds, copies
        that part. Prompts that run alone run one after the other, each stored before the next is
        looked up, so prompts of one call share their common parts (the instructions, or the same
        first observation); prompts that run together (``prefill_slack``) are looked up first."""
        claimed: set[int] = set()
        if len(prompts) == 1 or self.prefill_slack <= 0:
            logits, rows, reused = [], [], []
            for ids in prompts:
                row, n, key = self._take(ids, reserve, claimed)
                logits.append(self._extend(row, ids[n:]))
                self._store(ids, row, key, claimed)
                rows.append(row)
                reused.append(n)
            return torch.cat(logits), rows, reused
        taken = [self._take(ids, reserve, claimed) for ids in prompts]
        rows, reused = [row for row, _, _ in taken], [n for _, n, _ in taken]
        news = [ids[n:] for ids, n in zip(prompts, reused)]
        parts: list[torch.Tensor] = [torch.empty(0)] * len(prompts)
        for group in self._groups([len(new) for new in news], self.prefill_slack):
            if len(group) == 1:
                parts[group[0]] = self._extend(rows[group[0]], news[group[0]])
                continue
            together = self._extend_together([rows[i] for i in group], [news[i] for i in group])
            for j, i in enumerate(group):
                parts[i] = together[j: j + 1]
        for ids, (row, _, key) in zip(prompts, taken):
            self._store(ids, row, key, claimed)
        return torch.cat(parts), rows, reused

    def _take(self, ids: np.ndarray, reserve: int, claimed: set[int]) -> tuple[KVBuffer, int, int | None]:
        """The buffer a prompt runs in, holding its longest cached prefix: (buffer, reused length, entry)."""
        need = len(ids) + reserve
        n, source, key, whole = self.cache.lookup(ids) if self.cache is not None else (0, None, None, False)
        if source is None:
            return self._new_buffer(1, need), 0, None
        assert key is not None  # an entry was found
        if whole and key not in claimed:  # continue the entry's own buffer
            claimed.add(key)
            source.length = n  # drop what decoding wrote after the prompt
            source.reserve(need)
            return source, n, key
        return source.copy_prefix(n, need), n, key

    def _store(self, ids: np.ndarray, row: KVBuffer, source: int | None, claimed: set[int]) -> None:
        if self.cache is not None:
            claimed.add(self.cache.store(ids, row, source))  # in use this call: others copy from it

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

    def _decoding_batch(self, rows: list[KVBuffer], max_new_tokens: int):
        """(buffer, 2D attention mask or None) to decode from: a single row decodes in its own buffer
        (after the prompt, which stays cached: only the prompt's length counts); several rows are
        packed once, right-aligned, into one buffer with room for the answers."""
        return (rows[0], None) if len(rows) == 1 else self._pack(rows, max_new_tokens)

    def _generate_chunk(self, prompts, max_new_tokens, temperature, seeds, stop) -> list[Completion]:
        started = time.perf_counter()
        logits, rows, reused = self._prefill(prompts, max_new_tokens)
        b = len(prompts)
        buffer, mask = self._decoding_batch(rows, max_new_tokens)
        cache = buffer.cache()
        next_pos = torch.tensor([len(ids) for ids in prompts], device=self.device)
        generators = [torch.Generator().manual_seed(int(s)) for s in seeds] if temperature > 0 else []
        outputs: list[list[int]] = [[] for _ in range(b)]
        texts = [""] * b
        done = [False] * b
        for step in range(max_new_tokens):
            last = logits.cpu()
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
            step_mask = None
            if mask is not None:
                mask[:, buffer.length] = 1
                step_mask = mask[:, : buffer.length + 1]
            out = self.model(input_ids=feed, attention_mask=step_mask, position_ids=next_pos[:, None],
                             past_key_values=cache, use_cache=True)
            logits, next_pos = out.logits[:, -1].float(), next_pos + 1
        for row, ids in zip(rows, prompts):
            row.length = len(ids)  # the cache keeps the prompt; the answer comes back in the next prompt
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
        """Each chat's prompt runs once; its candidates then run together after it (one pass per chat)."""
        results: list[Scores] = []
        for start in range(0, len(chats), self.max_batch):
            chunk = range(start, min(start + self.max_batch, len(chats)))
            results.extend(self._score_chunk([chats[i] for i in chunk], [candidates[i] for i in chunk]))
        return results

    def _score_chunk(self, chats: list[Chat], candidates: list[list[str]]) -> list[Scores]:
        started = time.perf_counter()
        prompts = [self.encode_chat(chat) for chat in chats]
        options = [[self._encode_text(option) for option in chat_options] for chat_options in candidates]
        if any(not tokens for chat_options in options for tokens in chat_options):
            raise ConfigError(f"a candidate has no tokens: {candidates}")
        reserve = max(sum(len(tokens) for tokens in chat_options) for chat_options in options)
        logits, rows, reused = self._prefill(prompts, reserve)
        first = torch.log_softmax(logits, dim=-1).cpu()
        logprobs: list[list[float]] = []
        for i, (row, chat_options) in enumerate(zip(rows, options)):
            follow = self._candidate_logprobs(row, chat_options)
            logprobs.append([float(first[i, tokens[0]]) + rest for tokens, rest in zip(chat_options, follow)])
        latency = time.perf_counter() - started
        return [Scores(logprobs[i], [len(tokens) for tokens in options[i]], prompt_tokens=len(prompts[i]),
                       latency_s=latency, cached_tokens=reused[i]) for i in range(len(chats))]

    def _candidate_logprobs(self, row: KVBuffer, options: list[list[int]]) -> list[float]:
        """Log-likelihood of every candidate's tokens after the first, given the prompt in ``row``:
        all candidates in one pass, side by side after the prompt, each attending to the prompt and to
        its own earlier tokens (a 4D mask; positions restart after the prompt for each candidate)."""
        prompt, total = row.length, sum(len(tokens) for tokens in options)
        dtype = self.model.dtype if self.model.dtype.is_floating_point else torch.float32
        mask = torch.full((total, prompt + total), torch.finfo(dtype).min, dtype=dtype)
        mask[:, :prompt] = 0
        positions: list[int] = []
        offset = 0
        for tokens in options:
            n = len(tokens)
            block = torch.triu(torch.full((n, n), torch.finfo(dtype).min, dtype=dtype), diagonal=1)
            mask[offset: offset + n, prompt + offset: prompt + offset + n] = block
            positions.extend(range(prompt, prompt + n))
            offset += n
        flat = [token for tokens in options for token in tokens]
        out = self.model(input_ids=torch.tensor([flat], device=self.device),
                         attention_mask=mask[None, None].to(self.device),
                         position_ids=torch.tensor([positions], device=self.device),
                         past_key_values=row.cache(), use_cache=True, logits_to_keep=0)
        row.length = prompt  # the candidates were written after the prompt; the cache keeps the prompt
        logprobs = torch.log_softmax(out.logits[0].float(), dim=-1).cpu()
        follow, offset = [], 0
        for tokens in options:
            follow.append(sum(float(logprobs[offset + k - 1, tokens[k]]) for k in range(1, len(tokens))))
            offset += len(tokens)
        return follow

    def close(self) -> None:
        if self.cache is not None:
            self.cache.clear()
        self.model = self._scratch = None
