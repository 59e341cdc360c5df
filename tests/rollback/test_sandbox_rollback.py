"""Rollback on a real sandbox: from after every step of three-node, two-node and
one-node back to the v1 topology, scripted (no terminal, stdin closed, --yes --json);
SIGKILL mid-rollback then again; the deposed old primary rebuilt.

Each scenario drives its own sandbox forward with the sandbox and expert commands
(plus the journal a run would have written), so they do not depend on each other.
The matrix costs about ten reprovisions of ~4 s per node count: marked slow.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from migrator.engine.journal_store import JournalStore
from migrator.sandbox.config import load_config
from tests.rollback.conftest import STEPS, assert_v1, events, migrate_until, migrator, zk_of
from tests.sandbox.conftest import SandboxFactory

pytestmark = pytest.mark.sandbox

SCENARIOS = [(nodes, step) for nodes in (3, 2, 1) for step in STEPS[nodes]]
# the v1 order a rollback leaves: the shard's own before the primary's reprovision; after
# it, the current roles (three-node: the original async took over)
AFTER = {3: [2, 1, 0], 2: [0, 1], 1: [0]}


def _after_primary(nodes: int, step: str) -> bool:
    return STEPS[nodes].index(step) >= STEPS[nodes].index("reprovision-primary")


def _expected_order(nodes: int, step: str) -> list[int]:
    return AFTER[nodes] if _after_primary(nodes, step) else list(range(nodes))


def _rollback(inventory: Path, audit: Path, *extra: str) -> list[dict[str, Any]]:
    result = migrator("rollback", "--inventory", str(inventory), "--yes", "--json", *extra,
                      env={"MIGRATOR_AUDIT_DIR": str(audit)})
    assert result.returncode == 0, result.stderr[-3000:]
    return events(result.stdout)


@pytest.mark.slow
@pytest.mark.parametrize(("nodes", "step"), SCENARIOS,
                         ids=[f"{n}-node-after-{s}" for n, s in SCENARIOS])
def test_rollback_from_after_every_step_ends_in_v1(
    sandbox: SandboxFactory, tmp_path: Path, nodes: int, step: str
) -> None:
    config = sandbox(nodes=nodes, with_client=True)
    migrate_until(config, step, tmp_path / "audit")
    found = _rollback(config.directory / "inventory.yaml", tmp_path / "audit")

    kinds = [e["event"] for e in found]
    assert kinds[0] == "choice" and kinds[-1] == "finished"
    choice = found[0]
    variant = ("rollback-after-primary" if _after_primary(nodes, step)
               else "rollback-before-primary")
    assert choice["variant"] == variant, choice["explanation"]
    plan = next(e["plan"] for e in found if e["event"] == "plan")
    finished = {e["step"] for e in found if e["event"] == "step-finished"}
    assert finished == {s["id"] for s in plan["steps"]}  # every step done (or already held)
    assert any(e["event"] == "run" and e["status"] == "done" for e in found)
    assert any(e["event"] == "journal-archived" for e in found)
    if any(s["id"] == "delete-state" and s["status"] != "done" for s in plan["steps"]):
        # /state existed: deleting it is a ZooKeeper write, reported as one
        assert any(e["event"] == "write" and e["step"] == "delete-state" for e in found)
    assert all(e["passed"] for e in found if e["event"] == "check" and e["kind"] == "verify")
    assert_v1(config, _expected_order(nodes, step))

    again = migrator("rollback", "--inventory", str(config.directory / "inventory.yaml"),
                     "--yes", env={"MIGRATOR_AUDIT_DIR": str(tmp_path / "audit")})
    assert again.returncode == 0
    assert "nothing to roll back" in again.stderr


def _wait_lock_free(config: Any, timeout: float) -> None:
    from migrator.engine.lock import lock_path
    from migrator.zk.watches import wait_for

    with zk_of(config) as client:
        path = lock_path(config.shard)
        client.ensure_path(path)
        freed, _ = wait_for(
            lambda deliver: client.ChildrenWatch(path, lambda c: deliver(list(c))),
            lambda children: True if children == [] else None, timeout)
    assert freed, "the killed migrator's lock did not expire"


@pytest.mark.slow
def test_deposed_primary_rebuilt_then_rollback_survives_sigkill(
    sandbox: SandboxFactory, tmp_path: Path
) -> None:
    config = sandbox(nodes=3, with_client=True)
    audit = tmp_path / "audit"
    env = {"MIGRATOR_AUDIT_DIR": str(audit)}
    inventory = str(config.directory / "inventory.yaml")
    migrate_until(config, "reprovision-primary", audit)
    primary = config.zones[0]

    # the deposed old primary: detected, explained, rebuilt, back as an async
    rebuilt = migrator("rebuild-deposed", "--inventory", inventory, "--yes", "--json", env=env)
    assert rebuilt.returncode == 0, rebuilt.stderr[-3000:]
    found = events(rebuilt.stdout)
    deposed = next(e for e in found if e["event"] == "deposed")
    assert deposed["zone"] == primary.uuid and "manatee-adm rebuild" in deposed["explanation"]
    assert any(e["event"] == "step-finished" and e["step"] == "rebuild-deposed" for e in found)
    from migrator.zk import reads

    with zk_of(config) as client:
        state = reads.read_state(client, config.shard)
    assert state is not None
    assert state[0].role_of(primary.peer_id) == "async" and not state[0].deposed
    again = migrator("rebuild-deposed", "--inventory", inventory, "--yes", env=env)
    assert again.returncode == 0 and "nothing to rebuild" in again.stderr

    # SIGKILL the rollback (its whole process group: the reprovision too) while it rolls
    # back the current primary, then run it again: it resumes and completes
    proc = subprocess.Popen(
        [sys.executable, "-m", "migrator", "rollback", "--inventory", inventory, "--yes",
         "--json"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, env={**os.environ, **env}, start_new_session=True)
    killer = threading.Timer(240, lambda: os.killpg(proc.pid, signal.SIGKILL))
    killer.start()
    seen: list[dict[str, Any]] = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            seen.extend(events(line))
            if seen[-1]["event"] == "action-started" and seen[-1]["step"] == "roll-back-primary":
                os.killpg(proc.pid, signal.SIGKILL)
                break
    finally:
        killer.cancel()
        proc.wait(timeout=30)
        if proc.stdout is not None:
            proc.stdout.close()
        if proc.stderr is not None:
            proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL, "the rollback ended before it was killed"
    with zk_of(config) as client:
        journal = JournalStore(client, config.shard).load()
    assert journal is not None
    run = journal.run("rollback")
    assert run is not None and run.step("roll-back-primary").status == "acting"
    assert run.step("delete-state").status == "done"

    _wait_lock_free(config, 30)
    resumed = _rollback(Path(inventory), audit)
    assert resumed[0]["resumed"] is True
    done_earlier = [e for e in resumed if e["event"] == "step-finished"]
    assert {e["step"] for e in done_earlier} >= {"roll-back-primary", "roll-back-sync",
                                                 "roll-back-async", "confirm-v1"}
    assert not any(e["event"] == "step-started" and e["step"] == "disable-sitters"
                   for e in resumed)
    assert_v1(load_config(config.directory), [2, 1, 0])


def _restart_sitter(config: Any, index: int) -> None:
    """Kill a zone's sitter (no goodbye), wait for its node to go, start it again: it
    rejoins at the end of the election."""
    from migrator.sandbox.peers import start_peer, stop_peer
    from migrator.sandbox.waits import wait_election

    zone = config.zones[index]
    stop_peer(config.directory, zone.uuid)
    wait_election(config, lambda names: not any(n.startswith(zone.peer_id + "-")
                                                for n in names), 30)
    start_peer(config.directory, zone.uuid)
    wait_election(config, lambda names: bool(names) and names[-1].startswith(
        zone.peer_id + "-"), 30)


def test_a_v2_zone_heading_the_election_is_rolled_back(
    sandbox: SandboxFactory, tmp_path: Path
) -> None:
    """Killed after the async's reprovision, then the primary's and the sync's sitters
    restarted: the election is [async (v2), primary, sync], no /state, and no v1 peer
    heads it, so writes stop. The rollback reprovisions the v2 zone whatever the
    election order and ends with the shard's own v1 order, writing again."""
    config = sandbox(nodes=3, with_client=True)
    audit = tmp_path / "audit"
    migrate_until(config, "reprovision-async", audit)
    _restart_sitter(config, 0)
    _restart_sitter(config, 1)
    from migrator.zk import reads

    with zk_of(config) as client:
        snap = reads.read_shard(client, config.shard)
    assert [n.peer_id for n in snap.topology.nodes] == [config.zones[i].peer_id
                                                        for i in (2, 0, 1)]
    found = _rollback(config.directory / "inventory.yaml", audit)
    choice = found[0]
    assert choice["variant"] == "rollback-before-primary"
    acted = [e["zone"] for e in found if e["event"] == "action-started" and e.get("zone")]
    assert config.zones[2].uuid in acted
    assert_v1(config, [0, 1, 2])
