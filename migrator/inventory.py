"""The inventory: which shard, which ZooKeeper, which zones and how to reach them.

An inventory is a YAML file, validated before anything runs; every error names
the file, the line and the field. Example (every key shown; only ``shard``,
``zookeeper`` and ``zones`` are required)::

    shard: 1.moray.us-east.joyent.us
    zookeeper: 10.77.77.10:2181,10.77.77.11:2181,10.77.77.12:2181
    known_hosts: known_hosts          # relative to this file; default: ~/.ssh/known_hosts
    ssh_config: ~/.ssh/config         # default ~/.ssh/config when it exists; `false` to ignore
    ssh:                              # defaults for every zone, Moray zone and the headnode
      user: root
      port: 22
      identity: ~/.ssh/id_ed25519     # or a list; the ssh-agent is tried too
      jump: root@headnode.example.com # ProxyJump syntax: [user@]host[:port][,...]
      connect_timeout: 10             # seconds, per connection attempt
      command_timeout: 60             # seconds, default for each remote command
      keepalive: 5                    # seconds between transport keepalives
      via: ssh                        # how zones are reached: ssh | zlogin (see below)
    headnode:                         # where `run_on: headnode` commands run (optional)
      host: headnode.example.com
    zones:                            # zone id (UUID, or a short name) -> ssh target
      2ffb1a8a-5a1d-4c51-9d3f-3b0e4e0a0a01:
        host: 10.77.77.47
      7b9e5f7c-3d2e-4a8b-8f5c-6c1d2e3f4a02:
        host: 10.77.77.48
        port: 2222
        user: admin
        identity: keys/zone48
        jump: [root@hn1, root@hn2:2222]   # a chain, like ProxyJump hn1,hn2:2222
        sitter_log: /var/log/manatee/sitter.log   # overrides commands.sitter_log for this zone
      c0d3e4f5-a6b7-4c8d-9e0f-1a2b3c4d5e03:
        host: 10.77.77.49
    morays:                           # same shape as zones; may be omitted
      5e0c0e1f-0b7a-4f1c-9a61-1c7e2a4d5f10:
        host: 10.77.77.60
    versions:                         # filled into {image}; image UUIDs or version strings
      migrate_to: 2.1.1
      roll_back_to: 1.0.0
    estimates:                        # seconds, for the plan's outage estimates (optional)
      session_timeout: 60             # the sitters' ZooKeeper session timeout
      reprovision: 300                # one zone's reprovision, until its sitter is back
    outage_records: /var/tmp/probe    # a write client's outage records (optional; see
                                      # migrator/outagerecords.py): the run's outage
                                      # figures then come from them
    commands:                         # shown here with their Triton defaults
      sitter_log: {command: svcs -L manatee-sitter}    # or {path: /var/log/x.log}
      manatee_version: cat /opt/smartdc/manatee/package.json
      moray_version: cat /opt/smartdc/moray/package.json
      manatee_image: mdata-get sdc:image_uuid   # checks roll_back_to given as an image UUID
      manatee_adm: /opt/smartdc/manatee/node_modules/.bin/manatee-adm
      sitter_disable: svcadm disable manatee-sitter
      sitter_enable: svcadm enable manatee-sitter
      sitter_status: svcs -H -o state manatee-sitter   # prints `online` when running
      tail: tail                      # needs -c +N and -F (GNU, BSD); e.g. a path to GNU tail
      reprovision:
        run_on: headnode              # headnode | local | zone
        command: sapiadm reprovision {zone} {image}
      # optional, no default: run where the reprovision runs; its first word is
      # `running` while a reprovision job of the zone is in flight
      reprovision_status: /opt/local/bin/reprovision-running {zone}

A sandbox inventory (zones on loopback sshd, reprovision run on the operator's
machine) differs only in the obvious places::

    shard: 1.moray.sandbox
    zookeeper: 127.0.0.1:40123
    known_hosts: known_hosts
    ssh_config: false
    ssh: {user: root, identity: id_ed25519, connect_timeout: 5}
    zones:
      primary: {host: 127.0.1.47, port: 40201, sitter_log: /sandbox/primary/sitter.log}
    commands:
      manatee_version: cat /sandbox/primary/version
      reprovision:
        run_on: local
        command: /opt/venv/bin/migrator sandbox reprovision --dir /sandbox {zone} --to {image}

Zones reached the Triton way, through their compute node and ``zlogin`` (no
sshd in the zone): give ``via: zlogin`` and ``node:`` (a key of ``nodes:``) per
zone, or as a default in ``ssh:``. A node is an SSH target like any other (its
global zone), usually behind the headnode; ``zones_root`` is where its zones'
root file systems are seen from the global zone (``/zones``). Commands run as
``zlogin -Q <zone> <command>`` on the node (the zone's key is the name zlogin
takes: its UUID in Triton), one SSH connection per node shared
by its zones; the sitter log is read from the global zone at
``<zones_root>/<zone>/root<path>``, the path from ``commands.node_sitter_log``
run on the node (or the zone's ``sitter_log`` / ``commands.sitter_log.path``)::

    shard: 1.moray.us-east.joyent.us
    zookeeper: 10.77.77.10:2181
    ssh: {user: root, via: zlogin, jump: root@headnode.example.com}
    nodes:                            # compute node (server UUID or name) -> ssh target
      44454c4c-3800-104b-8036-b2c04f4e4d31: {host: 10.99.99.41}
    zones:
      2ffb1a8a-5a1d-4c51-9d3f-3b0e4e0a0a01:
        node: 44454c4c-3800-104b-8036-b2c04f4e4d31
        host: 10.77.77.47             # the zone's own address: optional with zlogin
    commands:
      zlogin: zlogin -Q               # the default; the zone name and command follow, quoted
      node_sitter_log: svcs -z {zone} -L manatee-sitter
      node_tail: tail                 # tail in the global zone (-c +N and -F)

Templates are shell text written by the operator (trusted); the placeholders
``{zone}``, ``{shard}`` and (in ``reprovision``) ``{image}`` are filled only with values
that passed validation and are ``shlex.quote``d, and must stand outside any
quotes in the template (checked at load). ``run_on: local`` commands run on the
operator's machine as an argument vector (no shell), so they may not use shell
operators. Relative paths (identity files, known_hosts) are relative to the
inventory file; ``~`` is expanded.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml

from migrator.errors import BadInput
from migrator.inputfile import read_input_text
from migrator.record import Problem, Record, RecordError, field
from migrator.yamldoc import AliasExpansionError, parse_document

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


# --- command templates --------------------------------------------------------------


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


# --- the model ------------------------------------------------------------------------


def _check_host(value: str) -> str:
    if not HOST_RE.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a host name, address or ssh_config alias "
            "(letters, digits, . _ : % - only, not starting with '-')"
        )
    return value


def _check_user(value: str) -> str:
    if not USER_RE.fullmatch(value):
        raise ValueError(f"{value!r} is not a user name")
    return value


class JumpHost(Record):
    host: str = field(check=_check_host)
    port: int | None = field(default=None, ge=1, le=65535)
    user: str | None = field(default=None, check=_check_user)

    @classmethod
    def parse(cls, spec: str) -> JumpHost:
        """``[user@]host[:port]`` as ProxyJump writes it (``[v6]:port`` too)."""
        user = None
        if "@" in spec:
            user, spec = spec.rsplit("@", 1)
        port: int | None = None
        match = re.fullmatch(r"\[(.+)\](?::(\d+))?", spec)
        if match:
            spec, port = match.group(1), int(match.group(2)) if match.group(2) else None
        elif spec.count(":") == 1:
            spec, port_text = spec.split(":")
            if not port_text.isdigit():
                raise ValueError(f"the port in jump host {spec}:{port_text} is not a number")
            port = int(port_text)
        return cls(host=spec, port=port, user=user)

    def __str__(self) -> str:
        text = f"{self.user}@{self.host}" if self.user else self.host
        return f"{text}:{self.port}" if self.port else text


def _jump_list(value: Any) -> Any:
    """Accept ``"a,b:22"``, ``["a", {host: b}]`` or a mapping; normalise to a list."""
    if value is None or value is False:
        return None
    if isinstance(value, str):
        if value.strip().lower() == "none":
            return None
        return [JumpHost.parse(part.strip()) for part in value.split(",") if part.strip()]
    if isinstance(value, Mapping):
        return [value]
    if isinstance(value, list):
        return [JumpHost.parse(v) if isinstance(v, str) else v for v in value]
    return value


def _one_or_list(value: Any) -> Any:
    return [value] if isinstance(value, str | Path) else value


class _SshLogin(Record):
    """The login fields ``ssh:`` defaults and each target share, validated alike."""

    port: int | None = field(default=None, ge=1, le=65535)
    user: str | None = field(default=None, check=_check_user)
    identity: list[Path] | None = field(default=None, before=_one_or_list)
    jump: list[JumpHost] | None = field(default=None, before=_jump_list)


Via = Literal["ssh", "zlogin"]


def _check_node_name(value: str) -> str:
    if not HOST_RE.fullmatch(value):
        raise ValueError(f"{value!r} is not a compute node name (a key of `nodes:`)")
    return value


class SshDefaults(_SshLogin):
    connect_timeout: float = field(default=10.0, gt=0, le=300)
    command_timeout: float = field(default=60.0, gt=0, le=86400)
    keepalive: float = field(default=5.0, ge=0, le=3600)
    via: Via = "ssh"  # how zones are reached unless their entry says otherwise
    node: str | None = field(default=None, check=_check_node_name)


def _absolute_log(value: Path) -> Path:
    if not value.is_absolute():
        raise ValueError("the sitter log must be an absolute path in the zone")
    return value


class SshTarget(_SshLogin):
    """How to reach one machine; unset fields come from ``ssh:`` defaults, then ssh_config."""

    # Required unless the zone is reached with zlogin (checked by the inventory).
    host: str | None = field(default=None, check=_check_host)
    sitter_log: Path | None = field(default=None, check=_absolute_log)
    via: Via | None = None  # zones only; default `ssh.via`
    node: str | None = field(default=None, check=_check_node_name)  # zones only (zlogin)

    def address(self) -> str:
        host = self.host or "-"
        return f"{host}:{self.port}" if self.port else host


def _zones_root(value: Path) -> Path:
    if not value.is_absolute():
        raise ValueError("`zones_root` must be an absolute path in the node's global zone")
    return value


class NodeTarget(SshTarget):
    """A compute node's global zone: where `zlogin` runs and zones' files are seen."""

    zones_root: Path = field(default=Path("/zones"), check=_zones_root)


@dataclass(frozen=True)
class ZoneRoute:
    """How one zone is reached: over its own SSH, or by zlogin on its compute node."""

    via: Literal["ssh", "zlogin"]
    node: str | None = None  # the key in `nodes:` (zlogin only)


class SitterLog(Record):
    """Either a fixed path in every zone, or a command that prints the path."""

    path: Path | None = None
    command: str | None = None

    def check_record(self) -> None:
        if (self.path is None) == (self.command is None):
            raise ValueError("give exactly one of `path` or `command`")
        if self.path is not None and not self.path.is_absolute():
            raise ValueError("`path` must be absolute")
        if self.command is not None:
            check_template(self.command, allowed=frozenset({"zone", "shard"}))


class Reprovision(Record):
    run_on: Literal["headnode", "local", "zone"] = "headnode"
    command: str = "sapiadm reprovision {zone} {image}"

    def check_record(self) -> None:
        check_template(
            self.command,
            allowed=frozenset({"zone", "image", "shard"}),
            local=self.run_on == "local",
        )

    @property
    def template(self) -> CommandTemplate:
        return CommandTemplate(self.command)


def _sitter_log_shorthand(value: Any) -> Any:
    return {"path": value} if isinstance(value, str) else value  # a bare string is a path


def _zone_command(value: str) -> str:
    return check_template(value, allowed=frozenset({"zone", "shard"}))


def _command_prefix(value: str) -> str:
    # A path or a short command prefix; arguments are appended quoted.
    return check_template(value, allowed=frozenset())


class Commands(Record):
    sitter_log: SitterLog = field(default=SitterLog(command=TRITON_SITTER_LOG_COMMAND),
                                  before=_sitter_log_shorthand)
    manatee_version: str = field(default="cat /opt/smartdc/manatee/package.json",
                                 check=_zone_command)
    moray_version: str = field(default="cat /opt/smartdc/moray/package.json",
                               check=_zone_command)
    # the zone's image UUID: how a rollback to `versions.roll_back_to` given as an image
    # UUID (as `sapiadm reprovision` takes it) is verified
    manatee_image: str = field(default="mdata-get sdc:image_uuid", check=_zone_command)
    manatee_adm: str = field(default=TRITON_MANATEE_ADM, check=_command_prefix)
    sitter_disable: str = field(default="svcadm disable manatee-sitter", check=_zone_command)
    sitter_enable: str = field(default="svcadm enable manatee-sitter", check=_zone_command)
    # prints the sitter service's state; `online` means running (the pre-flight's check)
    sitter_status: str = field(default="svcs -H -o state manatee-sitter", check=_zone_command)
    tail: str = field(default="tail", check=_command_prefix)
    reprovision: Reprovision = Reprovision()
    # Optional: run where the reprovision runs; prints `running` (first word) while a
    # reprovision job of {zone} is in flight, anything else when none is. Lets a resume
    # tell "still reprovisioning" from "never started" (migrator.engine.inflight).
    reprovision_status: str | None = field(default=None, check=_zone_command)
    zlogin: str = field(default="zlogin -Q", check=_command_prefix)
    node_sitter_log: str = field(default="svcs -z {zone} -L manatee-sitter",
                                 check=_zone_command)
    node_tail: str = field(default="tail", check=_command_prefix)

    def template(self, name: str) -> CommandTemplate:
        text = getattr(self, name)
        assert isinstance(text, str)
        return CommandTemplate(text)


def _version_text(value: Any) -> Any:
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)  # YAML reads `2` or `2.1` as a number
    if isinstance(value, str) and not IMAGE_RE.fullmatch(value):
        raise ValueError(f"{value!r} is not an image UUID or version string")
    return value


class Versions(Record):
    migrate_to: str | None = field(default=None, before=_version_text)
    roll_back_to: str | None = field(default=None, before=_version_text)


def _zone_table(value: Any) -> Any:
    if value is None:
        return {}
    if isinstance(value, Mapping):
        for key in value:
            if not isinstance(key, str) or not is_zone_id(key):
                raise ValueError(
                    f"{key!r} is not a zone id: use a lowercase UUID or a short name of "
                    "letters, digits, '.', '_' and '-' starting with a letter"
                )
    return value


def _node_table(value: Any) -> Any:
    if value is None:
        return {}
    if isinstance(value, Mapping):
        for key in value:
            if not isinstance(key, str) or not HOST_RE.fullmatch(key):
                raise ValueError(f"{key!r} is not a compute node name (a server UUID or host "
                                 "name: letters, digits, . _ : % -)")
    return value


def _shard_name(value: str) -> str:
    if not SHARD_RE.fullmatch(value):
        raise ValueError(f"{value!r} is not a shard name (letters, digits, . _ -)")
    return value


def _zk_string(value: str) -> str:
    if not ZK_RE.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a ZooKeeper connection string HOST:PORT[,HOST:PORT...][/chroot]"
        )
    return value


def _some_zones(value: dict[str, SshTarget]) -> dict[str, SshTarget]:
    if not value:
        raise ValueError("list at least one zone")
    return value


class Estimates(Record):
    """Figures the plan's outage estimates are made of (``migrator.engine.outage``)."""

    session_timeout: float | None = field(default=None, gt=0, le=3600)
    reprovision: float | None = field(default=None, gt=0, le=86400)


class Inventory(Record):
    shard: str = field(check=_shard_name)
    zookeeper: str = field(check=_zk_string)
    known_hosts: Path | None = None
    ssh_config: Path | Literal[False] | None = None
    ssh: SshDefaults = SshDefaults()
    headnode: SshTarget | None = None
    nodes: dict[str, NodeTarget] = field(factory=dict, before=_node_table)
    zones: dict[str, SshTarget] = field(before=_zone_table, check=_some_zones)
    morays: dict[str, SshTarget] = field(factory=dict, before=_zone_table)
    versions: Versions = Versions()
    commands: Commands = Commands()
    estimates: Estimates = Estimates()
    outage_records: Path | None = None
    _source: Path | None = None

    @property
    def path(self) -> Path | None:
        """The file this inventory was loaded from."""
        return self._source

    def loaded_from(self, path: Path) -> None:
        """Remember the file (for messages); not a field, so not compared or copied."""
        object.__setattr__(self, "_source", path)

    def check_record(self) -> None:
        overlap = set(self.zones) & set(self.morays)
        if overlap:
            raise ValueError(f"{', '.join(sorted(overlap))} listed both as zone and Moray zone")
        for name, target in [("headnode", self.headnode),
                             *((f"nodes.{k}", v) for k, v in self.nodes.items())]:
            if target is None:
                continue
            if target.host is None:
                raise ValueError(f"{name}: give its `host`")
            if target.via is not None or target.node is not None:
                raise ValueError(f"{name}: `via` and `node` apply to zones only")
        for table, zones in (("zones", self.zones), ("morays", self.morays)):
            for zone_id, target in zones.items():
                route = self._route_of(target)
                if route.via == "ssh" and target.host is None:
                    raise ValueError(f"{table}.{zone_id}: give its `host` (it is reached over "
                                     "SSH), or `via: zlogin` with its `node`")
                if route.via == "zlogin":
                    if route.node is None:
                        raise ValueError(f"{table}.{zone_id}: `via: zlogin` needs `node:` (the "
                                         "compute node hosting the zone, a key of `nodes:`)")
                    if route.node not in self.nodes:
                        known = ", ".join(self.nodes) or "none"
                        raise ValueError(f"{table}.{zone_id}: node {route.node!r} is not in "
                                         f"`nodes:` (known: {known})")

    def _route_of(self, target: SshTarget) -> ZoneRoute:
        via = target.via or self.ssh.via
        if via == "ssh":
            return ZoneRoute("ssh")
        return ZoneRoute("zlogin", target.node or self.ssh.node)

    def route(self, zone_id: str) -> ZoneRoute:
        """How the zone (or Moray zone) is reached."""
        return self._route_of(self.zone(zone_id))

    def node(self, name: str) -> NodeTarget:
        found = self.nodes.get(name)
        if found is None:
            raise BadInput(f"Compute node {name!r} is not in the inventory's `nodes:`.",
                           "Add it with its `host` (its global zone's address).")
        return found

    def zone(self, zone_id: str) -> SshTarget:
        """The target of a manatee or Moray zone; BadInput naming the known ones otherwise."""
        validate_zone_id(zone_id)
        if zone_id in self.zones:
            return self.zones[zone_id]
        if zone_id in self.morays:
            return self.morays[zone_id]
        known = ", ".join([*self.zones, *self.morays])
        raise BadInput(
            f"Zone {zone_id!r} is not in the inventory {self.path or ''}".rstrip() + ".",
            f"Known zones: {known}.",
        )

    def sitter_log(self, zone_id: str) -> Path | None:
        """The log path when the inventory fixes it (None: ask the zone with the command)."""
        return self.zone(zone_id).sitter_log or self.commands.sitter_log.path


# --- loading with line numbers ----------------------------------------------------------

_T = TypeVar("_T", bound=SshTarget)


def _resolve_paths(inventory: Inventory, base: Path) -> Inventory:
    def fix(path: Path) -> Path:
        expanded = path.expanduser()
        return expanded if expanded.is_absolute() else (base / expanded)

    def fix_target(target: _T) -> _T:
        if not target.identity:
            return target
        return target.replace(identity=[fix(p) for p in target.identity])

    ssh = inventory.ssh
    if ssh.identity:
        ssh = ssh.replace(identity=[fix(p) for p in ssh.identity])
    return inventory.replace(
        known_hosts=fix(inventory.known_hosts) if inventory.known_hosts else None,
        outage_records=fix(inventory.outage_records) if inventory.outage_records else None,
        ssh_config=fix(inventory.ssh_config) if inventory.ssh_config else inventory.ssh_config,
        ssh=ssh,
        headnode=fix_target(inventory.headnode) if inventory.headnode else None,
        nodes={k: fix_target(v) for k, v in inventory.nodes.items()},
        zones={k: fix_target(v) for k, v in inventory.zones.items()},
        morays={k: fix_target(v) for k, v in inventory.morays.items()},
    )


def _node_at(root: yaml.Node, loc: tuple[int | str, ...]) -> tuple[yaml.Node, int]:
    """The deepest YAML node along a validation error's location, and how far it got."""
    node, depth = root, 0
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            found = next((v for k, v in node.value if k.value == str(part)), None)
            if found is None:
                break
            node = found
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if part >= len(node.value):
                break
            node = node.value[part]
        else:
            break
        depth += 1
    return node, depth


def _duplicate_keys(node: yaml.Node, path: Path) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode):
                if key.value in seen:
                    raise BadInput(
                        f"{path}:{key.start_mark.line + 1}: the key {key.value!r} appears twice "
                        f"(first on line {seen[key.value]}).",
                        "Keep one of them; the inventory lists each zone once.",
                    )
                seen[key.value] = key.start_mark.line + 1
            _duplicate_keys(value, path)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            _duplicate_keys(item, path)


def _check_zone_keys(root: yaml.Node, path: Path) -> None:
    """Report a bad zone id at its own line (validation would name only the table)."""
    for table in ("zones", "morays"):
        node, depth = _node_at(root, (table,))
        if depth != 1 or not isinstance(node, yaml.MappingNode):
            continue
        for key, _value in node.value:
            if not is_zone_id(str(key.value)):
                raise BadInput(
                    f"{path}:{key.start_mark.line + 1}: {table}: {key.value!r} is not a zone id.",
                    "Use a lowercase zone UUID or a short name of letters, digits, '.', '_' "
                    "and '-' starting with a letter.",
                )


def _describe_error(problem: Problem, root: yaml.Node, path: Path) -> str:
    node, _depth = _node_at(root, problem.loc)
    field_path = ".".join(str(p) for p in problem.loc) or "(top level)"
    message = problem.message
    if problem.kind == "unknown":
        message = "unknown field (check the spelling against the documented format)"
    return f"{path}:{node.start_mark.line + 1}: {field_path}: {message}"


def load_inventory(path: Path) -> Inventory:
    """Read and validate an inventory; BadInput naming file, line and field on any problem."""
    text = read_input_text(path, "inventory", hint="Check the path given to --inventory.")
    try:
        root, data = parse_document(text)
    except AliasExpansionError as exc:
        mark = exc.problem_mark
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        raise BadInput(
            f"{where}: the inventory's YAML aliases cannot be used ({exc.problem}).",
            "An inventory needs at most a few shared settings (`<<: *defaults`); write the "
            "values out.",
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        problem = getattr(exc, "problem", None) or str(exc)
        raise BadInput(
            f"{where}: the inventory is not valid YAML ({problem}).",
            "Fix the syntax; the format is documented in `migrator inventory format`.",
        ) from None
    if root is None or not isinstance(data, dict):
        raise BadInput(
            f"{path}:1: the inventory must be a YAML mapping with shard, zookeeper and zones.",
            "See the documented example in `migrator inventory format`.",
        )
    _duplicate_keys(root, path)
    _check_zone_keys(root, path)
    try:
        inventory = Inventory.validate(data)
    except RecordError as exc:
        errors = exc.problems
        lines = [_describe_error(e, root, path) for e in errors[:5]]
        more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
        raise BadInput(
            "The inventory is invalid: " + "; ".join(lines) + more + ".",
            "Fix the field(s) named; the format is documented in `migrator inventory format`.",
        ) from None
    inventory = _resolve_paths(inventory, path.resolve().parent)
    inventory.loaded_from(path)
    return inventory

