"""Command round trips over SSH on loopback, as the engine pays them.

Prints medians over N runs of:
  paramiko with its default socket (Nagle on)     ~48 ms measured when filed
  our transport (TCP_NODELAY on the socket)        target <= 5 ms
  fresh connection + first command                 target <= 100 ms
  the same through a login shell sourcing root's rc (what ForceCommand + SHLVL avoid)
"""

from __future__ import annotations

import socket
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import paramiko

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._ssh import zone
from migrator.remote.commands import run_command
from migrator.remote.session import RemoteSession

RUNS = int(sys.argv[1]) if len(sys.argv) > 1 else 50


def median_ms(func: Callable[[], object], runs: int = RUNS) -> float:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        func()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def default_socket_round_trip(z: object) -> float:
    from benchmarks._ssh import Zone

    assert isinstance(z, Zone)
    sock = socket.create_connection((z.server.host, z.server.port), timeout=5)  # Nagle on
    transport = paramiko.Transport(sock)
    try:
        transport.start_client(timeout=5)
        transport.auth_publickey("root", paramiko.PKey.from_path(str(z.key)))

        def once() -> None:
            channel = transport.open_session()
            channel.exec_command("true")
            channel.recv_exit_status()
            channel.close()

        return median_ms(once, max(5, RUNS // 5))
    finally:
        transport.close()


def main() -> None:
    with zone() as z:
        nagle = default_socket_round_trip(z)
        with RemoteSession(z.inventory, use_agent=False) as session:
            session.connect("z1")
            reused = median_ms(lambda: session.run("z1", ["true"]))

        def fresh() -> None:
            with RemoteSession(z.inventory, use_agent=False) as s:
                run_command(s.connection("z1"), ["true"], timeout=10)

        connect_first = median_ms(fresh, max(5, RUNS // 5))
    with zone("127.0.0.32", source_shell_rc=True) as slow, RemoteSession(
            slow.inventory, use_agent=False) as session:
        session.connect("z1")
        login_shell = median_ms(lambda: session.run("z1", ["true"]), max(5, RUNS // 5))
    print(f"paramiko, default socket (Nagle on)      {nagle:8.2f} ms/command")
    print(f"reused transport, TCP_NODELAY            {reused:8.2f} ms/command   (target <= 5)")
    print(f"fresh connection + first command         {connect_first:8.2f} ms          "
          "(target <= 100)")
    print(f"reused transport, login shell + rc file  {login_shell:8.2f} ms/command   "
          f"(+{login_shell - reused:.1f} ms avoided by ForceCommand + SHLVL)")


if __name__ == "__main__":
    main()
