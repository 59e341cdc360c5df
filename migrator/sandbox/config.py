"""The sandbox's description on disk: DIR/sandbox.json, zone directories, pid files.

Layout of a sandbox directory::

    DIR/sandbox.json              this description (written by `sandbox up`)
    DIR/inventory.yaml            the inventory every other command reads
    DIR/zookeeper/                the ZooKeeper server's data and log
    DIR/pids/<name>.pid           one per process `up` started (zookeeper, sitter-<zone>,
                                  sshd-<zone>, client)
    DIR/zones/<uuid>/             one per zone: sitter.log (bunyan), version, pg.json
                                  (the simulated database) or pgdata/ + postgres.log
                                  (--pg real), bin/manatee-adm, env, ssh/
    DIR/client/outages.jsonl      the Moray-like client's outage windows
    DIR/client/acked              ids whose COMMIT returned (--pg real), one per line
    DIR/nodes/<uuid>/             with --access zlogin: a compute node's bin/ (zlogin,
                                  svcs), zones/ (its zones root) and ssh/
    DIR/headnode/                 with --access zlogin: the headnode's bin/ (sdc-vmapi,
                                  sdc-cnapi, sdc-sapi, sdc-imgapi, manta-adm, sapiadm), ssh/
    DIR/headnode.yaml             with --access zlogin: an inventory naming only the headnode

A fleet sandbox (`up --shards K`, K >= 2) is a top directory owning what the shards
share, and one sub-sandbox per shard::

    DIR/sandbox.json              the fleet's description: ``shards`` names them, ``zones``
                                  is empty; ZooKeeper's port, the nodes and the headnode
    DIR/zookeeper/, DIR/pids/     the one ZooKeeper, the nodes', headnode's, relays' and
                                  VMAPI jobs' pid files
    DIR/nodes/, DIR/headnode/     the shared compute nodes and the headnode (its records
                                  list every shard's zones)
    DIR/headnode.yaml             only the headnode, no shard (for `migrator fleet discover`)
    DIR/zones/<uuid>              a symbolic link to the zone's directory in its shard, so
                                  the nodes see one zones directory, as /zones on SmartOS
    DIR/shards/<shard>/           a complete single-shard sandbox directory as every other
                                  command reads it: its sandbox.json (``fleet_root`` names
                                  DIR), inventory.yaml, headnode.yaml, zones/, pids/ (its
                                  sitters, client, reprovisions), client/, and copies of
                                  the client key and known_hosts

With `up --triton-shard` the fleet also has Triton's own shard, ``sdc``, in
DIR/shards/sdc (its ``triton`` is true): its zones are Triton's manatee zones (VMAPI tag
``smartdc_role=manatee``, aliases manatee0..., image ``sdc-manatee``: TRITON_IMAGES) and
its ``morays`` Triton's moray zones (DIR/shards/sdc/zones/<uuid> too: a package.json,
no sitter). It runs on a second ZooKeeper, Triton's binder (DIR/zookeeper-binder/, pid
file ``zookeeper-binder``, its port the top's ``binder_port`` and the shard's
``zk_port``), unless the fleet has no Manta shard (`--shards 0`), when the one
ZooKeeper is Triton's.
`manta-adm` lists none of it; SAPI's sdc application names the binder.

Decision: a shard of a fleet is addressed exactly as a one-shard sandbox is (`--dir
DIR/shards/<shard>`, `--inventory DIR/shards/<shard>/inventory.yaml`), so the single-shard
code runs unchanged on it; only what is shared (ZooKeeper's pid file, the nodes' and the
headnode's directories) is found through ``owner_directory``. `up --shards 1` (the
default) keeps the single-shard layout.

Decisions the issue leaves open:
  - zone k (0-based) of shard s (0-based; 0 for a one-shard sandbox) has address
    127.0.0.(10s+k+2), so shard 1's zones are where a one-shard sandbox's are and
    shards never share an address (at most 5 zones a shard, 8 shards: up to
    127.0.0.76); 127.0.0.1 is ZooKeeper's, compute nodes 127.0.2.x, the headnode
    127.0.2.254, the relays 127.0.3.1;
  - every port is picked free at `up` (postgres, ssh, ZooKeeper), so two sandboxes
    can run side by side; the peer id is ``<ip>:<pg port>:12345`` as in manatee;
  - the sitters' ZooKeeper session timeout is SESSION_TIMEOUT seconds unless `up
    --session-timeout` says otherwise (1 to 20 s, what the sandbox's ZooKeeper grants):
    a killed sitter's election node disappears that long later, which is when
    takeovers start.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from migrator.errors import BadInput

SANDBOX_FILE = "sandbox.json"
SHARD = "1.moray.sandbox.test"
SESSION_TIMEOUT = 2.0
# what the sandbox's ZooKeeper grants (zoo.cfg's minSessionTimeout/maxSessionTimeout)
MIN_SESSION_TIMEOUT = 1.0
MAX_SESSION_TIMEOUT = 20.0
BACKUP_PORT = 12345
VERSIONS = ("v1", "v2")
MAX_NODES = 5
MAX_SHARDS = 8
SHARDS_DIR = "shards"  # a fleet sandbox's sub-sandboxes, one per shard
# how far apart two shards' zone addresses are (one shard holds at most MAX_NODES)
SHARD_ADDRESS_STRIDE = 10
DEPOSED_MODES = ("deposed", "async")
PG_MODES = ("real", "sim")
# A manatee release string per simulated version (what `manatee-adm version` prints).
RELEASES = {"v1": "1.0.0-sandbox", "v2": "2.1.1-sandbox"}
# The image UUID per simulated version, as the sandbox's VMAPI/IMGAPI/sapiadm know them.
IMAGES = {"v1": "6f2c1b4e-1d1a-4c3e-9a55-0e6b3f1a0001",
          "v2": "6f2c1b4e-1d1a-4c3e-9a55-0e6b3f1a0002"}
# Triton's own manatee (`up --triton-shard`): the same releases under Triton's image name
TRITON_SHARD = "sdc"
BINDER = "zookeeper-binder"  # Triton's own ZooKeeper: its pid file's and directory's name
TRITON_IMAGES = {"v1": "6f2c1b4e-1d1a-4c3e-9a55-0e6b3f1a0011",
                 "v2": "6f2c1b4e-1d1a-4c3e-9a55-0e6b3f1a0012"}
# Triton's moray zones: an image new enough for /state (the playbooks' 20141204T233537Z)
MORAY_IMAGE = "6f2c1b4e-1d1a-4c3e-9a55-0e6b3f1a0021"
MORAY_VERSION = "master-20160330T224107Z-gsandbox"
TRITON_MORAYS = 1
ACCESS_MODES = ("zlogin", "ssh")
COMPUTE_NODES = 2
LOG_LEVELS = ("debug", "info")
# What a reprovision does to the zone's sitter log (`up --reprovision-log`): the new
# sitter appends to it, as a sitter restarted in place does, or starts a fresh file, as
# after Triton's reprovision, which replaces the root dataset the SMF log lives in.
REPROVISION_LOGS = ("append", "fresh")


@dataclass
class ZoneConfig:
    uuid: str
    ip: str
    pg_port: int
    ssh_port: int
    version: str
    node: str | None = None  # the compute node hosting it (--access zlogin)

    @property
    def peer_id(self) -> str:
        return f"{self.ip}:{self.pg_port}:{BACKUP_PORT}"

    @property
    def pg_url(self) -> str:
        return f"tcp://postgres@{self.ip}:{self.pg_port}/postgres"

    @property
    def backup_url(self) -> str:
        return f"http://{self.ip}:{BACKUP_PORT}"

    def election_data(self) -> dict[str, str]:
        """The election node's data, keys in manatee's order (manatee-observed.md)."""
        return {
            "zoneId": self.uuid,
            "ip": self.ip,
            "pgUrl": self.pg_url,
            "backupUrl": self.backup_url,
        }

    def ident(self) -> dict[str, str]:
        """The peer as a v2 peer describes itself (``self`` in manatee-peer.js)."""
        return {"id": self.peer_id, **self.election_data()}


@dataclass
class NodeConfig:
    """A compute node (--access zlogin): its global zone's sshd on its own address."""

    uuid: str
    ip: str
    ssh_port: int
    hostname: str


@dataclass
class SandboxConfig:
    directory: Path
    zk_port: int
    zones: list[ZoneConfig]
    shard: str = SHARD
    deposed_mode: str = "deposed"
    session_timeout: float = SESSION_TIMEOUT
    # the sitters' bunyan level: debug (Triton runs the sitter with -vvv) or info
    sitter_log_level: str = "debug"
    # the v2 sitters' level when it differs (`up --v2-sitter-log-level`): each image's
    # own SMF manifest says how its sitter runs, so a reprovision can change the level
    v2_sitter_log_level: str | None = None
    reprovision_log: str = "append"  # one of REPROVISION_LOGS
    pg: str = "sim"  # "real" (a PostgreSQL server per zone, pgreal) or "sim" (pgsim)
    access: str = "ssh"  # zones over their own sshd, or zlogin through compute nodes
    nodes: list[NodeConfig] = field(default_factory=list)
    headnode: NodeConfig | None = None
    # `up --latency MS`: the one-way delay from the operator to the datacenter, and the
    # ports of the relays that add it ("headnode", "zookeeper"; see sandbox/relay.py)
    latency_ms: float = 0.0
    relay_ports: dict[str, int] = field(default_factory=dict)
    # `up --reprovision-seconds S`: how long every reprovision takes (None: until the
    # zone's election node has expired, then half a second; see peers.reprovision)
    reprovision_seconds: float | None = None
    # a fleet's top directory: the shard names, each a sub-sandbox in DIR/shards/<shard>
    shards: list[str] = field(default_factory=list)
    # a shard of a fleet: the top directory that owns ZooKeeper, the nodes and headnode
    fleet_root: str | None = None
    # Triton's own shard (`up --triton-shard`), and its Moray zones (no sitter)
    triton: bool = False
    morays: list[ZoneConfig] = field(default_factory=list)
    # a fleet's top: the port of Triton's binder ZooKeeper, when it runs one of its own
    binder_port: int | None = None
    # ZooKeeper was lent to this sandbox (``UpOptions.zookeeper_port``): it is running
    # when it answers, and `down` leaves it running
    zookeeper_lent: bool = False

    @property
    def images(self) -> dict[str, str]:
        """The image UUID of each version (v1, v2) of this shard's manatee."""
        return TRITON_IMAGES if self.triton else IMAGES

    @property
    def owner_directory(self) -> Path:
        """Where what the shards share lives: the fleet's top, else this directory."""
        return Path(self.fleet_root) if self.fleet_root else self.directory

    def shard_directory(self, shard: str) -> Path:
        """A fleet's shard's own sandbox directory."""
        return self.owner_directory / SHARDS_DIR / shard

    def sitter_log_level_of(self, version: str) -> str:
        """The level a sitter of ``version`` (v1, v2) logs at."""
        if version == "v2" and self.v2_sitter_log_level is not None:
            return self.v2_sitter_log_level
        return self.sitter_log_level

    @property
    def reprovision_delay(self) -> float:
        if self.reprovision_seconds is not None:
            return self.reprovision_seconds
        return self.session_timeout + 0.5  # the default's expected length

    def node_dir(self, node: NodeConfig) -> Path:
        return self.owner_directory / "nodes" / node.uuid

    def zones_root(self, node: NodeConfig) -> Path:
        return self.node_dir(node) / "zones"

    def node_of(self, zone: ZoneConfig) -> NodeConfig | None:
        return next((n for n in self.nodes if n.uuid == zone.node), None)

    @property
    def zk_connection(self) -> str:
        """ZooKeeper as the sitters and the sandbox's own tools reach it (directly)."""
        return f"127.0.0.1:{self.zk_port}"

    @property
    def operator_zk_connection(self) -> str:
        """ZooKeeper as the operator's inventory names it: through the delaying relay
        when the sandbox was brought up with a latency."""
        port = self.relay_ports.get("zookeeper")
        return self.zk_connection if port is None else f"{RELAY_ADDRESS}:{port}"

    @property
    def operator_headnode_port(self) -> int:
        """The port the operator's inventory gives for the headnode (the relay's, with a
        latency); the headnode listens at ``headnode.ssh_port`` either way."""
        assert self.headnode is not None
        return self.relay_ports.get("headnode", self.headnode.ssh_port)

    def zone(self, name: str) -> ZoneConfig:
        """A zone by uuid, uuid prefix (>= 8 chars) or 0-based index."""
        for zone in self.zones:
            if name == zone.uuid or (len(name) >= 8 and zone.uuid.startswith(name)):
                return zone
        if name.isdigit() and int(name) < len(self.zones):
            return self.zones[int(name)]
        if self.shards:
            _refuse_fleet_zone(self, name)
        known = ", ".join(z.uuid for z in self.zones)
        raise BadInput(
            f"The sandbox in {self.directory} has no zone {name!r}.",
            f"Name one of its zones by uuid (or 0-based index): {known}.",
        )

    def zone_dir(self, zone: ZoneConfig) -> Path:
        return self.directory / "zones" / zone.uuid

    @property
    def client_dir(self) -> Path:
        """The write client's records (``migrator.outagerecords``)."""
        return self.directory / "client"

    def pid_file(self, name: str) -> Path:
        return self.directory / "pids" / f"{name}.pid"

    def to_json(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["directory"] = str(self.directory)
        return doc

    def save(self) -> None:
        path = self.directory / SANDBOX_FILE
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.to_json(), indent=2) + "\n")
        tmp.replace(path)


def zone_address(index: int, shard_index: int = 0) -> str:
    """Zone ``index`` of shard ``shard_index`` (both 0-based; see the module docstring)."""
    return f"127.0.0.{SHARD_ADDRESS_STRIDE * shard_index + index + 2}"


def shard_name(shard_index: int) -> str:
    """The name of a sandbox fleet's shard ``shard_index`` (0-based): N.moray.sandbox.test."""
    return f"{shard_index + 1}.moray.sandbox.test"


def node_address(index: int) -> str:
    return f"127.0.2.{index + 1}"


HEADNODE_ADDRESS = "127.0.2.254"
# where the operator's side of the delaying relays listens (`up --latency`)
RELAY_ADDRESS = "127.0.3.1"


def version_of_image(value: str) -> str | None:
    """v1/v2 for an image UUID, release string or version name; None when unknown."""
    for version in VERSIONS:
        if value in (version, RELEASES[version], IMAGES[version], TRITON_IMAGES[version]):
            return version
    return None


def new_zone_uuid() -> str:
    # deferred: uuid (which imports platform) costs ~4.5 ms of CPU, and every sandbox
    # process loads this module (a zone's manatee-adm alone runs ~1700 times in the
    # test suite); only `up` and a reprovision name new zones
    import uuid

    return str(uuid.uuid4())


def load_config(directory: Path) -> SandboxConfig:
    """The sandbox in ``directory``, or BadInput when it is not one."""
    path = directory / SANDBOX_FILE
    try:
        doc = json.loads(path.read_text())
        zones = [ZoneConfig(**z) for z in doc["zones"]]
        return SandboxConfig(
            directory=directory,
            zk_port=int(doc["zk_port"]),
            zones=zones,
            shard=str(doc["shard"]),
            deposed_mode=str(doc.get("deposed_mode", "deposed")),
            session_timeout=float(doc.get("session_timeout", SESSION_TIMEOUT)),
            sitter_log_level=str(doc.get("sitter_log_level", "debug")),
            v2_sitter_log_level=(None if doc.get("v2_sitter_log_level") is None
                                 else str(doc["v2_sitter_log_level"])),
            reprovision_log=str(doc.get("reprovision_log", "append")),
            pg=str(doc.get("pg", "sim")),
            access=str(doc.get("access", "ssh")),
            nodes=[NodeConfig(**n) for n in doc.get("nodes", [])],
            headnode=NodeConfig(**doc["headnode"]) if doc.get("headnode") else None,
            latency_ms=float(doc.get("latency_ms", 0.0)),
            relay_ports={str(k): int(v) for k, v in (doc.get("relay_ports") or {}).items()},
            reprovision_seconds=(None if doc.get("reprovision_seconds") is None
                                 else float(doc["reprovision_seconds"])),
            shards=[str(s) for s in doc.get("shards") or []],
            fleet_root=None if doc.get("fleet_root") is None else str(doc["fleet_root"]),
            triton=bool(doc.get("triton", False)),
            morays=[ZoneConfig(**z) for z in doc.get("morays") or []],
            binder_port=None if doc.get("binder_port") is None else int(doc["binder_port"]),
            zookeeper_lent=bool(doc.get("zookeeper_lent", False)),
        )
    except FileNotFoundError as exc:
        raise BadInput(
            f"{directory} is not a sandbox directory (it has no {SANDBOX_FILE}).",
            "Pass the directory you gave to `migrator sandbox up --dir`, or create one with "
            "`migrator sandbox up --dir DIR`.",
        ) from exc
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise BadInput(
            f"{path} is not a readable sandbox description ({type(exc).__name__}: {exc}).",
            "It was not written by `migrator sandbox up`, or was edited; run "
            "`migrator sandbox down --dir DIR` and bring a fresh sandbox up in an empty "
            "directory.",
        ) from exc


def fleet_members(config: SandboxConfig) -> list[SandboxConfig]:
    """Every shard sandbox of the fleet ``config`` belongs to (read afresh from disk), or
    ``[config]`` for a one-shard sandbox."""
    if config.fleet_root:
        return fleet_members(load_config(config.owner_directory))
    if not config.shards:
        return [config]
    return [load_config(config.shard_directory(shard)) for shard in config.shards]


def member_directory_of_zone(directory: Path) -> dict[str, Path]:
    """Zone uuid -> the directory of the (shard) sandbox holding it."""
    return {zone.uuid: member.directory
            for member in fleet_members(load_config(directory)) for zone in member.zones}


def _refuse_fleet_zone(config: SandboxConfig, name: str) -> None:
    for member in fleet_members(config):
        found = next((z for z in member.zones if name == z.uuid
                      or (len(name) >= 8 and z.uuid.startswith(name))), None)
        if found is not None:
            raise BadInput(
                f"{config.directory} is a fleet sandbox; zone {found.uuid} is in its shard "
                f"{member.shard}.",
                f"Give that shard's directory: --dir {member.directory}.")
    raise BadInput(
        f"{config.directory} is a fleet sandbox of {len(config.shards)} shards; none has "
        f"a zone {name!r}.",
        f"Give a shard's directory (--dir {config.directory / SHARDS_DIR}/<shard>) and one "
        "of its zones (`migrator sandbox status --dir DIR` lists them).")


FORCE_COMMAND = '/bin/sh -c "$SSH_ORIGINAL_COMMAND"'
