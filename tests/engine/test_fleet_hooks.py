"""The two engine hooks a fleet uses, on real sandboxes: SIGUSR1 stops a run after the
step under way (journalled stopped, resumable), and ``--outage-locks DIR`` keeps a step
that stops writes waiting while another run holds its compute node's lock."""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from migrator.engine.journal_store import JournalStore
from migrator.inventory.load import load_inventory
from migrator.zk.client import ZkTarget, connect, disconnect
from tests.conftest import SandboxFactory
from tests.engine.sandbox_helpers import RUN_TIMEOUT, cli_env, migrator, migrator_argv

pytestmark = pytest.mark.sandbox


@contextmanager
def _run(inventory: Path, audit: Path, *args: str) -> Iterator[subprocess.Popen[str]]:
    process = subprocess.Popen(migrator_argv(inventory, "run", "--yes", "--json", *args),
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                               stdin=subprocess.DEVNULL, text=True, env=cli_env(audit))
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)
        if process.stdout is not None:
            process.stdout.close()


def _until_event(process: subprocess.Popen[str], kind: str, seen: list[dict[str, Any]]
                 ) -> dict[str, Any]:
    """Read events until one of ``kind`` (the run's own end bounds the read)."""
    assert process.stdout is not None
    for line in process.stdout:
        event = json.loads(line)
        seen.append(event)
        if event["event"] == kind:
            return event
    raise AssertionError(f"the run ended without a {kind} event: {seen[-3:]}")


def _migration_status(zk: str, shard: str) -> str | None:
    client = connect(ZkTarget(zk))
    try:
        journal = JournalStore(client, shard).load()
        run = journal.run("migration") if journal is not None else None
        return None if run is None else run.status
    finally:
        disconnect(client)


def test_sigusr1_stops_the_run_after_the_step_under_way(sandbox: SandboxFactory,
                                                        tmp_path: Path) -> None:
    config = sandbox(nodes=3)
    inventory = config.directory / "inventory.yaml"
    seen: list[dict[str, Any]] = []
    with _run(inventory, tmp_path) as process:
        acting = _until_event(process, "action-started", seen)
        process.send_signal(signal.SIGUSR1)
        finished = _until_event(process, "finished", seen)
        assert process.wait(timeout=RUN_TIMEOUT) == 130
    assert finished["exitStatus"] == 130
    kinds = [(e["event"], e.get("step")) for e in seen]
    # the step under way was verified and finished; no later step started
    done_at = kinds.index(("step-finished", acting["step"]))
    assert not [k for k in kinds[done_at:] if k[0] in ("step-started", "action-started")]
    error = next(e for e in seen if e["event"] == "error")
    assert "SIGUSR1" in error["message"] and "migrator resume" in error["hint"]
    assert _migration_status(config.zk_connection, config.shard) == "stopped"

    resumed = migrator(config, tmp_path, "resume", "--yes")
    assert resumed.status == 0, resumed.err
    assert _migration_status(config.zk_connection, config.shard) == "done"


def test_an_outage_step_waits_for_its_compute_nodes_lock(sandbox: SandboxFactory,
                                                         tmp_path: Path) -> None:
    config = sandbox(nodes=3, access="zlogin")
    inventory_path = config.directory / "inventory.yaml"
    inventory = load_inventory(inventory_path)
    nodes = sorted({inventory.route(z).node for z in inventory.zones} - {None})
    assert nodes, "a zlogin sandbox's zones sit on compute nodes"
    locks = tmp_path / "locks"
    locks.mkdir()
    held = os.open(locks / f"{nodes[0]}.lock", os.O_RDWR | os.O_CREAT, 0o644)
    seen: list[dict[str, Any]] = []
    try:
        fcntl.flock(held, fcntl.LOCK_EX)
        os.write(held, b"shard 7.moray.other (the test)")
        with _run(inventory_path, tmp_path, "--outage-locks", str(locks)) as process:
            waiting = _until_event(process, "waiting", seen)
            while f"compute node {nodes[0]}" not in waiting["what"]:
                waiting = _until_event(process, "waiting", seen)
            assert "7.moray.other" in waiting["what"]
            assert not [e for e in seen if e["event"] == "outage-started"]
            fcntl.flock(held, fcntl.LOCK_UN)
            finished = _until_event(process, "finished", seen)
            assert process.wait(timeout=RUN_TIMEOUT) == 0
    finally:
        os.close(held)
    assert finished["exitStatus"] == 0
    outage = next(e for e in seen if e["event"] == "outage-started")
    assert seen.index(outage) > seen.index(waiting)
    # released when the step ended: the file is free again
    probe = os.open(locks / f"{nodes[0]}.lock", os.O_RDWR)
    try:
        fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
    finally:
        os.close(probe)
