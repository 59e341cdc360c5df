"""Key sources against a real sshd: ssh-agent, hashed known_hosts, encrypted identity files."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from migrator.inventory.load import load_inventory
from migrator.remote.errors import AuthenticationFailed
from migrator.remote.session import RemoteSession
from migrator.sandbox.procs import start_time
from migrator.sandbox.sshd import SshServer
from tests.remote.conftest import write_inventory
from tests.waiting import until

pytestmark = pytest.mark.sshd


@pytest.fixture
def agent(tmp_path: Path, client_key: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A real ssh-agent holding the client key, stopped by pid at teardown. Started as
    an agent is in a login (it forks and says its pid once its socket listens), so
    the test waits for the agent itself, not for a while."""
    socket_path = tmp_path / "agent.sock"
    started = subprocess.run(["ssh-agent", "-s", "-a", str(socket_path)], capture_output=True,
                             text=True, timeout=10, check=True, stdin=subprocess.DEVNULL)
    pid = int(started.stdout.split("SSH_AGENT_PID=", 1)[1].split(";", 1)[0])
    try:
        env = {**os.environ, "SSH_AUTH_SOCK": str(socket_path)}
        subprocess.run(["ssh-add", str(client_key)], env=env, check=True, timeout=10,
                       capture_output=True)
        monkeypatch.setenv("SSH_AUTH_SOCK", str(socket_path))
        monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.ssh/id_* to fall back on
        yield socket_path
    finally:
        os.kill(pid, signal.SIGTERM)
        until(lambda: start_time(pid) is None, 10, f"ssh-agent {pid} gone")


def test_key_from_the_agent(tmp_path: Path, sshd: SshServer, agent: Path) -> None:
    known = tmp_path / "known_hosts"
    known.write_text(sshd.known_hosts_line() + "\n")
    path = write_inventory(tmp_path, {"z1": {"host": sshd.host, "port": sshd.port}},
                           known_hosts=known, identity=tmp_path / "unused",
                           ssh={"identity": None})
    inventory = load_inventory(path)
    assert inventory.ssh.identity is None
    with RemoteSession(inventory) as session:
        assert session.run("z1", ["echo", "agent"]).text == "agent\n"


def test_hashed_known_hosts_entries_are_understood(
    tmp_path: Path, sshd: SshServer, client_key: Path
) -> None:
    known = tmp_path / "known_hosts"
    known.write_text(sshd.known_hosts_line() + "\n")
    subprocess.run(["ssh-keygen", "-H", "-f", str(known)], check=True, capture_output=True,
                   timeout=10)
    assert known.read_text().startswith("|1|")
    path = write_inventory(tmp_path, {"z1": {"host": sshd.host, "port": sshd.port}},
                           known_hosts=known, identity=client_key)
    with RemoteSession(load_inventory(path), use_agent=False) as session:
        assert session.run("z1", ["true"]).ok


def test_encrypted_identity_is_skipped_with_a_hint(
    tmp_path: Path, sshd: SshServer
) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = tmp_path / "locked"
    key.write_bytes(Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
        serialization.BestAvailableEncryption(b"secret")))
    key.chmod(0o600)
    known = tmp_path / "known_hosts"
    known.write_text(sshd.known_hosts_line() + "\n")
    path = write_inventory(tmp_path, {"z1": {"host": sshd.host, "port": sshd.port}},
                           known_hosts=known, identity=key)
    with RemoteSession(load_inventory(path), use_agent=False) as session, \
            pytest.raises(AuthenticationFailed) as caught:
        session.run("z1", ["true"])
    assert f"skipped {key} (encrypted; load it into ssh-agent)" in caught.value.message
    assert "secret" not in caught.value.paragraph()
