"""The values an inventory holds, checked: zone ids, images, hosts, users, shard names,
ZooKeeper strings, and the command templates filled with them (every value quoted)."""

from __future__ import annotations

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


ZK_RE = re.compile(r"^[A-Za-z0-9_.:-]+:\d{1,5}(,[A-Za-z0-9_.:-]+:\d{1,5})*(/[A-Za-z0-9_./-]*)?\Z")


# `{name}` but not a shell `${name}` nor awk-style `{print $1}`.
_PLACEHOLDER_RE = re.compile(r"(?<!\$)\{([a-z_]+)\}")


_SHELL_OPERATORS = frozenset(";&|<>()`$")


TRITON_SITTER_LOG_COMMAND = "svcs -L manatee-sitter"


TRITON_MANATEE_ADM = "/opt/smartdc/manatee/node_modules/.bin/manatee-adm"


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
    """Raise ValueError (reported with file/line by the loader) when ``text`` is unsafe."""
    if not text.strip():
        raise ValueError("the command is empty")
    if "\n" in text or "\x00" in text:
        raise ValueError("the command must be one line")
    names = set(_PLACEHOLDER_RE.findall(text))
    unknown = names - allowed
    if unknown:
        raise ValueError(
            f"unknown placeholder(s) {', '.join('{' + n + '}' for n in sorted(unknown))}; "
            f"this command may use {', '.join('{' + n + '}' for n in sorted(allowed)) or 'none'}"
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


def check_zk_string(value: str) -> str:
    if not ZK_RE.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a ZooKeeper connection string HOST:PORT[,HOST:PORT...][/chroot]"
        )
    return value
