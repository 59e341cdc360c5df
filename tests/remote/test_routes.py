"""ProxyJump (inventory and ~/.ssh/config), ProxyCommand, and ssh_config aliases, for real."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from migrator.inventory.load import load_inventory
from migrator.remote.errors import ConnectionDropped
from migrator.remote.session import RemoteSession
from migrator.sandbox.sshd import SshServer
from tests.remote.conftest import cut_off_once, drop_as_runs_start, write_inventory

pytestmark = pytest.mark.sshd


def _known(tmp_path: Path, *servers: SshServer) -> Path:
    known = tmp_path / "known_hosts"
    known.write_text("".join(s.known_hosts_line() + "\n" for s in servers))
    return known


def _forwarded_through(jump: SshServer, zone: SshServer) -> bool:
    # sshd logs each direct-tcpip request at DEBUG1 with its target
    log = jump.log_file.read_text()
    return f"target {zone.host} port {zone.port}" in log


def test_proxyjump_from_the_inventory(
    tmp_path: Path, sshd_factory: Callable[..., SshServer], client_key: Path
) -> None:
    zone = sshd_factory("127.0.0.21", name="zone")
    jump = sshd_factory("127.0.0.22", name="jump", log_level="DEBUG1")
    path = write_inventory(
        tmp_path,
        {"z1": {"host": zone.host, "port": zone.port, "jump": f"root@{jump.host}:{jump.port}"}},
        known_hosts=_known(tmp_path, zone, jump), identity=client_key,
    )
    with RemoteSession(load_inventory(path), use_agent=False) as session:
        result = session.run("z1", ["sh", "-c", "echo $SSH_CONNECTION"])
        route = session.connection("z1").endpoint.route()
    assert result.ok
    assert f"{zone.host} {zone.port}" in result.text  # the zone's end of the connection
    assert _forwarded_through(jump, zone)
    assert route == f"root@{jump.host}:{jump.port} -> root@{zone.host}:{zone.port}"


def test_proxyjump_and_alias_from_ssh_config(
    tmp_path: Path, sshd_factory: Callable[..., SshServer], client_key: Path
) -> None:
    zone = sshd_factory("127.0.0.21", name="zone")
    jump = sshd_factory("127.0.0.22", name="jump", log_level="DEBUG1")
    config = tmp_path / "ssh_config"
    config.write_text(
        f"Host zone-one\n  HostName {zone.host}\n  Port {zone.port}\n  User root\n"
        f"  IdentityFile {client_key}\n  ProxyJump headnode\n"
        f"Host headnode\n  HostName {jump.host}\n  Port {jump.port}\n  User root\n"
        f"  IdentityFile {client_key}\n"
    )
    path = write_inventory(
        tmp_path, {"z1": {"host": "zone-one"}},
        known_hosts=_known(tmp_path, zone, jump), identity=client_key,
        extra={"ssh_config": str(config)},
        ssh={"user": None, "identity": None},
    )
    with RemoteSession(load_inventory(path), use_agent=False) as session:
        assert session.run("z1", ["echo", "via config"]).text == "via config\n"
        endpoint = session.connection("z1").endpoint
    assert (endpoint.host, endpoint.port, endpoint.user) == (zone.host, zone.port, "root")
    assert endpoint.jump is not None and endpoint.jump.port == jump.port
    assert _forwarded_through(jump, zone)


def test_proxycommand_from_ssh_config(
    tmp_path: Path, sshd_factory: Callable[..., SshServer], client_key: Path
) -> None:
    zone = sshd_factory("127.0.0.21", name="zone")
    jump = sshd_factory("127.0.0.22", name="jump", log_level="DEBUG1")
    known = _known(tmp_path, zone, jump)
    config = tmp_path / "ssh_config"
    config.write_text(
        f"Host zone-one\n  HostName {zone.host}\n  Port {zone.port}\n"
        f"  ProxyCommand ssh -F /dev/null -i {client_key} -o BatchMode=yes "
        f"-o StrictHostKeyChecking=yes -o UserKnownHostsFile={known} "
        f"-p {jump.port} -W %h:%p root@{jump.host}\n"
    )
    path = write_inventory(tmp_path, {"z1": {"host": "zone-one"}}, known_hosts=known,
                           identity=client_key, extra={"ssh_config": str(config)})
    with RemoteSession(load_inventory(path), use_agent=False) as session:
        assert session.run("z1", ["echo", "proxied"]).text == "proxied\n"
        assert session.connection("z1").endpoint.proxy_command is not None
    assert _forwarded_through(jump, zone)


def test_zones_behind_one_jump_share_its_transport(
    tmp_path: Path, sshd_factory: Callable[..., SshServer], client_key: Path
) -> None:
    one = sshd_factory("127.0.0.21", name="one")
    two = sshd_factory("127.0.0.23", name="two")
    jump = sshd_factory("127.0.0.22", name="jump", log_level="VERBOSE")
    hop = f"root@{jump.host}:{jump.port}"
    path = write_inventory(
        tmp_path,
        {"z1": {"host": one.host, "port": one.port, "jump": hop},
         "z2": {"host": two.host, "port": two.port, "jump": hop}},
        known_hosts=_known(tmp_path, one, two, jump), identity=client_key,
    )
    with RemoteSession(load_inventory(path), use_agent=False) as session:
        assert session.run("z1", ["true"]).ok and session.run("z2", ["true"]).ok
    assert jump.log_file.read_text().count("Accepted publickey") == 1


def test_a_read_behind_a_jump_whose_connection_drops_is_run_again(
    tmp_path: Path, sshd_factory: Callable[..., SshServer], client_key: Path
) -> None:
    """The headnode's case: one connection to the jump carries the zone's route, and
    killing it cuts off the read running in the zone; the read is run again over a new
    connection to the jump, and a command that is not a read is reported instead."""
    zone = sshd_factory("127.0.0.21", name="zone")
    jump = sshd_factory("127.0.0.22", name="jump")
    path = write_inventory(
        tmp_path,
        {"z1": {"host": zone.host, "port": zone.port, "jump": f"root@{jump.host}:{jump.port}"}},
        known_hosts=_known(tmp_path, zone, jump), identity=client_key,
    )
    counter = tmp_path / "runs"
    with RemoteSession(load_inventory(path), use_agent=False) as session:
        dropper = drop_as_runs_start(jump, counter, 1)
        result = session.run("z1", ["sh", "-c", cut_off_once(counter)], timeout=15,
                             reads_only=True)
        dropper.join(timeout=10)
        assert result.text == "answered\n"
        assert result.rerun_after is not None
        counter.unlink()
        dropper = drop_as_runs_start(jump, counter, 1)
        with pytest.raises(ConnectionDropped):
            session.run("z1", ["sh", "-c", cut_off_once(counter)], timeout=15)
        dropper.join(timeout=10)
    assert counter.read_text() == "x\n"  # not a read: cut off, reported, not run again
