"""Remote commands on a real sshd: quoting, status/stderr, bounds, timeouts, drops, unreachable."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from migrator.errors import BadInput
from migrator.inventory.load import load_inventory
from migrator.inventory.model import Inventory
from migrator.inventory.values import CommandTemplate, validate_zone_id
from migrator.remote.errors import ConnectionDropped, RemoteCommandTimeout, ZoneUnreachable
from migrator.remote.session import RemoteSession
from migrator.sandbox.sshd import SshServer
from tests.remote.conftest import cut_off_once, drop_as_runs_start, own_sshd, write_inventory
from tests.waiting import line_in, until

NASTY = [
    "$(touch {canary})",
    "`touch {canary}`",
    "; touch {canary}",
    "&& touch {canary}",
    "| touch {canary}",
    "' ; touch {canary} ; '",
    '" ; touch {canary} ; "',
    "\n touch {canary}",
    "-n",
    "*",
]


@pytest.mark.sshd
@pytest.mark.parametrize("template", NASTY)
def test_shell_metacharacters_in_arguments_are_quoted_never_run(
    session: RemoteSession, tmp_path: Path, template: str
) -> None:
    canary = tmp_path / "canary"
    argument = template.format(canary=canary)
    result = session.run("z1", ["printf", "%s", argument])
    assert result.ok
    assert result.stdout.decode() == argument  # arrived as one literal word
    assert not canary.exists()


@pytest.mark.sshd
@pytest.mark.parametrize("template", NASTY[:8])
def test_shell_metacharacters_in_template_values_are_quoted(
    session: RemoteSession, tmp_path: Path, template: str
) -> None:
    canary = tmp_path / "canary"
    value = template.format(canary=canary)
    command = CommandTemplate("printf %s {image}").fill(image=value)
    assert session.run("z1", command).stdout.decode() == value
    assert not canary.exists()


@pytest.mark.sshd
@pytest.mark.parametrize("zone", ["z1; touch /tmp/x", "$(id)", "-oProxyCommand=x", "a b", ""])
def test_metacharacter_zone_ids_are_rejected(session: RemoteSession, zone: str) -> None:
    with pytest.raises(BadInput):
        validate_zone_id(zone)
    with pytest.raises(BadInput):
        session.run(zone, ["true"])


@pytest.mark.sshd
def test_status_stdout_and_stderr_are_captured(session: RemoteSession) -> None:
    result = session.run("z1", ["sh", "-c", "echo out; echo err >&2; exit 7"])
    assert (result.status, result.stdout, result.stderr) == (7, b"out\n", b"err\n")
    assert not result.ok


@pytest.mark.sshd
def test_output_is_bounded(session: RemoteSession) -> None:
    result = session.run("z1", ["head", "-c", "50000000", "/dev/zero"], max_output=100_000)
    assert len(result.stdout) == 100_000
    assert result.truncated


@pytest.mark.sshd
def test_hanging_command_times_out_naming_zone_and_command(session: RemoteSession) -> None:
    with pytest.raises(RemoteCommandTimeout) as caught:
        session.run("z1", ["sleep", "30"], timeout=0.5)
    assert "z1" in caught.value.message and "sleep 30" in caught.value.message
    # the transport survives a timed-out channel
    assert session.run("z1", ["echo", "still here"]).text == "still here\n"


@pytest.mark.sshd
@own_sshd
def test_one_transport_is_reused_for_every_command(
    session: RemoteSession, sshd: SshServer
) -> None:
    for _ in range(10):
        assert session.run("z1", ["true"]).ok
    assert session.connection("z1").connects == 1
    assert sshd.log_file.read_text().count("Accepted publickey") == 1


@pytest.mark.sshd
@own_sshd
def test_dropped_connection_is_reestablished(session: RemoteSession, sshd: SshServer) -> None:
    assert session.run("z1", ["echo", "before"]).ok
    assert sshd.drop_connections() > 0
    until(lambda: not session.connection("z1").transport_alive(), 5,
          "paramiko noticing the dropped connection")
    assert session.run("z1", ["echo", "after"]).text == "after\n"
    assert session.connection("z1").connects == 2


@pytest.mark.sshd
@own_sshd
def test_a_read_whose_connection_drops_is_run_again_on_a_new_connection(
    session: RemoteSession, sshd: SshServer, tmp_path: Path
) -> None:
    counter = tmp_path / "runs"
    dropper = drop_as_runs_start(sshd, counter, 1)
    result = session.run("z1", ["sh", "-c", cut_off_once(counter)], timeout=15,
                         reads_only=True)
    dropper.join(timeout=10)
    assert result.text == "answered\n"
    assert counter.read_text() == "x\nx\n"  # cut off once, run again once
    assert result.rerun_after is not None and "dropped while it ran" in result.rerun_after
    assert session.connection("z1").connects == 2


@pytest.mark.sshd
@own_sshd
@pytest.mark.parametrize("reads_only", [False, True], ids=["a command", "a read"])
def test_drop_during_a_command_is_reported_once_it_may_not_be_rerun(
    session: RemoteSession, sshd: SshServer, tmp_path: Path, reads_only: bool
) -> None:
    """A command is never run again (it may have taken effect); a read is, once."""
    counter = tmp_path / "runs"
    runs = 2 if reads_only else 1
    dropper = drop_as_runs_start(sshd, counter, runs)
    with pytest.raises(ConnectionDropped) as caught:
        session.run("z1", ["sh", "-c", f"echo x >> {counter}; sleep 20"], timeout=15,
                    reads_only=reads_only)
    dropper.join(timeout=10)
    assert "may or may not have taken effect" in caught.value.message
    assert counter.read_text() == "x\n" * runs
    assert session.run("z1", ["true"]).ok


@pytest.mark.sshd
def test_a_read_cut_off_without_an_exit_status_is_run_again(
    session: RemoteSession, tmp_path: Path
) -> None:
    counter = tmp_path / "runs"
    # the first run kills its own process group, wrapper included: sshd then sends an
    # exit signal and no exit status, as when a connection behind a jump goes down
    script = (f'echo x >> {counter}; [ "$(wc -l < {counter})" -ge 2 ] || kill -KILL 0; '
              "echo answered")
    result = session.run("z1", ["sh", "-c", script], reads_only=True)
    assert result.text == "answered\n" and result.ok
    assert result.rerun_after is not None and "without an exit status" in result.rerun_after
    counter.unlink()
    cut = session.run("z1", ["sh", "-c", script])  # not a read: reported as it came
    assert cut.status is None and cut.rerun_after is None
    assert counter.read_text() == "x\n"


def _unreachable_inventory(tmp_path: Path, client_key: Path, port: int) -> Inventory:
    path = write_inventory(tmp_path, {"z9": {"host": "127.0.0.24", "port": port}},
                           known_hosts=tmp_path / "known_hosts", identity=client_key,
                           ssh={"connect_timeout": 1})
    return load_inventory(path)


@pytest.mark.local
def test_refused_connection_names_zone_address_and_cause(
    tmp_path: Path, client_key: Path
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.24", 0))
        port = int(probe.getsockname()[1])  # bound, not listening: refused
        inventory = _unreachable_inventory(tmp_path, client_key, port)
        with RemoteSession(inventory, use_agent=False) as session, \
                pytest.raises(ZoneUnreachable) as caught:
            session.run("z9", ["true"])
    message = caught.value.message
    assert "z9" in message and f"127.0.0.24:{port}" in message and "refused" in message


@pytest.mark.local
def test_silent_zone_fails_within_the_connect_timeout(
    tmp_path: Path, client_key: Path, silent_port: int
) -> None:
    inventory = _unreachable_inventory(tmp_path, client_key, silent_port)
    started = time.monotonic()
    with RemoteSession(inventory, use_agent=False) as session, \
            pytest.raises(ZoneUnreachable) as caught:
        session.run("z9", ["true"])
    elapsed = time.monotonic() - started
    assert "z9" in caught.value.message and f"127.0.0.24:{silent_port}" in caught.value.message
    assert "handshake" in caught.value.message
    # bounded by the 1 s connect timeout (generous slack: this is a bound, not a benchmark)
    assert elapsed < 1 + 4


@pytest.mark.sshd
def test_a_zone_too_slow_to_authenticate_is_a_timeout_not_a_refused_key(
    tmp_path: Path, sshd_factory: Callable[..., SshServer], client_key: Path
) -> None:
    """Its sshd stops answering after the handshake (a loaded host): the connect timeout
    runs out during authentication, which is said as such, not as every key refused."""
    import os
    import signal

    server = sshd_factory("127.0.0.21")
    inventory = load_inventory(write_inventory(
        tmp_path, {"z1": {"host": server.host, "port": server.port}},
        known_hosts=tmp_path / "known_hosts", identity=client_key, ssh={"connect_timeout": 2}))
    stopped: list[int] = []

    def stall(_recorded: object) -> None:  # first contact recorded: the handshake is done
        for pid in server.connection_pids():
            os.kill(pid, signal.SIGSTOP)
            stopped.append(pid)

    try:
        with RemoteSession(inventory, accept_new_host_keys=True, on_recorded=stall,
                           use_agent=False) as session, \
                pytest.raises(ZoneUnreachable) as caught:
            session.run("z1", ["true"])
    finally:
        for pid in stopped:
            os.kill(pid, signal.SIGCONT)
    assert stopped, "the handshake never reached the host key"
    message = caught.value.message
    assert "authentication did not complete within the 2 s connect timeout" in message
    assert "refused" not in message


@pytest.mark.sshd
def test_auth_failure_names_user_and_keys(
    tmp_path: Path, sshd: SshServer, zone_inventory: Callable[..., Inventory]
) -> None:
    from migrator.remote.errors import AuthenticationFailed
    from migrator.sandbox.sshd import generate_keypair

    stranger = tmp_path / "stranger"
    generate_keypair(stranger)
    inventory = zone_inventory(zone={"identity": str(stranger)})
    with RemoteSession(inventory, use_agent=False) as session, \
            pytest.raises(AuthenticationFailed) as caught:
        session.run("z1", ["true"])
    assert "root" in caught.value.message and str(stranger) in caught.value.message


@pytest.mark.sshd
def test_reprovision_runs_on_the_headnode_over_ssh(
    tmp_path: Path, sshd_factory: Callable[..., SshServer], client_key: Path
) -> None:
    zone = sshd_factory("127.0.0.21", name="zone")
    headnode = sshd_factory("127.0.0.26", name="headnode")
    known = tmp_path / "known_hosts"
    known.write_text(zone.known_hosts_line() + "\n" + headnode.known_hosts_line() + "\n")
    path = write_inventory(
        tmp_path, {"z1": {"host": zone.host, "port": zone.port}}, known_hosts=known,
        identity=client_key,
        extra={"headnode": {"host": headnode.host, "port": headnode.port},
               "commands": {"reprovision": {
                   "run_on": "headnode",
                   "command": "printf '%s|' sapiadm reprovision {zone} {image} \"$(hostname)\""}}},
    )
    with RemoteSession(load_inventory(path), use_agent=False) as session:
        result = session.reprovision("z1", "2.1.1")
        assert session.connection("headnode").connects == 1
    assert result.ok and result.text.startswith("sapiadm|reprovision|z1|2.1.1|")
    assert "Accepted publickey" in headnode.log_file.read_text()
    assert "Accepted publickey" not in zone.log_file.read_text()


@pytest.mark.sshd
def test_reprovision_refuses_unsafe_values(session: RemoteSession) -> None:
    with pytest.raises(BadInput):
        session.reprovision("z1", "v2; rm -rf /")
    with pytest.raises(BadInput):
        session.reprovision("z1;id", "v2")


@pytest.mark.sshd
def test_keepalives_are_sent_on_an_idle_transport(
    tmp_path: Path, sshd_factory: Callable[..., SshServer], client_key: Path
) -> None:
    server = sshd_factory("127.0.0.27", name="keepalive", log_level="DEBUG1")
    known = tmp_path / "known_hosts"
    known.write_text(server.known_hosts_line() + "\n")
    path = write_inventory(tmp_path, {"z1": {"host": server.host, "port": server.port}},
                           known_hosts=known, identity=client_key, ssh={"keepalive": 1})
    with RemoteSession(load_inventory(path), use_agent=False) as session:
        session.connect("z1")
        seen = line_in(server.log_file, lambda line: "keepalive@lag.net" in line, 10)
        assert seen is not None, "no keepalive reached sshd"


@pytest.mark.sshd
def test_arbitrary_arguments_arrive_verbatim(session: RemoteSession, tmp_path: Path) -> None:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    canary = tmp_path / "canary"

    @settings(max_examples=40, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(st.text(st.characters(blacklist_characters="\x00",
                                 blacklist_categories=("Cs",)), max_size=60))
    def round_trip(value: str) -> None:
        payload = value + f"$(touch {canary})"
        result = session.run("z1", ["printf", "%s", payload])
        assert result.stdout.decode("utf-8", "surrogateescape") == payload

    round_trip()
    assert not canary.exists()


@pytest.mark.sshd
@own_sshd
def test_stop_by_pid_ends_connections_too(
    session: RemoteSession, sshd: SshServer
) -> None:
    from migrator.sandbox.sshd import stop_sshd_pid

    assert session.run("z1", ["true"]).ok
    assert sshd.process is not None
    pid = sshd.process.pid
    connections = sshd.connection_pids()
    assert connections
    stop_sshd_pid(pid)
    sshd.process.wait(timeout=10)
    for child in connections:
        stat = Path(f"/proc/{child}/stat")
        assert not stat.exists() or stat.read_text().rsplit(")", 1)[1].split()[0] == "Z"


@pytest.mark.sshd
def test_zone_sockets_ack_at_once_and_send_without_delay(session: RemoteSession) -> None:
    from migrator.remote.connection import QUICKACK, QuickAckSocket

    assert session.run("z1", ["true"]).ok
    sock = session.connection("z1").transport().sock
    assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
    if QUICKACK is not None:  # Linux: every read asks for an immediate ACK
        assert isinstance(sock, QuickAckSocket)
    # many reads through the wrapper, output intact
    result = session.run("z1", ["sh", "-c", "head -c 200000 /dev/zero | tr '\\0' x"])
    assert result.ok and result.stdout == b"x" * 200000


@pytest.mark.sshd
@own_sshd
def test_quick_commands_side_by_side_never_drop_their_shared_connection(
    session: RemoteSession, sshd: SshServer,
) -> None:
    """Commands that end at once, many at a time on one connection (as the pre-flight
    probes of a compute node's zones are): none sends an end of input after its channel
    closed, which OpenSSH answers by dropping the connection and every command on it."""
    from concurrent.futures import ThreadPoolExecutor

    def quick(_index: int) -> int | None:
        return session.run("z1", "true").status

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(quick, range(400)))
    assert statuses == [0] * 400
    assert session.connection("z1").connects == 1
    assert "nonexistent channel" not in sshd.log_file.read_text()
