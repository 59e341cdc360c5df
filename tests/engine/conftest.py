"""Engine fixtures against the real ZooKeeper of tests/conftest.py."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from migrator.engine.console import RunConsole
from migrator.engine.journal_store import JournalStore
from migrator.engine.runner import Runner, RunOptions
from migrator.errors import NotConfirmed
from migrator.playbook.loader import LoadedPlaybook
from migrator.sandbox.config import SandboxConfig
from migrator.sandbox.zkserver import ZooKeeperServer
from tests.conftest import CliResult, V1Shard, invoke_cli
from tests.engine.helpers import IPS, SHARD, ZK_ONLY_PLAYBOOK, ZONES, zk_only_playbook


class DecliningConsole(RunConsole):
    """An operator who says yes to the run's summary and answers no to the first step's
    question (the interactive path with a real
    terminal is covered by the pexpect test)."""

    def __init__(self, *, decline_proceed: bool = False) -> None:
        super().__init__(assume_yes=False, shard=SHARD, stream=io.StringIO())
        self.asked: list[str] = []
        self.proceeded: list[str] = []
        self.decline_proceed = decline_proceed

    def ask(self, question: str, shown: Any, typed: bool) -> None:
        if question.startswith("Proceed with ") and not self.decline_proceed:
            self.proceeded.append(question)  # the run's one summary question: yes
            return
        self.show(shown)
        self.asked.append(question)
        raise NotConfirmed("Not confirmed; nothing was written.", "Run it again when ready.")


@pytest.fixture
def three_peers(v1_shard: V1Shard) -> V1Shard:
    for ip, zone in zip(IPS, ZONES, strict=True):
        v1_shard.join(ip, zone)
    return v1_shard


@pytest.fixture
def kazoo(zk_server: ZooKeeperServer) -> Iterator[Any]:
    """A second client for the engine itself (the ``zk`` fixture plays the operator)."""
    from kazoo.client import KazooClient

    client = KazooClient(hosts=zk_server.connection_string, timeout=4.0)
    client.start(timeout=10)
    try:
        yield client
    finally:
        client.stop()
        client.close()


MakeRunner = Callable[..., Runner]


@pytest.fixture
def make_runner(kazoo: Any, tmp_path: Path) -> MakeRunner:
    def make(
        loaded: LoadedPlaybook | None = None, console: RunConsole | None = None,
        options: RunOptions | None = None, client: Any = None, operator: str = "test@host",
        store: JournalStore | None = None,
    ) -> Runner:
        client = client or kazoo
        return Runner(
            client=client, shard=SHARD, loaded=loaded or zk_only_playbook(), choice="test",
            inventory=None, remote=None,
            console=console or RunConsole(assume_yes=True, shard=SHARD, stream=io.StringIO()),
            store=store or JournalStore(client, SHARD, audit_dir=tmp_path / "audit"),
            options=options or RunOptions(assume_yes=True), operator=operator,
        )

    return make


@pytest.fixture
def client_for() -> Iterator[Callable[[SandboxConfig], Any]]:
    """ZooKeeper clients for sandboxes the test brings up, each stopped at the end."""
    from kazoo.client import KazooClient

    clients: list[Any] = []

    def make(config: SandboxConfig) -> Any:
        client = KazooClient(hosts=config.zk_connection, timeout=4.0)
        client.start(timeout=10)
        clients.append(client)
        return client

    try:
        yield make
    finally:
        for client in clients:
            client.stop()
            client.close()


@pytest.fixture
def cli(zk_server: ZooKeeperServer, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Callable[..., CliResult]:
    """`migrator VERB ARGS` in-process against the test's ZooKeeper and shard (``shard=False``
    leaves out ``--zk``/``--shard``), with the audit log under ``tmp_path``."""
    monkeypatch.setenv("MIGRATOR_AUDIT_DIR", str(tmp_path / "audit"))

    def run(*args: str, shard: bool = True) -> CliResult:
        argv = list(args)
        if shard:
            argv[1:1] = ["--zk", zk_server.connection_string, "--shard", SHARD]
        return invoke_cli(argv, capsys)

    return run


@pytest.fixture
def book(tmp_path: Path) -> str:
    """The ZooKeeper-only playbook written to a file."""
    path = tmp_path / "zk-only.yaml"
    path.write_text(ZK_ONLY_PLAYBOOK)
    return str(path)
