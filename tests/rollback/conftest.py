"""Helpers for rollback tests: drive a sandbox into each intermediate state of a
migration (sandbox and expert commands, plus the journal a run would have written),
run `migrator` as a script (no terminal, stdin closed), and check the v1 topology."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from migrator.cluster.original import capture
from migrator.engine.journal import StepRecord, new_journal, new_run, stamp
from migrator.engine.journal_store import JournalStore, capture_shard
from migrator.sandbox.config import SandboxConfig, load_config
from migrator.sandbox.shard import zk_client as zk_of

STEPS = {
    3: ["upgrade-morays", "reprovision-async", "backfill", "reprovision-sync", "unfreeze",
        "reprovision-primary"],
    2: ["upgrade-morays", "reprovision-sync", "backfill", "reprovision-primary", "unfreeze"],
    1: ["upgrade-morays", "reprovision-primary", "backfill", "one-node-write-mode"],
}
PLAYBOOK = {3: "three-node", 2: "two-node", 1: "one-node"}
WAIT = 30.0


def migrate_until(config: SandboxConfig, last: str, audit: Path) -> None:
    """Do the playbook's steps up to ``last`` with sandbox/expert commands, then write the
    journal a run would have left (original topology and shard snapshot from before)."""
    from migrator.zk import reads

    nodes = len(config.zones)
    steps = STEPS[nodes][: STEPS[nodes].index(last) + 1]
    with zk_of(config) as client:
        original = capture(reads.read_shard(client, config.shard))
        snapshot = capture_shard(client, config.shard)
    for step in steps:
        drive(config, step)
    journal = new_journal(config.shard, original, snapshot, "test@host")
    journal = journal.with_run(new_run("migration", PLAYBOOK[nodes], "sha256:test", "test@host"))
    for step in steps:
        outputs = {"morays": [], "confirmed": True} if step == "upgrade-morays" else {}
        journal = journal.with_step("migration", step, stamp(
            StepRecord(), "done", "test@host", done_by="verified", outputs=outputs))
    with zk_of(config) as client:
        JournalStore(client, config.shard, audit_dir=audit).create(journal)


def drive(config: SandboxConfig, step: str) -> None:
    from migrator.commands import expert
    from migrator.sandbox.peers import reprovision
    from migrator.sandbox.waits import wait_state

    zones = config.zones
    if step == "upgrade-morays":
        return
    if step == "reprovision-async":
        reprovision(config.directory, zones[2].uuid, "v2")
    elif step == "reprovision-sync":
        reprovision(config.directory, zones[1].uuid, "v2")
    elif step == "reprovision-primary":
        reprovision(config.directory, zones[0].uuid, "v2")
        if len(zones) == 3:  # the takeover, and the old primary back as deposed
            wait_state(config, lambda s: s is not None and s["generation"] >= 1 and any(
                p["zoneId"] == zones[0].uuid for p in s.get("deposed") or []), WAIT)
    elif step == "backfill":
        with zk_of(config) as client:
            expert.backfill(client, config.shard, lambda _s: None)
    elif step == "unfreeze":
        with zk_of(config) as client:
            expert.unfreeze(client, config.shard, lambda _s: None)
    elif step == "one-node-write-mode":
        from migrator.steps.zk import with_one_node_write_mode
        from migrator.zk import reads, writes

        with zk_of(config) as client:
            found = reads.read_state(client, config.shard)
            assert found is not None
            changed = with_one_node_write_mode(found[0])
            if changed is not None:  # the migrator's one-node backfill already carries it
                writes.replace_state(client, config.shard, changed, found[1], "set-onwm")
    else:
        raise AssertionError(step)


def migrator(*args: str, env: dict[str, str] | None = None,
             timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """`migrator ARGS` as a script runs it: no terminal, stdin closed."""
    return subprocess.run(
        [sys.executable, "-m", "migrator", *args], stdin=subprocess.DEVNULL,
        capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})},
        check=False,
    )


def events(stdout: str) -> list[dict[str, Any]]:
    """Every stdout line is one JSON object (the contract of --json)."""
    found = [json.loads(line) for line in stdout.splitlines()]
    assert all(isinstance(e, dict) and "event" in e and "time" in e for e in found)
    return found


def assert_v1(config: SandboxConfig, order: list[int]) -> None:
    """Every zone at v1, the election exactly these zones in this order, no /state,
    and the sandbox's client writing to the first."""
    from migrator.isotime import iso_now_ms
    from migrator.sandbox.logwatch import wait_for_record
    from migrator.sandbox.waits import wait_writable
    from migrator.zk import reads

    fresh = load_config(config.directory)
    assert [z.version for z in fresh.zones] == ["v1"] * len(fresh.zones)
    with zk_of(config) as client:
        snap = reads.read_shard(client, config.shard)
    assert snap.state is None
    assert [n.peer_id for n in snap.topology.nodes] == [fresh.zones[i].peer_id for i in order]
    primary = wait_writable(fresh, WAIT)
    assert primary.uuid == fresh.zones[order[0]].uuid
    # the client's stats line is rewritten every second: follow it (tail -F) until a line
    # written from now on shows it writing to that primary with no outage open
    since = iso_now_ms()
    want = fresh.zones[order[0]].peer_id
    line = wait_for_record(
        config.directory / "client" / "stats.json",
        lambda r: str(r.get("updated", "")) >= since and r.get("open_outage_since") is None
        and r.get("primary") == want and int(r.get("writes_ok", 0)) > 0, WAIT)
    assert line is not None, f"the client is not writing to {want} again"
