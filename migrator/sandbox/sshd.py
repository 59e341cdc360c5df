"""Run a real OpenSSH ``sshd`` on a loopback address: the sandbox's zones and the SSH tests.

Decisions the spec leaves open:

* The server runs in the foreground (``-D``) so the Popen pid *is* the listener;
  its log goes to ``workdir/sshd.log`` (``-E``) and its pid to ``workdir/sshd.pid``.
* OpenSSH 9.2 puts each accepted connection in its own session (``setsid``), so
  killing the listener's process group would leave live connections and their
  commands behind. ``stop()`` therefore kills every descendant of the listener
  found in ``/proc`` before the listener itself, and ``drop_connections()`` kills
  only the descendants, which is how tests simulate a dropped link.
* Keys are ed25519, generated in-process with ``cryptography`` (no ssh-keygen
  subprocess per key), written in OpenSSH format that both sshd and paramiko read.
* ``force_command`` lets a zone run every command through a cheap wrapper, e.g.
  ``/bin/sh -c "$SSH_ORIGINAL_COMMAND"``, instead of the login shell sourcing its
  rc files on every command; ``set_env`` gives such commands their PATH etc.
* sshd runs even a ForceCommand through the user's shell (``$SHELL -c``), and
  Debian's bash sources ``~/.bashrc`` when it sees it was started by sshd, unless
  ``SHLVL`` says it is nested. An rc file that does real work (``pyenv init``,
  say) then runs on every command, so by default the server sets ``SHLVL=1``
  (``source_shell_rc=False``); set ``source_shell_rc=True`` to measure the slow path.
* ``MaxSessions`` is raised because one transport per zone carries many channels
  (commands plus live log followers) at once.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from migrator.errors import BadInput, MigratorError
from migrator.sandbox.ports import free_port
from migrator.sandbox.procs import descendants

SSHD = Path("/usr/sbin/sshd")
PRIVSEP_DIR = Path("/run/sshd")


def generate_keypair(private_path: Path, comment: str = "migrator") -> str:
    """Write an ed25519 key pair (``private_path``, ``private_path.pub``); return the public line.

    Used for sshd host keys and for the client identity the sandbox/test zones
    authorise. The private file is created mode 0600 so OpenSSH and paramiko
    accept it.
    """
    # deferred: cryptography costs ~20 ms of CPU to import, and the zones' commands
    # (sitter-ctl, manatee-adm's ZooKeeper side, the headnode's) import this module
    # through the peers' control; only `up` and a reprovision make keys
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    ).decode()
    private_path.parent.mkdir(parents=True, exist_ok=True)
    if private_path.exists():
        private_path.unlink()
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(private)
    line = f"{public} {comment}"
    Path(f"{private_path}.pub").write_text(line + "\n")
    return line


def known_hosts_host(host: str, port: int) -> str:
    """The host field OpenSSH writes to known_hosts for ``host:port``."""
    return host if port == 22 else f"[{host}]:{port}"


def _sshd_quote(value: str) -> str:
    """Quote a value for sshd_config (double quotes; sshd has no escape for them)."""
    if '"' in value or "\n" in value:
        raise BadInput(
            f"The sshd_config value {value!r} contains a double quote or newline.",
            "Use a value without them (sshd_config cannot escape them).",
        )
    return f'"{value}"'


@dataclass
class SshServer:
    """An ``sshd`` on ``host:port``; config, keys, pid file and log live under ``workdir``."""

    workdir: Path
    host: str
    authorized_keys: Path
    port: int = 0
    force_command: str | None = None
    set_env: dict[str, str] | None = None
    log_level: str = "VERBOSE"
    source_shell_rc: bool = False
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def host_key(self) -> Path:
        return self.workdir / "ssh_host_ed25519_key"

    @property
    def pid_file(self) -> Path:
        return self.workdir / "sshd.pid"

    @property
    def log_file(self) -> Path:
        return self.workdir / "sshd.log"

    @property
    def config_file(self) -> Path:
        return self.workdir / "sshd_config"

    def start(self, timeout: float = 10.0) -> None:
        if not SSHD.exists():
            raise BadInput(
                f"OpenSSH's server is not installed ({SSHD} is missing).",
                "Install it with `apt-get install -y openssh-server`.",
            )
        if not self.host.startswith("127."):
            raise BadInput(
                f"The sandbox sshd must listen on loopback, not {self.host}.",
                "Use a 127.0.0.0/8 address.",
            )
        self.workdir.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            # sshd's privilege separation insists on this directory when run as root.
            PRIVSEP_DIR.mkdir(mode=0o755, exist_ok=True)
        if not self.host_key.exists():
            generate_keypair(self.host_key, comment=f"sshd@{self.host}")
        if not self.port:
            self.port = free_port(self.host)
        self.config_file.write_text(self._config())
        self.process = subprocess.Popen(
            [str(SSHD), "-D", "-f", str(self.config_file), "-E", str(self.log_file)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        self._wait_ready(timeout)

    def _config(self) -> str:
        lines = [
            f"ListenAddress {self.host}:{self.port}",
            f"HostKey {self.host_key}",
            f"PidFile {self.pid_file}",
            f"AuthorizedKeysFile {self.authorized_keys}",
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "ChallengeResponseAuthentication no",
            "UsePAM no",
            "StrictModes no",
            "PermitRootLogin prohibit-password",
            "UseDNS no",
            "PrintMotd no",
            "PrintLastLog no",
            "AllowTcpForwarding yes",
            "MaxSessions 256",
            "MaxStartups 200:30:400",
            "ClientAliveInterval 0",
            f"LogLevel {self.log_level}",
        ]
        env = dict(self.set_env or {})
        if not self.source_shell_rc:
            env.setdefault("SHLVL", "1")
        if env:
            pairs = " ".join(_sshd_quote(f"{k}={v}") for k, v in env.items())
            lines.append(f"SetEnv {pairs}")
        if self.force_command:
            lines.append(f"ForceCommand {self.force_command}")
        return "\n".join(lines) + "\n"

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                status = self.process.returncode
                self.process = None
                raise MigratorError(
                    f"sshd exited at start-up (status {status}) on {self.host}:{self.port}.",
                    f"See {self.log_file}; the port may be taken or the config invalid.",
                )
            if _banner(self.host, self.port):
                return
            time.sleep(0.02)
        self.stop()
        raise MigratorError(
            f"sshd did not answer on {self.host}:{self.port} within {timeout:g} s.",
            f"See {self.log_file}.",
        )

    def known_hosts_line(self) -> str:
        """``[host]:port ssh-ed25519 AAAA...`` for this server's host key."""
        key_type, key_b64 = Path(f"{self.host_key}.pub").read_text().split()[:2]
        return f"{known_hosts_host(self.host, self.port)} {key_type} {key_b64}"

    def connection_pids(self) -> list[int]:
        """Pids of every process below the listener (connections and their commands)."""
        if self.process is None:
            return []
        return descendants(self.process.pid)

    def drop_connections(self, timeout: float = 5.0) -> int:
        """Kill every live connection (keeping the listener); return how many processes died."""
        pids = self.connection_pids()
        _kill_all(pids, timeout)
        return len(pids)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop connections and the listener; SIGKILL whatever outlives ``timeout``."""
        if self.process is None:
            return
        pids = self.connection_pids()
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
        _kill_all(pids, timeout)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=timeout)
        self.process = None

    def __enter__(self) -> SshServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def stop_sshd_pid(pid: int, timeout: float = 5.0) -> None:
    """Stop an sshd started by ``SshServer`` when only its pid is known (e.g. from sshd.pid).

    Its connections (each in its own session) and their commands are stopped
    first, then the listener; SIGKILL for whatever outlives ``timeout``. The pid
    is that of our own child, recorded when we started it; a pid that no longer
    runs sshd is left alone.
    """
    try:
        name = Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return
    if name != "sshd":
        return
    _kill_all([*descendants(pid), pid], timeout)


def _banner(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5) as sock:
            sock.settimeout(0.5)
            return sock.recv(8).startswith(b"SSH-")
    except OSError:
        return False


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2 :].split()[0] != "Z"


def _kill_all(pids: list[int], timeout: float) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and any(_alive(p) for p in pids):
            time.sleep(0.01)
        if not any(_alive(p) for p in pids):
            return


def check_installed() -> None:
    """Every sandbox zone or compute node runs an sshd: refuse clearly without one."""
    if not SSHD.exists():
        raise BadInput(
            f"OpenSSH's server is not installed ({SSHD} is missing); every sandbox zone "
            "runs its own sshd.",
            "Install it with `apt-get install -y openssh-server`.",
        )
