"""The vector view of a TextWorld state: hashed text features plus features of each command slot.

One flat ``float32`` vector in ``[0, 1]``, made of

- ``room``: feature hashing of the word unigrams and bigrams of the last feedback and the room
  description (:data:`ROOM_DIMS` buckets, 1 where some n-gram falls in the bucket, else 0);
- ``inventory``: the same for the inventory text (:data:`INVENTORY_DIMS` buckets);
- three scalars: score / max score, steps / step limit, number of commands / slots;
- :data:`SLOT_DIMS` features for each of the ``max_commands`` command slots (the admissible
  commands in sorted order, then empty slots): present; the verb, one-hot over :data:`VERBS`
  (last entry: any other verb); the share of the command's other words that occur in the goal,
  in the room text and in the inventory; whether the verb occurs in the goal; how often the
  command was already issued this episode (0, 1/3, 2/3, 1 for 3 or more); and
  :data:`SLOT_HASH_DIMS` hashed buckets of the command's other words (two buckets per word,
  as in a Bloom filter, so that two commands rarely look the same).

The goal enters through the slot features only: it is fixed for a whole game, so hashing it
would mostly let a policy tell the training games apart (memorise them) rather than generalise.

Hashing uses CRC-32 (stable across processes, unlike ``hash``).

Example:
    >>> features = Featurizer(max_commands=4)
    >>> vector = features.encode(goal="Go east.", room="-= Attic =-", inventory="You carry nothing.",
    ...                          commands=["go east", "look"], tried={}, shares=(0.0, 0.0))
    >>> vector.shape == features.space.shape, float(vector.max())
    (True, 1.0)
"""

from __future__ import annotations

import itertools
import re
import zlib
from collections.abc import Mapping, Sequence
from functools import lru_cache

import gymnasium as gym
import numpy as np

ROOM_DIMS, INVENTORY_DIMS = 256, 64
VERBS = ("go", "take", "drop", "put", "insert", "open", "close", "lock", "unlock", "eat", "examine", "look",
         "inventory", "cook", "slice", "dice", "chop", "prepare", "other")
SLOT_HASH_DIMS = 12
SLOT_DIMS = 1 + len(VERBS) + 5 + SLOT_HASH_DIMS
STOPWORDS = frozenset({"a", "an", "the", "with", "from", "into", "on", "in", "to", "of"})
_WORD = re.compile(r"[a-z0-9]+")


@lru_cache(maxsize=65536)
def words(text: str) -> tuple[str, ...]:
    return tuple(_WORD.findall(text.lower()))


def _bucket(token: str, dims: int) -> int:
    return zlib.crc32(token.encode("utf-8")) % dims


@lru_cache(maxsize=8192)
def hashed_ngrams(text: str, dims: int) -> np.ndarray:
    """Indices of the buckets hit by the unigrams and bigrams of ``text`` (cached: texts repeat)."""
    tokens = words(text)
    grams = list(tokens) + [f"{a} {b}" for a, b in itertools.pairwise(tokens)]
    indices = np.unique(np.fromiter((_bucket(g, dims) for g in grams), dtype=np.int64, count=len(grams)))
    indices.flags.writeable = False
    return indices


@lru_cache(maxsize=16384)
def _command_parts(command: str) -> tuple[int, tuple[str, ...], tuple[int, ...]]:
    """(verb index, content words, hashed buckets of the content words) of a command."""
    tokens = words(command)
    verb = VERBS.index(tokens[0]) if tokens and tokens[0] in VERBS[:-1] else len(VERBS) - 1
    content = tuple(t for t in tokens[1:] if t not in STOPWORDS)
    buckets = {_bucket(t + salt, SLOT_HASH_DIMS) for t in content for salt in ("", "#")}  # two per word
    return verb, content, tuple(sorted(buckets))


class Featurizer:
    """Encodes a TextWorld state into the fixed-size vector described in the module docstring."""

    def __init__(self, max_commands: int) -> None:
        self.max_commands = int(max_commands)
        self.text_dims = ROOM_DIMS + INVENTORY_DIMS + 3
        self.size = self.text_dims + self.max_commands * SLOT_DIMS
        self.space = gym.spaces.Box(0.0, 1.0, shape=(self.size,), dtype=np.float32)

    def encode(self, *, goal: str, room: str, inventory: str, commands: Sequence[str],
               tried: Mapping[str, int], shares: tuple[float, float]) -> np.ndarray:
        vector = np.zeros(self.size, dtype=np.float32)
        offset = 0
        for text, dims in ((room, ROOM_DIMS), (inventory, INVENTORY_DIMS)):
            vector[offset + hashed_ngrams(text, dims)] = 1.0
            offset += dims
        vector[offset:offset + 3] = [*(min(max(s, 0.0), 1.0) for s in shares), len(commands) / self.max_commands]
        slots = vector[self.text_dims:].reshape(self.max_commands, SLOT_DIMS)
        contexts = [set(words(goal)), set(words(room)), set(words(inventory))]
        for slot, command in zip(slots, commands):
            verb, content, buckets = _command_parts(command)
            slot[0] = 1.0
            slot[1 + verb] = 1.0
            at = 1 + len(VERBS)
            if content:
                slot[at:at + 3] = [sum(w in context for w in content) / len(content) for context in contexts]
            tokens = words(command)
            slot[at + 3] = float(bool(tokens) and tokens[0] in contexts[0])
            slot[at + 4] = min(tried.get(command, 0), 3) / 3
            slot[at + 5 + np.asarray(buckets, dtype=np.int64)] = 1.0
        return vector
