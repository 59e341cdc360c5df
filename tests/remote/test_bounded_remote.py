"""Every remote read is bounded (issue 21 §4), against a real sshd on 127.0.0.x.

* A command we abandon (timeout) is ended on the remote side, and what it started with
  it; a command that ends by itself keeps its output and status and leaves nothing.
  Whether a remote process still runs is asked of the process table (``pgrep -f`` on a
  marker no other process carries): the sshd runs on this machine.
* A sitter log that is a FIFO (or a device, a directory) is refused at once, naming the
  zone and the path, with no ``tail`` left running; a log swapped for a FIFO after the
  check blocks only until the timeout, and its ``tail`` is then ended.
* Discovery: a headnode command that does not answer is a discovery failure (exit 2),
  ended on the headnode.

Every process a test leaves on purpose (the control that shows ``pgrep`` sees a
survivor) is killed by its pid before the test ends.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

from migrator.inventory.load import load_inventory
from migrator.inventory.model import Inventory
from migrator.remote.commands import END_GRACE, run_command
from migrator.remote.errors import LogUnavailable, RemoteCommandTimeout
from migrator.remote.session import RemoteSession
from migrator.sandbox.sshd import SshServer
from tests.conftest import invoke_cli
from tests.remote.conftest import write_inventory
from tests.waiting import until

pytestmark = pytest.mark.sshd

GONE = END_GRACE + 8.0  # seconds for an abandoned command to be gone: TERM, then KILL


def _marker() -> str:
    """A sleep length no other process on the machine has: its own marker (about 70 days)."""
    return f"6{secrets.randbelow(10**6):06d}.{secrets.randbelow(10**6):06d}"


def running(marker: str) -> list[int]:
    """Pids of the live processes whose command line contains ``marker``."""
    found = subprocess.run(["pgrep", "-f", marker], capture_output=True, text=True,
                           timeout=10, check=False, stdin=subprocess.DEVNULL)
    return [int(pid) for pid in found.stdout.split()]


@contextlib.contextmanager
def killed_at_end(marker: str) -> Iterator[None]:
    """Whatever still carries ``marker`` when the block ends is killed, by pid."""
    try:
        yield
    finally:
        for pid in running(marker):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        until(lambda: not running(marker), 10, f"the processes marked {marker} gone")


def _inventory(tmp_path: Path, sshd: SshServer, client_key: Path, *, command_timeout: float,
               commands: dict[str, object] | None = None) -> Inventory:
    known = tmp_path / "known_hosts"
    known.write_text(sshd.known_hosts_line() + "\n")
    zone = {"host": sshd.host, "port": sshd.port, "sitter_log": str(tmp_path / "sitter.log")}
    extra = {"commands": commands} if commands else None
    return load_inventory(write_inventory(tmp_path, {"z1": zone}, known_hosts=known,
                                          identity=client_key, extra=extra,
                                          ssh={"command_timeout": command_timeout}))


@pytest.fixture
def quick(tmp_path: Path, sshd: SshServer, client_key: Path) -> Iterator[RemoteSession]:
    """A session whose commands time out after 2 s."""
    with RemoteSession(_inventory(tmp_path, sshd, client_key, command_timeout=2),
                       use_agent=False) as remote:
        yield remote


# --- abandoned commands end on the remote side --------------------------------------------

def test_a_command_abandoned_at_its_timeout_is_ended_on_the_remote_side(
    session: RemoteSession
) -> None:
    marker = _marker()
    with killed_at_end(marker):
        started = time.monotonic()
        with pytest.raises(RemoteCommandTimeout) as caught:
            session.run("z1", ["sleep", marker], timeout=1)
        assert time.monotonic() - started < 5
        assert "which ends it on z1" in caught.value.message
        until(lambda: not running(marker), GONE, f"the remote `sleep {marker}` ended")
        # the transport survives, and the next command runs as before
        assert session.run("z1", ["echo", "still here"]).text == "still here\n"


def test_what_an_abandoned_command_started_is_ended_with_it(session: RemoteSession) -> None:
    first, second = _marker(), _marker()
    with killed_at_end(first), killed_at_end(second):
        with pytest.raises(RemoteCommandTimeout):
            session.run("z1", ["sh", "-c", f"sleep {first} & sleep {second}; wait"], timeout=1)
        until(lambda: not running(first) and not running(second), GONE,
              "both remote sleeps ended, the background one too")


def test_without_the_wrapper_the_remote_command_would_survive(session: RemoteSession) -> None:
    """The control: what the check above sees is real. A command left running on purpose
    (``end_on_abandon=False``, as a reprovision is) is still there after the timeout."""
    marker = _marker()
    with killed_at_end(marker):
        with pytest.raises(RemoteCommandTimeout) as caught:
            session.run("z1", ["sleep", marker], timeout=1, end_on_abandon=False)
        assert "may still be running" in caught.value.message
        time.sleep(0.5)  # what ending it would take, at least; it must still be there
        assert running(marker), "the unwrapped remote sleep should outlive its channel"


def test_a_command_that_ends_keeps_its_output_and_status_and_leaves_nothing(
    session: RemoteSession
) -> None:
    marker = _marker()
    result = session.run("z1", ["sh", "-c", f"echo out; echo err >&2; : {marker}; exit 7"])
    assert (result.status, result.stdout, result.stderr) == (7, b"out\n", b"err\n")
    # the template's own `exit` or `exec` cannot skip the wrapper's end
    assert session.run("z1", f": {marker}; echo a; exit 3").status == 3
    exec_result = session.run("z1", f"exec sh -c 'echo {marker}; exit 4'")
    assert (exec_result.status, exec_result.text) == (4, f"{marker}\n")
    # a trailing comment cannot swallow the wrapper's closing parenthesis
    assert session.run("z1", "echo commented # ) ; exit 9").text == "commented\n"
    until(lambda: not running(marker), 5, "no watcher left after the commands ended")
    # a command given input still reads it (it runs unwrapped)
    assert session.run("z1", ["cat"], stdin=b"input\n").text == "input\n"


# --- a sitter log that is not a regular file ---------------------------------------------

def test_a_fifo_sitter_log_is_refused_at_once_naming_zone_and_path(
    quick: RemoteSession, tmp_path: Path
) -> None:
    log = tmp_path / "sitter.log"
    log.write_text("a line\n")
    mark = quick.mark_log("z1")
    log.unlink()
    os.mkfifo(log)
    reads: list[Callable[[], object]] = [
        lambda: quick.mark_log("z1"),
        lambda: quick.read_log_end("z1", 4096),
        lambda: quick.read_since("z1", mark),
        lambda: quick.follow("z1", mark),
    ]
    for read in reads:
        started = time.monotonic()
        with pytest.raises(LogUnavailable) as caught:
            read()
        assert time.monotonic() - started < 1.5  # answered, not timed out (2 s)
        message = caught.value.message
        assert f"the log {log} in z1" in message and "a FIFO" in message, message
        assert "not a regular file" in message
    until(lambda: not running(str(log)), 5, "nothing left reading the FIFO")


def test_a_device_sitter_log_is_refused(quick: RemoteSession) -> None:
    with pytest.raises(LogUnavailable, match="it is a character device, not a regular file"):
        quick.mark_log("z1", "/dev/zero")


def test_a_log_swapped_for_a_fifo_after_the_check_is_ended_at_the_timeout(
    tmp_path: Path, sshd: SshServer, client_key: Path
) -> None:
    """The race the `[ -f ]` test cannot close: the log becomes a FIFO between the check
    and tail's open. The read blocks only until the timeout, and its tail is ended."""
    log = tmp_path / "sitter.log"
    log.write_text("a line\n")
    swapping_tail = tmp_path / "swapping-tail"
    swapping_tail.write_text(f'#!/bin/sh\nrm -f {log}\nmkfifo {log}\nexec tail "$@"\n')
    swapping_tail.chmod(0o755)
    inventory = _inventory(tmp_path, sshd, client_key, command_timeout=1,
                           commands={"tail": str(swapping_tail)})
    with RemoteSession(inventory, use_agent=False) as remote:
        with pytest.raises(RemoteCommandTimeout) as caught:
            remote.read_log_end("z1", 4096)
        assert "which ends it on z1" in caught.value.message
        until(lambda: not running(str(log)), GONE, f"the remote tail of {log} ended")
        # the next read sees the FIFO, and refuses it at once
        with pytest.raises(LogUnavailable, match="a FIFO"):
            remote.mark_log("z1")


def test_a_tail_on_a_fifo_abandoned_by_run_command_is_ended(
    quick: RemoteSession, tmp_path: Path
) -> None:
    fifo = tmp_path / "named-pipe"
    os.mkfifo(fifo)
    with killed_at_end(str(fifo)):
        with pytest.raises(RemoteCommandTimeout):
            run_command(quick.connection("z1"), ["tail", "-c", "+1", "--", str(fifo)],
                        timeout=1)
        until(lambda: not running(str(fifo)), GONE, "the remote tail of the FIFO ended")


# --- discovery -----------------------------------------------------------------------------

def test_a_headnode_command_that_never_answers_is_exit_2_and_ended_on_the_headnode(
    tmp_path: Path, sshd: SshServer, client_key: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    marker = _marker()
    known = tmp_path / "known_hosts"
    known.write_text(sshd.known_hosts_line() + "\n")
    headnode = tmp_path / "headnode.yaml"
    headnode.write_text(yaml.safe_dump({
        "known_hosts": str(known),
        "ssh_config": False,
        "ssh": {"user": "root", "identity": str(client_key), "connect_timeout": 3,
                "command_timeout": 1},
        "headnode": {"host": sshd.host, "port": sshd.port},
        "discovery": {"zookeeper": f"sleep {marker}"},
    }))
    with killed_at_end(marker):
        started = time.monotonic()
        result = invoke_cli(["inventory", "discover", "--inventory", str(headnode),
                             "--shard", "1.moray.test", "--yes",
                             "--out", str(tmp_path / "out.yaml")], capsys)
        assert time.monotonic() - started < 10
        assert result.status == 2, result
        assert f"sleep {marker}" in result.err and "no answer within 1 s" in result.err
        assert "ended on the headnode" in result.err
        assert not (tmp_path / "out.yaml").exists()
        until(lambda: not running(marker), GONE, f"the headnode's `sleep {marker}` ended")
