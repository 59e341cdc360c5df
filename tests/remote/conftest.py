"""Real sshd servers on 127.0.0.x for the SSH tests, and inventories that point at them."""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from migrator.inventory.load import load_inventory
from migrator.inventory.model import Inventory
from migrator.remote.session import RemoteSession
from migrator.sandbox.sshd import SshServer, generate_keypair
from tests.waiting import until

FAST_SHELL = '/bin/sh -c "$SSH_ORIGINAL_COMMAND"'


@pytest.fixture(scope="session")
def client_key(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One client identity per worker: tests only read it."""
    key = tmp_path_factory.mktemp("client") / "id_ed25519"
    generate_keypair(key, comment="migrator-test")
    return key


@pytest.fixture
def sshd_factory(tmp_path: Path, client_key: Path) -> Iterator[Callable[..., SshServer]]:
    """Start sshd servers of the test's own; every one is stopped at teardown, also on
    failure."""
    started: list[SshServer] = []

    def start(host: str = "127.0.0.21", name: str | None = None, **kwargs: Any) -> SshServer:
        workdir = tmp_path / (name or f"sshd-{len(started)}")
        server = SshServer(workdir, host, authorized_keys=Path(f"{client_key}.pub"),
                           **{"force_command": FAST_SHELL, **kwargs})
        started.append(server)
        server.start()
        return server

    try:
        yield start
    finally:
        for server in started:
            server.stop()


@pytest.fixture(scope="session")
def shared_sshd(tmp_path_factory: pytest.TempPathFactory, client_key: Path
                ) -> Iterator[SshServer]:
    """One sshd per worker for the tests that only run commands on it and read its files;
    a test that drops its connections or stops it asks for its own (``own_sshd``)."""
    server = SshServer(tmp_path_factory.mktemp("sshd"), "127.0.0.21",
                       authorized_keys=Path(f"{client_key}.pub"), force_command=FAST_SHELL)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def sshd(request: pytest.FixtureRequest, shared_sshd: SshServer,
         sshd_factory: Callable[..., SshServer]) -> SshServer:
    """The zone's sshd: the worker's shared one, or the test's own with
    ``@own_sshd`` (it drops connections, stops the server or counts its log from the
    start)."""
    if getattr(request, "param", "shared") == "own":
        return sshd_factory()
    return shared_sshd


# a test that drops the zone's connections or stops its server: its own sshd
own_sshd = pytest.mark.parametrize("sshd", ["own"], indirect=True)


def remote_tails(sshd: SshServer) -> list[int]:
    """The live `tail` processes the server runs for its clients (log follows)."""
    found = []
    for pid in sshd.connection_pids():
        try:
            if Path(f"/proc/{pid}/comm").read_text().strip() != "tail":
                continue
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            found.append(pid)
    return found


def _has_a_file_open(pid: int) -> bool:
    """Whether process ``pid`` holds a file open (not a pipe, socket or device)."""
    try:
        targets = [os.readlink(fd) for fd in Path(f"/proc/{pid}/fd").iterdir()]
    except OSError:
        return False
    return any(t.startswith("/") and not t.startswith("/dev/") for t in targets)


def following(sshd: SshServer, timeout: float = 10.0) -> None:
    """Until a log follow's `tail` runs on the server and has opened the log (what a
    test writes or rotates then is new to it). Running is not enough: a log rotated
    before tail's first open is opened under its name, the new file, and read from the
    mark's offset, past the start of what the test wrote there."""
    until(lambda: [pid for pid in remote_tails(sshd) if _has_a_file_open(pid)], timeout,
          "a log follow's tail reading the zone's log")


def write_inventory(
    directory: Path,
    zones: dict[str, dict[str, Any]],
    *,
    known_hosts: Path | None,
    identity: Path,
    extra: dict[str, Any] | None = None,
    ssh: dict[str, Any] | None = None,
) -> Path:
    document: dict[str, Any] = {
        "shard": "1.moray.test",
        "zookeeper": "127.0.0.1:2181",
        "ssh_config": False,
        "ssh": {"user": "root", "identity": str(identity), "connect_timeout": 3,
                "command_timeout": 10, **(ssh or {})},
        "zones": zones,
    }
    if known_hosts is not None:
        document["known_hosts"] = str(known_hosts)
    document.update(extra or {})
    path = directory / "inventory.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


@pytest.fixture
def zone_inventory(
    tmp_path: Path, sshd: SshServer, client_key: Path
) -> Callable[..., Inventory]:
    """An inventory with one zone `z1` on the fixture sshd, its key known."""

    def make(**extra: Any) -> Inventory:
        known = tmp_path / "known_hosts"
        known.write_text(sshd.known_hosts_line() + "\n")
        zone = {"host": sshd.host, "port": sshd.port, "sitter_log": str(tmp_path / "sitter.log")}
        zone.update(extra.pop("zone", {}))
        return load_inventory(write_inventory(tmp_path, {"z1": zone}, known_hosts=known,
                                              identity=client_key, extra=extra))

    return make


@pytest.fixture
def session(zone_inventory: Callable[..., Inventory]) -> Iterator[RemoteSession]:
    with RemoteSession(zone_inventory(), use_agent=False) as remote:
        yield remote


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts TCP connections but never speaks SSH."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.24", 0))
        listener.listen(8)
        yield int(listener.getsockname()[1])


def cut_off_once(counter: Path) -> str:
    """Shell text that appends to ``counter`` and, on its first run only, waits to be cut
    off; a later run answers at once."""
    return (f'echo x >> {counter}; [ "$(wc -l < {counter})" -ge 2 ] || sleep 20; '
            "echo answered")


def drop_as_runs_start(sshd: SshServer, counter: Path, runs: int) -> threading.Thread:
    """Drop the server's connections as each of the command's first ``runs`` runs has
    written its line to ``counter`` (and only then: never before a run began)."""
    def drop() -> None:
        for run in range(1, runs + 1):
            until(lambda run=run: counter.exists() and counter.read_text() == "x\n" * run,
                  10, f"the command's run {run} starting")
            sshd.drop_connections()

    thread = threading.Thread(target=drop, daemon=True)
    thread.start()
    return thread
