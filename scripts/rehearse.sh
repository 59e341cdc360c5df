#!/usr/bin/env bash
# The main job: set everything up, bring up a local three-node sandbox shard
# (loopback only) whose zones sit behind compute nodes and a headnode as in
# Triton, discover its inventory from the headnode, and migrate it with the step
# engine exactly as an operator would run it against production (zlogin through
# the compute nodes, reprovisions with `sapiadm` on the headnode), then show
# where it ended and tear it down.
# Usage: bash scripts/rehearse.sh [--nodes 1|2|3] [--keep] [--access zlogin|ssh]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

nodes=3
keep=0
access=zlogin
while [ $# -gt 0 ]; do
    case "$1" in
        --nodes) nodes="$2"; shift 2 ;;
        --keep) keep=1; shift ;;
        --access) access="$2"; shift 2 ;;
        *) echo "usage: bash scripts/rehearse.sh [--nodes N] [--keep] [--access zlogin|ssh]" >&2
           exit 2 ;;
    esac
done

m=.venv/bin/migrator
dir=$(mktemp -d /tmp/manatee-sandbox.XXXXXX)
rmdir "$dir"
if [ "$keep" = 0 ]; then
    trap '$m sandbox down --dir "$dir" >/dev/null 2>&1 || true; rm -rf "$dir"' EXIT
fi
inv="$dir/inventory.yaml"
step() { printf '\n\033[1m== %s\033[0m\n$ %s\n' "$1" "${*:2}" >&2; "${@:2}"; }

step "Bring up a v1 sandbox shard (real PostgreSQL per zone) with a Moray-like write client" \
    $m sandbox up --dir "$dir" --nodes "$nodes" --with-client --access "$access" --pg real
if [ "$access" = zlogin ]; then
    py=.venv/bin/python
    shard=$($py -c 'import json, sys; print(json.load(open(sys.argv[1]))["shard"])' \
        "$dir/sandbox.json")
    image=$($py -c 'from migrator.sandbox.config import IMAGES; print(IMAGES["v2"])')
    inv="$dir/discovered.yaml"
    step "Discover the inventory from the headnode (only the headnode is named)" \
        $m inventory discover --inventory "$dir/headnode.yaml" --shard "$shard" \
        --migrate-to "$image" --out "$inv" --yes
fi
step "Check every zone is reachable (zlogin through its compute node, or SSH)" \
    $m inventory check --inventory "$inv"
step "The shard before the migration" $m status --inventory "$inv"
step "The plan (dry run: writes nothing)" $m plan --inventory "$inv"
step "Run the migration (scripted: --yes)" $m run --inventory "$inv" --yes
step "The shard after the migration" $m status --inventory "$inv"
step "The cluster-state history" $m history --inventory "$inv"
step "What the write client saw (outage windows, writes accounted for)" \
    $m sandbox status --dir "$dir"
step "Every acknowledged write read back from the primary and the standbys" \
    $m sandbox verify --dir "$dir"
step "The report for the change ticket (from the journal)" $m report --inventory "$inv"
if [ "$keep" = 1 ]; then
    echo "The sandbox is still running in $dir; stop it with: $m sandbox down --dir $dir" >&2
fi
