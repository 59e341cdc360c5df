"""Background SSH connects (`migrator plan` starts them early): real sshd on 127.0.0.x."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from migrator.inventory import Inventory, load_inventory
from migrator.remote.errors import HostKeyUnknown, ZoneUnreachable
from migrator.remote.prewarm import Prewarm
from migrator.sandbox.sshd import SshServer
from tests.remote.conftest import write_inventory


def test_prewarmed_session_has_the_zone_connected_once(
    zone_inventory: Callable[..., Inventory], sshd: SshServer
) -> None:
    session = Prewarm(zone_inventory()).session()
    try:
        # waits for the background handshake (the zone's lock), then reuses its transport
        assert session.run("z1", ["true"]).ok
        assert session.connection("z1").transport_alive()
        assert session.connection("z1").connects == 1
    finally:
        session.close()
    assert not session.connection("z1").transport_alive()
    assert sshd.log_file.read_text().count("Accepted publickey") == 1


def test_an_unknown_host_key_is_still_refused_by_the_check_that_needs_the_zone(
    tmp_path: Path, sshd: SshServer, client_key: Path
) -> None:
    known = tmp_path / "known_hosts"  # absent: the zone's key is not known
    inventory = load_inventory(write_inventory(
        tmp_path, {"z1": {"host": sshd.host, "port": sshd.port}}, known_hosts=known,
        identity=client_key))
    prewarm = Prewarm(inventory)
    session = prewarm.session()
    try:
        with pytest.raises(HostKeyUnknown):
            session.run("z1", ["true"])
        assert not session.connection("z1").transport_alive()
    finally:
        prewarm.close()
    assert not known.exists()
    assert "Accepted publickey" not in sshd.log_file.read_text()


def test_a_silent_zone_bounds_the_wait_by_the_connect_timeout(
    tmp_path: Path, client_key: Path, silent_port: int
) -> None:
    inventory = load_inventory(write_inventory(
        tmp_path, {"z9": {"host": "127.0.0.24", "port": silent_port}},
        known_hosts=tmp_path / "known_hosts", identity=client_key, ssh={"connect_timeout": 1}))
    started = time.monotonic()
    prewarm = Prewarm(inventory)
    session = prewarm.session()
    try:
        with pytest.raises(ZoneUnreachable, match="z9"):
            session.run("z9", ["true"])
    finally:
        prewarm.close()
    waited = time.monotonic() - started
    # the background connect and the command's own retry, 1 s connect timeout each
    # (generous margin: this is a bound, not a benchmark)
    assert waited < 1 + 1 + 4
