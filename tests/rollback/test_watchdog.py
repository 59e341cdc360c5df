"""The watchdog on a real sandbox: the original primary stops in the mixed
[A, [B, C']] window; the run (here: the test's main thread, blocked as a run is in a
wait) is stopped, the alert says the runbook's warning and offers the rollback."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from migrator.cancellation import Cancellation
from migrator.engine import alarms, watchdog
from migrator.engine.events import EventSink, current
from migrator.engine.journal_store import JournalStore
from migrator.sandbox.peers import start_peer, stop_peer
from tests.rollback.conftest import WAIT, assert_v1, events, migrate_until, migrator, zk_of
from tests.sandbox.conftest import SandboxFactory

pytestmark = pytest.mark.sandbox


def test_primary_lost_in_the_mixed_window_stops_the_run_and_names_the_remedy(
    sandbox: SandboxFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = sandbox(nodes=3, with_client=True)
    migrate_until(config, "backfill", tmp_path / "audit")  # C' reprovisioned, /state written
    primary, _sync, original_async = config.zones
    run = Cancellation()  # what a run waits on: the watchdog stops it
    with zk_of(config) as client, current(EventSink()):
        journal = JournalStore(client, config.shard).load()
        assert journal is not None
        dog = watchdog.arm(client, config.shard, journal.original, run=run)
        assert dog is not None and dog.alive
        try:
            capsys.readouterr()
            stop_peer(config.directory, primary.uuid)
            with pytest.raises(alarms.WatchdogTripped) as caught:
                run.wait(WAIT)  # a run blocked in a wait, as in a check
        finally:
            dog.stop()
    assert caught.value.exit_status == 3
    assert alarms.RUNBOOK_WARNING in caught.value.message
    assert f"roll back the original async {original_async.uuid} now" in caught.value.message

    out = capsys.readouterr()
    assert "WATCHDOG: STOP" in out.err and alarms.RUNBOOK_WARNING in out.err
    alarm = next(json.loads(line) for line in out.out.splitlines()
                 if json.loads(line).get("event") == "alarm")
    assert alarm["kind"] == alarms.PRIMARY_LOST and alarm["stop"] is True
    assert alarm["zone"] == primary.uuid and "time" in alarm
    assert alarm["plan"][0].startswith("rollback-before-primary")
    assert any("Roll back the current sync" in line and original_async.uuid in line
               for line in alarm["plan"])

    # the ready plan is what `migrator plan --rollback` shows
    planned = migrator("plan", "--rollback", "--json", "--inventory",
                       str(config.directory / "inventory.yaml"), timeout=120)
    assert planned.returncode == 0, planned.stderr
    document = json.loads(planned.stdout)
    assert document["choice"]["variant"] == "rollback-before-primary"
    assert document["choice"]["zones"]["current_sync"] == original_async.uuid
    steps = {s["id"]: s for s in document["plan"]["steps"]}
    assert steps["roll-back-sync"]["status"] == "pending"
    assert steps["roll-back-sync"]["zones"] == {"original_async": original_async.uuid}

    # the remedy, once the old primary is back (it rejoins last): a v1 shard again,
    # headed by the original sync, which the election made primary when A left
    start_peer(config.directory, primary.uuid)
    remedy = migrator("rollback", "--inventory", str(config.directory / "inventory.yaml"),
                      "--yes", "--json", env={"MIGRATOR_AUDIT_DIR": str(tmp_path / "audit")})
    assert remedy.returncode == 0, remedy.stderr[-3000:]
    assert [e for e in events(remedy.stdout) if e["event"] == "run"][-1]["status"] == "done"
    assert_v1(config, [1, 0, 2])


def test_a_real_run_is_stopped_by_the_watchdog(sandbox: SandboxFactory, tmp_path: Path) -> None:
    """`migrator resume` in the mixed window; the primary dies while it reprovisions the
    sync: the run stops (exit 3), alerts on stderr and (with --json) as an ``alarm`` event
    on stdout, and the journal keeps the step resumable."""
    import os
    import signal
    import subprocess
    import sys

    config = sandbox(nodes=3)
    audit = tmp_path / "audit"
    migrate_until(config, "backfill", audit)
    proc = subprocess.Popen(
        [sys.executable, "-m", "migrator", "resume", "--inventory",
         str(config.directory / "inventory.yaml"), "--yes", "--accept-playbook-change",
         "--json"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "MIGRATOR_AUDIT_DIR": str(audit)}, start_new_session=True)
    killer = threading.Timer(120, lambda: os.killpg(proc.pid, signal.SIGKILL))
    killer.start()
    err: list[str] = []
    seen: list[str] = []
    assert proc.stderr is not None and proc.stdout is not None
    drain = threading.Thread(target=lambda: err.extend(proc.stderr or []), daemon=True)
    drain.start()
    try:
        for line in proc.stdout:
            seen.append(line)
            event = json.loads(line)
            if event["event"] == "action-started" and event["step"] == "reprovision-sync":
                # the journal says `acting` before the action starts: the primary dies
                # while the sync is being reprovisioned
                stop_peer(config.directory, config.zones[0].uuid)
                break
        out = "".join(seen) + proc.stdout.read()  # to its end (bounded by the killer)
        proc.wait(timeout=90)
    finally:
        killer.cancel()
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        drain.join(10)
    text = "".join(err)
    assert proc.returncode == 3, text[-3000:]
    assert "WATCHDOG: STOP" in text and alarms.RUNBOOK_WARNING in text
    assert "roll back the original async" in text
    events = [json.loads(line) for line in out.strip().splitlines()]  # nothing but JSON
    alarm = next(e for e in events if e["event"] == "alarm")
    assert alarm["kind"] == alarms.PRIMARY_LOST
    assert events[-1] == {**events[-1], "event": "finished", "exitStatus": 3}
    with zk_of(config) as client:
        journal = JournalStore(client, config.shard).load()
    assert journal is not None
    run = journal.run("migration")
    assert run is not None and run.status == "failed"
    assert run.step("reprovision-sync").status == "acting"


def test_the_syncs_session_ending_in_the_mixed_window_stops_the_run(
    sandbox: SandboxFactory, tmp_path: Path,
) -> None:
    """Issue 24: any peer's session, not only the primary's. The original sync (still v1)
    loses its session after the backfill: the run stops at once, naming it and the
    election as it is, before it can rejoin behind another peer."""
    config = sandbox(nodes=3)
    migrate_until(config, "backfill", tmp_path / "audit")
    _primary, sync, _async = config.zones
    run = Cancellation()
    told: list[alarms.Alarm] = []
    with zk_of(config) as client, current(EventSink()):
        journal = JournalStore(client, config.shard).load()
        assert journal is not None

        def stop_run(alarm: alarms.Alarm) -> None:
            told.append(alarm)
            if alarm.stop:
                run.cancel(alarms.WatchdogTripped(alarm.paragraph()))

        dog = watchdog.arm(client, config.shard, journal.original, run=run,
                           on_alarm=stop_run)
        try:
            stop_peer(config.directory, sync.uuid)  # its node goes when its session ends
            with pytest.raises(alarms.WatchdogTripped) as caught:
                run.wait(WAIT)
        finally:
            dog.stop()
            start_peer(config.directory, sync.uuid)
    assert [(a.kind, a.zone) for a in told if a.stop] == [(alarms.PEER_REJOINED, sync.uuid)]
    assert caught.value.exit_status == 3
    assert f"The original sync {sync.uuid}" in caught.value.message
    assert "is gone" in caught.value.message and "The election is now:" in caught.value.message
