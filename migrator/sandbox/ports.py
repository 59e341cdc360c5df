"""Free TCP ports on loopback addresses for the sandbox's servers."""

from __future__ import annotations

import contextlib
import socket


def free_ports(host: str, count: int) -> list[int]:
    """``count`` distinct ports free on ``host`` right now.

    The sockets are held open together while the kernel picks, so the ports
    differ from each other: picking one at a time could hand out the same
    port twice (a zone's postgres and sshd once collided that way). Another
    program can still take a port before our server binds it; the servers
    report that with the port named.
    """
    with contextlib.ExitStack() as held:
        ports = []
        for _ in range(count):
            sock = held.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind((host, 0))
            ports.append(int(sock.getsockname()[1]))
        return ports


def free_port(host: str = "127.0.0.1") -> int:
    return free_ports(host, 1)[0]


def common_free_port(hosts: list[str], attempts: int = 50) -> int:
    """One port free on every one of ``hosts`` (the sandbox's compute nodes all listen
    on the same SSH port, as real ones do on 22, so one `node_port` describes them)."""
    for _ in range(attempts):
        port = free_port(hosts[0])
        with contextlib.ExitStack() as held:
            try:
                for host in hosts[1:]:
                    sock = held.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
                    sock.bind((host, port))
            except OSError:
                continue
            return port
    raise OSError(f"no port free on all of {', '.join(hosts)} after {attempts} attempts")
