"""Pure parsing of what the headnode and ZooKeeper answer during discovery.

Every function takes text (or bytes) and returns plain facts, or raises
``Unparseable`` with a sentence saying what was expected; the caller names the
command and the inventory field to fill by hand. Decisions:

* The ``sdc-*`` commands are curl wrappers: they print an HTTP status line and
  headers before the JSON body, and exit 0 on a 404. A status line is honoured
  (anything but 2xx is an answer of "not found" or an error); a bare JSON body
  (``| json -H``, or another wrapper) is accepted too.
* A zone's address is its ``admin`` NIC's IP, else its primary NIC's.
* A compute node's admin IP is CNAPI's ``sysinfo["Admin IP"]``, else the IP of
  the interface whose ``NIC Names`` include ``admin``.
* ``manta-adm show -H -o service,shard,zonename`` rows: a Moray serves shard
  ``N.moray.<domain>`` when its shard column is ``N``.
* SAPI's answer to ``/applications?name=X`` is a list: an empty one means the
  headnode has no such application (a Triton without Manta has no ``manta``), which
  is an answer, not a failure.
* Triton's own Morays are VMAPI's VMs tagged ``smartdc_role=moray`` that are
  running: the list is filtered here too, so a VMAPI (or wrapper) that ignores the
  query's filters cannot make a manatee zone or a destroyed Moray one of them.
* Peers: the zone ids of the election's nodes (in election order), then any
  other zone named in ``/state`` (a deposed or reprovisioning peer).
* JSON is read bounded: a headnode answer nesting deeper than
  ``strictjson.MAX_DEPTH`` is "a body that is not JSON" (``headnode_json``), and
  ZooKeeper's election and state data is read with ``strictjson.loads``, as every
  other reader of manatee's JSON does; neither can raise a ``RecursionError``.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from migrator.inventory.values import UUID_RE, parse_zk_connection

# re-exported (``X as X``): discovery's callers and tests name them here
from migrator.remote.headnode_answer import HttpAnswer as HttpAnswer
from migrator.remote.headnode_answer import Unparseable as Unparseable
from migrator.remote.headnode_answer import found_json as found_json
from migrator.remote.headnode_answer import headnode_json as headnode_json
from migrator.remote.headnode_answer import http_answer as http_answer
from migrator.remote.headnode_answer import json_of as json_of
from migrator.strictjson import ZK_MAX_BUFFER, loads

_HOST_WORD = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,252}$")


def found_object(text: str, what: str, kind: str) -> dict[str, Any]:
    """``found_json`` that must be one JSON object (``kind``: "a VM", "an image", ...)."""
    found = found_json(text, what)
    if not isinstance(found, dict):
        raise Unparseable(f"{kind} that is not a JSON object")
    return found


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _uuid(value: Any, what: str) -> str:
    if not isinstance(value, str) or not UUID_RE.fullmatch(value):
        raise Unparseable(f"{what} {value!r} is not a UUID")
    return value


def _ip(value: Any, what: str) -> str:
    try:
        return str(ipaddress.ip_address(str(value)))
    except ValueError:
        raise Unparseable(f"{what} {value!r} is not an IP address") from None


@dataclass(frozen=True)
class VmFacts:
    uuid: str
    server_uuid: str
    image_uuid: str
    ip: str | None
    state: str | None
    alias: str | None


def parse_vm(text: str, zone: str) -> VmFacts:
    vm = found_object(text, f"VM {zone}", "a VM")
    if vm.get("uuid") != zone:
        raise Unparseable(f"the VM of another zone ({vm.get('uuid')!r})")
    ip = None
    raw_nics = vm.get("nics")
    nics: list[Any] = raw_nics if isinstance(raw_nics, list) else []
    chosen = ([n for n in nics if isinstance(n, dict) and n.get("nic_tag") == "admin"]
              or [n for n in nics if isinstance(n, dict) and n.get("primary")])
    if chosen and chosen[0].get("ip"):
        ip = _ip(chosen[0]["ip"], "the zone's NIC IP")
    return VmFacts(zone, _uuid(vm.get("server_uuid"), "server_uuid"),
                   _uuid(vm.get("image_uuid"), "image_uuid"), ip, _text(vm.get("state")),
                   _text(vm.get("alias")))


@dataclass(frozen=True)
class ServerFacts:
    uuid: str
    hostname: str | None
    admin_ip: str


def parse_server(text: str, server: str) -> ServerFacts:
    found = found_object(text, f"server {server}", "a server")
    raw_sysinfo = found.get("sysinfo")
    sysinfo: dict[str, Any] = raw_sysinfo if isinstance(raw_sysinfo, dict) else {}
    admin = sysinfo.get("Admin IP") or found.get("admin_ip")
    if not admin:
        nics = sysinfo.get("Network Interfaces")
        for nic in (nics.values() if isinstance(nics, dict) else []):
            if isinstance(nic, dict) and "admin" in (nic.get("NIC Names") or []):
                admin = nic.get("ip4addr")
                break
    if not admin:
        raise Unparseable("no admin IP (sysinfo \"Admin IP\" nor an admin NIC)")
    return ServerFacts(server, _text(found.get("hostname")), _ip(admin, "the admin IP"))


def parse_zk_servers(text: str) -> str:
    """``host:port,...`` from SAPI's application(s) ``metadata.ZK_SERVERS``."""
    return _zk_servers_of(found_json(text, "the application"))


def _zk_servers_of(found: Any) -> str:
    apps = found if isinstance(found, list) else [found]
    for app in apps:
        metadata = app.get("metadata") if isinstance(app, dict) else None
        servers = metadata.get("ZK_SERVERS") if isinstance(metadata, dict) else None
        if not isinstance(servers, list) or not servers:
            continue
        return _zk_connection(servers)
    raise Unparseable("no metadata.ZK_SERVERS in the application")


@dataclass(frozen=True)
class Application:
    """What discovery reads of a SAPI application."""

    zookeeper: str  # metadata.ZK_SERVERS as a connection string
    datacenter: str | None  # metadata.datacenter_name, when it is a plain word


_DATACENTER = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")


def parse_application(text: str) -> Application | None:
    """SAPI's application (``/applications?name=X``): None when SAPI lists none."""
    found = found_json(text, "the application")
    if found == []:
        return None
    zookeeper = _zk_servers_of(found)
    apps = found if isinstance(found, list) else [found]
    for app in apps:
        metadata = app.get("metadata") if isinstance(app, dict) else None
        name = metadata.get("datacenter_name") if isinstance(metadata, dict) else None
        if isinstance(name, str) and _DATACENTER.fullmatch(name):
            return Application(zookeeper, name)
    return Application(zookeeper, None)


def _zk_connection(servers: list[Any]) -> str:
    """A connection string from ZK_SERVERS entries ({host, port})."""
    hosts = []
    for entry in servers:
        if not isinstance(entry, dict) or "host" not in entry:
            raise Unparseable(f"a ZK_SERVERS entry {entry!r} without a host")
        host, port = str(entry["host"]), entry.get("port", 2181)
        if not _HOST_WORD.fullmatch(host) or not str(port).isdecimal():
            raise Unparseable(f"a ZK_SERVERS entry {entry!r}")
        hosts.append(f"{host}:{port}")
    connection = ",".join(hosts)
    try:
        return parse_zk_connection(connection)
    except ValueError as exc:
        raise Unparseable(f"ZK_SERVERS that make no connection string ({exc})") from None


def shard_number(shard: str) -> str:
    return shard.split(".", 1)[0]


def _service_rows(text: str) -> Iterator[tuple[str, str, str]]:
    """``(service, shard, zonename)`` of `manta-adm show -H -o service,shard,zonename`'s
    rows, blank lines and a header row passed over; ``Unparseable`` for another shape."""
    for line in text.splitlines():
        words = line.split()
        if not words:
            continue
        if len(words) != 3:
            raise Unparseable(f"a row {line.strip()[:80]!r} that is not SERVICE SHARD ZONENAME")
        if words[0].upper() != "SERVICE":
            yield words[0], words[1], words[2]


def parse_moray_rows(text: str, shard: str) -> list[str]:
    """Moray zone names serving ``shard`` from ``SERVICE SHARD ZONENAME`` rows."""
    return [_uuid(zone, "the Moray zone name") for service, number, zone in _service_rows(text)
            if service == "moray" and number == shard_number(shard)]


def parse_role_vms(text: str, role: str) -> list[str]:
    """The UUIDs of the running VMs tagged ``smartdc_role=<role>`` in VMAPI's list of
    VMs, in its order (Triton's own zones carry that tag; Manta's carry manta_role)."""
    found = found_json(text, f"the {role} VMs")
    if not isinstance(found, list):
        raise Unparseable("a list of VMs that is not a JSON array")
    zones: list[str] = []
    for vm in found:
        if not isinstance(vm, dict):
            raise Unparseable("a list of VMs holding something other than VMs")
        tags = vm.get("tags")
        if not isinstance(tags, dict) or tags.get("smartdc_role") != role:
            continue
        if vm.get("state") != "running":
            continue
        zone = _uuid(vm.get("uuid"), f"the {role} VM's uuid")
        if zone not in zones:
            zones.append(zone)
    return zones


def parse_postgres_rows(text: str) -> dict[str, list[str]]:
    """Shard number -> its postgres zones, from ``SERVICE SHARD ZONENAME`` rows (other
    services' rows and a header row are passed over; a shard number is digits)."""
    shards: dict[str, list[str]] = {}
    for service, number, zone in _service_rows(text):
        if service != "postgres":
            continue
        if not number.isdecimal() or not number.isascii():
            raise Unparseable(f"a postgres row whose shard {number[:40]!r} is not a number")
        zones = shards.setdefault(number, [])
        zone = _uuid(zone, "the postgres zone name")
        if zone not in zones:
            zones.append(zone)
    return shards


@dataclass(frozen=True)
class ImageFacts:
    uuid: str
    name: str | None
    version: str | None


def parse_image(text: str, image: str) -> ImageFacts:
    found = found_object(text, f"image {image}", "an image")
    return ImageFacts(_uuid(found.get("uuid"), "the image uuid"), _text(found.get("name")),
                      _text(found.get("version")))


def parse_newest_image(text: str, name: str) -> ImageFacts:
    """The newest active image called ``name`` in IMGAPI's list of images (by
    ``published_at``, an ISO time, which sorts as text)."""
    found = found_json(text, f"the {name} images")
    if not isinstance(found, list):
        raise Unparseable("a list of images that is not a JSON array")
    candidates = [
        entry for entry in found
        if isinstance(entry, dict) and entry.get("name") == name
        and entry.get("state", "active") == "active"
        and isinstance(entry.get("published_at"), str)]
    if not candidates:
        raise Unparseable(f"no active {name} image with a published_at time")
    newest = max(candidates, key=lambda entry: str(entry["published_at"]))
    return ImageFacts(_uuid(newest.get("uuid"), "the image uuid"), name,
                      _text(newest.get("version")))


def peer_zones(election: list[tuple[str, bytes | None]], state: bytes | None,
               shard: str) -> list[tuple[str, str]]:
    """(zone id, where it was found) for every peer of the shard, election order first."""
    found: list[tuple[str, str]] = []

    def add(zone: Any, where: str) -> None:
        if not isinstance(zone, str) or not UUID_RE.fullmatch(zone):
            raise Unparseable(f"{where} names a zone {zone!r} that is not a UUID")
        if zone not in [z for z, _ in found]:
            found.append((zone, where))

    def seq(name: str) -> str:
        return name.rsplit("-", 1)[-1]

    for name, data in sorted(election, key=lambda item: seq(item[0])):
        where = f"ZooKeeper /manatee/{shard}/election/{name}"
        try:
            peer = loads(data or b"", max_bytes=ZK_MAX_BUFFER)
        except ValueError as exc:
            raise Unparseable(f"{where} does not hold JSON ({exc})") from None
        add(peer.get("zoneId") if isinstance(peer, dict) else None, where)
    if state is not None:
        where = f"ZooKeeper /manatee/{shard}/state"
        try:
            doc = loads(state, max_bytes=ZK_MAX_BUFFER)
        except ValueError as exc:
            raise Unparseable(f"{where} does not hold JSON ({exc})") from None
        if not isinstance(doc, dict):
            raise Unparseable(f"{where} is not a JSON object")
        peers = [doc.get("primary"), doc.get("sync"), *(doc.get("async") or []),
                 *(doc.get("deposed") or [])]
        for peer in peers:
            if isinstance(peer, dict):
                add(peer.get("zoneId"), where)
    return found
