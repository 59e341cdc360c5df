#!/usr/bin/env bash
# The project's checks: lint, type checks, the import layers, then the tests in
# parallel workers.
#   bash scripts/test.sh           everything, with coverage (the README's command, CI's)
#   bash scripts/test.sh --fast    the fast tier: no sandbox, no real PostgreSQL
# Any other arguments go to pytest (e.g. -m zk, -k name, a path).
# MIGRATOR_TEST_WORKERS sets the number of pytest-xdist workers (default 8: the tests
# mostly wait on servers, so more workers than cores pays).
set -euo pipefail
cd "$(dirname "$0")/.."
fast=0
if [ "${1:-}" = "--fast" ]; then
    fast=1
    shift
fi
.venv/bin/ruff check migrator tests benchmarks
.venv/bin/mypy migrator
.venv/bin/lint-imports --no-cache >/dev/null || .venv/bin/lint-imports --no-cache
workers=${MIGRATOR_TEST_WORKERS:-8}
common=(-q -n "$workers" --dist worksteal --durations=15)
if [ "$fast" = 1 ]; then
    exec .venv/bin/pytest "${common[@]}" -m "not sandbox and not pgreal" "$@"
fi
exec .venv/bin/pytest "${common[@]}" --cov=migrator --cov-branch \
    --cov-report=term:skip-covered "$@"
