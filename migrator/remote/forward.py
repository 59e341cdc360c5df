"""ZooKeeper through the headnode: local ports relayed over the headnode's SSH connection.

In a Triton datacenter ZooKeeper listens on the admin network, which an operator's
workstation usually cannot reach; the headnode can. With ``zookeeper_via:
headnode`` every ZooKeeper connection goes through the SSH connection the migrator
holds to the headnode anyway (the one its zones' route uses:
``Connector.shared_transport``), and kazoo stays plain: it is given local addresses.

Decisions:

* One listening socket on 127.0.0.1 (an ephemeral port) per ZooKeeper server, so
  kazoo's own rotation between servers works; each accepted connection is relayed
  over a ``direct-tcpip`` channel to that server as the headnode reaches it.
* The forward is opened once per command and reused by every ZooKeeper connection
  of it (kazoo reconnects to the same local ports).
* A channel or transport that drops closes the local connection: kazoo sees a
  connection loss like any other, and the run pauses and reconnects within the
  session timeout (``migrator.zk.faults``). The next accepted connection reopens
  the transport (one handshake, shared with the zones' route) if it died.
* ``start`` opens the transport and one channel to the first server at once, so a
  headnode that refuses forwarding (``AllowTcpForwarding no``: the channel open is
  "administratively prohibited") is a clear error before anything is read or
  written, naming the setting and the alternative; that first channel then carries
  kazoo's first connection to that server (no round trip spent twice). A server
  the headnode cannot connect to is left to kazoo, which tries the others and
  reports "cannot connect" within its timeout, as directly.
* Every thread here is a daemon and every loop is bounded by ``close`` (checked at
  least every ``POLL`` seconds).
"""

from __future__ import annotations

import contextlib
import logging
import select
import socket
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from migrator.errors import BadInput
from migrator.inventory.model import Inventory
from migrator.inventory.zkroute import kazoo_hosts, zk_servers
from migrator.remote.connection import Connector
from migrator.remote.endpoint import Endpoint, headnode_endpoint, load_ssh_config
from migrator.remote.hostkeys import KnownHosts
from migrator.remote.sshlib import close_channel

if TYPE_CHECKING:
    import paramiko

log = logging.getLogger(__name__)

POLL = 0.5  # seconds between checks of ``close`` in the accept and relay loops
CHUNK = 65536
LOCAL_HOST = "127.0.0.1"
# SSH_OPEN_ADMINISTRATIVELY_PROHIBITED (RFC 4254 5.1): what sshd answers a channel open
# with when AllowTcpForwarding (or PermitOpen) forbids it
PROHIBITED = 1


class ForwardingRefused(BadInput):
    """The headnode's sshd refuses to forward TCP connections (``AllowTcpForwarding``)."""


def refused(endpoint: Endpoint, server: tuple[str, int], why: str) -> ForwardingRefused:
    host, port = server
    return ForwardingRefused(
        f"The headnode ({endpoint.route()}) refused to forward a connection to ZooKeeper at "
        f"{host}:{port} ({why}): its sshd does not allow TCP forwarding, which "
        "`zookeeper_via: headnode` in the inventory needs; nothing was read or written.",
        "Allow it for this user on the headnode (`AllowTcpForwarding yes` in "
        "/etc/ssh/sshd_config, or a `Match User` block), or run the migrator where "
        "ZooKeeper is reachable directly (on the headnode itself, or in a zone on the "
        "admin network) with `zookeeper_via: direct`.",
    )


class ZkForward:
    """Local ends on 127.0.0.1 for ZooKeeper servers, relayed through the headnode."""

    def __init__(self, connector: Connector, endpoint: Endpoint,
                 servers: Sequence[tuple[str, int]], *, open_timeout: float = 10.0) -> None:
        self.connector = connector
        self.endpoint = endpoint
        self.servers = list(servers)
        self.open_timeout = open_timeout
        self.channels_opened = 0  # how many connections were forwarded (for tests)
        self._listeners: list[socket.socket] = []
        self._threads: list[threading.Thread] = []  # one accept loop per listener
        self._relays: list[threading.Thread] = []  # one per forwarded connection
        self._spare: tuple[int, paramiko.Channel] | None = None  # (server index, channel)
        self._lock = threading.Lock()
        self._closed = threading.Event()

    def start(self) -> list[tuple[str, int]]:
        """Open the transport and the first channel, listen; the local ends, in the
        servers' order. ``ForwardingRefused`` when the headnode forbids forwarding."""
        transport = self.connector.shared_transport(self.endpoint)
        try:
            self._spare = (0, self._open_channel(transport, 0, strict=True))
        except _Unconnected:
            self._spare = None  # kazoo tries the others and says what it cannot reach
        try:
            for index in range(len(self.servers)):
                listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                listener.bind((LOCAL_HOST, 0))
                listener.listen(16)
                self._listeners.append(listener)
                thread = threading.Thread(target=self._accept, args=(listener, index),
                                          name=f"zk-forward-{index}", daemon=True)
                self._threads.append(thread)
                thread.start()
        except BaseException:
            self.close()
            raise
        return [(LOCAL_HOST, listener.getsockname()[1]) for listener in self._listeners]

    def _open_channel(self, transport: paramiko.Transport, index: int, *,
                      strict: bool) -> paramiko.Channel:
        # deferred: paramiko costs ~110 ms to import; a forward means it is loaded
        import paramiko

        server = self.servers[index]
        try:
            try:
                channel = transport.open_channel("direct-tcpip", server, (LOCAL_HOST, 0),
                                                 timeout=self.open_timeout)
            except paramiko.ChannelException:
                raise
            except paramiko.SSHException:
                # paramiko keeps one pending exception per transport: when channels of
                # other threads (the zones' route) fail at the same moment, a refusal can
                # reach the wrong opener as a bare "Unable to open channel". Once more
                # tells which it was
                channel = transport.open_channel("direct-tcpip", server, (LOCAL_HOST, 0),
                                                 timeout=self.open_timeout)
        except paramiko.ChannelException as exc:
            if exc.code == PROHIBITED:
                raise refused(self.endpoint, server, exc.text or "prohibited") from None
            if strict:
                # the headnode could not connect to this server: kazoo will try the
                # others and say so within its connect timeout
                raise _Unconnected(str(exc)) from None
            raise
        except paramiko.SSHException as exc:
            if strict:
                raise _Unconnected(str(exc)) from None
            raise
        self.channels_opened += 1
        return channel

    def _accept(self, listener: socket.socket, index: int) -> None:
        while not self._closed.is_set():
            try:
                ready, _, _ = select.select([listener], [], [], POLL)
                if not ready:
                    continue
                sock, _ = listener.accept()
            except (OSError, ValueError):  # closed by ``close``
                return
            thread = threading.Thread(target=self._serve, args=(sock, index),
                                      name=f"zk-forward-{index}-relay", daemon=True)
            with self._lock:
                self._relays = [t for t in self._relays if t.is_alive()]
                self._relays.append(thread)
            thread.start()

    def _channel_for(self, index: int) -> paramiko.Channel | None:
        with self._lock:
            spare, self._spare = self._spare, None
        if spare is not None:
            spare_index, channel = spare
            transport = channel.get_transport()
            if (spare_index == index and not channel.closed and transport is not None
                    and transport.is_active()):
                return channel
            close_channel(channel)
        try:
            transport = self.connector.shared_transport(self.endpoint)
            return self._open_channel(transport, index, strict=False)
        except Exception as exc:  # the local end is closed: kazoo sees a connection loss
            log.debug("forward to %s: %s", self.servers[index], exc)
            return None

    def _serve(self, sock: socket.socket, index: int) -> None:
        channel = self._channel_for(index)
        if channel is None:
            _close_socket(sock)
            return
        try:
            _relay(sock, channel, self._closed)
        except Exception as exc:  # paramiko or socket errors: this connection is over
            log.debug("forward to %s ended: %s", self.servers[index], exc)
        finally:
            close_channel(channel)
            _close_socket(sock)

    def close(self) -> None:
        """Stop listening and end every relayed connection (bounded: ``POLL``)."""
        self._closed.set()
        for listener in self._listeners:
            _close_socket(listener)
        with self._lock:
            spare, self._spare = self._spare, None
        if spare is not None:
            close_channel(spare[1])
        with self._lock:
            relays, self._relays = self._relays, []
        for thread in [*self._threads, *relays]:
            thread.join(POLL * 4)
        self._threads.clear()


class _Unconnected(Exception):
    """The headnode could not connect onward to one ZooKeeper server (not a refusal)."""


def open_forward(connector: Connector, endpoint: Endpoint,
                 servers: Sequence[tuple[str, int]], *, open_timeout: float
                 ) -> tuple[ZkForward, list[tuple[str, int]]]:
    """A started forward and its local ends (``ForwardingRefused`` as ``start`` says);
    nothing is left open when it fails."""
    forward = ZkForward(connector, endpoint, servers, open_timeout=open_timeout)
    try:
        return forward, forward.start()
    except BaseException:
        forward.close()
        raise


@contextmanager
def through_headnode(connector: Connector, endpoint: Endpoint, connection_string: str,
                     open_timeout: float) -> Iterator[str]:
    """For the block, kazoo's hosts: the local ends of a forward to every server of
    ``connection_string`` (its chroot kept) through ``endpoint``."""
    servers = zk_servers(connection_string).servers
    forward, local = open_forward(connector, endpoint, servers, open_timeout=open_timeout)
    try:
        yield kazoo_hosts(connection_string, local)
    finally:
        forward.close()


@contextmanager
def inventory_zookeeper(inventory: Inventory | None, connection_string: str
                        ) -> Iterator[tuple[str, str | None]]:
    """For the block, what kazoo is given for ``connection_string`` and, when it goes
    through the headnode (``zookeeper_via: headnode``), the route to say in messages."""
    if inventory is None or inventory.zookeeper_via != "headnode":
        yield connection_string, None
        return
    connector = Connector(KnownHosts(inventory.known_hosts),
                          connect_timeout=inventory.ssh.connect_timeout,
                          keepalive=inventory.ssh.keepalive)
    try:
        endpoint = headnode_endpoint(inventory, load_ssh_config(inventory.ssh_config))
        with through_headnode(connector, endpoint, connection_string,
                              inventory.ssh.connect_timeout) as hosts:
            yield hosts, f"through the headnode {endpoint.route()}"
    finally:
        connector.close()


def _relay(sock: socket.socket, channel: Any, closed: threading.Event) -> None:
    """Copy both ways until either side ends or the forward is closed."""
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    while not closed.is_set():
        ready, _, _ = select.select([sock, channel], [], [], POLL)
        if sock in ready:
            data = sock.recv(CHUNK)
            if not data:
                return
            channel.sendall(data)
        if channel in ready:
            data = channel.recv(CHUNK)
            if not data:  # ZooKeeper closed it, or the channel or transport died
                return
            sock.sendall(data)
        transport = channel.get_transport()
        if channel.closed or transport is None or not transport.is_active():
            return


def _close_socket(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()
