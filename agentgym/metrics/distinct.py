"""Identical episodes: several seeds (or repeats) of a deterministic env can be one and the same episode.

An episode's identity is its record's ``trace_hash`` (a hash of its action/observation trace,
written by the runner). A record without one falls back to a hash of its outcome
``(seed, steps, env_return, success, progress)``: that merges identical repeats of one seed but
can neither see that two seeds gave the same episode nor tell apart two different traces with
the same outcome (the cell says which basis it used).

Intervals are computed on the distinct episodes (each identity once, its first record standing
for it), so a cell of 10 copies of one episode claims no more than one episode supports.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

TRACE = "trace_hash"
OUTCOME = "outcome"


def episode_identity(record: Mapping[str, Any]) -> tuple[str, str]:
    """``(basis, identity)``: ``("trace_hash", hash)`` or, without one, ``("outcome", hash of the outcome)``."""
    trace = record.get(TRACE)
    if trace:
        return TRACE, str(trace)
    outcome = [record.get("seed"), record.get("steps"), record.get("env_return"), record.get("success"),
               record.get("progress")]
    return OUTCOME, hashlib.sha256(json.dumps(outcome, default=str).encode()).hexdigest()


def distinct_index(records: Sequence[Mapping[str, Any]]) -> list[int]:
    """Indices of the first record of each distinct episode, in order."""
    seen: set[tuple[str, str]] = set()
    first = []
    for i, record in enumerate(records):
        identity = episode_identity(record)
        if identity not in seen:
            seen.add(identity)
            first.append(i)
    return first


def distinct_summary(records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """``{"n_distinct", "distinct_basis", "warning"}`` of one cell's scored records.

    ``distinct_basis`` is ``"trace_hash"`` when every record has one, ``"outcome"`` when none has,
    ``"mixed"`` otherwise; ``warning`` is a sentence when fewer episodes are distinct than scored, else None.
    """
    n_distinct = len(distinct_index(records))
    bases = {episode_identity(r)[0] for r in records}
    basis = bases.pop() if len(bases) == 1 else ("mixed" if bases else TRACE)
    warning = None
    if n_distinct < len(records):
        how = "action/observation traces" if basis == TRACE else "outcomes (no trace_hash recorded)"
        warning = (f"only {n_distinct} of {len(records)} episodes are distinct (by {how}); "
                   f"intervals count each distinct episode once")
    return {"n_distinct": n_distinct, "distinct_basis": basis, "warning": warning}
