"""ZooKeeper faults during a run, against a real ZooKeeper server of the test's own.

Each test starts a dedicated ``ZooKeeperServer`` (the session one is shared by
other tests and must not be paused), then pauses it (SIGSTOP/SIGCONT), kills
and restarts it on the same data directory, or expires the engine's session the
way kazoo's own test harness does (a second client on the same session id). At
a wait: the run is waiting for /state to reach generation 1 when the fault hits,
and the operator bumps the generation after it. At a write: the journal save is
issued while the server is stopped or down.
"""

from __future__ import annotations

import io
import json
import os
import re
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from migrator.cluster.original import capture
from migrator.commands.engine import EngineTarget, guard_run
from migrator.engine.console import RunConsole
from migrator.engine.context import EngineContext
from migrator.engine.journal import new_journal, new_run
from migrator.engine.journal_store import JournalStore
from migrator.engine.journal_znode import journal_path
from migrator.engine.lock import RunLock, read_holders
from migrator.engine.observe import run_check
from migrator.engine.runner import Runner, RunOptions
from migrator.errors import EXIT_BAD_INPUT
from migrator.sandbox.zkserver import ZooKeeperServer
from migrator.stepkit.context import StepContext, read_shard
from migrator.stepkit.registry import NoParams, Outcome, check
from migrator.stepkit.schema import CheckRef
from migrator.zk.faults import SessionLost, guard_for
from tests.conftest import V1Shard
from tests.engine.helpers import BACKFILL_ACTION, IPS, SHARD, ZONES, snapshot, zk_only_playbook
from tests.waiting import until

pytestmark = pytest.mark.zk

WAIT_PLAYBOOK = """\
name: zk-wait
title: A write, then a wait on the shard
description: Backfill, then unfreeze and wait for a takeover (generation 1).
peers: 3
steps:
  - id: backfill
    title: Backfill
    explain: Write the frozen state.
    preconditions:
      - check: state_absent
""" + BACKFILL_ACTION + """\
    timeout: 20
  - id: takeover
    title: Unfreeze and wait for a takeover
    explain: The operator declares generation 1 once the fault is over.
    action: {name: unfreeze}
    confirm: "yes"
    verify:
      - check: generation_at_least
        params: {generation: 1}
    done_when:
      - check: generation_at_least
        params: {generation: 1}
    timeout: 90
"""


@pytest.fixture
def own_zk(tmp_path: Path) -> Iterator[ZooKeeperServer]:
    server = ZooKeeperServer(tmp_path / "zk")
    server.start()
    try:
        yield server
    finally:
        if server.process is not None:
            os.killpg(server.process.pid, signal.SIGCONT)
        server.stop()


def _client(server: ZooKeeperServer, timeout: float) -> Any:
    from kazoo.client import KazooClient
    from kazoo.retry import KazooRetry

    client = KazooClient(hosts=server.connection_string, timeout=timeout,
                         connection_retry=KazooRetry(max_tries=-1, delay=0.1, max_delay=1.0))
    client.start(timeout=20)
    return client


@pytest.fixture
def clients() -> Iterator[Callable[[ZooKeeperServer, float], Any]]:
    made: list[Any] = []

    def make(server: ZooKeeperServer, timeout: float = 10.0) -> Any:
        client = _client(server, timeout)
        made.append(client)
        return client

    try:
        yield make
    finally:
        for client in made:
            client.stop()
            client.close()


@pytest.fixture
def peers(own_zk: ZooKeeperServer) -> Iterator[V1Shard]:
    shard = V1Shard(own_zk, SHARD)
    for ip, zone in zip(IPS, ZONES, strict=True):
        shard.join(ip, zone)
    try:
        yield shard
    finally:
        shard.close()


def sigstop(server: ZooKeeperServer, seconds: float) -> threading.Thread:
    """Stop the server's process now, and continue it ``seconds`` later (from a thread):
    returns once the kernel shows it stopped."""
    assert server.process is not None
    pid = server.process.pid
    os.killpg(pid, signal.SIGSTOP)
    until(lambda: Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "T",
          10, "ZooKeeper stopped")

    def run() -> None:
        time.sleep(seconds)  # the length of the pause is the fault itself
        os.killpg(pid, signal.SIGCONT)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def kill_and_restart(server: ZooKeeperServer, down: float) -> threading.Thread:
    """SIGKILL the server, keep it down ``down`` seconds, start it on the same data dir."""
    assert server.process is not None
    process = server.process
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)
    server.process = None

    def run() -> None:
        time.sleep(down)  # how long it stays down is the fault itself
        server.start()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def expire_session(server: ZooKeeperServer, client: Any) -> None:
    """Expire ``client``'s session: another client takes it over and closes it."""
    from kazoo.client import KazooClient

    session_id, password = client.client_id
    intruder = KazooClient(hosts=server.connection_string, client_id=(session_id, password),
                           timeout=client._session_timeout / 1000.0)
    intruder.start(timeout=20)
    intruder.stop()
    intruder.close()


def _journal(version_marker: str) -> Any:
    journal = new_journal(SHARD, capture(snapshot([0, 1, 2])), {}, "test@host")
    return journal.with_run(new_run("migration", version_marker, "sha256:x", "test@host"))


def _stored(client: Any) -> tuple[dict[str, Any], int]:
    data, stat = client.get(journal_path(SHARD))
    return json.loads(data), int(stat.version)


# ---- at a write: the journal ----------------------------------------------------------


@pytest.mark.parametrize("fault", ["sigstop", "restart", "expiry"])
def test_journal_write_during_a_fault_is_written_exactly_once(
    own_zk: ZooKeeperServer, clients: Callable[..., Any], tmp_path: Path, fault: str
) -> None:
    engine = clients(own_zk, 4.0 if fault == "sigstop" else 10.0)
    operator = clients(own_zk, 10.0)
    said: list[str] = []
    guard = guard_for(engine)
    guard.say = said.append
    store = JournalStore(engine, SHARD, audit_dir=tmp_path / "audit")
    store.create(_journal("first"))
    assert _stored(operator)[1] == 0
    if fault == "sigstop":
        # longer than kazoo's read timeout (2/3 of 4 s): the save's reply is lost
        pausing = sigstop(own_zk, 3.0)
    elif fault == "restart":
        pausing = kill_and_restart(own_zk, 1.0)
    else:
        expire_session(own_zk, engine)
        pausing = threading.Thread(target=lambda: None)
        pausing.start()
    second = _journal("second")
    store.save(second)
    pausing.join(30)
    doc, version = _stored(operator)
    assert version == 1, "the journal was written once, not twice"
    assert doc == second.to_json()
    assert store.version == 1
    store.save(_journal("third"))  # and the store goes on at the right version
    assert _stored(operator)[1] == 2
    if fault != "expiry":
        assert any("connection lost" in text for text in said), said
        assert any("ZooKeeper is back" in text for text in said), said


# ---- at a wait: a whole run -------------------------------------------------------------


def _runner(client: Any, tmp_path: Path, stream: io.StringIO) -> Runner:
    return Runner(
        client=client, shard=SHARD, loaded=zk_only_playbook(WAIT_PLAYBOOK), choice="test",
        inventory=None, remote=None,
        console=RunConsole(assume_yes=True, shard=SHARD, stream=stream),
        store=JournalStore(client, SHARD, audit_dir=tmp_path / "audit"),
        options=RunOptions(assume_yes=True, inventory_path="inv.yaml"),
        operator="test@host",
    )


def _when_verifying(operator: Any, step: str) -> threading.Event:
    """Set once the journal says ``step`` is verifying (a watch, not polling)."""
    from kazoo.recipe.watchers import DataWatch

    reached = threading.Event()

    def seen(data: bytes | None, _stat: Any) -> bool:
        if data:
            runs = json.loads(data).get("runs") or []
            for run in runs:
                if (run.get("steps") or {}).get(step, {}).get("status") == "verifying":
                    reached.set()
        return not reached.is_set()

    operator.ensure_path(f"/manatee-migrator/{SHARD}")
    DataWatch(operator, journal_path(SHARD), seen)
    return reached


def _declare_generation_one(operator: Any) -> None:
    from kazoo.retry import KazooRetry

    def bump() -> None:
        data, stat = operator.get(f"/manatee/{SHARD}/state")
        doc = json.loads(data)
        doc["generation"] = 1
        operator.set(f"/manatee/{SHARD}/state", json.dumps(doc).encode(), version=stat.version)

    KazooRetry(max_tries=50, delay=0.2, max_delay=1.0)(bump)


@pytest.mark.parametrize("fault", ["sigstop", "restart", "expiry"])
def test_run_waiting_on_the_shard_goes_on_through_a_fault(
    own_zk: ZooKeeperServer, peers: V1Shard, clients: Callable[..., Any], tmp_path: Path,
    fault: str,
) -> None:
    engine = clients(own_zk, 10.0)
    operator = clients(own_zk, 10.0)
    stream = io.StringIO()
    runner = _runner(engine, tmp_path, stream)
    console = runner.console
    target = EngineTarget(engine, SHARD, None, "inv.yaml")
    lock = RunLock(engine, SHARD, "test@host pid 1", on_wait=console.say)
    reached = _when_verifying(operator, "takeover")
    first_session = engine.client_id[0]
    outcome: dict[str, Any] = {}

    def inject() -> None:
        assert reached.wait(60)
        if fault == "sigstop":
            # 8 s against a 10 s session, as in the issue
            sigstop(own_zk, 8.0).join(30)
        elif fault == "restart":
            kill_and_restart(own_zk, 1.0).join(60)
        else:
            expire_session(own_zk, engine)
        _declare_generation_one(operator)

    injector = threading.Thread(target=inject, daemon=True)
    injector.start()
    with lock, guard_run(target, console, lock, runner, "migrator resume --inventory inv.yaml"):
        result = runner.execute()
        outcome["holders"] = [h.identity for h in read_holders(engine, SHARD)]
    injector.join(60)
    text = stream.getvalue()
    assert result.complete and result.ran == ["backfill", "takeover"], text
    assert "ZooKeeper connection lost" in text, text
    pause = re.search(r"ZooKeeper is back after a pause of ([\d.]+) s", text)
    assert pause is not None, text
    # A restart's pause is the server's start-up, which a machine saturated by the
    # whole suite can stretch past the 10 s session (seen: 13.9 s): the server then
    # ends the session, and that is what must be said and survived. Within half the
    # session the session must live on; in between, either is right, and is checked
    # as what it says it was.
    paused = float(pause.group(1))
    expired = fault == "expiry" or (fault == "restart" and (
        paused > 10.0 or (paused > 5.0 and "ZooKeeper expired this run's session" in text)))
    if expired:  # the server ended the session: kazoo is told it expired
        assert "ZooKeeper expired this run's session" in text, text
        assert "(a new session); going on" in text, text
        assert "Re-took the run lock" in text, text
    else:  # 8 s stopped, or a short restart, against a 10 s session: it lives on
        assert "expired" not in text, text
        assert "(same session); going on" in text, text
    # the lock is ours throughout, in whichever session the run ended with
    assert outcome["holders"] == ["test@host pid 1"], outcome
    if fault == "expiry":
        assert engine.client_id[0] != first_session
        assert "Re-took the run lock" in text, text
    journal = JournalStore(operator, SHARD).load()
    assert journal is not None
    run = journal.run("migration")
    assert run is not None and run.status == "done"


# ---- expiry while another run took the lock -----------------------------------------------


def test_new_session_with_the_lock_taken_meanwhile_stops_with_exit_2(
    own_zk: ZooKeeperServer, peers: V1Shard, clients: Callable[..., Any], tmp_path: Path,
) -> None:
    engine = clients(own_zk, 10.0)
    other = clients(own_zk, 10.0)
    stream = io.StringIO()
    runner = _runner(engine, tmp_path, stream)
    target = EngineTarget(engine, SHARD, None, "inv.yaml")
    lock = RunLock(engine, SHARD, "test@host pid 1")
    guard = guard_for(engine)
    with lock, guard_run(target, runner.console, lock, runner,
                         "migrator resume --inventory inv.yaml"):
        # our node goes with the session; before we re-take it, another run takes the lock
        original_session = engine.client_id[0]
        release_from = [h for h in read_holders(engine, SHARD)]
        assert [h.identity for h in release_from] == ["test@host pid 1"]
        other.delete(f"/manatee-migrator/{SHARD}/lock/{release_from[0].node}")
        RunLock(other, SHARD, "someone@elsewhere pid 7").acquire()
        with pytest.raises(SessionLost) as raised:
            lock.retake()
        assert "someone@elsewhere pid 7" in raised.value.message
        assert raised.value.exit_status == EXIT_BAD_INPUT
        # a guard whose hook refused is fenced: nothing more is written in this run
        guard.session_id = -1  # as after an expiry: the next call handles a new session
        with pytest.raises(SessionLost):
            runner.store.load()
        assert engine.client_id[0] == original_session
        guard.fenced = None
        guard.session_id = engine.client_id[0]


# ---- the fleet's lock through an expiry ---------------------------------------------------


def test_the_fleet_lock_is_taken_again_in_a_new_session(
    own_zk: ZooKeeperServer, clients: Callable[..., Any]
) -> None:
    """A fleet's lock node dies with its session: the new session takes it again (nobody
    else took it), and the fleet is not told its lock was lost."""
    from migrator.engine.lock import holders
    from migrator.fleet.lock import FLEETS_ROOT, fleet_lock, lock_lost

    engine = clients(own_zk, 10.0)
    operator = clients(own_zk, 10.0)
    said: list[str] = []
    with fleet_lock(engine, "us-east", "alice@host pid 7", "zk", on_wait=said.append):
        first_session = engine.client_id[0]
        assert holders(operator, "us-east", FLEETS_ROOT) == ["alice@host pid 7"]
        expire_session(own_zk, engine)
        until(lambda: engine.connected and engine.client_id[0] != first_session, 30,
              "a new session of the fleet's client")
        until(lambda: holders(operator, "us-east", FLEETS_ROOT) == ["alice@host pid 7"], 30,
              "the fleet's lock taken again in the new session")
        # said by the guard's thread just after it took the lock
        until(lambda: "Re-took the lock of the fleet us-east in the new session." in said, 30,
              "the fleet told its lock was taken again")
        assert lock_lost(engine) is None
    assert holders(operator, "us-east", FLEETS_ROOT) == []


# ---- a step's own reads: an action's and a check's ---------------------------------------


@check("faults_election_read")
def faults_election_read(ctx: StepContext, _p: NoParams, _timeout: float) -> Outcome:
    """Reads the election with the bare client, as a step from outside might."""
    children = ctx.zk.get_children(f"/manatee/{ctx.shard}/election")
    return Outcome(bool(children), f"{len(children)} in the election")


def test_a_step_s_reads_wait_through_a_lost_connection_and_read_again(
    own_zk: ZooKeeperServer, clients: Callable[..., Any], peers: V1Shard
) -> None:
    """An action that is not safe to run twice (a reprovision) reads the shard for its
    intent, and a check only looks: a connection lost under either read pauses it and
    reads again, instead of failing the step (a headnode connection killed mid-run
    stopped a run with "ZooKeeper failed (ConnectionLoss)")."""
    engine = clients(own_zk, 4.0)
    said: list[str] = []
    guard_for(engine).say = said.append
    ctx = EngineContext(shard=SHARD, zk=engine, inventory=None, remote=None,
                        original=capture(snapshot([0, 1, 2])), say_func=said.append)
    assert len(read_shard(ctx).topology.nodes) == 3
    # longer than kazoo's read timeout (2/3 of 4 s): the read's reply never comes
    pausing = sigstop(own_zk, 3.0)
    assert len(read_shard(ctx).topology.nodes) == 3
    pausing.join(30)
    pausing = sigstop(own_zk, 3.0)
    outcome = run_check(ctx, CheckRef(check="faults_election_read", params={}), 0.0)
    pausing.join(30)
    assert outcome.ok and outcome.detail == "3 in the election"
    assert sum("connection lost" in text for text in said) == 2, said
    assert sum("ZooKeeper is back" in text for text in said) == 2, said
