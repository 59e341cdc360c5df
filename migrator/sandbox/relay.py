"""A delaying TCP relay: the sandbox's stand-in for the distance to a remote datacenter.

`migrator sandbox up --latency MS` puts one in front of the headnode's sshd and one in
front of ZooKeeper, and writes the operator's inventory with their addresses: the
operator's machine reaches the datacenter across the delay, while everything inside it
(the sitters and ZooKeeper, the headnode and its compute nodes) talks directly, as in
Triton, where the compute nodes share the headnode's network.

Decisions:

* Every chunk read from one side is written to the other ``MS`` milliseconds after it
  arrived, in order, in each direction: a one-way delay, so a request and its answer
  take ``2 * MS`` (the round trip the benchmarks speak of). Bandwidth is not limited;
  at datacenter distance the operator feels round trips, not throughput.
* A new connection costs what it costs across the distance (as with netem, which
  delays the SYN too): the client's first bytes reach the server one and a half round
  trips after it connected, and the server hears of the connection only then.
* A half-close travels like data (after the delay), so protocols that shut down their
  side of the socket (SSH does not, but a client may) see it where they would.
* The relay is given its listening socket by `up` (an inherited descriptor), so the
  address exists before the inventory naming it is written: no wait for readiness.
* Loopback only, like the rest of the sandbox: `up` binds the socket on 127.0.0.0/8.

Run as ``python -m migrator.sandbox.relay FD TARGET_HOST TARGET_PORT DELAY_MS``.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import sys

from migrator.sandbox import procs
from migrator.sandbox.config import RELAY_ADDRESS, SandboxConfig

CHUNK = 65536


async def _carry(reader: asyncio.StreamReader, writer: asyncio.Future[asyncio.StreamWriter],
                 delay: float, not_before: float) -> None:
    """Copy one direction: each chunk leaves ``delay`` seconds after it was read, and
    none before ``not_before`` (the loop's clock)."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

    async def deliver() -> None:
        out = await writer
        while True:
            due, data = await queue.get()
            await asyncio.sleep(max(0.0, due - loop.time()))
            if not data:  # the sender's half-close
                if out.can_write_eof():
                    out.write_eof()
                return
            out.write(data)
            await out.drain()

    sender = asyncio.create_task(deliver())
    try:
        while True:
            data = await reader.read(CHUNK)
            queue.put_nowait((max(loop.time() + delay, not_before), data))
            if not data:
                break
        await sender
    except (ConnectionError, OSError):
        pass
    finally:
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError, ConnectionError, OSError):
            await sender


async def _relay_one(client_reader: asyncio.StreamReader,
                     client_writer: asyncio.StreamWriter,
                     target: tuple[str, int], delay: float) -> None:
    """One connection. The kernel completed the client's handshake with us at once; a
    real one takes a round trip before the client's first byte leaves, and the server
    accepts half a round trip after that. So the target is connected ``3 * delay``
    after the accept, and the client's bytes reach it no earlier."""
    loop = asyncio.get_running_loop()
    accepted = loop.time()
    _no_delay(client_writer)
    upstream: asyncio.Future[asyncio.StreamWriter] = loop.create_future()
    downstream: asyncio.Future[asyncio.StreamWriter] = loop.create_future()
    downstream.set_result(client_writer)
    outbound = asyncio.create_task(
        _carry(client_reader, upstream, delay, accepted + 3 * delay))
    server_writer = None
    try:
        await asyncio.sleep(3 * delay)
        try:
            server_reader, server_writer = await asyncio.open_connection(*target)
        except OSError:
            return
        _no_delay(server_writer)
        upstream.set_result(server_writer)
        await asyncio.gather(outbound, _carry(server_reader, downstream, delay, 0.0))
    finally:
        outbound.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await outbound
        for writer in (client_writer, server_writer):
            if writer is not None:
                writer.close()


def _no_delay(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:  # the delay is ours to add; Nagle's would come on top
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


async def serve(listening: socket.socket, target: tuple[str, int], delay: float) -> None:
    """Relay every connection accepted on ``listening`` until SIGTERM or SIGINT."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)

    async def accepted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _relay_one(reader, writer, target, delay)

    server = await asyncio.start_server(accepted, sock=listening)
    async with server:
        await stop.wait()


def start_relay(config: SandboxConfig, name: str, target: tuple[str, int]) -> int:
    """Start the relay ``relay-<name>`` to ``target`` with the sandbox's latency; its
    port on ``RELAY_ADDRESS``, listening before this returns."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listening:
        listening.bind((RELAY_ADDRESS, 0))
        listening.listen(64)
        procs.spawn(
            procs.python_argv("migrator.sandbox.relay", str(listening.fileno()), target[0],
                              str(target[1]), repr(config.latency_ms)),
            config.pid_file(f"relay-{name}"),
            config.directory / "relays" / f"{name}.out",
            config.directory,
            pass_fds=(listening.fileno(),),
        )
        port: int = listening.getsockname()[1]
    return port


def main(argv: list[str]) -> int:
    fd, host, port, delay_ms = argv
    listening = socket.socket(fileno=int(fd))
    asyncio.run(serve(listening, (host, int(port)), float(delay_ms) / 1000.0))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
