"""A three-node v1 sandbox: writes flow, v1 failover by election order, outage windows."""

from __future__ import annotations

import json

import pytest

from migrator.errors import Refused
from migrator.isotime import iso_now_ms
from migrator.outagerecords import read_outages, read_stats
from migrator.sandbox.logwatch import wait_for_record
from migrator.sandbox.manage import UpOptions, up
from migrator.sandbox.pgsim import READ_ONLY_ERROR, request
from migrator.sandbox.status import sandbox_status
from migrator.sandbox.waits import wait_election, wait_writable
from migrator.zk.client import ZkTarget, connect, disconnect
from migrator.zk.reads import read_history
from tests.sandbox.conftest import SandboxFactory, adm_status, zone_ssh

pytestmark = pytest.mark.sandbox


def test_three_v1_nodes_write_and_fail_over_by_election_order(sandbox: SandboxFactory) -> None:
    config = sandbox(nodes=3, with_client=True)
    primary, sync, async_ = config.zones

    # writes flow to the primary only; the others refuse like a read-only postgres
    assert request(primary.ip, primary.pg_port, {"op": "write"})["ok"] is True
    refused = request(sync.ip, sync.pg_port, {"op": "write"})
    assert refused == {"ok": False, "error": READ_ONLY_ERROR}

    # manatee-adm status over the zone's real sshd shows the v1 chain from the election
    status = adm_status(config, async_)
    assert [status[r]["zoneId"] for r in ("primary", "sync", "async")] == [
        primary.uuid, sync.uuid, async_.uuid,
    ]
    assert "__FROZEN__" not in status
    assert status["primary"]["repl"]["sync_state"] == "sync"
    # the standby named as manatee names it; the address is the connection's (loopback)
    assert status["primary"]["repl"]["application_name"] == sync.pg_url
    assert status["primary"]["repl"]["client_addr"] == "127.0.0.1"
    assert status["sync"]["repl"]["sync_state"] == "async"  # the chain: sync -> async
    assert status["async"]["repl"] == {}
    assert zone_ssh(config, primary, "manatee-adm version").stdout.strip() == "1.0.0-sandbox"

    # a live sandbox in the directory is refused, or reused when asked
    with pytest.raises(Refused, match="already holds a running sandbox"):
        up(config.directory, UpOptions(nodes=3))
    assert up(config.directory, UpOptions(nodes=3, reuse=True)).zones == config.zones

    assert read_outages(config.client_dir) == []

    # the inventory's sitter_disable command, run in the zone over ssh
    stopped_at = iso_now_ms()
    disabled = zone_ssh(config, primary, "sitter-ctl disable")
    assert disabled.returncode == 0, disabled.stderr
    order = wait_election(
        config, lambda names: bool(names) and names[0].startswith(sync.peer_id + "-"), 15.0
    )
    assert order[0].startswith(sync.peer_id)
    assert wait_writable(config, 15.0) == sync
    window = wait_for_record(config.directory / "client" / "outages.jsonl", lambda r: True, 15.0)
    assert window is not None
    assert window["start"] >= stopped_at and window["seconds"] > 0
    assert window["from"] == primary.peer_id and window["to"] == sync.peer_id

    client = connect(ZkTarget(config.zk_connection))
    try:
        records = [r.v1 for r in read_history(client, config.shard) if r.kind == "v1"]
    finally:
        disconnect(client)
    assert records[0] == {"ip": f"{primary.ip}:{primary.pg_port}", "action": "AssumeLeader",
                          "role": "Leader", "master": "", "slave": ""}
    assert {"ip": f"{sync.ip}:{sync.pg_port}", "action": "AssumeLeader", "role": "Leader",
            "master": "", "slave": f"{async_.ip}:{async_.pg_port}"} in records
    assert {"ip": f"{async_.ip}:{async_.pg_port}", "action": "NewLeader", "role": "Standby",
            "master": f"{sync.ip}:{sync.pg_port}", "slave": ""} in records

    document = sandbox_status(config.directory)
    roles = {p["zone"]: (p["sitter"], p["election_role"]) for p in document["peers"]}
    assert roles == {primary.uuid: ("stopped", None), sync.uuid: ("running", "primary"),
                     async_.uuid: ("running", "sync")}
    assert len(document["client"]["outages"]) == 1

    # sitter_enable brings the old primary back at the end of the v1 chain
    enabled = zone_ssh(config, primary, "sitter-ctl enable")
    assert enabled.returncode == 0, enabled.stderr
    order = wait_election(config, lambda names: len(names) == 3, 15.0)
    assert [n.rsplit("-", 1)[0] for n in order] == [sync.peer_id, async_.peer_id,
                                                     primary.peer_id]
    log_path = zone_ssh(config, primary, "sitter-ctl log").stdout.strip()
    assert log_path == str(config.zone_dir(primary) / "sitter.log")
    stats = read_stats(config.client_dir)
    assert stats is not None and stats["writes_ok"] + stats["writes_failed"] > 0
    json.dumps(document)  # what `sandbox status --json` prints
