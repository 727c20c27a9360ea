"""Key/value caches for the transformers backend: buffers that grow in place, and an LRU prefix cache.

Keys and values live in preallocated buffers that grow in place (:class:`KVBuffer`), not in
tensors concatenated at every token; :class:`PrefixCache` keeps the buffers of processed prompts
keyed by their token ids, so a later prompt that starts with the same tokens runs only its new ones.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import torch
from transformers.cache_utils import Cache, DynamicLayer


class KVBuffer:
    """Keys and values of ``rows`` sequences: per layer a ``[rows, kv heads, capacity, head dim]``
    buffer whose first ``length`` columns hold the cache. Grows (by doubling) when asked to hold more."""

    def __init__(self, keys: list[torch.Tensor], values: list[torch.Tensor], length: int) -> None:
        self.keys, self.values, self.length = keys, values, length

    @classmethod
    def empty(cls, like: KVBuffer | tuple[int, int, int, torch.dtype, torch.device], rows: int,
              capacity: int) -> KVBuffer:
        """Buffers shaped like ``like`` (another buffer, or its :meth:`shape` tuple), not initialised:
        columns past ``length`` are never read, and a padded batch zeroes its padding itself
        (:meth:`zero`), since a masked-out value still enters attention as 0 x value."""
        layers, heads, dim, dtype, device = like.shape() if isinstance(like, KVBuffer) else like
        keys = [torch.empty((rows, heads, capacity, dim), dtype=dtype, device=device) for _ in range(layers)]
        values = [torch.empty_like(k) for k in keys]
        return cls(keys, values, 0)

    def zero(self, row: int, begin: int, end: int) -> None:
        """Zero columns ``begin:end`` of row ``row`` (padding)."""
        if end > begin:
            for store in (self.keys, self.values):
                for tensor in store:
                    tensor[row, :, begin:end] = 0

    def shape(self) -> tuple[int, int, int, torch.dtype, torch.device]:
        """(layers, key/value heads, head dim, dtype, device)."""
        k = self.keys[0]
        return len(self.keys), k.shape[1], k.shape[3], k.dtype, k.device

    @property
    def capacity(self) -> int:
        return self.keys[0].shape[2]

    def reserve(self, capacity: int) -> None:
        """Room for at least ``capacity`` columns (contents kept)."""
        if capacity <= self.capacity:
            return
        capacity = max(capacity, 2 * self.capacity)
        for layer in range(len(self.keys)):
            for store in (self.keys, self.values):
                old = store[layer]
                grown = old.new_empty((old.shape[0], old.shape[1], capacity, old.shape[3]))
                grown[:, :, : self.length] = old[:, :, : self.length]
                store[layer] = grown

    def copy_prefix(self, n: int, capacity: int) -> KVBuffer:
        """A new one-row buffer holding this (one-row) buffer's first ``n`` columns."""
        new = KVBuffer.empty(self, 1, max(capacity, n))
        for mine, theirs in ((new.keys, self.keys), (new.values, self.values)):
            for layer in range(len(mine)):
                mine[layer][:, :, :n] = theirs[layer][:, :, :n]
        new.length = n
        return new

    def write(self, row: int, start: int, source: KVBuffer, source_row: int, begin: int, end: int) -> None:
        """Copy ``source``'s columns ``begin:end`` of ``source_row`` into row ``row`` from column ``start``."""
        for mine, theirs in ((self.keys, source.keys), (self.values, source.values)):
            for layer in range(len(mine)):
                mine[layer][row, :, start: start + end - begin] = theirs[layer][source_row, :, begin:end]

    def cache(self) -> Cache:
        """A transformers cache whose layers append to these buffers in place."""
        return Cache(layers=[_BufferLayer(self, layer) for layer in range(len(self.keys))])


class _BufferLayer(DynamicLayer):
    """One layer of a :class:`KVBuffer` as a transformers cache layer: ``update`` writes the new
    keys/values after the current length and returns views of the filled part (no concatenation).
    The last layer advances the buffer's length, so every layer of one forward pass starts at the same column."""

    def __init__(self, buffer: KVBuffer, layer: int) -> None:
        super().__init__()
        self.buffer, self.layer = buffer, layer
        self.last = layer == len(buffer.keys) - 1
        self.dtype, self.device = buffer.keys[layer].dtype, buffer.keys[layer].device
        self.is_initialized = True

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args, **kwargs):
        buffer, start, n = self.buffer, self.buffer.length, key_states.shape[2]
        if start + n > buffer.capacity:
            buffer.reserve(start + n)
        keys, values = buffer.keys[self.layer], buffer.values[self.layer]
        keys[:, :, start: start + n] = key_states
        values[:, :, start: start + n] = value_states
        if self.last:
            buffer.length = start + n
        return keys[:, :, : start + n], values[:, :, : start + n]

    def get_seq_length(self) -> int:
        return self.buffer.length

    def get_max_length(self) -> int:
        return -1


class PrefixCache:
    """One-row :class:`KVBuffer` s of earlier prompts, found by the longest common token prefix."""

    def __init__(self, max_tokens: int = 32768) -> None:
        self.max_tokens = max_tokens
        self.entries: OrderedDict[int, tuple[np.ndarray, KVBuffer]] = OrderedDict()
        self._next = 0

    def lookup(self, ids: np.ndarray) -> tuple[int, KVBuffer | None, int | None, bool]:
        """(reusable length, the entry's buffer, entry id, whether the whole entry is reused);
        at least one token is left to run."""
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
            return 0, None, None, False
        self.entries.move_to_end(best_key)
        tokens, buffer = self.entries[best_key]
        return best, buffer, best_key, best == len(tokens)

    def store(self, ids: np.ndarray, buffer: KVBuffer, supersedes: int | None) -> int:
        """Keep ``buffer`` (its first ``len(ids)`` columns) under ``ids``; drops ``supersedes`` when
        ``ids`` extends it (its buffer may since have been written past its length). Returns the entry id."""
        if supersedes is not None and supersedes in self.entries:
            old = self.entries[supersedes][0]
            if len(old) <= len(ids) and np.array_equal(old, ids[: len(old)]):
                del self.entries[supersedes]  # the new entry covers it
        key, self._next = self._next, self._next + 1
        self.entries[key] = (ids, buffer)
        while sum(len(tokens) for tokens, _ in self.entries.values()) > self.max_tokens and len(self.entries) > 1:
            self.entries.popitem(last=False)
        return key

    def clear(self) -> None:
        self.entries.clear()
