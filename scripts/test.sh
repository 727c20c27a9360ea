#!/usr/bin/env bash
# The tests: set up, lint with ruff, type-check the package with mypy (config in pyproject.toml),
# then the whole pytest suite (slow tests included).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check .
.venv/bin/mypy
.venv/bin/python -m pytest -q "$@"
