"""Election data checked before it becomes ``/state``.

A backfill copies each election node's data into ``/state``, where every v2
sitter, Moray and the migrator itself then read it: the peers connect to its
``pgUrl``, operators' tools print its fields, and zone names are built from
its ``zoneId``. Election nodes are written by whatever holds a ZooKeeper
session on the shard, so their data is outside input. It must be exactly what
a manatee peer writes (see manatee-observed.md):

- ``zoneId`` a UUID;
- ``ip`` an IPv4 address, the same as the node name's;
- ``pgUrl`` ``tcp://[user@]IP:PGPORT[/database]`` with the node name's IP and
  PostgreSQL port;
- ``backupUrl``, when present, ``http://IP:BACKUPPORT`` with the node name's
  IP and backup port;
- no key given twice in its JSON;
- any other key a JSON scalar whose text is printable and at most
  ``MAX_EXTRA_VALUE`` characters (upstream writes none; we allow a future
  field rather than block a migration, but never control characters);
- at most ``MAX_PEERS`` peers in the election (manatee shards have three to
  five; hundreds of nodes are not a shard).

Anything else is refused (``InvalidPeerData``, exit 2) naming the node and the
field; nothing is written. Pure: no I/O.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from migrator.cluster.election import ElectionNode, LegacyTopology
from migrator.errors import BadInput

MAX_PEERS = 32
MAX_EXTRA_VALUE = 256

_ZONE_ID_RE = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_PG_URL_RE = re.compile(
    r"tcp://(?:[A-Za-z0-9_.-]+@)?(?P<host>[0-9.]+):(?P<port>\d{1,5})(?:/[A-Za-z0-9_.-]*)?")
_BACKUP_URL_RE = re.compile(r"http://(?P<host>[0-9.]+):(?P<port>\d{1,5})/?")
_KNOWN_KEYS = ("zoneId", "ip", "pgUrl", "backupUrl")


class InvalidPeerData(BadInput):
    """Election data that is not what a manatee peer writes (outside input)."""


def _refuse(node: ElectionNode, shard: str, problem: str) -> InvalidPeerData:
    return InvalidPeerData(
        f"Election node {node.name!r} in shard {shard} {problem}; a manatee peer never "
        "writes that, so its data is not copied into /state and nothing was written.",
        "Find what holds that node's ZooKeeper session (zkCli: `stat` gives its owner "
        "session) and stop it, or restart the zone's sitter so it rewrites its node, "
        "then run the command again.")


def problem_with(node: ElectionNode) -> str | None:
    """What is wrong with one node's data, or None."""
    data = node.data
    if node.duplicate_keys:
        return f"gives the key(s) {', '.join(map(repr, node.duplicate_keys))} twice"
    zone = data.get("zoneId")
    if not isinstance(zone, str) or not _ZONE_ID_RE.fullmatch(zone):
        return f"has a zoneId {zone!r} that is not a UUID"
    ip = data.get("ip")
    try:
        address = ipaddress.IPv4Address(ip) if isinstance(ip, str) else None
    except ValueError:
        address = None
    if address is None or str(address) != ip:
        return f"has an ip {ip!r} that is not an IPv4 address"
    if ip != node.ip:
        return f"has the ip {ip!r} but its name says {node.ip!r}"
    pg_port = node.peer_id.split(":")[1]
    pg_url = data.get("pgUrl")
    found = _PG_URL_RE.fullmatch(pg_url) if isinstance(pg_url, str) else None
    if found is None:
        return f"has a pgUrl {pg_url!r} that is not tcp://[user@]IP:PORT[/database]"
    if (found["host"], found["port"]) != (ip, pg_port):
        return (f"has the pgUrl {pg_url!r}, which does not point at its own address "
                f"{ip}:{pg_port}")
    backup = data.get("backupUrl")
    if backup is not None and backup != "":
        found = _BACKUP_URL_RE.fullmatch(backup) if isinstance(backup, str) else None
        if found is None:
            return f"has a backupUrl {backup!r} that is not http://IP:PORT"
        if (found["host"], found["port"]) != (ip, node.backup_port):
            return (f"has the backupUrl {backup!r}, which does not point at its own address "
                    f"{ip}:{node.backup_port}")
    for key, value in data.items():
        if key in _KNOWN_KEYS:
            continue
        if not _inert_scalar(key) or not _inert_scalar(value):
            return (f"has a field {key!r} whose name or value is not short printable text "
                    "or a number")
    return None


def _inert_scalar(value: Any) -> bool:
    if value is None or isinstance(value, bool | int | float):
        return True
    return isinstance(value, str) and len(value) <= MAX_EXTRA_VALUE and value.isprintable()


def require_valid_peers(topology: LegacyTopology) -> None:
    """Refuse (``InvalidPeerData``) an election whose data must not become /state."""
    if len(topology.nodes) > MAX_PEERS:
        raise InvalidPeerData(
            f"Shard {topology.shard} has {len(topology.nodes)} nodes in its election, more "
            f"than the {MAX_PEERS} any manatee shard has; nothing was written.",
            "Something other than manatee sitters is joining the election; find and stop "
            "it before migrating.")
    for node in topology.nodes:
        problem = problem_with(node)
        if problem is not None:
            raise _refuse(node, topology.shard, problem)
