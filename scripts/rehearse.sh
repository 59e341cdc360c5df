#!/usr/bin/env bash
# The main job: set everything up, bring up a local three-node sandbox shard
# (loopback only) whose zones sit behind compute nodes and a headnode as in
# Triton, discover its inventory from the headnode, and migrate it with the step
# engine exactly as an operator would run it against production (zlogin through
# the compute nodes, reprovisions with `sapiadm` on the headnode), then show
# where it ended and tear it down.
# With --fleet it rehearses a fleet instead: three shards (3, 3 and 2
# zones by default) on one ZooKeeper, headnode and set of compute nodes, every
# shard discovered from the headnode, planned, migrated three at a time by
# `migrator fleet run`, then every acknowledged write of every shard read back.
# Usage: bash scripts/rehearse.sh [--nodes 1|2|3] [--keep] [--access zlogin|ssh]
#        bash scripts/rehearse.sh --fleet [--nodes N,N,N] [--keep]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

nodes=
keep=0
access=zlogin
fleet=0
while [ $# -gt 0 ]; do
    case "$1" in
        --nodes) nodes="$2"; shift 2 ;;
        --keep) keep=1; shift ;;
        --access) access="$2"; shift 2 ;;
        --fleet) fleet=1; shift ;;
        *) echo "usage: bash scripts/rehearse.sh [--nodes N] [--keep] [--access zlogin|ssh]" >&2
           echo "       bash scripts/rehearse.sh --fleet [--nodes N,N,N] [--keep]" >&2
           exit 2 ;;
    esac
done
if [ "$fleet" = 1 ]; then
    nodes=${nodes:-3,3,2}
    # fleet discovery starts from the headnode alone, which only zlogin sandboxes have
    if [ "$access" != zlogin ]; then
        echo "rehearse: --fleet needs --access zlogin (a fleet is discovered from its headnode)" >&2
        exit 2
    fi
else
    nodes=${nodes:-3}
fi

m=.venv/bin/migrator
dir=$(mktemp -d /tmp/manatee-sandbox.XXXXXX)
rmdir "$dir"
if [ "$keep" = 0 ]; then
    trap '$m sandbox down --dir "$dir" >/dev/null 2>&1 || true; rm -rf "$dir"' EXIT
fi
inv="$dir/inventory.yaml"
step() { printf '\n\033[1m== %s\033[0m\n$ %s\n' "$1" "${*:2}" >&2; "${@:2}"; }

if [ "$fleet" = 1 ]; then
    # one size (--nodes 2) is every shard's; a list (--nodes 3,3,2) is a shard each
    if [[ "$nodes" == *,* ]]; then shards=$(tr ',' '\n' <<<"$nodes" | grep -c .); else shards=3; fi
    image=$(.venv/bin/python -c 'from migrator.sandbox.config import IMAGES; print(IMAGES["v2"])')
    out="$dir/fleet"
    plans="$dir/plans"
    step "Bring up a v1 sandbox fleet of $shards shards (real PostgreSQL per zone, a write client each)" \
        $m sandbox up --dir "$dir" --shards "$shards" --nodes "$nodes" --with-client --pg real
    step "Discover every shard from the headnode (only the headnode is named)" \
        $m fleet discover --inventory "$dir/headnode.yaml" --migrate-to "$image" \
        --out "$out" --yes
    step "The fleet before the migration" $m fleet status --fleet "$out/fleet.yaml"
    step "Plan every shard and save the plans (the runs' answers)" \
        $m fleet plan --fleet "$out/fleet.yaml" --out "$plans" --yes
    step "Run the fleet: $shards shards at once, each its saved plan (scripted: --yes)" \
        $m fleet run --fleet "$out/fleet.yaml" --plan "$plans/fleet-plan.json" \
        --parallel "$shards" --yes
    step "The fleet after the migration" $m fleet status --fleet "$out/fleet.yaml"
    step "What the write clients saw (outage windows, writes accounted for)" \
        $m sandbox status --dir "$dir"
    step "Every shard's acknowledged writes read back from its primary and standbys" \
        $m sandbox verify --dir "$dir"
    step "The report for the change ticket (every shard, from the journals)" \
        $m fleet report --fleet "$out/fleet.yaml"
    if [ "$keep" = 1 ]; then
        echo "The sandbox fleet is still running in $dir; stop it with: $m sandbox down --dir $dir" >&2
    fi
    exit 0
fi

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
