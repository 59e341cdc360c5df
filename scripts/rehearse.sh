#!/usr/bin/env bash
# The main job: set everything up, then rehearse a migration on a local sandbox
# shard (loopback only). Safe to run repeatedly; it cleans up after itself.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python scripts/foundation_demo.py "$@"
