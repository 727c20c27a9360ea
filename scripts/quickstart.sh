#!/usr/bin/env bash
# The main job: set up, run benchmarks/quickstart.yaml, and add the run to a local leaderboard.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
out="runs/quickstart-$(date +%Y%m%d-%H%M%S)"
.venv/bin/agentgym run benchmarks/quickstart.yaml --out "$out" --executor process --workers 2 \
  --leaderboard runs/leaderboard.json --label quickstart "$@"
.venv/bin/agentgym leaderboard --leaderboard runs/leaderboard.json --suite quickstart
