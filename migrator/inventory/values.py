"""The values an inventory holds, checked: zone ids, images, hosts, users, shard names,
ZooKeeper strings, and the command templates filled with them (every value quoted)."""

from __future__ import annotations

import ipaddress
import re
import shlex
from dataclasses import dataclass

from migrator.errors import BadInput

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z")


# Short zone names: start with a letter, no shell metacharacters, no leading dash.
NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,62}\Z")


HOST_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.:%-]{0,252}\Z")


USER_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,31}\Z")


IMAGE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:+~-]{0,127}\Z")


SHARD_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,252}\Z")


# A ZooKeeper server: a host name or IPv4 address, or an IPv6 address in brackets.
_ZK_HOST_RE = re.compile(r"^(?:[A-Za-z0-9_][A-Za-z0-9_.-]{0,252}|\[[0-9A-Fa-f:.]{2,45}\])\Z")
_ZK_CHROOT_PART_RE = re.compile(r"^[A-Za-z0-9_.-]{1,255}\Z")
ZK_DEFAULT_PORT = 2181
ZK_FORMAT = "HOST:PORT[,HOST:PORT...][/chroot]"


# `{name}` but not a shell `${name}` nor awk-style `{print $1}`.
_PLACEHOLDER_RE = re.compile(r"(?<!\$)\{([a-z_]+)\}")
# Anything a str.format field could be: `{zone.__class__}`, `{zone[0]}`, `{zone!r}`,
# `{zone:>9}`, `{Zone}`, `{0}` (see ``check_template`` for what is refused of them).
_FIELD_LIKE_RE = re.compile(r"(?<!\$)\{([A-Za-z0-9_][^{}\s]*)\}")
_REACHES_INTO_RE = re.compile(r"^[A-Za-z_0-9]\w*[.\[!:]")
_WORD_RE = re.compile(r"^\w+\Z")
# shell brace expansion, left alone: `{a,b}` and `{1..5}`/`{a..e..2}`
_SEQUENCE_RE = re.compile(r"^-?\w+\.\.-?\w+(\.\.-?\d+)?\Z")


_SHELL_OPERATORS = frozenset(";&|<>()`$")


TRITON_SITTER_LOG_COMMAND = "svcs -L manatee-sitter"


TRITON_MANATEE_ADM = "/opt/smartdc/manatee/node_modules/.bin/manatee-adm"


# VMAPI's ListJobs of a zone's reprovisions, run on the headnode (``migrator.remote.vmapi``)
TRITON_REPROVISION_JOBS = 'sdc-vmapi "/jobs?task=reprovision&vm_uuid="{zone}'


def is_zone_id(value: str) -> bool:
    """A zone id is a lowercase UUID or a short name; both are safe as shell words."""
    return bool(UUID_RE.fullmatch(value) or NAME_RE.fullmatch(value))


def validate_zone_id(value: str) -> str:
    if not is_zone_id(value):
        raise BadInput(
            f"{value!r} is not a zone id.",
            "Use a zone UUID (lowercase, 8-4-4-4-12 hex) or a short name of letters, digits, "
            "'.', '_' and '-' starting with a letter.",
        )
    return value


def validate_image(value: str) -> str:
    if not IMAGE_RE.fullmatch(value):
        raise BadInput(
            f"{value!r} is not an image UUID or version string.",
            "Use letters, digits and . _ : + ~ - only, starting with a letter or digit.",
        )
    return value


@dataclass(frozen=True)
class CommandTemplate:
    """Operator-written shell text with ``{name}`` placeholders filled by quoted values."""

    text: str

    @property
    def placeholders(self) -> frozenset[str]:
        return frozenset(_PLACEHOLDER_RE.findall(self.text))

    def fill(self, **values: str) -> str:
        """The command with each placeholder replaced by ``shlex.quote(value)``."""
        missing = self.placeholders - values.keys()
        if missing:
            raise BadInput(
                f"The command template {self.text!r} needs {', '.join(sorted(missing))}.",
                "This is a bug in the caller; report it.",
            )
        return _PLACEHOLDER_RE.sub(lambda m: shlex.quote(values[m.group(1)]), self.text)

    def argv(self, **values: str) -> list[str]:
        """The filled command as an argument vector (for local execution without a shell)."""
        return shlex.split(self.fill(**values))


def check_template(text: str, *, allowed: frozenset[str], local: bool = False) -> str:
    """Raise ValueError (reported with file/line by the loader) when ``text`` is unsafe.

    Placeholders are plain lowercase names, ``{zone}``, replaced whole by the quoted
    value (``CommandTemplate.fill``: a regular expression, never ``str.format``).
    Decisions (issue 21 §5: such templates were accepted and the text reached the
    shell as it was written):

    * a brace group that reads as a ``str.format`` field reaching into a value
      (``{zone.__class__}``, ``{zone[0]}``, ``{zone!r}``, ``{zone:>9}``) is refused:
      a placeholder stands for its whole quoted value;
    * ``{Zone}``, ``{zone1}``, ``{0}`` are unknown placeholders, as ``{password}`` is;
    * shell braces stay the operator's: ``${name}``, ``{a,b}``, ``{1..5}``, ``{}``
      (find's) and awk's ``'{print $1}'`` are left alone;
    * braces outside single quotes must balance (a backslash-escaped brace is
      literal): a lone ``{`` or ``}`` is a placeholder gone wrong, and a literal one
      goes inside single quotes.
    """
    if not text.strip():
        raise ValueError("the command is empty")
    if "\n" in text or "\x00" in text:
        raise ValueError("the command must be one line")
    may_use = ", ".join("{" + n + "}" for n in sorted(allowed)) or "none"
    for match in _FIELD_LIKE_RE.finditer(text):
        field = match.group(1)
        if "," in field or _SEQUENCE_RE.match(field):
            continue  # shell brace expansion
        if _REACHES_INTO_RE.match(field):
            raise ValueError(
                f"the placeholder {match.group()} reaches into a value (attribute, index, "
                "conversion or format spec); placeholders are plain names filled with the "
                f"whole quoted value: write {{{re.split(r'[.[!:]', field)[0]}}} "
                f"(this command may use {may_use})"
            )
        if _WORD_RE.match(field) and not _PLACEHOLDER_RE.fullmatch(match.group()):
            raise ValueError(
                f"unknown placeholder {match.group()}; placeholders are lowercase names "
                f"and this command may use {may_use}"
            )
    _check_braces(text)
    names = set(_PLACEHOLDER_RE.findall(text))
    unknown = names - allowed
    if unknown:
        raise ValueError(
            f"unknown placeholder(s) {', '.join('{' + n + '}' for n in sorted(unknown))}; "
            f"this command may use {may_use}"
        )
    quote: str | None = None
    escaped = False
    for index, char in enumerate(text):
        if escaped:
            escaped = False
            continue
        if char == "\\" and quote != "'":
            escaped = True
        elif quote is None and char in "'\"":
            quote = char
        elif char == quote:
            quote = None
        elif char == "{" and quote is not None and _PLACEHOLDER_RE.match(text, index):
            raise ValueError(
                "a placeholder stands inside quotes; write it bare (it is quoted when filled)"
            )
    if quote is not None:
        raise ValueError(f"unbalanced {quote} quote")
    if local:
        words = shlex.split(text)
        if any(set(_PLACEHOLDER_RE.sub("", word)) & _SHELL_OPERATORS for word in words):
            raise ValueError(
                "a `run_on: local` command runs without a shell; remove shell operators"
            )
    return text


def _check_braces(text: str) -> None:
    """Braces outside single quotes balance; ``ValueError`` naming the first stray one."""
    opened: list[int] = []
    quoted = escaped = False
    for index, char in enumerate(text):
        if escaped:
            escaped = False
        elif quoted:
            quoted = char != "'"
        elif char == "\\":
            escaped = True
        elif char == "'":
            quoted = True
        elif char == "{":
            opened.append(index)
        elif char == "}":
            if not opened:
                raise ValueError(
                    f"unbalanced braces: the '}}' at character {index + 1} closes nothing; "
                    "a placeholder is written {name}, and a literal brace goes inside "
                    "single quotes"
                )
            opened.pop()
    if opened:
        raise ValueError(
            f"unbalanced braces: the '{{' at character {opened[0] + 1} is never closed; "
            "a placeholder is written {name}, and a literal brace goes inside single quotes"
        )


def check_host(value: str) -> str:
    if not HOST_RE.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a host name, address or ssh_config alias "
            "(letters, digits, . _ : % - only, not starting with '-')"
        )
    return value


def check_user(value: str) -> str:
    if not USER_RE.fullmatch(value):
        raise ValueError(f"{value!r} is not a user name")
    return value


def check_shard_name(value: str) -> str:
    if not SHARD_RE.fullmatch(value):
        raise ValueError(f"{value!r} is not a shard name (letters, digits, . _ -)")
    return value


def parse_zk_connection(value: str, *, port_required: bool = True) -> str:
    """``value`` checked as a ZooKeeper connection string, returned with every port given.

    Decisions (issue 21 §5: kazoo would otherwise raise "relative paths not allowed"
    or "Port out of range" from deep inside ``KazooClient``, an internal error):

    * one or more servers, comma-separated, none empty; each a host name or IPv4
      address (letters, digits, ``. _ -``) or an IPv6 address in brackets
      (``[::1]:2181``; unbracketed, its colons cannot be told from the port's);
    * each port decimal digits in 1..65535. Inventories (``port_required``) must
      give it; ``--zk``/``ZK_IPS`` may omit it, as manatee's ZK_IPS does, and get
      2181;
    * the chroot, if any, an absolute normalised path: ``/`` alone (no chroot), or
      ``/name[/name...]`` with no empty, ``.`` or ``..`` component and no trailing
      ``/``, each name letters, digits and ``. _ -`` (as shard names are);
    * no whitespace in a host, a port or the chroot; ``--zk``/``ZK_IPS`` (not
      ``port_required``) may have it around a server (``a:2181, b:2181``), dropped.

    Raises ``ValueError`` whose text starts with ``value!r`` and says what is wrong;
    callers wrap it into ``BadInput`` (exit 2) naming where the string came from.
    """
    where = f"{value!r} is not a ZooKeeper connection string {ZK_FORMAT}"
    hosts, slash, chroot = value.partition("/")
    servers = []
    for server in hosts.split(","):
        if not port_required:
            server = server.strip()  # `--zk "a:2181, b:2181"`, as before
        if not server:
            raise ValueError(f"{where}: it names an empty server (a stray comma?)")
        if server.startswith("["):
            host, close, rest = server.partition("]")
            host += close
            port = rest[1:] if rest.startswith(":") else None
            if rest and port is None:
                raise ValueError(f"{where}: {server!r} has text after its IPv6 address")
        else:
            host, colon, port_text = server.partition(":")
            port = port_text if colon else None
            if ":" in port_text:
                raise ValueError(f"{where}: {server!r} has more than one ':' "
                                 "(write an IPv6 address in brackets, [::1]:2181)")
        if not _ZK_HOST_RE.fullmatch(host) or (host.startswith("[") and not _ipv6(host[1:-1])):
            raise ValueError(f"{where}: {host!r} is not a host name or address")
        if port is None:
            if port_required:
                raise ValueError(f"{where}: the server {server!r} has no port")
            port = str(ZK_DEFAULT_PORT)
        if not (port.isascii() and port.isdecimal() and len(port) <= 5
                and 1 <= int(port) <= 65535):
            raise ValueError(f"{where}: the port {port!r} of {server!r} is not a number "
                             "from 1 to 65535")
        servers.append(f"{host}:{int(port)}")
    if slash and chroot:
        for part in chroot.split("/"):
            if part in ("", ".", ".."):
                raise ValueError(
                    f"{where}: the chroot /{chroot} is not an absolute normalised path "
                    "(no empty, '.' or '..' component, no trailing '/')"
                )
            if not _ZK_CHROOT_PART_RE.fullmatch(part):
                raise ValueError(f"{where}: the chroot /{chroot} has a component {part!r} "
                                 "that is not letters, digits, '.', '_' and '-'")
    return ",".join(servers) + (slash + chroot if slash else "")


def _ipv6(text: str) -> bool:
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return True


def check_zk_string(value: str) -> str:
    """An inventory's ``zookeeper``: every port given (``parse_zk_connection``)."""
    parse_zk_connection(value)
    return value
