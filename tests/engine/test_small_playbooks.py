"""The one- and two-node playbooks end to end on the sandbox, whose v2 sitters validate
/state and die as upstream's do (under a supervisor that restarts them as SMF would)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from migrator.sandbox.config import SandboxConfig
from migrator.sandbox.logwatch import read_records
from migrator.sandbox.pgsim import request
from migrator.sandbox.status import sandbox_status
from migrator.sandbox.waits import wait_writable
from tests.engine.sandbox_helpers import history_states, migrator

pytestmark = pytest.mark.sandbox

WAIT = 60.0


def test_one_node_never_leaves_the_peer_crash_looping(
    sandbox: Callable[..., SandboxConfig], client_for: Callable[[SandboxConfig], Any],
    tmp_path: Path,
) -> None:
    config = sandbox(nodes=1)
    (zone,) = config.zones
    client = client_for(config)
    plan = migrator(config, tmp_path, "plan")
    assert plan.status == 0, plan.err
    assert "oneNodeWriteMode" in plan.out and "manatee-adm state-backfill" in plan.out

    result = migrator(config, tmp_path, "run", "--yes")
    assert result.status == 0, result.err
    assert "one-node complete" in result.err
    assert "oneNodeWriteMode is written in the same transaction" in result.err
    assert "is the primary and its postgres is online" in result.err

    # one write: the backfill already carried one-node-write mode
    states = [s for _, s in history_states(client, config.shard)]
    assert len(states) == 1 and states[0]["oneNodeWriteMode"] is True
    assert list(states[0])[-1] == "oneNodeWriteMode" and states[0]["sync"] is None
    # the peer never read an invalid state: no fatal record, never restarted
    records = read_records(config.zone_dir(zone) / "sitter.log")
    assert not [r for r in records if r["level"] >= 60]
    peer = sandbox_status(config.directory)["peers"][0]
    assert peer["sitter"] == "running" and peer["service"]["restarts"] == 0
    # and it takes writes: what the run's last check stood for
    assert wait_writable(config, WAIT) == zone
    assert request(zone.ip, zone.pg_port, {"op": "write"})["ok"] is True
    state = json.loads(client.get(f"/manatee/{config.shard}/state")[0])
    assert state == states[0]


def test_two_node_keeps_the_freeze_through_the_primary_reprovision(
    sandbox: Callable[..., SandboxConfig], client_for: Callable[[SandboxConfig], Any],
    tmp_path: Path,
) -> None:
    config = sandbox(nodes=2, with_client=True)
    primary, sync = config.zones
    client = client_for(config)
    result = migrator(config, tmp_path, "run", "--yes")
    assert result.status == 0, result.err
    assert "two-node complete" in result.err
    # the sync saw the primary go and could not take over: no async to make its sync
    warned = [r for r in read_records(config.zone_dir(sync) / "sitter.log")
              if r["msg"] == "would takeover (primary gone), but no async peers present"]
    assert warned and warned[0]["level"] == 40
    states = [s for _, s in history_states(client, config.shard)]
    assert [s["generation"] for s in states] == [0, 0]  # backfill, then the unfreeze
    assert states[0]["freeze"] and "freeze" not in states[1]
    assert states[1]["primary"]["zoneId"] == primary.uuid
    assert states[1]["sync"]["zoneId"] == sync.uuid
    # the unfreeze came after the primary's reprovision, not before
    order = [line for line in result.err.splitlines()
             if "Reprovision the primary" in line or "Unfreeze the cluster state" in line]
    assert order and "Reprovision the primary" in order[0]
    assert wait_writable(config, WAIT) == primary


def test_one_node_backfilled_by_hand_fails_fast_then_resumes(
    sandbox: Callable[..., SandboxConfig], client_for: Callable[[SandboxConfig], Any],
    tmp_path: Path,
) -> None:
    """The runbook's procedure done by hand (upstream's state-backfill: no one-node-write
    mode) leaves the peer in maintenance; the run sets the mode, sees the sitter dead and
    stops at once saying what to do; after the clear, resume ends with the peer serving."""
    from migrator.sandbox import procs
    from migrator.sandbox.peers import reprovision, sitter_pid_file, start_peer
    from tests.sandbox.conftest import zone_ssh

    config = sandbox(nodes=1)
    (zone,) = config.zones
    client = client_for(config)
    reprovision(config.directory, zone.uuid, "v2")
    supervisor = procs.recorded_pid(sitter_pid_file(config, zone))
    assert supervisor is not None
    gone = threading.Event()
    procs.on_exit(supervisor, gone.set)
    assert zone_ssh(config, zone, "manatee-adm state-backfill -y").returncode == 0
    assert gone.wait(WAIT)  # crash-looped into maintenance

    stopped = migrator(config, tmp_path, "run", "--yes")
    assert stopped.status == 1, stopped.err
    # the wait's guard (sitter not running) or primary_writable (its last words FATAL)
    # stops it, whichever sees it first; both say how to bring the sitter back
    assert "svcadm clear manatee-sitter" in stopped.err, stopped.err
    assert ("is not running (its service state is" in stopped.err
            or "most likely in SMF's maintenance" in stopped.err), stopped.err
    state = json.loads(client.get(f"/manatee/{config.shard}/state")[0])
    assert state["oneNodeWriteMode"] is True  # the mode was set; the peer is still down

    start_peer(config.directory, zone.uuid)  # `svcadm clear`
    resumed = migrator(config, tmp_path, "resume", "--yes")
    assert resumed.status == 0, resumed.err
    # done by its done-checks, or by re-running the step (nothing left to write)
    assert ("one-node complete" in resumed.err
            or "every step of one-node is done" in resumed.err), resumed.err
    assert wait_writable(config, WAIT) == zone
