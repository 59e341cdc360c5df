"""Host keys against a real sshd: unknown and changed keys refused, accept-new records."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from migrator.inventory.load import load_inventory
from migrator.remote.errors import HostKeyChanged, HostKeyUnknown
from migrator.remote.session import RemoteSession
from migrator.sandbox.sshd import SshServer, generate_keypair
from tests.remote.conftest import write_inventory

pytestmark = pytest.mark.sshd


def _fingerprint(server: SshServer) -> str:
    import paramiko

    return str(paramiko.PKey.from_path(str(server.host_key)).fingerprint)


def _inventory(tmp_path: Path, server: SshServer, key: Path, known: Path) -> Path:
    return write_inventory(tmp_path, {"z1": {"host": server.host, "port": server.port}},
                           known_hosts=known, identity=key)


def test_unknown_host_key_is_refused_with_fingerprint_and_command(
    tmp_path: Path, sshd: SshServer, client_key: Path
) -> None:
    known = tmp_path / "known_hosts"
    inventory = load_inventory(_inventory(tmp_path, sshd, client_key, known))
    with RemoteSession(inventory, use_agent=False) as session, \
            pytest.raises(HostKeyUnknown) as caught:
        session.run("z1", ["true"])
    text = caught.value.paragraph()
    assert _fingerprint(sshd) in text
    assert f"[{sshd.host}]:{sshd.port}" in text
    assert sshd.known_hosts_line().split()[2] in text  # the exact line to append
    assert "--accept-new-host-keys" in text
    assert not known.exists()  # nothing recorded without the flag


def test_changed_host_key_is_refused(tmp_path: Path, sshd: SshServer, client_key: Path) -> None:
    other = tmp_path / "other_key"
    generate_keypair(other)
    key_type, key_b64 = Path(f"{other}.pub").read_text().split()[:2]
    known = tmp_path / "known_hosts"
    known.write_text(f"[{sshd.host}]:{sshd.port} {key_type} {key_b64}\n")
    inventory = load_inventory(_inventory(tmp_path, sshd, client_key, known))
    # accept-new must never accept a *changed* key
    with RemoteSession(inventory, use_agent=False, accept_new_host_keys=True) as session, \
            pytest.raises(HostKeyChanged) as caught:
        session.run("z1", ["true"])
    text = caught.value.paragraph()
    assert "CHANGED" in text
    assert _fingerprint(sshd) in text
    assert "ssh-keygen -R" in text
    assert known.read_text().count("\n") == 1  # untouched


def test_accept_new_records_the_key_and_says_so(
    tmp_path: Path, sshd: SshServer, client_key: Path
) -> None:
    known = tmp_path / "known_hosts"
    inventory = load_inventory(_inventory(tmp_path, sshd, client_key, known))
    seen: list[str] = []
    with RemoteSession(inventory, use_agent=False, accept_new_host_keys=True,
                       on_recorded=lambda r: seen.append(r.sentence())) as session:
        assert session.run("z1", ["echo", "hi"]).text == "hi\n"
        recorded = session.recorded_host_keys
    assert len(recorded) == 1
    assert recorded[0].fingerprint == _fingerprint(sshd)
    assert seen and _fingerprint(sshd) in seen[0] and str(known) in seen[0]
    assert known.read_text().strip() == sshd.known_hosts_line()
    # the recorded key is now simply known: no flag needed, nothing recorded again
    with RemoteSession(inventory, use_agent=False) as session:
        assert session.run("z1", ["true"]).ok
        assert session.recorded_host_keys == []


def test_openssh_accepts_the_line_we_record(
    tmp_path: Path, sshd: SshServer, client_key: Path
) -> None:
    import subprocess

    known = tmp_path / "known_hosts"
    inventory = load_inventory(_inventory(tmp_path, sshd, client_key, known))
    with RemoteSession(inventory, use_agent=False, accept_new_host_keys=True) as session:
        session.run("z1", ["true"])
    done = subprocess.run(
        ["ssh", "-F", "/dev/null", "-i", str(client_key), "-o", "BatchMode=yes",
         "-o", "StrictHostKeyChecking=yes", "-o", f"UserKnownHostsFile={known}",
         "-p", str(sshd.port), f"root@{sshd.host}", "echo ok"],
        capture_output=True, timeout=20, check=False,
    )
    assert done.stdout == b"ok\n", done.stderr


def test_jump_host_key_is_checked_too(
    tmp_path: Path, sshd_factory: Callable[..., SshServer], client_key: Path
) -> None:
    zone = sshd_factory("127.0.0.21", name="zone")
    jump = sshd_factory("127.0.0.22", name="jump", force_command=None)
    known = tmp_path / "known_hosts"
    known.write_text(zone.known_hosts_line() + "\n")  # the zone's key only
    path = write_inventory(
        tmp_path,
        {"z1": {"host": zone.host, "port": zone.port, "jump": f"root@{jump.host}:{jump.port}"}},
        known_hosts=known, identity=client_key,
    )
    with RemoteSession(load_inventory(path), use_agent=False) as session, \
            pytest.raises(HostKeyUnknown) as caught:
        session.run("z1", ["true"])
    assert "jump host" in caught.value.message and _fingerprint(jump) in caught.value.message
