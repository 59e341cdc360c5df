"""The watchdog's replication monitor, between the sync's reprovision and the unfreeze.

On a real sandbox: the sync (the original async, C') stays in the election but its
link to the primary is held down with the simulated postgres' ``pause-replication``
test hook; the watchdog stops the run and names the remedy. With replication healthy
and the sandbox's client writing through the window, it stays quiet. Either way its
threads are gone once it is disarmed. The grace clock itself is pure: property tests.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from migrator.cancellation import Cancellation
from migrator.engine import alarms, watchdog
from migrator.engine.events import EventSink, current
from migrator.engine.journal_store import JournalStore
from migrator.inventory.load import load_inventory
from migrator.isotime import iso_now_ms
from migrator.remote.session import RemoteSession
from migrator.sandbox.config import SandboxConfig, ZoneConfig
from migrator.sandbox.logwatch import wait_for_record
from migrator.sandbox.pgsim import pause_replication
from migrator.sandbox.waits import wait_writable
from migrator.zk import reads
from tests.rollback.conftest import WAIT, drive, migrate_until, zk_of
from tests.sandbox.conftest import SandboxFactory, adm_status
from tests.waiting import until

# ---- the grace clock (pure) --------------------------------------------------------------


@given(st.lists(st.tuples(st.sampled_from([True, False, None]),
                          st.floats(0.0, 5.0, allow_nan=False)), max_size=40),
       st.floats(0.5, 20.0, allow_nan=False))
@pytest.mark.unit
def test_the_alarm_is_due_only_after_a_run_of_bad_samples_as_long_as_the_grace(
    samples: list[tuple[bool | None, float]], grace: float
) -> None:
    clock = alarms.LagClock(grace)
    now = 0.0
    first_bad: float | None = None  # the model: start of the current run of bad samples
    for ok, step in samples:
        now += step
        due = clock.observe(ok, now)
        if ok is True:
            first_bad = None
        elif ok is False and first_bad is None:
            first_bad = now
        assert due == (first_bad is not None and now - first_bad >= grace)
        # the next look without an event is never later than the grace's end
        if first_bad is not None:
            assert clock.next_check(now, 5.0) <= max(first_bad + grace, now + 5.0)
            assert clock.next_check(now, 5.0) <= now + 5.0


@pytest.mark.unit
def test_a_single_sample_behind_is_not_an_alarm() -> None:
    clock = alarms.LagClock(10.0)
    assert not clock.observe(False, 100.0)
    assert not clock.observe(True, 100.5)  # caught up: the clock starts again
    assert not clock.observe(False, 109.0)
    assert not clock.observe(None, 118.9)  # could not look: no evidence either way
    assert clock.observe(None, 119.0)  # but the grace still runs out
    assert clock.next_check(119.0, 5.0) == 119.0


# ---- on the sandbox ----------------------------------------------------------------------


@contextmanager
def frozen_window(config: SandboxConfig, tmp_path: Path) -> Iterator[tuple[Any, Any, Any]]:
    """The sandbox between the sync's reprovision and the unfreeze, a ZooKeeper client,
    the journal's original topology and a RemoteSession on the sandbox's inventory."""
    migrate_until(config, "reprovision-sync", tmp_path / "audit")
    inventory = load_inventory(config.directory / "inventory.yaml")
    with zk_of(config) as client, RemoteSession(inventory, use_agent=False) as remote:
        journal = JournalStore(client, config.shard).load()
        assert journal is not None
        snapshot = reads.read_shard(client, config.shard)
        assert alarms.phase(snapshot, journal.original) == alarms.FROZEN
        yield client, journal.original, remote


def _watchdog_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("migrator-watchdog")]


def _resume_replication(zone: ZoneConfig) -> None:
    # OSError: the sitter is gone already (teardown stops it anyway)
    with contextlib.suppress(OSError):
        pause_replication(zone.ip, zone.pg_port, False)


@pytest.mark.sandbox
def test_sync_out_of_synchronous_replication_stops_the_run_and_names_the_remedy(
    sandbox: SandboxFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = sandbox(nodes=3)
    primary, _sync, new_sync = config.zones
    run = Cancellation()  # what a run waits on: the watchdog stops it
    with frozen_window(config, tmp_path) as (client, original, remote), current(EventSink()):
        dog = watchdog.arm(client, config.shard, original, remote=remote, grace=3.0, run=run)
        assert dog is not None and dog.alive
        capsys.readouterr()
        try:
            pause_replication(new_sync.ip, new_sync.pg_port, True)
            with pytest.raises(alarms.WatchdogTripped) as caught:
                run.wait(WAIT)  # a run blocked in a wait, as in a check
            threads = dog.threads
            assert any(t.name == "migrator-watchdog-replication" for t in threads)
        finally:
            dog.stop()
            _resume_replication(new_sync)
        # still in the election: this is not the sync leaving it
        snapshot = reads.read_shard(client, config.shard)
        assert new_sync.peer_id in {n.peer_id for n in snapshot.topology.nodes}
        assert dog.raised == {alarms.SYNC_BEHIND}
    assert not any(t.is_alive() for t in threads)
    assert _watchdog_threads() == []

    error = caught.value
    assert error.exit_status == 3
    assert f"The sync {new_sync.uuid}" in error.message
    assert "0/0000000" in error.message and "lose writes" in error.message
    assert f"`manatee-adm status` in {new_sync.uuid}" in error.message
    assert "`migrator resume`" in error.message
    assert "no replication connection" in error.message  # the verdict's own reason

    out = capsys.readouterr()
    assert "WATCHDOG: STOP" in out.err and "migrator resume" in out.err
    alarm = next(json.loads(line) for line in out.out.splitlines()
                 if json.loads(line).get("event") == "alarm")
    assert alarm["kind"] == alarms.SYNC_BEHIND and alarm["stop"] is True
    assert alarm["zone"] == new_sync.uuid and "time" in alarm
    assert "manatee-adm status" in alarm["remedy"]
    assert alarm["plan"] and alarm["plan"][0].startswith("rollback-before-primary")
    # the shard is untouched: still frozen, the primary still the original one, and
    # writable again once the hook lets the sync reconnect
    status = adm_status(config, new_sync)
    assert "__FROZEN__" in status and status["primary"]["zoneId"] == primary.uuid
    assert wait_writable(config, WAIT).uuid == primary.uuid


@pytest.mark.sandbox
def test_healthy_replication_with_writes_flowing_raises_nothing(
    sandbox: SandboxFactory, tmp_path: Path
) -> None:
    config = sandbox(nodes=3, with_client=True)
    primary = config.zones[0]
    stats = config.directory / "client" / "stats.json"
    with frozen_window(config, tmp_path) as (client, original, remote):
        alarms: list[alarms.Alarm] = []
        # its own Watchdog (not armed), so a false alarm is recorded rather than raised
        # a grace of 5 s, half production's, inside the 8 s window sampled below: on a
        # machine loaded by a whole test suite a healthy sync's replay can trail for 3 s
        dog = watchdog.Watchdog(client, config.shard, original, alarms.append,
                                remote=remote, grace=5.0, recheck=0.5)
        dog.start()
        try:
            since = iso_now_ms()
            before = wait_for_record(stats, lambda r: str(r.get("updated", "")) >= since
                                     and r.get("primary") == primary.peer_id, WAIT)
            assert before is not None
            # the window, with the client writing through it: 16 samples, every 0.5 s
            # (each one asks the zones, seconds apart on a loaded machine: bound twice WAIT)
            until(lambda: dog.monitor is not None and dog.monitor.samples >= 16, 2 * WAIT,
                  "the replication monitor sampling through the window")
            since = iso_now_ms()
            after = wait_for_record(stats, lambda r: str(r.get("updated", "")) >= since, WAIT)
            assert after is not None
            monitor = dog.monitor
            assert monitor is not None and monitor.alive
            # the window ends with the unfreeze: the monitor stops by itself
            drive(config, "unfreeze")
            for thread in monitor.threads:
                thread.join(timeout=WAIT)
            assert not monitor.alive and dog.monitor is None
            assert dog.alive
        finally:
            dog.stop()
    assert alarms == [] and dog.raised == set(), [alarm.message for alarm in alarms]
    assert int(after["writes_ok"]) > int(before["writes_ok"])
    assert after.get("open_outage_since") is None
    assert not any(t.is_alive() for t in dog.threads) and not dog.alive
    assert _watchdog_threads() == []


@pytest.mark.sandbox
def test_a_real_run_stops_before_the_unfreeze(sandbox: SandboxFactory, tmp_path: Path) -> None:
    """`migrator resume` at the unfreeze with the sync's replication held down: the
    watchdog (default grace) stops the run (exit 3) while the unfreeze's precondition
    still waits; the shard stays frozen and the step resumable."""
    config = sandbox(nodes=3)
    new_sync = config.zones[2]
    audit = tmp_path / "audit"
    migrate_until(config, "reprovision-sync", audit)
    pause_replication(new_sync.ip, new_sync.pg_port, True)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "migrator", "resume", "--inventory",
             str(config.directory / "inventory.yaml"), "--yes", "--accept-playbook-change",
             "--json"],
            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120,
            env={**os.environ, "MIGRATOR_AUDIT_DIR": str(audit)}, check=False)
    finally:
        _resume_replication(new_sync)
    assert done.returncode == 3, done.stderr[-3000:]
    assert "WATCHDOG: STOP" in done.stderr and "migrator resume" in done.stderr
    events = [json.loads(line) for line in done.stdout.strip().splitlines()]
    alarm = next(e for e in events if e["event"] == "alarm")
    assert alarm["kind"] == alarms.SYNC_BEHIND
    assert events[-1]["event"] == "finished" and events[-1]["exitStatus"] == 3
    with zk_of(config) as client:
        journal = JournalStore(client, config.shard).load()
        snapshot = reads.read_shard(client, config.shard)
    assert journal is not None
    run = journal.run("migration")
    assert run is not None and run.status == "failed"
    assert run.step("unfreeze").status != "done"  # stopped before the unfreeze acted
    assert snapshot.state is not None and snapshot.state.freeze is not None
