"""Authenticated, host-key-verified SSH transports: one per zone, reused, re-opened when dropped.

Decisions:

* The TCP socket gets ``TCP_NODELAY``: without it every command's small
  messages wait on Nagle's algorithm and the peer's delayed ACK, a stall per
  round trip that dwarfs the round trip itself on a fast network.
* Right after authenticating, OpenSSH's sshd sends a few small messages (the
  ``hostkeys-00`` notice, a debug line) and then, on its own socket where Nagle
  is on, holds the answer to our first channel open until we ACK them: the
  first channel of every connection waited for our kernel's delayed ACK (about
  40 ms; later channels take 0.3 ms). On Linux the socket therefore asks for an
  immediate ACK after every read (``TCP_QUICKACK``, which the kernel resets
  on its own, hence after every read), and the first channel opens without that
  wait. Where that is not possible (other systems, transports through a jump
  host or a ProxyCommand), the spare channel below takes the wait in the
  background instead of in the first command.
* A command on a new channel costs two round trips: the channel's open, whose
  answer carries the server's channel number, and only then the command. So each
  zone connection keeps one session channel open ahead of need (the spare,
  opened in the background as soon as the transport is up and again each time a
  command takes it): a command on a reused connection costs one round trip plus
  its own run time, which is what an operator at datacenter distance feels on
  every step. A spare is used only while its transport is alive; otherwise the
  command opens its own channel as before. Best effort: a server that refuses an
  extra session (MaxSessions reached) only means the next command opens its own.
* Keys tried, in order: identity files from the inventory/ssh_config (or the
  usual ``~/.ssh/id_*`` when none is named), then the ssh-agent's keys.
  Encrypted identity files are skipped (no passphrase prompt mid-run); the agent
  is the way to use them. A named identity (or the certificate beside it) that is
  not a regular file of at most 1 MiB is refused as bad input before paramiko reads
  it (``migrator.inputfile.require_identity_file``): paramiko reads without bound,
  and ``identity: /dev/zero`` grew a plan to 23 GB. A missing one is skipped and
  named, as before.
* The whole connect (TCP, jump hosts, handshake, host-key check, auth) shares
  one deadline, the connect timeout, so an unreachable zone fails within it.
* A channel that cannot be *opened* on a dead transport is retried once on a
  fresh transport (nothing ran yet). A connection lost *while* a command ran is
  reported, never silently re-run: the command may have taken effect.
* Jump-host transports are shared by every zone behind them, and by every connector
  of the process (``migrator.remote.shared``): the ZooKeeper forward through the
  headnode and the zones' route through it use one SSH connection.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from migrator.inputfile import require_identity_file
from migrator.remote.endpoint import Endpoint
from migrator.remote.errors import (
    AuthenticationFailed,
    ConnectionDropped,
    ZoneUnreachable,
)
from migrator.remote.hostkeys import KnownHosts, RecordedKey
from migrator.remote.shared import SHARED
from migrator.remote.sshlib import close_channel

if TYPE_CHECKING:
    import paramiko

# paramiko logs handshake noise at ERROR; without a handler Python would print it.
logging.getLogger("paramiko").addHandler(logging.NullHandler())

DEFAULT_IDENTITIES = ("~/.ssh/id_ed25519", "~/.ssh/id_ecdsa", "~/.ssh/id_rsa")


class Connector:
    """Opens transports for endpoints under one host-key policy and connect timeout."""

    def __init__(
        self,
        known_hosts: KnownHosts,
        *,
        connect_timeout: float = 10.0,
        keepalive: float = 5.0,
        use_agent: bool = True,
        on_recorded: Callable[[RecordedKey], None] | None = None,
    ) -> None:
        self.known_hosts = known_hosts
        self.connect_timeout = connect_timeout
        self.keepalive = keepalive
        self.use_agent = use_agent
        self.on_recorded = on_recorded
        self._held: set[tuple[Any, ...]] = set()  # keys of SHARED this connector holds
        self._lock = threading.Lock()
        self._agent_keys: list[paramiko.PKey] | None = None

    def open(self, endpoint: Endpoint, *, for_label: str | None = None) -> paramiko.Transport:
        """A new authenticated transport to ``endpoint``, within the connect timeout."""
        deadline = time.monotonic() + self.connect_timeout
        return self._open(endpoint, deadline, for_label or endpoint.label)

    def _open(self, endpoint: Endpoint, deadline: float, for_label: str) -> paramiko.Transport:
        # deferred: paramiko costs ~110 ms to import; only zone work pays it
        import paramiko

        sock = self._socket(endpoint, deadline, for_label)
        transport = paramiko.Transport(sock)
        try:
            remaining = _remaining(deadline)
            transport.banner_timeout = remaining
            transport.handshake_timeout = remaining
            transport.auth_timeout = remaining
            known_types = self.known_hosts.preferred_types(endpoint.host, endpoint.port)
            if known_types:
                options = transport.get_security_options()
                offered = list(options.key_types)
                options.key_types = [t for t in known_types if t in offered] + [
                    t for t in offered if t not in known_types
                ]
            try:
                transport.start_client(timeout=_remaining(deadline))
            except (paramiko.SSHException, OSError, EOFError) as exc:
                raise self._unreachable(
                    endpoint, for_label, f"SSH handshake failed: {exc or type(exc).__name__}"
                ) from None
            try:
                # start_client returns silently when its timeout passes mid-handshake
                server_key = transport.get_remote_server_key()
            except paramiko.SSHException:
                raise self._unreachable(
                    endpoint, for_label, "SSH handshake did not complete within the "
                    f"{self.connect_timeout:g} s connect timeout"
                ) from None
            recorded = self.known_hosts.verify(
                endpoint.label, endpoint.host, endpoint.port, server_key
            )
            if recorded is not None and self.on_recorded is not None:
                self.on_recorded(recorded)
            self._authenticate(transport, endpoint, deadline, for_label)
            if self.keepalive:
                transport.set_keepalive(max(1, int(self.keepalive)))
            return transport
        except BaseException:
            transport.close()
            raise

    def _socket(self, endpoint: Endpoint, deadline: float, for_label: str) -> Any:
        # deferred: paramiko costs ~110 ms to import; only zone work pays it
        import paramiko

        if endpoint.jump is not None:
            jump = self._jump_transport(endpoint.jump, deadline, for_label)
            try:
                return jump.open_channel(
                    "direct-tcpip",
                    (endpoint.host, endpoint.port),
                    ("127.0.0.1", 0),
                    timeout=_remaining(deadline),
                )
            except (paramiko.SSHException, OSError, EOFError) as exc:
                raise self._unreachable(
                    endpoint, for_label, f"jump host {endpoint.jump.address} could not open a "
                    f"connection onward: {exc or type(exc).__name__}"
                ) from None
        if endpoint.proxy_command:
            try:
                return paramiko.ProxyCommand(endpoint.proxy_command)
            except (paramiko.SSHException, OSError) as exc:
                cause = f"ProxyCommand failed: {exc}"
                raise self._unreachable(endpoint, for_label, cause) from None
        try:
            sock = socket.create_connection(
                (endpoint.host, endpoint.port), timeout=_remaining(deadline)
            )
        except TimeoutError:
            raise self._unreachable(
                endpoint, for_label, f"no answer within the {self.connect_timeout:g} s "
                "connect timeout"
            ) from None
        except OSError as exc:
            raise self._unreachable(endpoint, for_label, exc.strerror or str(exc)) from None
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return QuickAckSocket(sock, QUICKACK) if QUICKACK is not None else sock

    def _jump_transport(self, jump: Endpoint, deadline: float, for_label: str) -> Any:
        return self._shared(jump, lambda: self._open(jump, deadline, for_label))

    def shared_transport(self, endpoint: Endpoint) -> paramiko.Transport:
        """The process's one transport to ``endpoint`` as a jump host (``SHARED``): the
        one the zones' route through it uses, opened (within the connect timeout) when
        none is alive. Held until ``close``."""
        deadline = time.monotonic() + self.connect_timeout
        return self._shared(endpoint, lambda: self._open(endpoint, deadline, endpoint.label))

    def _shared(self, endpoint: Endpoint, open_: Callable[[], paramiko.Transport]
                ) -> paramiko.Transport:
        key = (endpoint.key(), str(self.known_hosts.path))
        with self._lock:
            if key not in self._held:
                SHARED.hold(key)
                self._held.add(key)
        return SHARED.get(key, open_)

    def _unreachable(self, endpoint: Endpoint, for_label: str, cause: str) -> ZoneUnreachable:
        via = "" if for_label == endpoint.label else f" (on the way to {for_label})"
        return ZoneUnreachable(
            f"Cannot reach {endpoint.label}{via} at {endpoint.route()}: {cause}.",
            "Check that the zone is running and reachable from here (address, port, jump "
            "host, firewall), or fix its entry in the inventory.",
        )

    def _authenticate(
        self, transport: paramiko.Transport, endpoint: Endpoint, deadline: float, for_label: str
    ) -> None:
        # deferred: paramiko costs ~110 ms to import; only zone work pays it
        import paramiko

        tried: list[str] = []
        skipped: list[str] = []

        def out_of_time() -> ZoneUnreachable:
            # not a refusal: "refused every key" sent an operator after keys when the host
            # was only slow (seen under load, with no key offered yet)
            offered = f"keys offered: {', '.join(tried)}" if tried else "no key offered yet"
            return self._unreachable(endpoint, for_label, "authentication did not complete "
                                     f"within the {self.connect_timeout:g} s connect timeout "
                                     f"({offered})")

        for name, key in self._keys(endpoint, skipped):
            if time.monotonic() > deadline:
                raise out_of_time()
            try:
                transport.auth_publickey(endpoint.user, key)
            except paramiko.AuthenticationException:
                if time.monotonic() > deadline:  # paramiko's own auth timeout
                    raise out_of_time() from None
                tried.append(name)
                continue
            except (paramiko.SSHException, OSError, EOFError) as exc:
                raise self._unreachable(endpoint, for_label, f"connection lost during "
                                        f"authentication: {exc}") from None
            if transport.is_authenticated():
                return
        detail = f"tried {', '.join(tried)}" if tried else "no usable key was found"
        if skipped:
            detail += f"; skipped {', '.join(skipped)}"
        raise AuthenticationFailed(
            f"{endpoint.label} ({endpoint.route()}) refused every key for user "
            f"{endpoint.user!r}: {detail}.",
            "Name the right key with `identity:` in the inventory or IdentityFile in "
            "~/.ssh/config, or load it into ssh-agent (`ssh-add KEY`).",
        )

    def _keys(self, endpoint: Endpoint, skipped: list[str]) -> list[tuple[str, Any]]:
        # deferred: paramiko costs ~110 ms to import; only zone work pays it
        import paramiko

        keys: list[tuple[str, Any]] = []
        paths = list(endpoint.identities) or [
            Path(p).expanduser() for p in DEFAULT_IDENTITIES if Path(p).expanduser().is_file()
        ]
        for path in paths:
            try:
                require_identity_file(path)
                keys.append((str(path), paramiko.PKey.from_path(str(path))))
            except (paramiko.PasswordRequiredException, TypeError) as exc:
                # cryptography raises TypeError for passphrase-protected OpenSSH keys
                if isinstance(exc, TypeError) and "password" not in str(exc):
                    raise
                skipped.append(f"{path} (encrypted; load it into ssh-agent)")
            except (OSError, paramiko.SSHException, ValueError) as exc:
                skipped.append(f"{path} ({getattr(exc, 'strerror', None) or exc})")
        if self.use_agent:
            for key in self._agent():
                keys.append((f"agent key {key.get_name()} {key.fingerprint}", key))
        return keys

    def _agent(self) -> list[Any]:
        if self._agent_keys is None:
            # deferred: paramiko costs ~110 ms to import; only zone work pays it
            import paramiko

            try:
                self._agent_keys = list(paramiko.Agent().get_keys())
            except (paramiko.SSHException, OSError):
                self._agent_keys = []
        return self._agent_keys

    def close(self) -> None:
        with self._lock:
            held, self._held = self._held, set()
        for key in held:
            SHARED.release(key)


class ZoneConnection:
    """The one transport of one zone, opened lazily and re-opened after a drop, with a
    spare session channel kept open ahead of need (see the module docstring)."""

    def __init__(self, endpoint: Endpoint, connector: Connector, *, shared: bool = False
                 ) -> None:
        self.endpoint = endpoint
        self.connector = connector
        # the headnode: its transport is the process's one (``Connector.shared_transport``),
        # which the zones' route and the ZooKeeper forward use too; the connector closes it
        self.shared = shared
        self.connects = 0  # how many transports were opened (1 + reconnects)
        self.spares_used = 0  # commands that found a channel open and waiting
        self._transport: paramiko.Transport | None = None
        self._spare: paramiko.Channel | None = None
        self._replenishing = False
        self._lock = threading.Lock()

    @property
    def label(self) -> str:
        return self.endpoint.label

    def transport(self) -> paramiko.Transport:
        with self._lock:
            if self._transport is not None and self._transport.is_active():
                return self._transport
            if self._transport is not None:
                self._transport.close()
                self._transport = None
                self._spare = None  # closed with its transport
            if self.shared:
                self._transport = self.connector.shared_transport(self.endpoint)
            else:
                self._transport = self.connector.open(self.endpoint)
            self.connects += 1
            transport = self._transport
        self._replenish(transport)
        return transport

    def transport_alive(self) -> bool:
        with self._lock:
            return self._transport is not None and self._transport.is_active()

    def open_channel(self, timeout: float) -> paramiko.Channel:
        """A session channel: the spare when one is waiting, else a new one (retried once
        on a fresh transport if the old one was dead)."""
        # deferred: paramiko costs ~110 ms to import; only zone work pays it
        import paramiko

        for attempt in (1, 2):
            transport = self.transport()
            spare = self._take_spare(transport)
            if spare is not None:
                self._replenish(transport)
                return spare
            try:
                channel = transport.open_session(timeout=timeout)
            except (paramiko.SSHException, OSError, EOFError) as exc:
                if transport.is_active() or attempt == 2:
                    raise ConnectionDropped(
                        f"Could not open a channel to {self.label} ({self.endpoint.route()}): "
                        f"{exc or type(exc).__name__}.",
                        "Check the zone's sshd (MaxSessions) and the network, then rerun.",
                    ) from None
                continue
            self._replenish(transport)
            return channel
        raise AssertionError("unreachable")

    def _take_spare(self, transport: paramiko.Transport) -> paramiko.Channel | None:
        with self._lock:
            spare, self._spare = self._spare, None
        if spare is None:
            return None
        if spare.closed or spare.get_transport() is not transport or not transport.is_active():
            close_channel(spare)
            return None
        self.spares_used += 1
        return spare

    def _replenish(self, transport: paramiko.Transport) -> None:
        """Open the next spare in the background, unless one is waiting or on its way."""
        with self._lock:
            if self._spare is not None or self._replenishing:
                return
            self._replenishing = True
        threading.Thread(target=self._open_spare, args=(transport,), name="ssh-spare",
                         daemon=True).start()

    def _open_spare(self, transport: paramiko.Transport) -> None:
        # deferred: paramiko costs ~110 ms to import; only zone work pays it
        import paramiko

        channel = None
        try:
            channel = transport.open_session(timeout=SPARE_OPEN_WAIT)
        except (paramiko.SSHException, OSError, EOFError):
            pass  # a command opens its own, and reports whatever is wrong
        finally:
            with self._lock:
                self._replenishing = False
                keep = (channel is not None and self._spare is None
                        and self._transport is transport and transport.is_active())
                if keep:
                    self._spare = channel
            if channel is not None and not keep:
                close_channel(channel)

    def close(self) -> None:
        with self._lock:
            spare, self._spare = self._spare, None
            if spare is not None:
                close_channel(spare)
            if self._transport is not None:
                if not self.shared:  # a shared one is the connector's to close
                    self._transport.close()
                self._transport = None


QUICKACK: int | None = getattr(socket, "TCP_QUICKACK", None)  # Linux only


class QuickAckSocket:
    """A TCP socket that acknowledges what it read at once (see the module docstring).

    Everything but ``recv`` is the wrapped socket's own; paramiko needs no more.
    """

    def __init__(self, sock: socket.socket, quickack: int) -> None:
        self._sock = sock
        self._quickack = quickack

    def recv(self, size: int) -> bytes:
        data = self._sock.recv(size)
        # OSError: closed meanwhile by another thread; the next read says so.
        with contextlib.suppress(OSError):
            self._sock.setsockopt(socket.IPPROTO_TCP, self._quickack, 1)
        return data

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


# how long a spare's open may take before it is given up (a command opens its own)
SPARE_OPEN_WAIT = 10.0


def _remaining(deadline: float) -> float:
    return max(0.01, deadline - time.monotonic())

