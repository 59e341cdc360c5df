"""Ask the headnode (over SSH) and ZooKeeper, and assemble a complete inventory.

One SSH connection to the headnode carries every question; the questions
about different zones and servers go out concurrently on their own channels.
Nothing is written here: ``discover`` returns the inventory document, where
each value came from, and warnings; the command shows them and writes the
file once confirmed. Anything that cannot be found raises ``DiscoveryFailed``
naming the headnode command (or ZooKeeper path) and the field to fill by hand
in HEADNODE.yaml. A headnode command that does not answer within
``ssh.command_timeout`` is such a failure too (exit 2, as documented for
discovery), and it is ended on the headnode, not left running there
(``migrator.remote.commands``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import migrator.zk.client  # noqa: F401
from migrator.discovery import parse
from migrator.discovery.headnode_inventory import HeadnodeInventory
from migrator.errors import BadInput
from migrator.inventory.model import SshTarget
from migrator.inventory.values import CommandTemplate
from migrator.remote.commands import run_command
from migrator.remote.connection import Connector, ZoneConnection
from migrator.remote.endpoint import load_ssh_config, resolve
from migrator.remote.errors import RemoteCommandTimeout
from migrator.remote.forward import through_headnode
from migrator.remote.hostkeys import KnownHosts
from migrator.zk.client import ZkTarget, connect, disconnect
from migrator.zk.reads import read_raw_shards, require_shard

T = TypeVar("T")


class DiscoveryFailed(BadInput):
    """Something the inventory needs could not be found; nothing was written."""


@dataclass(frozen=True)
class Source:
    field: str
    value: str
    source: str


@dataclass
class Discovered:
    document: dict[str, Any]
    sources: list[Source] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


# headnode commands at once on its connection (one discovery asks at most 8 itself)
MAX_COMMANDS = 8


class Headnode:
    """Commands on the headnode over one verified connection."""

    def __init__(self, inventory: HeadnodeInventory, path: Path) -> None:
        self.inventory = inventory
        self.path = path
        connector = Connector(KnownHosts(inventory.known_hosts),
                              connect_timeout=inventory.ssh.connect_timeout,
                              keepalive=inventory.ssh.keepalive)
        endpoint = resolve("headnode", inventory.headnode, inventory.ssh,
                           load_ssh_config(inventory.ssh_config))
        # shared: a ZooKeeper forward through the headnode uses the same connection
        self.connection = ZoneConnection(endpoint, connector, shared=True)
        self.connector = connector
        self._connecting: Any = None
        self._connect_error: BaseException | None = None
        # OpenSSH's sshd allows 10 sessions per connection (MaxSessions); a fleet's
        # shards share this one, so its commands wait their turn below that
        self._commands = threading.BoundedSemaphore(MAX_COMMANDS)

    def start_connect(self) -> None:
        """Connect in the background; the first question waits for it (and its error)."""
        def connect() -> None:
            try:
                self.connection.transport()
            except BaseException as exc:  # handed to the first question
                self._connect_error = exc

        self._connecting = threading.Thread(target=connect, daemon=True)
        self._connecting.start()

    def _connected(self) -> None:
        thread = self._connecting  # questions may come from several threads at once
        if thread is not None:
            thread.join()
            if self._connect_error is not None:
                raise self._connect_error

    def ask(self, template: str, setting: str, fill_by_hand: str, **values: str) -> str:
        """The command's output; ``DiscoveryFailed`` naming it and the field otherwise."""
        command = CommandTemplate(template).fill(**values)
        self._connected()
        timeout = self.inventory.ssh.command_timeout
        try:
            with self._commands:
                result = run_command(self.connection, command, timeout=timeout,
                                     max_output=4 << 20)
        except RemoteCommandTimeout:
            # run_command closed its channel, which ends the command on the headnode
            raise self.failed(command, f"no answer within {timeout:g} s (`ssh.command_timeout`);"
                              " the command was ended on the headnode", setting,
                              fill_by_hand) from None
        if not result.ok:
            said = result.stderr.decode("utf-8", "replace").strip().splitlines()
            raise self.failed(command, f"exit status {result.status}"
                              + (f": {said[-1][:300]}" if said else ""), setting, fill_by_hand)
        return result.text

    def failed(self, command: str, why: str, setting: str, fill_by_hand: str
               ) -> DiscoveryFailed:
        return DiscoveryFailed(
            f"Discovery stopped: `{command}` on the headnode gave no answer to use ({why}); "
            "nothing was written.",
            f"Fill {fill_by_hand} by hand in {self.path}, or fix the command "
            f"(`discovery.{setting}` there).",
        )

    def close(self) -> None:
        self.connection.close()
        self.connector.close()


def _parsed(headnode: Headnode, template: str, setting: str, fill: str,
            parser: Callable[[str], T], **values: str) -> T:
    text = headnode.ask(template, setting, fill, **values)
    try:
        return parser(text)
    except parse.Unparseable as exc:
        raise headnode.failed(CommandTemplate(template).fill(**values), f"it printed {exc}",
                              setting, fill) from None


@dataclass(frozen=True)
class SharedAccess:
    """One headnode connection and one ZooKeeper session shared by the discoveries of
    many shards (`migrator fleet discover`); their owner opens and closes them."""

    headnode: Headnode
    zookeeper: str
    zookeeper_source: str  # where ``zookeeper`` came from, as an inventory's source note
    client: Any  # KazooClient


@dataclass(frozen=True)
class Settings:
    """The `discovery.` settings that find a shard's Morays and newer images: Manta's
    (``manta-adm``, manta-manatee) or those of Triton's own shard (VMAPI's moray zones,
    sdc-manatee). Decision: a shard is Triton's when its name is
    ``discovery.triton_shard``; Manta names its shards N.moray.<domain>, never so."""

    triton: bool
    morays_setting: str  # the setting's name, for messages
    morays: str  # its command template
    images_setting: str
    images: str
    image_name: str

    def parse_morays(self, text: str, shard: str) -> list[str]:
        if self.triton:
            return parse.parse_role_vms(text, "moray")
        return parse.parse_moray_rows(text, shard)


def settings_for(inventory: HeadnodeInventory, shard: str) -> Settings:
    found = inventory.discovery
    if shard == found.triton_shard_name:
        return Settings(True, "triton_morays", found.triton_morays, "triton_images",
                        found.triton_images, found.triton_image_name)
    return Settings(False, "morays", found.morays, "images", found.images, found.image_name)


@dataclass(frozen=True)
class Ensemble:
    """A ZooKeeper ensemble as discovery found it."""

    connection: str
    source: str  # where it came from, as an inventory's source note
    datacenter: str | None = None  # SAPI's metadata.datacenter_name, when asked


def application_ensemble(headnode: Headnode, setting: str, given: str | None
                         ) -> Ensemble | None:
    """The ensemble HEADNODE.yaml gives (``given``), else the one SAPI's application
    names (the ``discovery.<setting>`` command); None when SAPI has no such application."""
    if given:
        return Ensemble(given, headnode.path.name)
    template = str(getattr(headnode.inventory.discovery, setting))
    fill = f"`{setting}:`"
    app = _parsed(headnode, template, setting, fill, parse.parse_application, shard="")
    if app is None:
        return None
    asked = CommandTemplate(template).fill(shard="")
    return Ensemble(app.zookeeper, f"headnode: `{asked}` (metadata.ZK_SERVERS)",
                    app.datacenter)


def triton_ensemble(headnode: Headnode) -> Ensemble | None:
    """Triton's own (binder) ensemble: HEADNODE.yaml's ``triton_zookeeper``, else SAPI's
    sdc application's; None when SAPI has none."""
    return application_ensemble(headnode, "triton_zookeeper",
                                headnode.inventory.triton_zookeeper)


def zookeeper_address(headnode: Headnode, shard: str) -> tuple[str, str]:
    """ZooKeeper's connection string and where it came from (HEADNODE.yaml, else SAPI)."""
    inventory = headnode.inventory
    if settings_for(inventory, shard).triton:
        found = triton_ensemble(headnode)
        if found is None:
            asked = inventory.discovery.triton_zookeeper
            raise DiscoveryFailed(
                f"Discovery stopped: `{asked}` on the headnode lists no application, so "
                f"Triton's ZooKeeper (shard {shard}'s) is unknown; nothing was written.",
                f"Give `triton_zookeeper: HOST:PORT,...` in {headnode.path}, or fix the "
                "command (`discovery.triton_zookeeper` there).")
        return found.connection, found.source
    if inventory.zookeeper:
        return inventory.zookeeper, headnode.path.name
    templates = inventory.discovery
    zookeeper = _parsed(headnode, templates.zookeeper, "zookeeper", "`zookeeper:`",
                        parse.parse_zk_servers, shard=shard)
    asked = CommandTemplate(templates.zookeeper).fill(shard=shard)
    return zookeeper, f"headnode: `{asked}` (metadata.ZK_SERVERS)"


@contextmanager
def zookeeper_client(connection: str, timeout: float, headnode: Headnode) -> Iterator[Any]:
    """A ZooKeeper session for the block, directly or (``zookeeper_via: headnode``)
    through the headnode's connection, as the written inventory will reach it."""
    with ExitStack() as stack:
        target = ZkTarget(connection, timeout)
        if headnode.inventory.zookeeper_route == "headnode":
            endpoint = headnode.connection.endpoint
            hosts = stack.enter_context(through_headnode(
                headnode.connector, endpoint, connection, headnode.inventory.ssh.connect_timeout))
            target = ZkTarget(hosts, timeout, shown=f"{connection!r} (through the headnode "
                              f"{endpoint.route()})", ensemble=connection)
        client = connect(target)
        try:
            yield client
        finally:
            disconnect(client)


def _read_shard(client: Any, shard: str) -> tuple[list[tuple[str, bytes | None]], bytes | None]:
    require_shard(client, shard)
    raw = read_raw_shards(client, [shard], with_peers=True)[0]
    return raw.election, None if raw.state is None else raw.state[0]


def _read_zookeeper(connection: str, shard: str, timeout: float, headnode: Headnode
                    ) -> tuple[list[tuple[str, bytes | None]], bytes | None]:
    """The shard's election and /state, over a session of its own."""
    with zookeeper_client(connection, timeout, headnode) as client:
        return _read_shard(client, shard)


def discover(inventory: HeadnodeInventory, raw: dict[str, Any], path: Path, *, shard: str,
             migrate_to: str | None = None, out_dir: Path | None = None,
             shared: SharedAccess | None = None) -> Discovered:
    """``shared``: the headnode connection and ZooKeeper session to use (left open);
    without it, discovery opens its own and closes them."""
    if inventory.shard is not None and inventory.shard != shard:
        raise BadInput(f"--shard {shard} differs from `shard: {inventory.shard}` in {path}.",
                       "Give the same shard, or drop one of them.")
    found = Discovered({})
    note = found.sources.append
    here = path.name
    templates = inventory.discovery
    settings = settings_for(inventory, shard)
    if shared is not None:
        headnode = shared.headnode
    else:
        headnode = Headnode(inventory, path)
        # The handshake is mostly waiting: let it overlap with loading the ZooKeeper client.
        headnode.start_connect()
    try:
        # ZooKeeper
        if shared is not None:
            zookeeper = shared.zookeeper
            note(Source("zookeeper", zookeeper, shared.zookeeper_source))
        else:
            zookeeper, source = zookeeper_address(headnode, shard)
            note(Source("zookeeper", zookeeper, source))
        # the shard's peers
        try:
            if shared is not None:
                election, state = _read_shard(shared.client, shard)
            else:
                election, state = _read_zookeeper(zookeeper, shard,
                                                  inventory.ssh.connect_timeout, headnode)
            peers = parse.peer_zones(election, state, shard)
        except parse.Unparseable as exc:
            raise DiscoveryFailed(f"Discovery stopped: {exc}; nothing was written.",
                                  "Look at the shard with `migrator status`.") from None
        if not peers:
            raise DiscoveryFailed(
                f"Discovery stopped: shard {shard} has no peers in ZooKeeper "
                f"(/manatee/{shard}/election is empty and there is no /state); nothing "
                "was written.",
                "Check the shard name, and that its sitters are running.")
        # the zones: node and address from VMAPI, unless given by hand
        # Independent questions go out together; each stage waits only for what it needs.
        with ThreadPoolExecutor(max_workers=8) as pool:
            vm_futures = {z: pool.submit(_vm, headnode, z, "zones")
                          for z, _ in peers if z not in inventory.zones}
            image_future = (pool.submit(_newest_image, headnode, settings)
                            if migrate_to == LATEST
                            else pool.submit(_image, headnode, migrate_to) if migrate_to
                            else None)
            morays: list[str] = []
            if inventory.morays is None:
                morays_command = CommandTemplate(settings.morays).fill(shard=shard)
                morays = _parsed(headnode, settings.morays, settings.morays_setting,
                                 "`morays:` ({} for none)",
                                 lambda t: settings.parse_morays(t, shard), shard=shard)
                both = sorted(set(morays) & {z for z, _ in peers})
                if both:
                    raise headnode.failed(morays_command, f"it lists the shard's own peer(s) "
                                          f"{', '.join(both)} as Morays",
                                          settings.morays_setting,
                                          "`morays:` ({} for none)")
                if not morays:
                    found.warnings.append(
                        f"`{morays_command}` lists no Moray zone for shard {shard}: the "
                        "inventory lists none, so the Moray upgrade step asks you to "
                        "confirm it.")
            moray_futures = {z: pool.submit(_vm, headnode, z, "morays") for z in morays}
            vms = {z: f.result() for z, f in vm_futures.items()}
            moray_vms = {z: f.result() for z, f in moray_futures.items()}
            by_hand = {t.node for t in inventory.zones.values() if t.node}
            servers = sorted(({f.server_uuid for f in [*vms.values(), *moray_vms.values()]}
                              | by_hand) - set(inventory.nodes))
            server_futures = {s: pool.submit(_server, headnode, s) for s in servers}
            facts_of = {s: f.result() for s, f in server_futures.items()}
            image = image_future.result() if image_future is not None else None
        for zone, facts in {**vms, **moray_vms}.items():
            if facts.state not in (None, "running"):
                found.warnings.append(f"VMAPI says zone {zone} is {facts.state}.")
        # images
        versions: dict[str, str] = {}
        if inventory.versions.roll_back_to:
            versions["roll_back_to"] = inventory.versions.roll_back_to
            note(Source("versions.roll_back_to", inventory.versions.roll_back_to, here))
        else:
            images = sorted({f.image_uuid for f in vms.values()})
            vm_command = templates.vm
            if len(images) != 1:
                what = ("zones run different images: " + ", ".join(
                    f"{z} {f.image_uuid}" for z, f in vms.items())) if images else \
                    "no zone's image was asked of VMAPI"
                raise DiscoveryFailed(
                    f"Discovery cannot tell the shard's current image ({what}); nothing "
                    "was written.",
                    f"Fill `versions: {{roll_back_to: IMAGE}}` by hand in {path}.")
            versions["roll_back_to"] = images[0]
            note(Source("versions.roll_back_to", images[0],
                        f"headnode: `{vm_command}` (image_uuid of every peer)"))
        target = migrate_to or inventory.versions.migrate_to
        if migrate_to == LATEST and image is not None:
            target = image.uuid
            shown = " ".join(x for x in (image.name, image.version) if x)
            image_name = settings.image_name
            note(Source("versions.migrate_to", image.uuid,
                        f"--migrate-to latest: the newest {image_name} image, by headnode: "
                        f"`{settings.images}`"
                        + (f" ({shown})" if shown else "")))
            found.warnings.append(f"--migrate-to latest picked {image.uuid}"
                                  + (f" ({shown})" if shown else "") + ".")
            if image.uuid == versions["roll_back_to"]:
                raise DiscoveryFailed(
                    f"The newest {image_name} image, {image.uuid}, is the one the "
                    "zones run now: there is nothing newer to migrate to; nothing was "
                    "written.", "Import the new manatee image into IMGAPI first, or name "
                    "it with --migrate-to IMAGE.")
        elif migrate_to and image is not None:
            shown = " ".join(x for x in (image.name, image.version) if x)
            asked = CommandTemplate(templates.image).fill(image=migrate_to)
            note(Source("versions.migrate_to", migrate_to,
                        f"--migrate-to, found by headnode: `{asked}`"
                        + (f" ({shown})" if shown else "")))
            if image.uuid == versions["roll_back_to"]:
                found.warnings.append(f"--migrate-to {migrate_to} is the image the zones "
                                      "run now.")
        elif target:
            note(Source("versions.migrate_to", target, here))
        if target:
            versions["migrate_to"] = target
    finally:
        if shared is None:
            headnode.close()
    found.document = _document(inventory, raw, path, shard, zookeeper, peers, vms, morays,
                               moray_vms, facts_of, versions, out_dir or path.parent, note,
                               settings.morays)
    return found


def _vm(headnode: Headnode, zone: str, table: str) -> parse.VmFacts:
    def parser(text: str) -> parse.VmFacts:
        return parse.parse_vm(text, zone)

    return _parsed(headnode, headnode.inventory.discovery.vm, "vm",
                   f"`{table}: {{{zone}: {{node: SERVER, host: IP}}}}`", parser, zone=zone)


def _server(headnode: Headnode, server: str) -> parse.ServerFacts:
    def parser(text: str) -> parse.ServerFacts:
        return parse.parse_server(text, server)

    return _parsed(headnode, headnode.inventory.discovery.server, "server",
                   f"`nodes: {{{server}: {{host: ADMIN_IP}}}}`", parser, server=server)


LATEST = "latest"


def _newest_image(headnode: Headnode, settings: Settings) -> parse.ImageFacts:
    name = settings.image_name

    def parser(text: str) -> parse.ImageFacts:
        return parse.parse_newest_image(text, name)

    return _parsed(headnode, settings.images, settings.images_setting,
                   "`versions.migrate_to` (and drop --migrate-to latest)", parser)


def _image(headnode: Headnode, image: str) -> parse.ImageFacts:
    def parser(text: str) -> parse.ImageFacts:
        return parse.parse_image(text, image)

    return _parsed(headnode, headnode.inventory.discovery.image, "image",
                   "`versions.migrate_to` (and drop --migrate-to)", parser, image=image)


def _document(inventory: HeadnodeInventory, raw: dict[str, Any], path: Path, shard: str,
              zookeeper: str, peers: list[tuple[str, str]], vms: dict[str, parse.VmFacts],
              morays: list[str], moray_vms: dict[str, parse.VmFacts],
              servers: dict[str, parse.ServerFacts], versions: dict[str, str],
              out_dir: Path, note: Callable[[Source], None],
              morays_template: str) -> dict[str, Any]:
    here = path.name
    templates = inventory.discovery
    carried = {k: v for k, v in raw.items()
               if k in ("known_hosts", "ssh_config", "ssh", "headnode", "commands")}
    if out_dir.resolve() != path.resolve().parent:
        _absolute_paths(carried, inventory)
    ssh = dict(carried.get("ssh") or {})
    ssh["via"] = "zlogin"
    carried["ssh"] = ssh
    jump = None
    if templates.jump:
        jump = [str(j) for j in (inventory.headnode.jump or inventory.ssh.jump or [])]
        jump.append(_jump_spec(inventory.headnode, inventory.ssh.user))
    nodes: dict[str, Any] = {}
    for name, target in inventory.nodes.items():
        nodes[name] = raw.get("nodes", {}).get(name, {"host": target.host})
        note(Source(f"nodes.{name}.host", str(target.host), here))
    vm_command = templates.vm
    for server, facts in servers.items():
        entry: dict[str, Any] = {"host": facts.admin_ip}
        note(Source(f"nodes.{server}.host", facts.admin_ip,
                    f"headnode: `{CommandTemplate(templates.server).fill(server=server)}` "
                    f"(admin IP{', ' + facts.hostname if facts.hostname else ''})"))
        if templates.node_port:
            entry["port"] = templates.node_port
            note(Source(f"nodes.{server}.port", str(templates.node_port),
                        f"{here} (discovery.node_port)"))
        if jump:
            entry["jump"] = ",".join(jump)
            note(Source(f"nodes.{server}.jump", entry["jump"],
                        f"{here}: the headnode (discovery.jump)"))
        root = templates.zones_root.replace("{server}", server)
        if root != "/zones":
            entry["zones_root"] = root
            note(Source(f"nodes.{server}.zones_root", root, f"{here} (discovery.zones_root)"))
        nodes[server] = entry
    zones: dict[str, Any] = {}
    for zone, where in peers:
        note(Source(f"zones.{zone}", "(peer)", where))
        zones[zone] = _zone_entry(zone, vms, inventory.zones, raw.get("zones") or {},
                                  vm_command, here, note, "zones")
    via = inventory.zookeeper_route
    document: dict[str, Any] = {"shard": shard, "zookeeper": zookeeper,
                                "zookeeper_via": via, **carried}
    note(Source("zookeeper_via", via, here if inventory.zookeeper_via is not None else
                f"{here}: the compute nodes are reached through the headnode (discovery.jump)"
                if via == "headnode" else f"{here}: discovery.jump is off"))
    if nodes:
        document["nodes"] = nodes
    document["zones"] = zones
    if inventory.morays is not None:
        document["morays"] = raw.get("morays") or {}
        note(Source("morays", ", ".join(inventory.morays) or "(none)", here))
    else:
        document["morays"] = {
            zone: _zone_entry(zone, moray_vms, {}, {}, vm_command, here, note, "morays")
            for zone in morays}
        command = CommandTemplate(morays_template).fill(shard=shard)
        note(Source("morays", ", ".join(morays) or "(none)", f"headnode: `{command}`"))
    document["versions"] = versions
    return document


def _zone_entry(zone: str, vms: dict[str, parse.VmFacts], by_hand: dict[str, SshTarget],
                raw: dict[str, Any], vm_command: str, here: str,
                note: Callable[[Source], None], table: str) -> dict[str, Any]:
    if zone in by_hand:
        note(Source(f"{table}.{zone}.node", str(by_hand[zone].node), here))
        return dict(raw.get(zone) or {})
    facts = vms[zone]
    entry: dict[str, Any] = {"node": facts.server_uuid}
    note(Source(f"{table}.{zone}.node", facts.server_uuid,
                f"headnode: `{vm_command}` (server_uuid)"))
    if facts.ip:
        entry["host"] = facts.ip
        note(Source(f"{table}.{zone}.host", facts.ip, f"headnode: `{vm_command}` (admin NIC)"))
    return entry


def _jump_spec(target: SshTarget, default_user: str | None) -> str:
    user = target.user or default_user
    text = f"{user}@{target.host}" if user else str(target.host)
    return f"{text}:{target.port}" if target.port else text


def _absolute_paths(carried: dict[str, Any], inventory: HeadnodeInventory) -> None:
    """Relative paths in HEADNODE.yaml are relative to it: written elsewhere, make them
    absolute (the loader already resolved them)."""
    if inventory.known_hosts is not None:
        carried["known_hosts"] = str(inventory.known_hosts)
    if isinstance(inventory.ssh_config, Path):
        carried["ssh_config"] = str(inventory.ssh_config)
    if inventory.ssh.identity and isinstance(carried.get("ssh"), dict):
        carried["ssh"] = {**carried["ssh"], "identity": [str(p) for p in inventory.ssh.identity]}
    if inventory.headnode.identity and isinstance(carried.get("headnode"), dict):
        carried["headnode"] = {**carried["headnode"],
                               "identity": [str(p) for p in inventory.headnode.identity]}
