"""The smoke suite's episodes are frozen: a refactor that changes any number (an outcome, a return, a
step count, an action) fails here. Only wall times may differ.

The golden file was written when the package was restructured (issue 14) and re-written once, on
purpose, when agents' randomness stopped depending on the reward variant (issue 10). After a
deliberate change, regenerate it with ``AGENTGYM_REGENERATE_GOLDEN=1 pytest tests/bench/test_smoke_golden.py``
and say why in the commit.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from agentgym.bench.run import run_suite
from agentgym.bench.suite import load_suite

GOLDEN = Path(__file__).resolve().parent.parent / "data" / "smoke_episodes.jsonl"
TIMING_FIELDS = ("wall_seconds",)


def _canonical(path: Path) -> list[str]:
    lines = []
    for line in path.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        for name in TIMING_FIELDS:
            record.pop(name, None)
        lines.append(json.dumps(record, sort_keys=True))
    return lines


def test_smoke_episodes_are_unchanged(tmp_path):
    run_suite(load_suite("smoke"), tmp_path / "run", progress=False, print_table=False)
    produced = _canonical(tmp_path / "run" / "episodes.jsonl")
    if os.environ.get("AGENTGYM_REGENERATE_GOLDEN") == "1":
        GOLDEN.write_text("\n".join(produced) + "\n", encoding="utf-8")
    assert produced == GOLDEN.read_text(encoding="utf-8").splitlines()
