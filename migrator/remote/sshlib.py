"""A paramiko channel closed whatever became of its transport."""

from __future__ import annotations

import contextlib
from typing import Any


def close_channel(channel: Any) -> None:
    """Close a channel whatever became of its transport.

    paramiko sends the close over the transport, and on one that has died it raises
    EOFError (or OSError): that would replace the error that says the connection
    dropped, and click would report the EOFError as an interrupt. A channel on a dead
    transport is closed already in every sense that matters.
    """
    # deferred: paramiko takes ~110 ms to import; a channel to close means it is loaded
    import paramiko

    with contextlib.suppress(paramiko.SSHException, OSError, EOFError):
        channel.close()
