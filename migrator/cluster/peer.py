"""A manatee peer as it appears in election node data and in the cluster state.

Manatee compares and serialises peers as plain JSON objects whose key order is
the order the writer used; to stay byte-compatible we keep the object as read
(an ordered dict) and expose typed accessors over it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from migrator.errors import MalformedZnode

PEER_ID_RE = re.compile(
    r"^(?P<ip>[0-9A-Za-z.:\[\]-]+?):(?P<pg_port>\d{1,5}):(?P<backup_port>\d{1,5})\Z"
)
REQUIRED_PEER_KEYS = ("zoneId", "ip", "pgUrl")


@dataclass(frozen=True)
class Peer:
    """One peer; ``document`` is the JSON object in its original key order."""

    document: Mapping[str, Any] = field(compare=True)

    @property
    def id(self) -> str:
        return str(self.document["id"])

    @property
    def zone_id(self) -> str:
        return str(self.document["zoneId"])

    @property
    def ip(self) -> str:
        return str(self.document["ip"])

    @property
    def pg_url(self) -> str:
        return str(self.document["pgUrl"])

    @property
    def backup_url(self) -> str | None:
        value = self.document.get("backupUrl")
        return None if value is None else str(value)

    def to_json(self) -> dict[str, Any]:
        return dict(self.document)

    def __hash__(self) -> int:
        return hash(self.id)


def peer_from_json(obj: Any, where: str) -> Peer:
    """Validate a peer object read from ZooKeeper; ``where`` names it in errors."""
    if not isinstance(obj, dict):
        raise MalformedZnode(
            f"{where} should be a JSON object describing a peer, but it is {type(obj).__name__}.",
            "Inspect the znode with `migrator state` or zkCli; do not continue until it is fixed.",
        )
    missing = [k for k in (*REQUIRED_PEER_KEYS, "id") if not isinstance(obj.get(k), str)]
    if missing:
        raise MalformedZnode(
            f"{where} lacks the string field(s) {', '.join(missing)} every manatee peer has.",
            "The znode was not written by manatee or was edited by hand; inspect it before "
            "continuing.",
        )
    if not PEER_ID_RE.fullmatch(obj["id"]):
        raise MalformedZnode(
            f"{where} has id {obj['id']!r}, which is not shaped ip:pgPort:backupPort.",
            "Inspect the znode; manatee peers always have ids like 10.0.0.1:5432:12345.",
        )
    return Peer(dict(obj))
