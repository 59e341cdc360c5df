"""Chroot connection strings, ZK_IPS/SHARD from the environment, and watch-driven waits."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest

from migrator.sandbox.zkserver import ZooKeeperServer
from migrator.zk import watches
from migrator.zk.client import ZkTarget, connect, disconnect
from tests.conftest import ZONES, V1Shard

pytestmark = pytest.mark.zk

SHARD = "1.moray.test"


def test_a_chroot_in_the_connection_string_is_honoured(
    zk_server: ZooKeeperServer, zk: Any, run_cli: Any
) -> None:
    zk.ensure_path("/tenant/manatee/1.moray.chrooted/election")
    result = run_cli("status", "--json", zk=f"{zk_server.connection_string}/tenant")
    assert result.status == 0, result.err
    assert [s["shard"] for s in json.loads(result.out)] == ["1.moray.chrooted"]
    zk.delete("/tenant", recursive=True)


def test_zk_ips_and_shard_come_from_the_environment(
    zk_server: ZooKeeperServer, v1_shard: V1Shard, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from migrator.cli import main

    v1_shard.join("127.0.1.47", ZONES["127.0.1.47"])
    monkeypatch.setenv("ZK_IPS", zk_server.connection_string)
    monkeypatch.setenv("SHARD", SHARD)
    with pytest.raises(SystemExit) as exited:
        main(["status", "--json"])
    assert exited.value.code == 0
    assert json.loads(capsys.readouterr().out)["shard"] == SHARD


def test_work_given_to_do_while_connecting_is_done_once_and_the_session_is_up_after(
    zk_server: ZooKeeperServer,
) -> None:
    calls: list[bool] = []
    client = connect(ZkTarget(zk_server.connection_string), meanwhile=lambda: calls.append(True))
    try:
        assert calls == [True]
        assert client.connected
        assert client.get_children("/") is not None
    finally:
        disconnect(client)


def test_work_that_fails_while_connecting_fails_the_connect_and_closes_the_client(
    zk_server: ZooKeeperServer,
) -> None:
    def kazoo_loops() -> list[threading.Thread]:
        return [t for t in threading.enumerate() if "zk_loop" in t.name and t.is_alive()]

    before = set(kazoo_loops())

    def broken() -> None:
        raise ModuleNotFoundError("No module named 'migrator.gone'")

    with pytest.raises(ModuleNotFoundError, match=r"migrator\.gone"):
        connect(ZkTarget(zk_server.connection_string), meanwhile=broken)
    for thread in set(kazoo_loops()) - before:  # disconnect() stops the client's loop
        thread.join(10)
        assert not thread.is_alive()


def test_wait_for_reacts_to_a_state_change_via_a_watch(
    zk_server: ZooKeeperServer, zk: Any
) -> None:
    zk.ensure_path(f"/manatee/{SHARD}/election")
    client = connect(ZkTarget(zk_server.connection_string))
    writer = threading.Timer(0.2, lambda: zk.create(f"/manatee/{SHARD}/state", b'{"g":1}'))
    try:
        writer.start()
        found, last = watches.wait_for(
            lambda deliver: watches.watch_state(client, SHARD, deliver),
            lambda data: data if data else None,
            timeout=10,
        )
        assert found == b'{"g":1}' and last == b'{"g":1}'
        # a predicate that never holds returns None and the last value when time runs out
        missing, seen = watches.wait_for(
            lambda deliver: watches.watch_state(client, SHARD, deliver),
            lambda data: None,
            timeout=0.3,
        )
        assert missing is None and seen == b'{"g":1}'
    finally:
        writer.cancel()
        disconnect(client)


def test_wait_for_sees_a_peer_leave_the_election(
    zk_server: ZooKeeperServer, v1_shard: V1Shard
) -> None:
    first = v1_shard.join("127.0.1.47", ZONES["127.0.1.47"])
    v1_shard.join("127.0.1.48", ZONES["127.0.1.48"])
    client = connect(ZkTarget(zk_server.connection_string))
    leaver = threading.Timer(0.2, lambda: v1_shard.leave("127.0.1.47"))
    try:
        leaver.start()
        gone, children = watches.wait_for(
            lambda deliver: watches.watch_election(client, SHARD, deliver),
            lambda names: True if first not in names else None,
            timeout=10,
        )
        assert gone is True and len(children) == 1
    finally:
        leaver.cancel()
        disconnect(client)


def test_a_watch_wait_ends_when_the_run_is_stopped(zk: Any) -> None:
    """A run blocked on a watch (here /state that never appears) raises the run's stop
    as soon as another thread stops the run, not at its deadline."""
    from migrator.cancellation import Cancellation, active
    from migrator.errors import Refused
    from migrator.zk.watches import wait_for, watch_state

    zk.ensure_path("/manatee/1.moray.test/election")
    run = Cancellation()
    stop = Refused("stopped by a test", None)
    subscribed = threading.Event()

    def subscribe(deliver: Any) -> None:
        watch_state(zk, "1.moray.test", deliver)
        subscribed.set()

    threading.Thread(target=lambda: subscribed.wait(10) and run.cancel(stop),
                     daemon=True).start()
    with active(run), pytest.raises(Refused) as raised:
        wait_for(subscribe, lambda data: data, 300.0)
    assert raised.value is stop
