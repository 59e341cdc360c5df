"""One- and two-node sandboxes through the runbook's short procedures."""

from __future__ import annotations

import json
import subprocess
import threading

import pytest

from migrator.inventory.load import load_inventory
from migrator.isotime import iso_now_ms
from migrator.sandbox import procs
from migrator.sandbox.logwatch import read_records, role_record, wait_for_record
from migrator.sandbox.peers import reprovision, sitter_pid_file, start_peer
from migrator.sandbox.pgsim import request
from migrator.sandbox.shard import zk_client
from migrator.sandbox.status import sandbox_status
from migrator.sandbox.supervisor import MAX_QUICK_DEATHS
from migrator.sandbox.waits import wait_state, wait_writable
from migrator.steps.zk import with_one_node_write_mode
from migrator.zk import reads, writes
from tests.sandbox.conftest import SandboxFactory, adm, log_of, zone_ssh
from tests.sandbox.test_migration import TIMEOUT, _backfill

pytestmark = pytest.mark.sandbox


def test_one_node_runbook_backfill_crash_loops_the_peer_into_maintenance(
    sandbox: SandboxFactory,
) -> None:
    """The runbook's one-node procedure, as upstream runs it: the backfill writes a null
    sync outside one-node-write mode, the peer dies on it, is restarted into the same
    death, and ends in maintenance; one-node-write mode plus a clear brings it back."""
    config = sandbox(nodes=1)
    (zone,) = config.zones
    assert request(zone.ip, zone.pg_port, {"op": "write"})["ok"] is True  # v1, alone

    since = iso_now_ms()
    reprovision(config.directory, zone.uuid, "v2")  # longer than the session timeout
    assert wait_for_record(log_of(config, zone), role_record("unassigned"), TIMEOUT, since)
    assert request(zone.ip, zone.pg_port, {"op": "write"})["ok"] is False  # no role yet
    supervisor = procs.recorded_pid(sitter_pid_file(config, zone))
    assert supervisor is not None
    gone = threading.Event()
    procs.on_exit(supervisor, gone.set)

    # the runbook's backfill from the zone itself, over ssh, answering the prompt
    result = zone_ssh(config, zone, "manatee-adm state-backfill", stdin="yes\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "Ok."
    assert "Computed new cluster state:" in result.stderr
    assert "is this correct(y/n)" in result.stderr
    fatal = 'fatal error: "sync" may not be null outside of one-node-write mode'
    assert wait_for_record(log_of(config, zone),
                           lambda r: r["level"] == 60 and r["msg"] == fatal, TIMEOUT, since)
    assert gone.wait(TIMEOUT), "the supervisor never gave up"
    peer = sandbox_status(config.directory)["peers"][0]
    assert peer["sitter"] == "maintenance" and "deaths in a row" in peer["service"]["reason"]
    deaths = [r for r in read_records(log_of(config, zone)) if r["level"] == 60]
    assert len(deaths) == MAX_QUICK_DEATHS

    with zk_client(config) as client:
        found = reads.read_state(client, config.shard)
        assert found is not None
        changed = with_one_node_write_mode(found[0])
        assert changed is not None
        writes.replace_state(client, config.shard, changed, found[1], "set-onwm")
    since = iso_now_ms()
    start_peer(config.directory, zone.uuid)  # clears maintenance, as `svcadm clear`
    assert wait_for_record(log_of(config, zone), role_record("primary"), TIMEOUT, since)
    assert wait_writable(config, TIMEOUT) == zone
    assert sandbox_status(config.directory)["peers"][0]["sitter"] == "running"
    state = json.loads(adm(config, zone, "state"))
    assert state["sync"] is None and state["async"] == [] and state["freeze"]
    assert state["oneNodeWriteMode"] is True

    again = zone_ssh(config, zone, "manatee-adm state-backfill -y")
    assert again.returncode == 1
    assert again.stderr.strip() == f"error: State already exists for shard {config.shard}"

    # freeze / unfreeze answer as upstream's manatee-adm does
    assert adm(config, zone, "unfreeze").strip() == "Unfrozen."
    not_frozen = zone_ssh(config, zone, "manatee-adm unfreeze")
    assert (not_frozen.returncode, not_frozen.stderr) == (1, "error: shard is not frozen\n")
    assert adm(config, zone, "freeze", "-r", "maintenance").strip() == "Frozen."
    frozen = zone_ssh(config, zone, "manatee-adm freeze -r again")
    assert frozen.returncode == 1
    assert frozen.stderr == "error: shard is already been frozen: maintenance\n"
    summaries = adm(config, zone, "history", "-v").splitlines()
    assert summaries[-1].endswith("cluster frozen: maintenance")
    assert summaries[-2].endswith("cluster unfrozen")
    assert any(line.endswith("v1.0 event: AssumeLeader by " + f"{zone.ip}:{zone.pg_port}")
               for line in summaries)
    last = json.loads(adm(config, zone, "history", "-j").splitlines()[-1])
    assert list(last) == ["zkSeq", "time", "state"] and last["state"]["freeze"]["reason"] == (
        "maintenance"
    )
    assert adm(config, zone, "state").endswith("}\n")
    assert wait_writable(config, TIMEOUT) == zone  # one-node-write ignores the freeze


def test_two_nodes_sync_then_primary(sandbox: SandboxFactory) -> None:
    config = sandbox(nodes=2, with_client=True)
    primary, sync = config.zones
    # reprovision the sync exactly as a playbook would: the inventory's local command
    inventory = load_inventory(config.directory / "inventory.yaml")
    assert inventory.commands.reprovision.run_on == "local"
    image = inventory.versions.migrate_to
    assert image is not None
    argv = inventory.commands.reprovision.template.argv(zone=sync.uuid, image=image)
    since = iso_now_ms()
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    version = zone_ssh(config, sync,
                       inventory.commands.template("manatee_version").fill(zone=sync.uuid))
    assert json.loads(version.stdout)["version"] == image
    assert wait_for_record(log_of(config, sync), role_record("unassigned"), TIMEOUT, since)
    since = iso_now_ms()
    _backfill(config)
    assert wait_for_record(log_of(config, sync), role_record("sync"), TIMEOUT, since)
    assert wait_writable(config, TIMEOUT) == primary

    # no async to promote: the sync cannot take over, the primary comes back as primary
    since = iso_now_ms()
    reprovision(config.directory, primary.uuid, "v2")
    assert wait_for_record(
        log_of(config, sync),
        lambda r: r["msg"] == "would takeover (primary gone), but no async peers present",
        TIMEOUT, since,
    )
    assert wait_for_record(log_of(config, primary), role_record("primary"), TIMEOUT, since)
    assert wait_writable(config, TIMEOUT) == primary
    state = wait_state(config, lambda s: s is not None, TIMEOUT)
    assert state is not None and state["generation"] == 0


def test_short_reprovision_of_primary_keeps_it_primary(sandbox: SandboxFactory) -> None:
    """The runbook's other outcome: back before the session timed out -> no takeover."""
    config = sandbox(nodes=3)
    primary, sync, async_ = config.zones
    for zone in (async_, sync):
        since = iso_now_ms()
        reprovision(config.directory, zone.uuid, "v2")
        if zone is async_:
            assert wait_for_record(log_of(config, zone), role_record("unassigned"), TIMEOUT,
                                   since)
            _backfill(config)
        assert wait_for_record(log_of(config, zone), role_record("async" if zone is sync
                                                                   else "sync"), TIMEOUT, since)
    from tests.sandbox.test_migration import _unfreeze

    _unfreeze(config)
    since = iso_now_ms()
    reprovision(config.directory, primary.uuid, "v2", delay=0.2)
    assert wait_for_record(log_of(config, primary), role_record("primary"), TIMEOUT, since)
    assert wait_writable(config, TIMEOUT) == primary
    state = json.loads(adm(config, async_, "state"))
    assert state["generation"] == 0 and state["primary"]["zoneId"] == primary.uuid
