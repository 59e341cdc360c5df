"""Host-key verification against known_hosts: unknown and changed keys are refused.

Decisions: the file we record into is the inventory's ``known_hosts`` or else
``~/.ssh/known_hosts``; ``/etc/ssh/ssh_known_hosts`` is consulted read-only.
A host that has *any* recorded key but presents another one counts as changed
(even with a different key type), which is the safe reading. Entries are
recorded as OpenSSH writes them (``[host]:port`` for ports other than 22),
unhashed, so ``ssh-keygen -F`` and OpenSSH itself see them. A known_hosts that
exists but is not a regular file of at most ``MAX_KNOWN_HOSTS_BYTES`` is refused as
bad input naming it (paramiko reads it without bound, and a FIFO would block the
read, and with it every connection); one that does not exist holds no keys.
"""

from __future__ import annotations

import errno
import os
import shlex
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from migrator.inputfile import MAX_KNOWN_HOSTS_BYTES, require_regular_file
from migrator.remote.errors import HostKeyChanged, HostKeyUnknown

if TYPE_CHECKING:
    import paramiko

SYSTEM_KNOWN_HOSTS = Path("/etc/ssh/ssh_known_hosts")
DEFAULT_KNOWN_HOSTS = Path("~/.ssh/known_hosts")
_ABSENT = (errno.ENOENT, errno.ENOTDIR)


def host_entry(host: str, port: int) -> str:
    return host if port == 22 else f"[{host}]:{port}"


@dataclass(frozen=True)
class RecordedKey:
    """A first-contact key written to known_hosts under --accept-new-host-keys."""

    label: str
    entry: str
    key_type: str
    fingerprint: str
    file: Path

    def sentence(self) -> str:
        return (
            f"Recorded the host key of {self.label} ({self.entry}, {self.key_type} "
            f"{self.fingerprint}) in {self.file}."
        )


class KnownHosts:
    """The known_hosts we verify against and, with ``accept_new``, record first contacts in."""

    def __init__(self, path: Path | None = None, *, accept_new: bool = False) -> None:
        self.path = (path or DEFAULT_KNOWN_HOSTS).expanduser()
        self.accept_new = accept_new
        self.recorded: list[RecordedKey] = []
        self._lock = threading.Lock()

    def _load(self) -> paramiko.HostKeys:
        # deferred: paramiko costs ~110 ms to import; only zone work pays it
        import paramiko

        keys = paramiko.HostKeys()
        for source in (SYSTEM_KNOWN_HOSTS, self.path):
            try:
                require_regular_file(
                    source, "known_hosts file", MAX_KNOWN_HOSTS_BYTES,
                    f"Point `known_hosts:` in the inventory at the known_hosts file itself "
                    f"(or move {source} aside)." if source == self.path else
                    f"Move {source} aside or make it the system's known_hosts file.")
            except OSError as exc:
                if exc.errno in _ABSENT:
                    continue  # no such file yet: no keys from it
                raise
            keys.load(str(source))
        return keys

    def preferred_types(self, host: str, port: int) -> list[str]:
        """Key types recorded for the host, so negotiation asks for a key we can check."""
        found = self._load().lookup(host_entry(host, port))
        return list(found.keys()) if found else []

    def verify(self, label: str, host: str, port: int, key: paramiko.PKey) -> RecordedKey | None:
        """Return None when the key is known; record it (accept-new) or raise otherwise."""
        entry = host_entry(host, port)
        with self._lock:
            known = self._load().lookup(entry)
            if known:
                if any(k == key for k in known.values()):
                    return None
                raise HostKeyChanged(
                    f"The host key of {label} ({entry}) has CHANGED: it presented "
                    f"{key.get_name()} {key.fingerprint}, but {self.path} records "
                    + ", ".join(f"{t} {k.fingerprint}" for t, k in known.items())
                    + ". Refusing to connect: this may be a different machine.",
                    "If the change is expected (e.g. the zone was rebuilt) and you verified the "
                    "new fingerprint out of band, remove the old key with "
                    f"`ssh-keygen -R {shlex.quote(entry)} -f {shlex.quote(str(self.path))}` and "
                    "accept the new one: "
                    f"`echo {shlex.quote(self._line(entry, key))} >> "
                    f"{shlex.quote(str(self.path))}`.",
                )
            if not self.accept_new:
                raise HostKeyUnknown(
                    f"The host key of {label} ({entry}) is not known: it presented "
                    f"{key.get_name()} {key.fingerprint}, which is not in {self.path}. "
                    "Refusing to connect.",
                    "After checking that fingerprint out of band, accept it with "
                    f"`echo {shlex.quote(self._line(entry, key))} >> "
                    f"{shlex.quote(str(self.path))}`, or rerun with --accept-new-host-keys "
                    "to record first-contact keys.",
                )
            return self._record(label, entry, key)

    def _record(self, label: str, entry: str, key: paramiko.PKey) -> RecordedKey:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a+b") as handle:
            # only the last byte matters (does the file end its last line?): the file was
            # checked as a bounded regular file, but it need not be read whole again
            handle.seek(0, os.SEEK_END)
            if handle.tell() > 0:
                handle.seek(-1, os.SEEK_END)
                if handle.read(1) != b"\n":
                    handle.write(b"\n")
            handle.write((self._line(entry, key) + "\n").encode())
        recorded = RecordedKey(label, entry, key.get_name(), key.fingerprint, self.path)
        self.recorded.append(recorded)
        return recorded

    @staticmethod
    def _line(entry: str, key: paramiko.PKey) -> str:
        return f"{entry} {key.get_name()} {key.get_base64()}"
