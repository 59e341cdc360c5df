"""The inventory's shape: which shard, which ZooKeeper, which zones and how to reach
them, as validated records (the format, with examples: docs/inventory.md)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from migrator.cluster.positions import POSITION_SQL
from migrator.errors import BadInput
from migrator.inventory.values import (
    HOST_RE,
    IMAGE_RE,
    TRITON_MANATEE_ADM,
    TRITON_REPROVISION_JOBS,
    TRITON_SITTER_LOG_COMMAND,
    CommandTemplate,
    check_host,
    check_shard_name,
    check_template,
    check_user,
    check_zk_string,
    is_zone_id,
    validate_zone_id,
)
from migrator.inventory.zkroute import ZkVia
from migrator.record import Record, field

# --- command templates --------------------------------------------------------------


# --- the model ------------------------------------------------------------------------


class JumpHost(Record):
    host: str = field(check=check_host)
    port: int | None = field(default=None, ge=1, le=65535)
    user: str | None = field(default=None, check=check_user)

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
    user: str | None = field(default=None, check=check_user)
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
    host: str | None = field(default=None, check=check_host)
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


# Prints the zone's postgres position, one line ROLE|TIMELINE|LSN|HISTORY
# (migrator.cluster.positions): psql as postgres in the zone, as upstream manatee's
# zones have it (manatee-adm itself prints no timeline).
# (The query holds no double quote, dollar sign, backquote or backslash.)
PG_POSITION_COMMAND = f'psql -U postgres -d postgres -X -A -t -q -c "{POSITION_SQL}"'


def _command_prefix(value: str) -> str:
    # A path or a short command prefix; arguments are appended quoted.
    return check_template(value, allowed=frozenset())


class Commands(Record):
    sitter_log: SitterLog = field(default=SitterLog(command=TRITON_SITTER_LOG_COMMAND),
                                  before=_sitter_log_shorthand)
    manatee_version: str = field(default="cat /opt/smartdc/manatee/package.json",
                                 check=_zone_command)
    # prints the sitter's config (JSON): its ZooKeeper session timeout (zkCfg.opts.
    # sessionTimeout, ms) is the one the run's outage estimates use. The path is
    # upstream manatee-adm's default (and its MANATEE_SITTER_CONFIG variable).
    sitter_config: str = field(
        default='cat "${MANATEE_SITTER_CONFIG:-/opt/smartdc/manatee/etc/sitter.cfg}"',
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
    # the zone's postgres timeline and WAL position (how the final data check and the
    # rollback's pre-flight tell which peer holds the most data)
    pg_position: str = field(default=PG_POSITION_COMMAND, check=_zone_command)
    reprovision: Reprovision = Reprovision()
    # Optional: run where the reprovision runs; prints `running` (first word) while a
    # reprovision job of {zone} is in flight, anything else when none is. Lets a resume
    # tell "still reprovisioning" from "never started" (migrator.engine.inflight).
    reprovision_status: str | None = field(default=None, check=_zone_command)
    # Where the reprovision runs on the headnode: lists {zone}'s reprovision jobs as
    # VMAPI does (ListJobs: each job's uuid, execution, created_at); a resume and a run
    # judge an in-flight reprovision by it (migrator.remote.vmapi). `null` turns it off
    # (then `reprovision_status`, if given, is asked instead).
    reprovision_jobs: str | None = field(default=TRITON_REPROVISION_JOBS, check=_zone_command)
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


def zone_table(value: Any) -> Any:
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


def node_table(value: Any) -> Any:
    if value is None:
        return {}
    if isinstance(value, Mapping):
        for key in value:
            if not isinstance(key, str) or not HOST_RE.fullmatch(key):
                raise ValueError(f"{key!r} is not a compute node name (a server UUID or host "
                                 "name: letters, digits, . _ : % -)")
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
    shard: str = field(check=check_shard_name)
    zookeeper: str = field(check=check_zk_string)
    # how ZooKeeper is reached: `direct`, or `headnode` (forwarded over the headnode's
    # SSH connection, where only the headnode reaches the admin network)
    zookeeper_via: ZkVia = "direct"
    known_hosts: Path | None = None
    ssh_config: Path | Literal[False] | None = None
    ssh: SshDefaults = SshDefaults()
    headnode: SshTarget | None = None
    nodes: dict[str, NodeTarget] = field(factory=dict, before=node_table)
    zones: dict[str, SshTarget] = field(before=zone_table, check=_some_zones)
    morays: dict[str, SshTarget] = field(factory=dict, before=zone_table)
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
        if self.zookeeper_via == "headnode" and self.headnode is None:
            raise ValueError("`zookeeper_via: headnode` needs `headnode:` (the host whose SSH "
                             "connection carries ZooKeeper); add it, or set `zookeeper_via: "
                             "direct`")
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


