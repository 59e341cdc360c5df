"""The lock covers every write, surprises stop the run, and --break-lock's rules.

Against the session's real ZooKeeper: another run's lock is a real kazoo Lock
node held by another client; the foreign write is a real conditional write by
another client while the run waits.
"""

from __future__ import annotations

import io
import json
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from migrator.commands import expert
from migrator.commands.engine import EngineTarget, break_lock_when_confirmed
from migrator.engine.console import RunConsole
from migrator.engine.journal import operator_identity
from migrator.engine.journal_store import JournalStore
from migrator.engine.journal_znode import journal_path
from migrator.engine.lock import LockHeld, RunLock, read_holders
from migrator.engine.runner import Runner, RunOptions
from migrator.engine.statewatch import ForeignWrite, watching
from migrator.errors import EXIT_REFUSED
from migrator.sandbox.zkserver import ZooKeeperServer
from tests.conftest import CliResult, V1Shard
from tests.engine.helpers import SHARD, zk_only_playbook
from tests.engine.test_zk_faults import WAIT_PLAYBOOK

pytestmark = pytest.mark.zk

STATE = f"/manatee/{SHARD}/state"


def _state_version(zk: Any) -> int:
    return int(zk.get(STATE)[1].version)


def test_expert_writes_refuse_while_a_run_holds_the_lock(
    cli: Callable[..., CliResult], zk: Any, three_peers: V1Shard, kazoo: Any,
) -> None:
    expert.backfill(zk, SHARD, lambda _s: None)
    version = _state_version(zk)
    holder = RunLock(kazoo, SHARD, "carol@elsewhere pid 7")
    holder.acquire()
    try:
        for argv in (["freeze", "--reason", "x", "--yes"], ["unfreeze", "--yes"],
                     ["delete-state", "--yes"], ["backfill", "--yes"]):
            done = cli(*argv)
            assert done.status == EXIT_REFUSED, (argv, done.err)
            assert "is being migrated by carol@elsewhere pid 7" in done.err, done.err
            assert "--override-lock" in done.err
        # the override asks for the shard name to be typed: never without a terminal
        overridden = cli("unfreeze", "--yes", "--override-lock")
        assert overridden.status == EXIT_REFUSED
        assert "carol@elsewhere pid 7 holds the run lock" in overridden.err
        # --yes was given: the hint must not suggest it again
        assert "pass --yes" not in overridden.err and "typed in a terminal" in overridden.err
        assert _state_version(zk) == version  # nothing was written
        # through the API, the override is a callback told who holds the lock
        told: list[str] = []
        expert.unfreeze(zk, SHARD, lambda _s: None, lock_override=told.append)
        assert told == ["carol@elsewhere pid 7"]
        assert _state_version(zk) == version + 1
    finally:
        holder.release()
    assert cli("freeze", "--reason", "after the run", "--yes").status == 0


def _runner(kazoo: Any, tmp_path: Path, stream: io.StringIO) -> Runner:
    return Runner(
        client=kazoo, shard=SHARD, loaded=zk_only_playbook(WAIT_PLAYBOOK), choice="test",
        inventory=None, remote=None,
        console=RunConsole(assume_yes=True, shard=SHARD, stream=stream),
        store=JournalStore(kazoo, SHARD, audit_dir=tmp_path / "audit"),
        options=RunOptions(assume_yes=True, inventory_path="inv.yaml"), operator="t@h",
    )


def _when_verifying(zk: Any, step: str) -> threading.Event:
    from kazoo.recipe.watchers import DataWatch

    reached = threading.Event()

    def seen(data: bytes | None, _stat: Any) -> bool:
        for run in (json.loads(data).get("runs") or []) if data else []:
            if (run.get("steps") or {}).get(step, {}).get("status") == "verifying":
                reached.set()
        return not reached.is_set()

    zk.ensure_path(f"/manatee-migrator/{SHARD}")
    DataWatch(zk, journal_path(SHARD), seen)
    return reached


def _set_state(zk: Any, change: Callable[[dict[str, Any]], None]) -> None:
    data, stat = zk.get(STATE)
    doc = json.loads(data)
    change(doc)
    zk.set(STATE, json.dumps(doc).encode(), version=stat.version)


def test_a_foreign_freeze_during_a_wait_stops_the_run_resumably(
    zk: Any, three_peers: V1Shard, kazoo: Any, tmp_path: Path,
) -> None:
    stream = io.StringIO()
    runner = _runner(kazoo, tmp_path, stream)
    reached = _when_verifying(zk, "takeover")

    def operator() -> None:
        assert reached.wait(30)
        # a hand-run `migrator freeze --override-lock` from another machine
        expert.freeze(zk, SHARD, "hands on", lambda _s: None, lock_override=lambda _h: None)

    thread = threading.Thread(target=operator, daemon=True)
    thread.start()
    with pytest.raises(ForeignWrite) as stopped, \
            watching(kazoo, SHARD, runner.console.say, "migrator resume --inventory inv.yaml",
                     runner.stop):
        runner.execute()
    thread.join(10)
    error = stopped.value
    assert error.exit_status == EXIT_REFUSED
    # ZooKeeper may deliver our unfreeze and the foreign freeze as one change (a watch
    # reports the latest data): then the run saw the backfill's freeze become another
    assert ("the shard was frozen" in error.message
            or "the freeze was changed" in error.message), error.message
    assert "hands on" in error.message
    assert "migrator resume --inventory inv.yaml" in (error.hint or "")
    assert "ALARM" in stream.getvalue()
    journal = JournalStore(zk, SHARD).load()
    assert journal is not None
    run = journal.run("migration")
    assert run is not None
    assert run.step("takeover").status == "verifying"  # resume re-verifies, no re-act
    assert run.step("backfill").status == "done"


def test_the_peers_own_writes_and_ours_are_no_alarm(
    zk: Any, three_peers: V1Shard, kazoo: Any, tmp_path: Path,
) -> None:
    stream = io.StringIO()
    runner = _runner(kazoo, tmp_path, stream)
    reached = _when_verifying(zk, "takeover")

    def peer() -> None:
        assert reached.wait(30)
        _set_state(zk, lambda doc: doc.update(generation=1))  # a takeover

    thread = threading.Thread(target=peer, daemon=True)
    thread.start()
    with watching(kazoo, SHARD, runner.console.say, "migrator resume", runner.stop):
        result = runner.execute()
    thread.join(10)
    assert result.complete, stream.getvalue()
    assert "ALARM" not in stream.getvalue()


def test_break_lock_refuses_a_live_holder_on_this_machine(zk: Any, three_peers: V1Shard,
                                                          kazoo: Any) -> None:
    me = f"{operator_identity()} pid {os.getpid()}"
    holder = RunLock(kazoo, SHARD, me)
    holder.acquire()
    try:
        console = RunConsole(assume_yes=True, shard=SHARD, stream=io.StringIO())
        with pytest.raises(LockHeld) as refused:
            break_lock_when_confirmed(EngineTarget(zk, SHARD, None, "inv"), console)
        assert f"alive (pid {os.getpid()})" in refused.value.message
        assert [h.identity for h in read_holders(zk, SHARD)] == [me]  # untouched
    finally:
        holder.release()


def test_break_lock_of_a_holder_elsewhere_says_how_old_its_session_is(
    zk: Any, three_peers: V1Shard, kazoo: Any,
) -> None:
    holder = RunLock(kazoo, SHARD, "carol@elsewhere pid 7")
    holder.acquire()
    stream = io.StringIO()
    console = RunConsole(assume_yes=True, shard=SHARD, stream=stream)
    break_lock_when_confirmed(EngineTarget(zk, SHARD, None, "inv"), console)
    text = stream.getvalue()
    assert f"session 0x{kazoo.client_id[0]:x}" in text
    assert "has existed for at least" in text and "Lock broken." in text
    assert read_holders(zk, SHARD) == []


def test_override_lock_asks_for_the_shard_name_in_a_real_terminal(
    zk_server: ZooKeeperServer, zk: Any, three_peers: V1Shard, kazoo: Any, tmp_path: Path,
) -> None:
    import sys

    import pexpect

    expert.backfill(zk, SHARD, lambda _s: None)
    version = _state_version(zk)
    holder = RunLock(kazoo, SHARD, "carol@elsewhere pid 7")
    holder.acquire()
    # --yes answers the ordinary question, never the typed one the override asks
    argv = ["-m", "migrator", "unfreeze", "--zk", zk_server.connection_string, "--shard",
            SHARD, "--yes", "--override-lock"]
    env = {**os.environ, "NO_COLOR": "1", "MIGRATOR_AUDIT_DIR": str(tmp_path / "audit")}
    child = pexpect.spawn(sys.executable, argv, env=env, encoding="utf-8", timeout=60,
                          dimensions=(50, 200))
    try:
        child.expect("carol@elsewhere pid 7 holds the run lock")
        child.expect("Type the shard name")
        child.send(SHARD + "\r")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
        holder.release()
    assert child.exitstatus == 0, child.before
    assert _state_version(zk) == version + 1
    assert "freeze" not in json.loads(zk.get(STATE)[0])
