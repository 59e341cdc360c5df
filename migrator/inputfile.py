"""Read an operator's file (inventory, playbook, topology, saved plan), bounded.

``Path.read_text`` reads without limit (``--inventory /dev/zero`` never returns)
and raises ``UnicodeDecodeError`` on bytes that are not UTF-8; both would be
internal errors. Every such file is small text, so we read at most ``limit``
bytes and refuse more, and decode strictly, naming the first bad byte.

Files that must be regular files (an SSH identity, a known_hosts, a journal
given to ``report --file``) are checked for it, and for their size, before they
are read: ``/dev/zero`` as an identity once grew a plan to 23 GB in paramiko's
unbounded read, and a FIFO blocks whoever opens it until a writer comes. Each
refusal is ``BadInput`` (exit 2) naming the file, what it is instead and the fix:
``require_regular_file`` for files a library opens itself, ``read_regular_bytes``
and ``read_regular_tail`` where we read them (non-blocking open, then ``fstat`` of
what was opened).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO

from migrator.errors import BadInput

MAX_INPUT_BYTES = 4 * 1024 * 1024


def read_input_text(path: Path, what: str, limit: int = MAX_INPUT_BYTES,
                    hint: str = "Check the path given.") -> str:
    """The file's text; ``BadInput`` (exit 2) when unreadable, not a regular file (a
    FIFO would block, a device never end), too large or not UTF-8."""
    try:
        with open_regular(path, what, hint) as handle:
            data = handle.read(limit + 1)
    except OSError as exc:
        raise BadInput(f"Cannot read the {what} {path}: {exc.strerror or exc}.", hint) from None
    if len(data) > limit:
        raise BadInput(
            f"The {what} {path} is larger than {limit // (1024 * 1024)} MiB.",
            f"Give the {what} file itself; it is a small text file.",
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise BadInput(
            f"The {what} {path} is not UTF-8 text (line {line}, byte {exc.start}: "
            f"{data[exc.start:exc.start + 1]!r}).",
            f"Save the {what} as UTF-8 (for example with `iconv -t UTF-8`).",
        ) from None


# Identity files are a few KiB (an RSA-16384 private key in PEM is under 13 KiB) and an
# OpenSSH certificate a few KiB more; 1 MiB leaves room for anything real.
MAX_KEY_BYTES = 1024 * 1024
# A known_hosts line is about 100 bytes (ed25519) to 600 (RSA-4096): 16 MiB is well over
# 25,000 hosts, and every host-key check parses the whole file.
MAX_KNOWN_HOSTS_BYTES = 16 * 1024 * 1024
IDENTITY_HINT = ("Name the private key file itself (for example ~/.ssh/id_ed25519) with "
                 "`identity:` in the inventory or IdentityFile in the ssh config.")


def _kind(mode: int) -> str:
    """What a file that is not a regular file is, for messages."""
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


def _mib(limit: int) -> str:
    return f"{limit / (1024 * 1024):g} MiB"


def _refuse_kind(path: Path, what: str, mode: int, hint: str) -> BadInput:
    return BadInput(
        f"The {what} {path} is {_kind(mode)}, not a regular file; the migrator reads it "
        "only from a regular file (a device or a pipe can block or never end).",
        hint)


def _refuse_size(path: Path, what: str, size: int, limit: int, hint: str) -> BadInput:
    return BadInput(
        f"The {what} {path} is {size:,} bytes, more than the {_mib(limit)} such a file can "
        "hold; it is not the file meant.", hint)


def require_regular_file(path: Path, what: str, limit: int, hint: str) -> None:
    """Check, without opening it, that ``path`` is a regular file of at most ``limit``
    bytes (symbolic links followed); ``BadInput`` (exit 2) naming the file, what it is
    instead, and ``hint`` (the fix) otherwise. ``OSError`` (a missing or unreachable
    file) propagates: callers decide whether a missing file is an error.

    For files a library reads itself (paramiko's key and known_hosts loaders read
    without bound and block on a FIFO). The check and the library's own open are two
    steps: a file swapped in between is not caught, which only someone who can write
    the operator's own key directory could do. Where we read the bytes ourselves,
    ``read_regular_bytes`` checks the very file it reads.
    """
    info = path.stat()
    if not stat.S_ISREG(info.st_mode):
        raise _refuse_kind(path, what, info.st_mode, hint)
    if info.st_size > limit:
        raise _refuse_size(path, what, info.st_size, limit, hint)


def open_regular(path: Path, what: str, hint: str) -> BinaryIO:
    """``path`` opened for reading, once it is known to be a regular file.

    Opened non-blocking, so that a FIFO cannot hold the open until a writer comes,
    and checked with ``fstat`` on what was opened, so no swap between a check and the
    open goes unseen; then made blocking again (a regular file never blocks anyway).
    ``BadInput`` for anything but a regular file; ``OSError`` for a file that cannot
    be opened (missing, no permission) propagates.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | getattr(os, "O_NOCTTY", 0))
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise _refuse_kind(path, what, mode, hint)
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return os.fdopen(fd, "rb")


def read_regular_bytes(path: Path, what: str, limit: int, hint: str) -> bytes:
    """The bytes of ``path``, a regular file of at most ``limit`` bytes.

    ``BadInput`` (exit 2, naming the file and ``hint``) for anything else: a device,
    a FIFO, a directory, a file too large (also one that grows past ``limit`` while
    read: at most ``limit + 1`` bytes are ever read). ``OSError`` propagates.
    """
    with open_regular(path, what, hint) as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise _refuse_size(path, what, len(data), limit, hint)
    return data


def read_regular_tail(path: Path, what: str, limit: int, hint: str) -> tuple[bytes, bool]:
    """The last ``limit`` bytes (at most) of the regular file ``path``, and whether the
    file holds more before them. Same refusals as ``read_regular_bytes`` except size:
    for files that only grow (an append-only log) whose end is what matters."""
    with open_regular(path, what, hint) as handle:
        size = os.fstat(handle.fileno()).st_size
        start = max(0, size - limit)
        handle.seek(start)
        data = handle.read(limit)
    return data, start > 0


def require_identity_file(path: Path) -> None:
    """Refuse an SSH identity file, or the certificate paramiko loads beside it, that is
    not a regular file of at most ``MAX_KEY_BYTES`` (``BadInput``, exit 2, naming it).

    paramiko's ``PKey.from_path`` reads the key (twice) and ``<key>-cert.pub`` when that
    exists, all without bound: ``identity: /dev/zero`` grew a plan to 23 GB, and a FIFO
    blocks it for good. A missing key raises ``OSError`` (``FileNotFoundError``): the
    inventory loader lets it pass and a connection reports it as a skipped key, as
    before (ssh_config often names keys a machine lacks).
    """
    name = str(path)
    suffix = "-cert.pub"
    key = Path(name[: -len(suffix)]) if name.endswith(suffix) else path
    require_regular_file(key, "SSH identity file", MAX_KEY_BYTES, IDENTITY_HINT)
    cert = Path(f"{key}{suffix}")
    if cert.exists():
        require_regular_file(cert, "SSH certificate", MAX_KEY_BYTES,
                             f"Remove or replace {cert}: it is loaded with the key {key}.")
