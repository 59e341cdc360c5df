"""Errors met while reaching zones: each names the zone, the address and the cause."""

from __future__ import annotations

from migrator.errors import BadInput, Refused, StepFailed


class ZoneUnreachable(BadInput):
    """TCP connection, SSH handshake or a jump host failed within the connect timeout."""


class AuthenticationFailed(BadInput):
    """No offered key was accepted."""


class HostKeyUnknown(Refused):
    """The zone's host key is not in known_hosts (first contact): refused."""


class HostKeyChanged(Refused):
    """The zone presented a key other than the one recorded: refused."""


class RemoteCommandTimeout(StepFailed):
    """A remote command did not finish within its timeout."""


class ConnectionDropped(StepFailed):
    """The connection dropped while a command ran; it may or may not have taken effect."""


class RemoteCommandFailed(StepFailed):
    """A remote command exited non-zero where success was required."""


class LogUnavailable(StepFailed):
    """The zone's log could not be located or read."""
