"""HEADNODE.yaml: an inventory naming only the headnode, for `migrator inventory discover`.

Format (only ``headnode`` is required)::

    known_hosts: known_hosts          # as in a full inventory
    ssh_config: ~/.ssh/config
    ssh: {user: root, identity: ~/.ssh/id_ed25519}
    headnode: {host: headnode.example.com}
    shard: 1.moray.us-east.joyent.us  # or --shard
    zookeeper: 10.77.77.10:2181       # optional: asked of SAPI otherwise (Manta's)
    triton_zookeeper: 10.99.99.11:2181  # optional: Triton's own (binder), for its
                                      # `sdc` shard; asked of SAPI otherwise
    zookeeper_via: headnode           # optional: default headnode with discovery.jump,
                                      # else direct (written into the result)
    morays: {}                        # optional: given by hand ({} for none), else discovered
    zones:                            # optional, by hand where VMAPI cannot tell
      2ffb1a8a-5a1d-4c51-9d3f-3b0e4e0a0a01: {node: cn7, host: 10.77.77.47}
    nodes: {cn7: {host: 10.99.99.47}} # optional, by hand where CNAPI cannot tell
    versions: {roll_back_to: IMAGE}   # optional: else the zones' current image
    commands: {}                      # zone command templates, carried into the result
    discovery:                        # headnode commands, shown with their Triton defaults
      zookeeper: sdc-sapi '/applications?name=manta'     # prints metadata.ZK_SERVERS
      vm: sdc-vmapi /vms/{zone}                         # server_uuid, image_uuid, nics
      server: sdc-cnapi /servers/{server}               # sysinfo "Admin IP"
      morays: manta-adm show -H -o service,shard,zonename moray
      shards: manta-adm show -H -o service,shard,zonename postgres  # `fleet discover`
      image: sdc-imgapi /images/{image}                 # checks --migrate-to
      images: sdc-imgapi '/images?name=manta-manatee&state=active'  # --migrate-to latest
      image_name: manta-manatee                         # the image --migrate-to latest picks
      # Triton's own manatee shard (`fleet discover` adds it; `inventory discover
      # --shard sdc` uses these for it); triton_shard "" or null: none
      triton_shard: sdc
      triton_zookeeper: sdc-sapi '/applications?name=sdc'  # ZK_SERVERS, datacenter_name
      triton_morays: sdc-vmapi '/vms?tag.smartdc_role=moray&state=running'
      triton_images: sdc-imgapi '/images?name=sdc-manatee&state=active'
      triton_image_name: sdc-manatee
      zones_root: /zones              # each node's zones root ({server} may appear)
      jump: true                      # reach compute nodes through the headnode
      node_port: 22                   # the compute nodes' SSH port (default: ssh.port, 22)

Values given here are used as they are (and shown as coming from this file);
everything else is asked of the headnode and ZooKeeper.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml

from migrator.errors import BadInput
from migrator.inputfile import read_input_text
from migrator.inventory.load import describe_error, refuse_duplicate_keys
from migrator.inventory.model import (
    Commands,
    NodeTarget,
    SshDefaults,
    SshTarget,
    Versions,
    node_table,
    zone_table,
)
from migrator.inventory.values import check_shard_name, check_template, check_zk_string
from migrator.inventory.zkroute import ZkVia
from migrator.record import Record, RecordError, field
from migrator.yamldoc import parse_document


def _template(*allowed: str) -> Any:
    def check(value: str) -> str:
        return check_template(value, allowed=frozenset(allowed))

    return check


def _given_table(value: Any) -> Any:
    """``morays: {}`` means none (given by hand); absent means: ask the headnode."""
    return None if value is None else zone_table(value)


def _optional_shard(value: str | None) -> str | None:
    """``triton_shard``: a shard name, or "" / null for none."""
    return value if not value else check_shard_name(value)


def _zones_root(value: str) -> str:
    check_template(value, allowed=frozenset({"server"}))
    if not value.startswith("/"):
        raise ValueError("`zones_root` must be an absolute path")
    return value


class Discovery(Record):
    zookeeper: str = field(default="sdc-sapi '/applications?name=manta'",
                           check=_template("shard"))
    vm: str = field(default="sdc-vmapi /vms/{zone}", check=_template("zone"))
    server: str = field(default="sdc-cnapi /servers/{server}", check=_template("server"))
    morays: str = field(default="manta-adm show -H -o service,shard,zonename moray",
                        check=_template("shard"))
    # `migrator fleet discover`: every postgres zone and its shard number
    shards: str = field(default="manta-adm show -H -o service,shard,zonename postgres",
                        check=_template())
    image: str = field(default="sdc-imgapi /images/{image}", check=_template("image"))
    # `--migrate-to latest`: the images IMGAPI has under the manatee image's name
    images: str = field(default="sdc-imgapi '/images?name=manta-manatee&state=active'",
                        check=_template())
    image_name: str = field(default="manta-manatee", min_length=1)
    # Triton's own shard, on Triton's (binder) ZooKeeper: its name, where its ensemble is
    # (SAPI's sdc application), its Morays (VMAPI: Triton's moray zones are tagged, and
    # `manta-adm` lists none of them) and its image's name
    triton_shard: str | None = field(default="sdc", check=_optional_shard)
    triton_zookeeper: str = field(default="sdc-sapi '/applications?name=sdc'",
                                  check=_template())
    triton_morays: str = field(
        default="sdc-vmapi '/vms?tag.smartdc_role=moray&state=running'", check=_template())
    triton_images: str = field(default="sdc-imgapi '/images?name=sdc-manatee&state=active'",
                               check=_template())
    triton_image_name: str = field(default="sdc-manatee", min_length=1)
    zones_root: str = field(default="/zones", check=_zones_root)
    jump: bool = True
    node_port: int | None = field(default=None, ge=1, le=65535)  # the nodes' sshd (22)

    @property
    def triton_shard_name(self) -> str | None:
        """Triton's own shard, or None when it is not to be looked for."""
        return self.triton_shard or None


class HeadnodeInventory(Record):
    shard: str | None = field(default=None, check=check_shard_name)
    zookeeper: str | None = field(default=None, check=check_zk_string)
    # Triton's own ensemble (its `sdc` shard's), by hand; else SAPI's sdc application
    triton_zookeeper: str | None = field(default=None, check=check_zk_string)
    # None: `headnode` when the compute nodes are reached through it (discovery.jump),
    # else `direct`: an operator who reaches the nodes only through the headnode reaches
    # the admin network's ZooKeeper only through it too
    zookeeper_via: ZkVia | None = None
    known_hosts: Path | None = None
    ssh_config: Path | Literal[False] | None = None
    ssh: SshDefaults = SshDefaults()
    headnode: SshTarget
    morays: dict[str, SshTarget] | None = field(default=None, before=_given_table)
    # filled by hand where the headnode cannot say: zone -> {node, host}; node -> {host}
    zones: dict[str, SshTarget] = field(factory=dict, before=zone_table)
    nodes: dict[str, NodeTarget] = field(factory=dict, before=node_table)
    versions: Versions = Versions()
    commands: Commands = Commands()
    discovery: Discovery = Discovery()

    def check_record(self) -> None:
        if self.headnode.host is None:
            raise ValueError("headnode: give its `host`")

    @property
    def zookeeper_route(self) -> ZkVia:
        """How discovery reaches ZooKeeper, and what it writes as ``zookeeper_via``."""
        if self.zookeeper_via is not None:
            return self.zookeeper_via
        return "headnode" if self.discovery.jump else "direct"


def load_headnode_inventory(path: Path) -> tuple[HeadnodeInventory, dict[str, Any]]:
    """The validated headnode inventory (paths resolved) and its raw document."""
    text = read_input_text(path, "headnode inventory", hint="Check the path given to "
                           "--inventory.")
    try:
        root, data = parse_document(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        raise BadInput(f"{where}: the headnode inventory is not valid YAML.",
                       "Fix the syntax; the format is in `migrator inventory discover --help`."
                       ) from None
    if root is None or not isinstance(data, dict):
        raise BadInput(f"{path}:1: the headnode inventory must be a YAML mapping with "
                       "`headnode:`.", "See `migrator inventory discover --help`.")
    refuse_duplicate_keys(root, path)
    try:
        inventory = HeadnodeInventory.validate(data)
    except RecordError as exc:
        lines = [describe_error(e, root, path) for e in exc.problems[:5]]
        raise BadInput("The headnode inventory is invalid: " + "; ".join(lines) + ".",
                       "Fix the field(s) named (a headnode inventory needs `headnode: "
                       "{host: ...}`).") from None
    base = path.resolve().parent

    def fix(value: Path) -> Path:
        expanded = value.expanduser()
        return expanded if expanded.is_absolute() else base / expanded

    ssh = inventory.ssh
    if ssh.identity:
        ssh = ssh.replace(identity=[fix(p) for p in ssh.identity])
    headnode = inventory.headnode
    if headnode.identity:
        headnode = headnode.replace(identity=[fix(p) for p in headnode.identity])
    inventory = inventory.replace(
        known_hosts=fix(inventory.known_hosts) if inventory.known_hosts else None,
        ssh_config=fix(inventory.ssh_config) if inventory.ssh_config else inventory.ssh_config,
        ssh=ssh, headnode=headnode)
    return inventory, data
