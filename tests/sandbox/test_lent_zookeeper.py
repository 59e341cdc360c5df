"""The ZooKeeper the test suite lends to its sandboxes (``LentZooKeeper`` in
tests/conftest.py): emptied after each test, replaced when it cannot be, and seen as
running by the sandbox it was lent to."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from kazoo.client import KazooClient

from migrator.sandbox.config import SandboxConfig
from tests.conftest import LentZooKeeper


@pytest.mark.zk
def test_a_lent_zookeeper_is_emptied_after_use_and_replaced_when_it_cannot_be(
        tmp_path: Path) -> None:
    lender = LentZooKeeper(tmp_path)
    try:
        port = lender.port()
        assert lender.port() == port  # one server for every loan
        client = KazooClient(hosts=f"127.0.0.1:{port}", timeout=4.0)
        client.start(timeout=10)
        try:
            # a sitter's ephemeral node whose session is still open, and a journal
            client.create("/manatee/1.moray.x/election/10.0.0.2:5432:12345-0000000000",
                          b"{}", makepath=True, ephemeral=True)
            client.create("/manatee-migrator/1.moray.x/journal", b"{}", makepath=True)
            lender.give_back()
            assert client.get_children("/") == ["zookeeper"]
        finally:
            client.stop()
            client.close()
        server = lender.server
        assert server is not None and server.process is not None
        killed = server.process.pid
        os.killpg(killed, signal.SIGKILL)  # a test killed it: it cannot be emptied
        server.process.wait(timeout=10)
        lender.give_back()
        assert lender.server is None
        lender.port()  # the next loan starts a new server
        assert lender.server is not None and lender.server.process is not None
        assert lender.server.process.pid != killed
    finally:
        lender.stop()


@pytest.mark.sandbox
def test_a_tests_sandboxes_are_lent_the_workers_zookeeper_one_per_shard_and_see_it_running(
        sandbox: Callable[..., SandboxConfig], request: pytest.FixtureRequest) -> None:
    """Sandboxes of different shards share the lent server, as Manta's shards share one
    ZooKeeper; a second sandbox of a shard already on it starts its own."""
    first = sandbox(nodes=1, pg="sim")
    second = sandbox(nodes=1, pg="sim", shard="2.moray.sandbox.test")
    again = sandbox(nodes=1, pg="sim")
    lender = request.getfixturevalue("lent_zookeeper")
    assert first.zookeeper_lent and first.zk_port == lender.port()
    assert second.zookeeper_lent and second.zk_port == first.zk_port
    assert not again.zookeeper_lent and again.zk_port != first.zk_port
    assert not (first.directory / "pids" / "zookeeper.pid").exists()
    assert not (second.directory / "pids" / "zookeeper.pid").exists()
    client = KazooClient(hosts=first.zk_connection, timeout=4.0)
    client.start(timeout=10)
    try:
        assert sorted(client.get_children("/manatee")) == sorted([first.shard, second.shard])
    finally:
        client.stop()
        client.close()
    status = subprocess.run(
        [sys.executable, "-m", "migrator", "sandbox", "status", "--dir", str(first.directory),
         "--json"], capture_output=True, text=True, timeout=120, check=False)
    assert status.returncode == 0, status.stderr
    document = json.loads(status.stdout)
    assert document["zookeeper"] == first.zk_connection
    assert [peer["election_role"] for peer in document["peers"]] == ["primary"]
