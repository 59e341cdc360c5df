"""The runbook's three-node migration on a real sandbox, step by step, checking the
signals the runbook tells operators to look at."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from migrator.commands import expert
from migrator.isotime import iso_now_ms
from migrator.outagerecords import read_outages
from migrator.sandbox.config import SandboxConfig
from migrator.sandbox.logwatch import read_records, role_record, wait_for_record
from migrator.sandbox.peers import reprovision, stop_peer
from migrator.sandbox.pgsim import parse_lsn, request
from migrator.sandbox.waits import wait_state, wait_writable
from migrator.zk.client import ZkTarget, connect, disconnect
from tests.sandbox.conftest import SandboxFactory, adm, adm_status, log_of, zone_ssh

pytestmark = pytest.mark.sandbox

TIMEOUT = 20.0
Record = dict[str, Any]


def _wait(config: SandboxConfig, zone: Any, predicate: Callable[[Record], bool],
          since: str) -> Record:
    record = wait_for_record(log_of(config, zone), predicate, TIMEOUT, since=since)
    assert record is not None, f"no matching record in {log_of(config, zone)}"
    return record


def _msg(text: str, level: int | None = None) -> Callable[[Record], bool]:
    return lambda r: r.get("msg") == text and (level is None or r.get("level") == level)


def _backfill(config: SandboxConfig) -> None:
    client = connect(ZkTarget(config.zk_connection))
    try:
        expert.backfill(client, config.shard, lambda _state: None)
    finally:
        disconnect(client)


def _unfreeze(config: SandboxConfig) -> None:
    client = connect(ZkTarget(config.zk_connection))
    try:
        expert.unfreeze(client, config.shard, lambda _state: None)
    finally:
        disconnect(client)


def test_runbook_migration_frozen_then_unfrozen_takeover(sandbox: SandboxFactory) -> None:
    config = sandbox(nodes=3, with_client=True)
    primary, sync, async_ = config.zones

    # Reprovision the async: postgres is set up and there is no /state -> unassigned
    started = iso_now_ms()
    result = reprovision(config.directory, async_.uuid, "v2")
    assert result["version"] == "v2"
    record = _wait(config, async_, role_record("unassigned"), started)
    # the applied-config record follows the role record; wait for it rather than race it
    _wait(config, async_, lambda r: str(r.get("msg", "")).startswith("pg: applied config"),
          started)
    records = [r for r in read_records(log_of(config, async_)) if r["time"] >= started]
    not_setup = next(r for r in records if r["msg"] == "cluster not yet setup")
    assert not_setup["level"] == 20 and not_setup["component"] == "cluster"
    assert not_setup["name"] == "manatee-sitter" and not_setup["hostname"] == async_.uuid
    assert record["level"] == 30 and not_setup["time"] <= record["time"]
    applied = next(r for r in records if r["msg"].startswith("pg: applied config"))
    assert "role: 'none', upstream: null, downstream: null" in applied["msg"]
    assert applied["nretries"] == 0
    assert all(k in record for k in ("name", "hostname", "pid", "level", "msg", "time", "v"))

    no_state = zone_ssh(config, async_, "manatee-adm status")
    assert no_state.returncode == 1
    assert no_state.stderr.strip() == (
        f"error: No state object exists for one or more shards: {config.shard}"
    )
    legacy = json.loads(adm(config, async_, "status", "-l"))[config.shard]
    assert legacy["primary"]["zoneId"] == primary.uuid

    # Backfill -> the original async reconfigures as sync under the original primary
    since = iso_now_ms()
    _backfill(config)
    _wait(config, async_, role_record("sync"), since)
    applied = _wait(config, async_, lambda r: r["msg"].startswith("pg: applied config")
                    and "role: 'sync'" in r["msg"], since)
    assert f"ip: '{primary.ip}'" in applied["msg"] and "downstream: null" in applied["msg"]
    state = json.loads(adm(config, async_, "state"))
    assert list(state) == ["primary", "sync", "async", "deposed", "generation", "initWal",
                           "freeze"]
    assert (state["primary"]["zoneId"], state["sync"]["zoneId"]) == (primary.uuid, async_.uuid)
    # from the not-yet-upgraded sync: both slaving from the primary, its sync still the old one
    status = adm_status(config, sync)
    assert status["primary"]["repl"]["application_name"] == sync.pg_url
    assert "__FROZEN__" not in status

    # Reprovision the sync -> it becomes the async, replicating from the original async
    since = iso_now_ms()
    reprovision(config.directory, sync.uuid, "v2")
    record = _wait(config, sync, role_record("async"), since)
    assert record["which"] == 0
    _wait(config, sync, lambda r: r["msg"].startswith("pg.reconfigure")
          and f"ip: '{async_.ip}'" in r["msg"], since)
    wait_writable(config, TIMEOUT)
    status = adm_status(config, async_)
    assert status["__FROZEN__"].endswith(": manatee-adm state-backfill")
    assert status["primary"]["repl"]["application_name"] == async_.pg_url
    assert status["primary"]["repl"]["sync_state"] == "sync"
    assert status["sync"]["repl"]["application_name"] == sync.pg_url
    assert status["sync"]["repl"]["sync_state"] == "async"
    assert status["async"]["zoneId"] == sync.uuid
    outages_before = read_outages(config.client_dir)

    # Frozen: stopping the primary makes the sync back off with ClusterFrozenError
    since = iso_now_ms()
    stop_peer(config.directory, primary.uuid)
    _wait(config, async_, _msg("preparing for new generation (primary gone)", 20), since)
    first = _wait(config, async_, _msg("backing off", 40), since)
    assert first["err"]["name"] == "ClusterFrozenError"
    assert first["err"]["message"] == "cluster is frozen"
    again = _wait(config, async_, _msg("backing off", 40), first["time"] + "0")
    assert again["err"]["name"] == "ClusterFrozenError"  # it retries, about once a second
    state = json.loads(adm(config, async_, "state"))
    assert state["generation"] == 0 and state["primary"]["zoneId"] == primary.uuid

    # Unfreeze -> the sync takes over: generation 1, initWal its WAL, old primary deposed
    since = iso_now_ms()
    _unfreeze(config)
    state = wait_state(config, lambda s: s is not None and s["generation"] == 1, TIMEOUT)
    assert state is not None
    assert list(state) == ["generation", "primary", "sync", "async", "deposed", "initWal"]
    assert state["primary"]["zoneId"] == async_.uuid
    assert state["sync"]["zoneId"] == sync.uuid
    assert state["async"] == []
    assert [p["zoneId"] for p in state["deposed"]] == [primary.uuid]
    assert state["initWal"] != "0/0000000"
    declaring = _wait(config, async_, _msg("declaring new generation (primary gone)", 30), since)
    assert declaring["generation"] == 1
    _wait(config, async_, _msg("declared new generation", 30), since)
    _wait(config, async_, role_record("primary"), since)
    _wait(config, sync, role_record("sync"), since)
    assert wait_writable(config, TIMEOUT) == async_
    wal = request(async_.ip, async_.pg_port, {"op": "status"})["wal"]
    assert parse_lsn(wal) >= parse_lsn(state["initWal"])

    client = connect(ZkTarget(config.zk_connection))
    try:
        names = client.get_children(f"/manatee/{config.shard}/history")
    finally:
        disconnect(client)
    assert any(n.startswith("1-") for n in names)  # peers write <generation>-

    # The old primary comes back at v2 (its zone was down all along): deposed
    since = iso_now_ms()
    reprovision(config.directory, primary.uuid, "v2", delay=0)
    _wait(config, primary, role_record("deposed"), since)
    history = adm(config, async_, "history").splitlines()
    assert json.loads(history[-1])["state"]["generation"] == 1

    # one outage: from the primary's stop to the takeover; none while nothing changed
    window = wait_for_record(config.directory / "client" / "outages.jsonl",
                             lambda r: r["to"] == async_.peer_id, TIMEOUT)
    assert window is not None and window["from"] == primary.peer_id
    assert len(read_outages(config.client_dir)) == len(outages_before) + 1


def test_old_primary_rejoins_as_async_in_2014_mode(sandbox: SandboxFactory) -> None:
    config = sandbox(nodes=3, deposed_mode="async")
    primary, sync, async_ = config.zones
    since = iso_now_ms()
    reprovision(config.directory, async_.uuid, "v2", delay=2.5)
    _wait(config, async_, role_record("unassigned"), since)
    since = iso_now_ms()
    _backfill(config)
    _wait(config, async_, role_record("sync"), since)
    since = iso_now_ms()
    reprovision(config.directory, sync.uuid, "v2", delay=2.5)
    _wait(config, sync, role_record("async"), since)
    _unfreeze(config)
    # the runbook's order: unfreeze, then reprovision the primary (longer than the timeout)
    since = iso_now_ms()
    reprovision(config.directory, primary.uuid, "v2")
    state = wait_state(
        config, lambda s: s is not None and s["generation"] == 1 and bool(s["async"]), TIMEOUT
    )
    assert state is not None
    assert "deposed" not in state  # the 2014 output has no deposed list
    assert state["primary"]["zoneId"] == async_.uuid
    assert [p["zoneId"] for p in state["async"]] == [primary.uuid]
    record = _wait(config, primary, role_record("async"), since)
    assert record["which"] == 0
    _wait(config, async_, _msg("updating list of asyncs", 30), since)
    assert wait_writable(config, TIMEOUT) == async_

    # the primary replaces a vanished sync with the first async: a new generation
    since = iso_now_ms()
    stop_peer(config.directory, sync.uuid)
    state = wait_state(config, lambda s: s is not None and s["generation"] == 2, TIMEOUT)
    assert state is not None
    assert state["primary"]["zoneId"] == async_.uuid
    assert state["sync"]["zoneId"] == primary.uuid and state["async"] == []
    _wait(config, async_, _msg("declaring new generation (sync gone)", 30), since)
    _wait(config, primary, role_record("sync"), since)
    assert wait_writable(config, TIMEOUT) == async_
