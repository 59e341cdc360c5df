"""The sandbox on real PostgreSQL (`--pg real`): real streaming replication driven by the
v1/v2 sitters, manatee-adm status from pg_stat_replication, the write client's
acknowledged ids read back by `sandbox verify`, and the faults around the servers.

Every test brings its own real sandbox up (under /var/tmp: the postgres user must reach
it) and always takes it down.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from migrator.cancellation import Cancellation
from migrator.sandbox import pgdata, pgquery
from migrator.sandbox.config import SandboxConfig, ZoneConfig, load_config
from migrator.sandbox.manage import down
from migrator.sandbox.pgsim import parse_lsn
from migrator.sandbox.shard import primary_zone
from migrator.sandbox.verify import verify
from migrator.sandbox.waits import wait_writable
from tests.rollback.conftest import migrate_until
from tests.sandbox.conftest import SandboxFactory, adm, adm_status
from tests.waiting import until


@pytest.fixture(autouse=True)
def _audit_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MIGRATOR_AUDIT_DIR", str(tmp_path / "audit"))


LSN = re.compile(r"^[0-9A-F]{1,8}/[0-9A-F]{1,8}$")
WAIT = 30.0


def _migrator(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "migrator", *args], stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=timeout, check=False,
                          env={**os.environ, "NO_COLOR": "1"})


def _inventory(config: SandboxConfig) -> str:
    return str(config.directory / "inventory.yaml")


def _rows(zone: ZoneConfig) -> list[dict[str, Any]]:
    """pg_stat_replication on the zone's real server (not the sitter's account)."""
    status = pgquery.query_status(zone.ip, zone.pg_port)
    assert status is not None, f"postgres of {zone.uuid} is not answering"
    rows: list[dict[str, Any]] = status["repl"]
    return rows


def _wait_streaming(upstream: ZoneConfig, downstream: ZoneConfig, sync: bool) -> None:
    """Bounded: the upstream's pg_stat_replication shows the downstream streaming."""
    def streaming() -> dict[str, Any] | None:
        # the upstream may still be starting (its sitter applies /state after it is written)
        status = pgquery.query_status(upstream.ip, upstream.pg_port)
        rows = [r for r in (status or {}).get("repl", [])
                if r["application_name"] == downstream.pg_url]
        if rows and rows[0]["state"] == "streaming" and (
                rows[0]["sync_state"] == "sync") == sync:
            return dict(rows[0])
        return None

    row = until(streaming, WAIT, f"{downstream.uuid} streaming from {upstream.uuid}")
    # what the server saw: on loopback the kernel picks 127.0.0.1 as every source address
    assert row is not None and row["client_addr"] == "127.0.0.1"


def _acknowledged(config: SandboxConfig, more_than: int = 0) -> int:
    """Until the write client's stats (rewritten about once a second, followed with
    ``tail -F``) show more than ``more_than`` acknowledged writes; that count."""
    from migrator.sandbox.logwatch import wait_for_record

    seen = wait_for_record(config.directory / "client" / "stats.json",
                           lambda r: int(r.get("writes_ok", 0)) > more_than, WAIT)
    assert seen is not None, f"the client acknowledged no more than {more_than} writes"
    return int(seen["writes_ok"])


def _replay_behind(upstream: ZoneConfig, downstream: ZoneConfig) -> None:
    """Until the upstream has sent ``downstream`` WAL that it has not replayed."""
    def behind() -> bool:
        status = pgquery.query_status(upstream.ip, upstream.pg_port)
        rows = [r for r in (status or {}).get("repl", [])
                if r["application_name"] == downstream.pg_url]
        return bool(rows) and rows[0]["sent_lsn"] != rows[0]["replay_lsn"]

    until(behind, WAIT, f"{downstream.uuid} behind its upstream")


def _segment_exists(shmid: int) -> bool:
    rows = Path("/proc/sysvipc/shm").read_text().splitlines()[1:]
    return any(row.split()[1] == str(shmid) for row in rows)


def _state(config: SandboxConfig) -> dict[str, Any]:
    from migrator.sandbox.shard import zk_client
    from migrator.zk import reads

    with zk_client(config) as client:
        found = reads.read_state_bytes(client, config.shard)
    assert found is not None
    document: dict[str, Any] = json.loads(found[0])
    return document


def _zone(config: SandboxConfig, peer: dict[str, Any]) -> ZoneConfig:
    return next(z for z in config.zones if z.peer_id == peer["id"])


def _assert_v2_streaming(config: SandboxConfig) -> None:
    """The final topology per /state, checked on the servers: the primary streams to its
    sync synchronously, every async streams from the peer before it."""
    state = _state(config)
    primary = _zone(config, state["primary"])
    if state.get("sync"):
        sync = _zone(config, state["sync"])
        _wait_streaming(primary, sync, sync=True)
        upstream = sync
        for peer in state.get("async") or []:
            downstream = _zone(config, peer)
            _wait_streaming(upstream, downstream, sync=False)
            upstream = downstream


def _assert_no_loss(config: SandboxConfig) -> dict[str, Any]:
    result = verify(config.directory)
    assert result["acknowledged"] > 0
    assert result["lost"] == 0, result
    assert result["forked"] == [], result
    assert result["ok"], result
    return result


def _stop_client(config: SandboxConfig) -> None:
    from migrator.sandbox import procs

    procs.kill_recorded(config.pid_file("client"))


# ---- up, status, the chain ---------------------------------------------------------------


@pytest.mark.pgreal
@pytest.mark.sandbox
def test_up_streams_the_v1_chain_and_adm_status_reads_pg_stat_replication(
    sandbox: SandboxFactory,
) -> None:
    config = sandbox(nodes=3, pg="real")
    primary, sync, async_ = config.zones
    _wait_streaming(primary, sync, sync=True)
    _wait_streaming(sync, async_, sync=False)  # v1: a chain, the async follows the sync
    status = adm_status(config, primary)
    repl = status["primary"]["repl"]
    for name in ("sent_lsn", "write_lsn", "flush_lsn", "replay_lsn"):
        assert LSN.match(repl[name]), repl
    assert "sent_location" not in repl  # PostgreSQL 15's names, as upstream prints them
    assert repl["sync_state"] == "sync" and repl["state"] == "streaming"
    assert repl["application_name"] == sync.pg_url
    assert repl["client_addr"] == "127.0.0.1"  # what the server saw, not rewritten
    assert status["sync"]["repl"]["application_name"] == async_.pg_url
    assert status["sync"]["repl"]["sync_state"] == "async"
    table = adm(config, primary, "pg-status").splitlines()
    assert table[0].split() == ["ROLE", "PEER", "PG", "REPL", "SENT", "FLUSH", "REPLAY", "LAG"]
    assert table[1].split()[:4] == ["primary", primary.uuid[:8], "ok", "sync"]
    assert LSN.match(table[1].split()[4])
    # each server listens on its zone's address and pgUrl port only, as postgres
    for zone in config.zones:
        datadir = config.zone_dir(zone) / pgdata.DATA
        assert datadir.stat().st_uid == pgdata.pg_user().pw_uid
        with pgquery.connect(zone.ip, zone.pg_port) as connection:
            row = connection.execute(
                "SELECT current_setting('listen_addresses'), current_setting('port'), "
                "current_user, current_setting('data_directory')").fetchone()
        assert row == (zone.ip, str(zone.pg_port), "postgres", str(datadir))


@pytest.mark.pgreal
@pytest.mark.sandbox
def test_down_leaves_no_postgres_and_no_shared_memory(sandbox: SandboxFactory) -> None:
    config = sandbox(nodes=2, pg="real")
    pids, segments = [], []
    for zone in config.zones:
        pid, shmid = pgdata._postmaster_info(config.zone_dir(zone) / pgdata.DATA)
        assert pid is not None and pgdata._alive(pid)
        assert shmid is not None and _segment_exists(shmid)
        pids.append(pid)
        segments.append(shmid)
    # a postmaster killed outright leaves its SysV segment behind: down frees it too
    os.kill(pids[1], signal.SIGKILL)
    stopped = down(config.directory)
    assert stopped
    for pid, shmid in zip(pids, segments, strict=True):
        assert not pgdata._alive(pid)
        assert not _segment_exists(shmid)
    assert down(config.directory) == []  # and a second time is a no-op


@pytest.mark.unit
def test_missing_server_binaries_name_the_package(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.conftest import invoke_cli

    monkeypatch.setattr(pgdata, "find_bindir", lambda: None)
    result = invoke_cli(["sandbox", "up", "--dir", str(tmp_path / "s"), "--pg", "real"],
                        capsys)
    assert result.status == 2
    assert "apt-get install -y postgresql" in result.err
    assert "Traceback" not in result.err
    assert not (tmp_path / "s").exists()


# ---- faults ------------------------------------------------------------------------------


@pytest.mark.pgreal
@pytest.mark.sandbox
def test_a_killed_primary_postgres_is_restarted_by_its_sitter_and_no_write_is_lost(
    sandbox: SandboxFactory,
) -> None:
    config = sandbox(nodes=3, pg="real", with_client=True)
    primary = config.zones[0]
    datadir = config.zone_dir(primary) / pgdata.DATA
    before, _ = pgdata._postmaster_info(datadir)
    assert before is not None
    acknowledged = _acknowledged(config)  # some writes first
    os.kill(before, signal.SIGKILL)

    def restarted() -> bool:
        after, _ = pgdata._postmaster_info(datadir)
        return after not in (None, before) and pgdata._alive(after)

    until(restarted, WAIT, "the sitter restarting postgres")
    wait_writable(config, WAIT)
    _wait_streaming(primary, config.zones[1], sync=True)
    _acknowledged(config, acknowledged)  # writes after the restart, too
    _stop_client(config)
    result = _assert_no_loss(config)
    assert result["primary"] == primary.uuid
    assert "restarting postgres" in (config.zone_dir(primary) / "sitter.log").read_text()


# ---- the guards on real data -------------------------------------------------------------


@pytest.mark.pgreal
@pytest.mark.sandbox
def test_held_walreceiver_refuses_the_unfreeze_and_trips_the_watchdog_then_completes(
    sandbox: SandboxFactory, tmp_path: Path,
) -> None:
    from migrator.engine import alarms, watchdog
    from migrator.engine.journal_store import JournalStore
    from migrator.inventory.load import load_inventory
    from migrator.remote.session import RemoteSession
    from migrator.sandbox.shard import zk_client

    config = sandbox(nodes=3, pg="real", with_client=True)
    _primary, _sync, new_sync = config.zones
    migrate_until(config, "reprovision-sync", tmp_path / "audit")
    fresh = load_config(config.directory)
    _wait_streaming(primary_zone(fresh) or fresh.zones[0], fresh.zones[2], sync=True)
    held = pgquery.hold_walreceiver(new_sync.ip, new_sync.pg_port, True)
    try:
        _replay_behind(primary_zone(fresh) or fresh.zones[0], new_sync)  # commits wait
        inventory = load_inventory(config.directory / "inventory.yaml")
        run = Cancellation()  # what a run waits on: the watchdog stops it
        with zk_client(config) as client, RemoteSession(inventory, use_agent=False) as remote:
            journal = JournalStore(client, config.shard).load()
            assert journal is not None
            dog = watchdog.arm(client, config.shard, journal.original, remote=remote,
                               grace=2.0, run=run)
            assert dog is not None
            try:
                with pytest.raises(alarms.WatchdogTripped) as caught:
                    run.wait(WAIT)  # a run blocked in a wait, as in a check
                assert "sync" in str(caught.value).lower()
            finally:
                dog.stop()
        # the run does not unfreeze: its watchdog (sync behind before the unfreeze) or the
        # unfreeze step's replication_synced precondition stops it, the shard stays frozen
        refused = _migrator("run", "--inventory", _inventory(config), "--yes",
                            "--accept-playbook-change")
        assert refused.returncode != 0, refused.stderr[-2000:]
        assert "Traceback" not in refused.stderr
        assert "replication_synced" in refused.stderr or "caught up" in refused.stderr
        assert _state(config).get("freeze"), "the shard was unfrozen with the sync held"
    finally:
        os.kill(held, signal.SIGCONT)
    done = _migrator("run", "--inventory", _inventory(config), "--yes",
                     "--accept-playbook-change")
    assert done.returncode == 0, done.stderr[-2000:]
    _stop_client(config)
    _assert_no_loss(config)
    _assert_v2_streaming(config)


# ---- every playbook and both rollbacks on real postgres ----------------------------------


@pytest.mark.parametrize("nodes,playbook", [
    (3, "three-node"), (3, "three-node-frozen-primary"), (2, "two-node"), (1, "one-node"),
])
@pytest.mark.pgreal
@pytest.mark.sandbox
def test_playbook_on_real_postgres_loses_nothing_and_ends_streaming(
    sandbox: SandboxFactory, nodes: int, playbook: str,
) -> None:
    config = sandbox(nodes=nodes, pg="real", with_client=True)
    result = _migrator("run", "--inventory", _inventory(config), "--yes",
                       "--playbook", playbook)
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"{playbook} complete" in result.stderr
    if playbook == "three-node":  # the deposed old primary, rebuilt by pg_basebackup
        rebuilt = _migrator("rebuild-deposed", "--inventory", _inventory(config), "--yes")
        assert rebuilt.returncode == 0, rebuilt.stderr[-2000:]
    fresh = load_config(config.directory)
    _assert_v2_streaming(fresh)
    if playbook == "three-node":
        logs = [(config.zone_dir(z) / "sitter.log").read_text() for z in config.zones]
        assert "pg_basebackup" in logs[0]
        # a reprovision keeps the zone's database: the standbys were never copied afresh
        assert "pg_basebackup" not in logs[1] and "pg_basebackup" not in logs[2]
        state = _state(fresh)
        assert state["generation"] == 1
        # initWal is the new primary's real WAL position at the takeover, in X/XXXXXXX form
        assert LSN.match(state["initWal"]) and parse_lsn(state["initWal"]) > 0
    _stop_client(fresh)
    verified = _assert_no_loss(fresh)
    if playbook == "three-node":
        assert all(p["status"] == "caught up" for p in verified["peers"])


@pytest.mark.pgreal
@pytest.mark.sandbox
def test_adm_status_show_and_history_after_a_migration_read_as_upstream(
    sandbox: SandboxFactory,
) -> None:
    """After the three-node migration (the old primary deposed): the zones' manatee-adm
    prints PostgreSQL 15's replication row, the deposed entry and the standby's time lag;
    ``show`` names the standby by its application_name, so a healthy shard on loopback
    has no error; history reads the takeover and the follow-ups in manatee-adm's words;
    and the migrator's own reading of that status finds the sync streaming."""
    from migrator.remote.manatee_status import parse_status, replication_verdict

    config = sandbox(nodes=3, pg="real", with_client=True)
    old_primary, old_sync, old_async = config.zones
    result = _migrator("run", "--inventory", _inventory(config), "--yes")
    assert result.returncode == 0, result.stderr[-2000:]
    fresh = load_config(config.directory)
    state = _state(fresh)
    primary, sync = _zone(fresh, state["primary"]), _zone(fresh, state["sync"])
    assert (primary.uuid, sync.uuid, [p["zoneId"] for p in state["deposed"]]) == (
        old_async.uuid, old_sync.uuid, [old_primary.uuid])
    # the client's writes stop first: the sync then catches up for good (a status read
    # while writes flow may catch it a few bytes behind, which is right, but not this test)
    _stop_client(fresh)
    _wait_streaming(primary, sync, sync=True)

    def settled() -> str | None:
        found = adm(fresh, sync, "status")
        ok = replication_verdict(parse_status(found, fresh.shard), primary.uuid, sync.uuid).ok
        return found if ok else None

    text = until(settled, WAIT, "the sync replaying everything the primary sent")
    status = json.loads(text)[fresh.shard]
    repl = status["primary"]["repl"]
    assert repl["application_name"] == sync.pg_url and repl["client_addr"] == "127.0.0.1"
    assert [k for k in repl if k.endswith(("_lsn", "_lag"))] == [
        "sent_lsn", "write_lsn", "flush_lsn", "replay_lsn", "write_lag", "flush_lag",
        "replay_lag"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", repl["reply_time"])
    time_lag = status["sync"]["lag"]["time_lag"]
    assert set(time_lag) >= {"minutes", "seconds"} and time_lag["minutes"] >= 0
    assert "lag" not in status["primary"]
    assert status["deposed"]["zoneId"] == old_primary.uuid and "repl" not in status["deposed"]
    parsed = parse_status(text, fresh.shard)
    verdict = replication_verdict(parsed, primary.uuid, sync.uuid)
    assert verdict.ok, verdict.reason

    shown = adm(fresh, sync, "show").splitlines()
    assert shown[:5] == [f"zookeeper:   {fresh.zk_connection}", f"cluster:     {fresh.shard}",
                         f"generation:  1 ({state['initWal']})", "mode:        normal",
                         "freeze:      not frozen"]
    rows = {line.split()[0]: line.split() for line in shown[7:10]}
    assert shown[6].split() == ["ROLE", "PEER", "PG", "REPL", "SENT", "FLUSH", "REPLAY", "LAG"]
    assert rows["primary"][1:4] == [primary.uuid[:8], "ok", "sync"]
    assert LSN.match(rows["primary"][4]) and rows["primary"][7] == "-"
    assert re.fullmatch(r"\d+m\d\ds", rows["sync"][7])
    assert rows["deposed"][1] == old_primary.uuid[:8]
    assert not any(line.startswith("error:") for line in shown), shown
    assert "warning: cluster has a deposed peer" in shown
    verbose = adm(fresh, sync, "show", "-v").splitlines()
    assert verbose[6].split() == ["ROLE", "PEERNAME", "IP"]
    assert verbose[7].split() == ["primary", primary.uuid, primary.ip]

    summaries = [line.split(None, 2)[2] for line in
                 adm(fresh, sync, "history", "-v").splitlines()]
    v2 = [i for i, s in enumerate(summaries) if not s.startswith("v1.0 event")]
    assert summaries[v2[0]] == "follow-up from 1.0 event"  # the backfill, after v1 events
    assert summaries[-1] == (f"sync ({primary.uuid[:8]}) took over as primary "
                             f"(from {old_primary.uuid[:8]})")


@pytest.mark.parametrize("last,variant", [
    ("unfreeze", "rollback-before-primary"),
    ("reprovision-primary", "rollback-after-primary"),
])
@pytest.mark.pgreal
@pytest.mark.sandbox
def test_rollback_on_real_postgres_loses_nothing_and_ends_streaming(
    sandbox: SandboxFactory, tmp_path: Path, last: str, variant: str,
) -> None:
    config = sandbox(nodes=3, pg="real", with_client=True)
    migrate_until(config, last, tmp_path / "audit")
    result = _migrator("rollback", "--inventory", _inventory(config), "--yes")
    assert result.returncode == 0, result.stderr[-2000:]
    assert variant in result.stderr + result.stdout
    fresh = load_config(config.directory)
    assert [z.version for z in fresh.zones] == ["v1"] * 3
    primary = wait_writable(fresh, WAIT)
    others = [z for z in fresh.zones if z.uuid != primary.uuid]
    # v1: a chain in election order, read from the servers themselves
    from migrator.sandbox.shard import election_children, zk_client

    with zk_client(fresh) as client:
        names = sorted(election_children(client, fresh), key=lambda n: n.rsplit("-", 1)[1])
    order = [next(z for z in fresh.zones if n.startswith(z.peer_id + "-")) for n in names]
    assert order[0].uuid == primary.uuid
    assert sorted(z.uuid for z in order[1:]) == sorted(z.uuid for z in others)
    _wait_streaming(order[0], order[1], sync=True)
    _wait_streaming(order[1], order[2], sync=False)
    _stop_client(fresh)
    _assert_no_loss(fresh)


@pytest.mark.pgreal
@pytest.mark.sandbox
def test_postgres_killed_during_a_migration_is_restarted_and_every_write_accounted_for(
    sandbox: SandboxFactory,
) -> None:
    from migrator.sandbox.waits import wait_state

    config = sandbox(nodes=3, pg="real", with_client=True)
    new_sync = config.zones[2]  # the original async: the sync in /state after the backfill
    run = subprocess.Popen(
        [sys.executable, "-m", "migrator", "run", "--inventory", _inventory(config), "--yes"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "NO_COLOR": "1"})
    try:
        wait_state(config, lambda s: s is not None and (s.get("sync") or {}).get("id")
                   == new_sync.peer_id, 120.0)
        _wait_streaming(config.zones[0], new_sync, sync=True)
        pid, _ = pgdata._postmaster_info(config.zone_dir(new_sync) / pgdata.DATA)
        assert pid is not None
        os.kill(pid, signal.SIGKILL)  # mid-run: the commits now wait on a dead sync
        _, err = run.communicate(timeout=300)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    assert run.returncode == 0, err[-2000:]
    assert "restarting postgres" in (config.zone_dir(new_sync) / "sitter.log").read_text()
    fresh = load_config(config.directory)
    _assert_v2_streaming(fresh)
    _stop_client(fresh)
    _assert_no_loss(fresh)


@pytest.mark.pgreal
@pytest.mark.sandbox
def test_verify_counts_a_lost_write_and_names_a_forked_peer(
    sandbox: SandboxFactory, capsys: pytest.CaptureFixture[str],
) -> None:
    from tests.conftest import invoke_cli

    config = sandbox(nodes=3, pg="real", with_client=True)
    _acknowledged(config)
    _stop_client(config)
    ok = invoke_cli(["sandbox", "verify", "--dir", str(config.directory), "--json"], capsys)
    assert ok.status == 0, ok.err
    document = json.loads(ok.out)
    assert document["lost"] == 0 and document["acknowledged"] > 0
    assert [p["status"] for p in document["peers"]] == ["caught up", "caught up"]
    text = invoke_cli(["sandbox", "status", "--dir", str(config.directory)], capsys)
    assert f"writes: acknowledged {document['acknowledged']}, lost 0" in text.out
    # an id the client claims it was acknowledged but no server has: lost
    with (config.directory / "client" / "acked").open("a") as acked:
        acked.write("999999999\n")
    lost = invoke_cli(["sandbox", "verify", "--dir", str(config.directory), "--json"], capsys)
    assert lost.status == 1
    assert json.loads(lost.out)["lost"] == 1 and json.loads(lost.out)["lost_ids"] == [999999999]
    # the async promoted behind its sitter's back and written to: its history forked
    async_ = config.zones[2]
    with pgquery.connect(async_.ip, async_.pg_port, 5.0) as connection:
        connection.execute("SELECT pg_promote(true, 30)")
        connection.execute("INSERT INTO rehearsal_writes (id) VALUES (888888888)")
    forked = invoke_cli(["sandbox", "verify", "--dir", str(config.directory), "--timeout",
                         "1"], capsys)
    assert forked.status == 1
    assert f"peer {async_.uuid} ({async_.ip}): " in forked.out and "FORKED: 1 rows" in forked.out


@pytest.mark.pgreal
@pytest.mark.sandbox
def test_a_killed_sitter_takes_its_postgres_with_it(sandbox: SandboxFactory) -> None:
    from migrator.sandbox.peers import stop_peer

    config = sandbox(nodes=2, pg="real")
    zone = config.zones[1]
    pid, shmid = pgdata._postmaster_info(config.zone_dir(zone) / pgdata.DATA)
    assert pid is not None and pgdata._alive(pid)
    assert shmid is not None and _segment_exists(shmid)
    stop_peer(config.directory, zone.uuid)  # SIGKILL, as a dying zone
    assert pgdata._wait_dead(pid, WAIT), "postgres outlived its sitter"
    # an immediate shutdown: the server removed its shared memory itself
    assert not _segment_exists(shmid)
