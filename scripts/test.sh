#!/usr/bin/env bash
# The project's checks: lint, type-check, then the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/ruff check migrator tests benchmarks
.venv/bin/mypy migrator
exec .venv/bin/pytest -q --durations=15 "$@"
