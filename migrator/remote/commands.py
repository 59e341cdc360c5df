"""Run one command in a zone over its shared transport: quoted, bounded, timed out.

A command is given as an argument vector and joined with ``shlex.quote`` here;
a string is accepted only from the inventory's validated templates (already
quoted). Output beyond ``max_output`` bytes per stream is discarded and flagged;
if the command floods beyond four times that, its channel is closed.

A command we abandon ends on the remote side too. Closing an SSH channel does not
stop what runs on it: sshd only closes the command's pipes, so a ``sleep`` or a
``tail`` of a FIFO ran on forever (one outlived ``sandbox down``). So a command
runs inside a small POSIX-sh wrapper (``ending_with_channel``): a watcher waits in
the background for the end of the channel's input, which comes only when the
channel closes (a command given no input never gets an EOF from us), and then ends
the command's whole process group: SIGTERM, and SIGKILL 2 s later for what
ignored it. sshd puts each session in a process group of its own (``setsid``), so
that is the command and whatever it started, and nothing else. When the command
ends by itself the wrapper ends the watcher and exits with the command's status; the
command runs in a subshell, so its own ``exit`` or ``exec`` cannot skip that. A
timeout, a flood, a stopped run (Ctrl-C, the watchdog) and a dropped connection all
close the channel, so all of them end the command.

Two kinds of command are not wrapped: one given input (``stdin``), whose end of
input would read as the channel's close, and one the caller wants left running when
abandoned (``end_on_abandon=False``: a reprovision, which, like the local one, must
never be cut off halfway; ``migrator resume`` decides from what it then finds). A
zone reached with zlogin is wrapped on its compute node: abandoning ends the
``zlogin``; whether the zone's own process then ends is zlogin's behaviour.
"""

from __future__ import annotations

import select
import shlex
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace

from migrator import cancellation
from migrator.remote.connection import ZoneConnection
from migrator.remote.errors import ConnectionDropped, RemoteCommandFailed, RemoteCommandTimeout
from migrator.remote.sshlib import close_channel

DEFAULT_MAX_OUTPUT = 1 << 20
_CHUNK = 1 << 16


def to_shell(command: str | Sequence[str]) -> str:
    """The shell text sent to the zone; every argument of a vector is quoted."""
    if isinstance(command, str):
        return command
    if not command:
        raise ValueError("empty command")
    return shlex.join(command)


@dataclass(frozen=True)
class CommandResult:
    """A remote command's exit status and output (bounded)."""

    zone: str
    command: str
    status: int | None  # None: no exit status (closed after flooding)
    stdout: bytes
    stderr: bytes
    truncated: bool
    seconds: float
    # set when a read's connection dropped while it ran and it was run again
    rerun_after: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == 0

    @property
    def text(self) -> str:
        return self.stdout.decode("utf-8", "replace")

    def require_ok(self) -> CommandResult:
        if self.ok:
            return self
        error = self.stderr.decode("utf-8", "replace").strip().splitlines()
        said = f": {error[-1]}" if error else ""
        raise RemoteCommandFailed(
            f"`{self.command}` failed on {self.zone} (exit status {self.status}){said}.",
            "Run it by hand in the zone to see why; nothing after it was done.",
        )


# Grace between the SIGTERM and the SIGKILL of an abandoned command's process group.
END_GRACE = 2


def ending_with_channel(text: str) -> str:
    """``text`` (shell text) wrapped so that it, and what it started, end when its
    channel closes (see the module docstring); its output and exit status are its own.

    The watcher reads a copy of the session's input (fd 3: an asynchronous list's own
    stdin is /dev/null in a non-interactive shell) with the ``read`` builtin, so it is
    one shell process and no child; it ignores the SIGTERM it sends its process group,
    then sends SIGKILL, which ends it too.
    """
    return (
        "exec 3<&0; { trap '' TERM; while read -r _; do :; done; kill -TERM 0; "
        f"sleep {END_GRACE}; kill -KILL 0; }} <&3 >/dev/null 2>&1 & w=$!; exec 3<&-; (\n"
        f"{text}\n"
        "); s=$?; kill -KILL $w 2>/dev/null; exit $s"
    )


def run_command(
    connection: ZoneConnection,
    command: str | Sequence[str],
    *,
    timeout: float,
    max_output: int = DEFAULT_MAX_OUTPUT,
    stdin: bytes | None = None,
    end_on_abandon: bool = True,
    reads_only: bool = False,
) -> CommandResult:
    """Run ``command`` on the connection, within ``timeout`` seconds.

    ``end_on_abandon`` (the default): when we stop waiting for it (timeout, flood,
    a stopped run, a drop), it is ended on the remote side (``ending_with_channel``);
    False leaves it running there, as a command given ``stdin`` always is.

    ``reads_only``: the command changes nothing (a stat, a log read, a version or a
    status query), so when its connection drops while it runs, or its channel closes
    without an exit status, the command is run once more (on a new connection if the
    old one is gone), within a timeout of its own; its result says so
    (``rerun_after``). Any other command's drop is reported (``ConnectionDropped``):
    it may have taken effect. The headnode's one SSH connection carries every zone
    routed through it, so without this a read in flight when that connection
    dropped failed a step that ZooKeeper's side of the same drop only pauses.
    """
    try:
        result = _run_once(connection, command, timeout=timeout, max_output=max_output,
                           stdin=stdin, end_on_abandon=end_on_abandon)
        # A channel that closed without an exit status, not for flooding, was cut off:
        # its process killed, or its connection going down before paramiko saw it (a
        # zone behind the headnode, whose connection was killed: seen as a stat "None").
        if not (reads_only and result.status is None and not result.truncated):
            return result
        why = "its channel closed without an exit status"
    except ConnectionDropped:
        if not reads_only:
            raise
        why = "its connection dropped while it ran"
    result = _run_once(connection, command, timeout=timeout, max_output=max_output,
                       stdin=stdin, end_on_abandon=end_on_abandon)
    return replace(result, rerun_after=(
        f"a read on {connection.label} ({connection.endpoint.route()}): {why}; it was run "
        "again"))


def _run_once(
    connection: ZoneConnection,
    command: str | Sequence[str],
    *,
    timeout: float,
    max_output: int,
    stdin: bytes | None,
    end_on_abandon: bool,
) -> CommandResult:
    # deferred: paramiko costs ~110 ms to import; only zone work pays it
    import paramiko

    text = to_shell(command)
    ends = end_on_abandon and stdin is None
    started = time.monotonic()
    deadline = started + timeout
    channel = connection.open_channel(timeout=timeout)
    try:
        try:
            channel.exec_command(ending_with_channel(text) if ends else text)
            if stdin is not None:
                # a command given input reads it: its channel stays open for the input's end
                channel.sendall(stdin)
                channel.shutdown_write()
            # Without input no end of input is sent, as `ssh host cmd` from a terminal does
            # not: a command that ends at once may have its channel closed by then, and
            # paramiko can send that EOF after its own close, which OpenSSH answers by
            # dropping the whole connection with every other command on it (seen under
            # load on a compute node's shared connection). Commands here take no input
            # (`manatee-adm rebuild -y`); one that asked would run into its timeout.
        except (paramiko.SSHException, OSError, EOFError) as exc:
            raise _dropped(connection, text, exc) from None
        out, err = bytearray(), bytearray()
        truncated = flooded = False
        received = 0
        fileno = channel.fileno()
        run = cancellation.current()
        while True:
            run.check()  # the run was stopped while the command ran (the watchdog)
            while channel.recv_ready():
                chunk = channel.recv(_CHUNK)
                received += len(chunk)
                truncated |= _take(out, chunk, max_output)
            while channel.recv_stderr_ready():
                chunk = channel.recv_stderr(_CHUNK)
                received += len(chunk)
                truncated |= _take(err, chunk, max_output)
            if received > 4 * max_output:
                flooded = True
                break
            drained = channel.eof_received or channel.closed
            if drained and channel.exit_status_ready() and not (
                channel.recv_ready() or channel.recv_stderr_ready()
            ):
                break
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                fate = (f"its channel was closed, which ends it on {connection.label}"
                        if ends else "its channel was closed (the command may still be "
                        "running in the zone)")
                raise RemoteCommandTimeout(
                    f"`{text}` on {connection.label} ({connection.endpoint.route()}) did not "
                    f"finish within {timeout:g} s; {fate}.",
                    "Check the zone (is it overloaded or the command waiting for input?) "
                    "and rerun, or raise the timeout.",
                )
            select.select([fileno, run.fileno()], [], [], min(remaining, 1.0))
        status: int | None = None
        if not flooded:
            # paramiko leaves -1 when no exit-status arrived: the process died of a
            # signal (transport alive) or the connection dropped (transport dead).
            status = channel.exit_status if channel.exit_status >= 0 else None
            if status is None and not connection.transport_alive():
                raise _dropped(connection, text, None)
        return CommandResult(
            connection.label, text, status, bytes(out), bytes(err), truncated,
            time.monotonic() - started,
        )
    finally:
        close_channel(channel)


def _take(buffer: bytearray, data: bytes, limit: int) -> bool:
    """Append up to ``limit`` bytes; True when some were discarded."""
    room = limit - len(buffer)
    if room > 0:
        buffer += data[:room]
    return len(data) > max(room, 0)


def _dropped(connection: ZoneConnection, text: str, exc: BaseException | None) -> ConnectionDropped:
    cause = f": {exc}" if exc else ""
    return ConnectionDropped(
        f"The connection to {connection.label} ({connection.endpoint.route()}) dropped while "
        f"running `{text}`{cause}; it may or may not have taken effect.",
        "Check the zone by hand before rerunning; the next command reconnects.",
    )
