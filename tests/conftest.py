"""Shared fixtures: one real ZooKeeper per test session, cleared between tests."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import HealthCheck, settings

from migrator.remote.commands import END_GRACE
from migrator.sandbox.zkserver import ZooKeeperServer

pytest_plugins = ["tests.tiers", "pytester"]

# Hypothesis fails an example that takes over 200 ms by default, and a test whose
# inputs take long to generate (its `too_slow` health check): timed assertions in
# disguise, which a loaded 2-core CI machine trips at random (the second was seen
# with two suites side by side: "only generated 1 valid inputs after 32.97 seconds").
# Speed is measured by benchmarks/, never by tests.
settings.register_profile("migrator", deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("migrator")

if TYPE_CHECKING:
    from migrator.sandbox.config import SandboxConfig

SandboxFactory = Callable[..., "SandboxConfig"]


@pytest.fixture(scope="session")
def zk_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ZooKeeperServer]:
    server = ZooKeeperServer(tmp_path_factory.mktemp("zookeeper"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _clear(client: Any) -> None:
    for root in ("/manatee", "/manatee-migrator"):
        if client.exists(root):
            client.delete(root, recursive=True)


class LentZooKeeper:
    """One ZooKeeper per test process (a pytest-xdist worker), lent to the sandboxes
    its tests bring up one after another instead of each starting its own: a JVM's
    start costs about 0.9 CPU-seconds and the suite brings up over a hundred
    sandboxes. Started at the first loan. After each test (its sandboxes down, so no
    process of theirs is left to write) everything under /manatee and
    /manatee-migrator is deleted; a server that cannot be emptied so (a test paused or
    killed it) is stopped, and the next loan starts a new one."""

    def __init__(self, workdir: Path) -> None:
        self._workdir = workdir
        self._server: ZooKeeperServer | None = None
        self._started = 0

    @property
    def server(self) -> ZooKeeperServer | None:
        """The server being lent now (None before the first loan or after a stop)."""
        return self._server

    def port(self) -> int:
        if self._server is None:
            self._started += 1
            self._server = ZooKeeperServer(self._workdir / f"server{self._started}")
            self._server.start()
        return self._server.port

    def give_back(self) -> None:
        """Empty the server for the next test, or stop it when that fails."""
        from kazoo.client import KazooClient

        if self._server is None:
            return
        client = KazooClient(hosts=self._server.connection_string, timeout=4.0)
        try:
            client.start(timeout=5)
            _clear(client)
            emptied = sorted(client.get_children("/")) == ["zookeeper"]
        except Exception:  # paused, killed or refusing: not fit to lend again
            emptied = False
        finally:
            with contextlib.suppress(Exception):
                client.stop()
                client.close()
        if not emptied:
            self.stop()

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None


@pytest.fixture(scope="session")
def lent_zookeeper(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LentZooKeeper]:
    lender = LentZooKeeper(tmp_path_factory.mktemp("lent-zookeeper"))
    try:
        yield lender
    finally:
        lender.stop()


@pytest.fixture
def zk(zk_server: ZooKeeperServer) -> Iterator[Any]:
    """A kazoo client on a clean ZooKeeper (no /manatee) for the test's own use."""
    from kazoo.client import KazooClient

    client = KazooClient(hosts=zk_server.connection_string, timeout=4.0)
    client.start(timeout=10)
    _clear(client)
    try:
        yield client
    finally:
        _clear(client)
        client.stop()
        client.close()


def peer_data(ip: str, zone: str, with_backup: bool = False) -> dict[str, str]:
    data = {"zoneId": zone, "ip": ip, "pgUrl": f"tcp://postgres@{ip}:5432/postgres"}
    if with_backup:
        data["backupUrl"] = f"http://{ip}:12345"
    return data


class V1Shard:
    """Election nodes held by their own kazoo sessions, as v1 sitters hold them.

    Each peer gets its own session so that stopping one peer removes exactly its
    ephemeral node, as a sitter's death does in production.
    """

    def __init__(self, server: ZooKeeperServer, shard: str) -> None:
        self.server = server
        self.shard = shard
        self.sessions: dict[str, Any] = {}
        self.names: dict[str, str] = {}

    def join(self, ip: str, zone: str, data: bytes | None = None) -> str:
        from kazoo.client import KazooClient

        client = KazooClient(hosts=self.server.connection_string, timeout=4.0)
        client.start(timeout=10)
        base = f"/manatee/{self.shard}/election"
        client.ensure_path(base)
        client.ensure_path(f"/manatee/{self.shard}/history")
        payload = data if data is not None else json.dumps(
            peer_data(ip, zone), separators=(",", ":")
        ).encode()
        path = client.create(f"{base}/{ip}:5432:12345-", payload, ephemeral=True, sequence=True)
        self.sessions[ip] = client
        self.names[ip] = path.rsplit("/", 1)[1]
        return self.names[ip]

    def leave(self, ip: str) -> None:
        client = self.sessions.pop(ip)
        client.stop()
        client.close()

    def close(self) -> None:
        for ip in list(self.sessions):
            self.leave(ip)


ZONES = {
    "127.0.1.47": "f29499ea-b50c-431e-9975-e4bf760fb5e1",
    "127.0.1.48": "4afba482-7670-4cfe-b11f-9df7f558106a",
    "127.0.1.49": "d0c715ab-1d55-43cd-88f2-f6bfe3960683",
    "127.0.1.50": "0b4e6c52-7a8b-4c4e-9f45-3cc2d1e0aa50",
}


@pytest.fixture
def v1_shard(zk_server: ZooKeeperServer, zk: Any) -> Iterator[V1Shard]:
    """A factory-like shard named 1.moray.test; peers join in the order tests call join()."""
    shard = V1Shard(zk_server, "1.moray.test")
    try:
        yield shard
    finally:
        shard.close()


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    return tmp_path


@pytest.fixture
def sandbox(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[SandboxFactory]:
    """``sandbox(nodes=3, with_client=False, deposed_mode="deposed", pg="sim")`` -> a
    running sandbox of the test's own (zones over SSH unless ``access`` says otherwise),
    torn down after the test whatever happened.

    The test's one-shard sandboxes run on the worker's ``lent_zookeeper``, emptied
    after the test, each shard under its own /manatee/<shard> as Manta's shards share
    one ZooKeeper; a second sandbox of a shard already there, or one given
    ``own_zookeeper=True`` (a test that pauses, kills or reads the files of the
    sandbox's ZooKeeper), starts one of its own."""
    from migrator.sandbox.manage import UpOptions, up

    started: list[Path] = []
    lender: list[LentZooKeeper] = []
    lent_shards: set[str] = set()  # the shards on the lent server in this test

    def factory(*, own_zookeeper: bool = False, **options: Any) -> SandboxConfig:
        from migrator.sandbox.config import SHARD

        options.setdefault("access", "ssh")  # these tests reach zones over their own sshd
        directory = tmp_path / f"sandbox{len(started)}"
        shard = options.get("shard", SHARD)
        if not (own_zookeeper or shard in lent_shards or "shards" in options
                or "triton_zones" in options):
            if not lender:
                lender.append(request.getfixturevalue("lent_zookeeper"))
            lent_shards.add(shard)
            options["zookeeper_port"] = lender[0].port()
        if options.get("pg") == "real":
            from tests.tiers import require

            require(request.node, "pgreal", "brings up a sandbox with real PostgreSQL")
            # the zones' postgres runs as the postgres user, which cannot enter pytest's
            # private (0700) tmp_path: real sandboxes live under /var/tmp instead
            import tempfile

            directory = Path(tempfile.mkdtemp(prefix="migrator-pg-test-", dir="/var/tmp"))
        started.append(directory)
        return up(directory, UpOptions(**options))

    try:
        yield factory
    finally:
        left = [process for directory in started for process in bring_down(directory)]
        for loaned in lender:
            loaned.give_back()
        if left:
            pytest.fail("left running after `sandbox down`: " + "; ".join(left), pytrace=False)


def _ends_by(pid: int, deadline: float) -> bool:
    """Whether process ``pid`` has ended by ``deadline`` (woken by its exit: a pidfd)."""
    import select

    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        return bool(select.select([fd], [], [], max(0.0, deadline - time.monotonic()))[0])
    finally:
        os.close(fd)


def bring_down(directory: Path) -> list[str]:
    """`sandbox down` of a test's sandbox, then a look for anything of it still running
    (every process a test starts, it stops): those are killed and returned."""
    import shutil

    from migrator.sandbox.manage import down

    if (directory / "sandbox.json").exists() or (directory / "pids").exists():
        down(directory)
    found = []
    for proc in Path("/proc").iterdir():
        try:
            words = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if proc.name.isdigit() and any(str(directory).encode() in w for w in words):
            found.append((int(proc.name), b" ".join(words).decode(errors="replace")[:160]))
    # A zone command's guard (remote/commands.py) outlives the migrator's connection by
    # design, by up to END_GRACE: it signals the command's group, then kills it. What
    # ends on its own within that (and a margin) was stopped; the rest is left running.
    deadline = time.monotonic() + END_GRACE + 3.0
    left = []
    for pid, words in found:
        if not _ends_by(pid, deadline):
            left.append(f"{pid} {words}")
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
    if directory.name.startswith("migrator-pg-test-"):
        shutil.rmtree(directory, ignore_errors=True)
    return left


@pytest.fixture(scope="module")
def shared_sandbox(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
                   ) -> Iterator[SandboxConfig]:
    """One sandbox for the tests of a module that only look at it (or change files of it
    they put back): the module names its options in ``SHARED_SANDBOX`` (a dict of
    ``UpOptions``; zones over SSH unless it says otherwise)."""
    from migrator.sandbox.manage import UpOptions, up

    options = {"access": "ssh", **getattr(request.module, "SHARED_SANDBOX", {})}
    if options.get("pg") == "real":
        from tests.tiers import require

        require(request.node, "pgreal", "shares a sandbox with real PostgreSQL")
        import tempfile

        directory = Path(tempfile.mkdtemp(prefix="migrator-pg-test-", dir="/var/tmp")) / "sb"
        directory.parent.chmod(0o711)
    else:
        directory = tmp_path_factory.mktemp("shared-sandbox") / "sb"
    try:
        yield up(directory, UpOptions(**options))
    finally:
        left = bring_down(directory)
        if directory.parent.name.startswith("migrator-pg-test-"):
            import shutil

            shutil.rmtree(directory.parent, ignore_errors=True)
        if left:
            pytest.fail("left running after `sandbox down`: " + "; ".join(left), pytrace=False)


@dataclass
class CliResult:
    status: int
    out: str
    err: str


def invoke_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> CliResult:
    """Run `migrator ARGV` in-process; its exit status and what it printed."""
    from migrator.cli import main

    capsys.readouterr()
    try:
        main(argv)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    else:  # pragma: no cover - main always exits
        code = 0
    captured = capsys.readouterr()
    return CliResult(code, captured.out, captured.err)
