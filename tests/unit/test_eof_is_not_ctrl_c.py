"""click turns every EOFError and Ctrl-C into Abort. Each is reported for what it is: an
EOFError raised by paramiko is a lost SSH transport (exit 1), one from standard input a
question that could not be answered (exit 3), and only a Ctrl-C is "Interrupted" (130)."""

from __future__ import annotations

import socket

import click
import pytest

from migrator.cli import _from_ssh, main
from migrator.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_REFUSED

pytestmark = pytest.mark.unit


def _paramiko_eof() -> EOFError:
    import paramiko

    ours, theirs = socket.socketpair()
    theirs.close()
    try:
        paramiko.Packetizer(ours).read_all(4)
    except EOFError as exc:
        return exc
    finally:
        ours.close()
    raise AssertionError("paramiko read past a closed socket without EOFError")


def _plain_eof() -> EOFError:
    try:
        raise EOFError("stdin closed")
    except EOFError as exc:
        return exc


def test_an_eof_from_paramiko_is_told_apart_from_stdin() -> None:
    assert _from_ssh(_paramiko_eof())
    assert not _from_ssh(_plain_eof())
    assert not _from_ssh(None)


@pytest.mark.parametrize(("cause", "status", "said"), [
    (_paramiko_eof, EXIT_FAILED, "SSH connection to a zone ended"),
    (_plain_eof, EXIT_REFUSED, "standard input ended (EOF)"),
    (KeyboardInterrupt, EXIT_INTERRUPTED, "Interrupted; nothing more was done."),
])
def test_main_reports_each_abort_for_what_it_is(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    cause: object, status: int, said: str,
) -> None:
    from migrator import cli

    def aborting(**_kwargs: object) -> None:
        raise click.exceptions.Abort() from cause()  # type: ignore[operator]

    monkeypatch.setattr(cli.cli, "main", aborting)
    with pytest.raises(SystemExit) as exited:
        main(["status"])
    assert exited.value.code == status
    assert said in capsys.readouterr().err


def test_closing_a_channel_on_a_dead_transport_raises_nothing() -> None:
    """paramiko raises EOFError when it sends a close over a dead socket; that must not
    replace the error saying the connection dropped."""
    from migrator.remote.sshlib import close_channel

    class DeadTransportChannel:
        closed = 0

        def close(self) -> None:
            self.closed += 1
            raise _paramiko_eof()

    channel = DeadTransportChannel()
    close_channel(channel)
    assert channel.closed == 1
