"""The v2 cluster state: the JSON object manatee keeps at /manatee/<shard>/state.

The state is kept as the ordered JSON document manatee wrote, with typed views
over it, so that a read-modify-write (freeze, unfreeze) changes only what it
means to and serialises byte-for-byte the way manatee-adm would.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from migrator.cluster.peer import Peer, peer_from_json
from migrator.errors import MalformedZnode, Refused
from migrator.strictjson import ZK_MAX_BUFFER, JsonRejected, loads

INITIAL_WAL = "0/0000000"


def compact_json(document: Any) -> bytes:
    """``JSON.stringify`` of the document: compact, non-ASCII left as UTF-8."""
    text = json.dumps(document, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return text.encode("utf-8")


@dataclass(frozen=True)
class Freeze:
    """The freeze marker of a v2 state: when and why writes to the topology stopped."""

    date: str | None
    reason: str | None


@dataclass(frozen=True)
class ClusterState:
    """A validated cluster state; ``document`` keeps manatee's key order."""

    document: dict[str, Any]

    @property
    def generation(self) -> int:
        return int(self.document["generation"])

    @property
    def primary(self) -> Peer:
        return Peer(self.document["primary"])

    @property
    def sync(self) -> Peer | None:
        sync = self.document.get("sync")
        return None if sync is None else Peer(sync)

    @property
    def asyncs(self) -> list[Peer]:
        return [Peer(p) for p in self.document.get("async") or []]

    @property
    def deposed(self) -> list[Peer]:
        return [Peer(p) for p in self.document.get("deposed") or []]

    @property
    def freeze(self) -> Freeze | None:
        value = self.document.get("freeze")
        if not value:
            return None
        if isinstance(value, dict):
            return Freeze(date=value.get("date"), reason=value.get("reason"))
        # manatee-adm treats any truthy non-object as frozen for an unknown reason
        return Freeze(date=None, reason=None)

    @property
    def one_node_write_mode(self) -> bool:
        return bool(self.document.get("oneNodeWriteMode"))

    def peers_with_roles(self) -> list[tuple[str, Peer]]:
        roles: list[tuple[str, Peer]] = [("primary", self.primary)]
        if self.sync is not None:
            roles.append(("sync", self.sync))
        roles.extend(("async", p) for p in self.asyncs)
        roles.extend(("deposed", p) for p in self.deposed)
        return roles

    def role_of(self, peer_id: str) -> str | None:
        for role, peer in self.peers_with_roles():
            if peer.id == peer_id:
                return role
        return None

    def to_bytes(self) -> bytes:
        return compact_json(self.document)

    def with_freeze(self, reason: str, date: str) -> ClusterState:
        if self.freeze is not None:
            raise Refused(
                f"The shard is already frozen ({describe_freeze(self.freeze)}).",
                "Nothing to do; run `migrator unfreeze` first if you mean to re-freeze it.",
            )
        document = dict(self.document)
        document["freeze"] = {"date": date, "reason": reason}
        return ClusterState(document)

    def without_freeze(self) -> ClusterState:
        if self.freeze is None:
            raise Refused("The shard is not frozen.", "Nothing to unfreeze.")
        document = dict(self.document)
        del document["freeze"]
        return ClusterState(document)


def describe_freeze(freeze: Freeze) -> str:
    return f"{freeze.date or 'unknown date'}: {freeze.reason or 'unknown reason'}"


def parse_state(raw: bytes, where: str) -> ClusterState:
    """Parse and validate /state bytes; anything manatee would choke on is refused."""
    try:
        document = loads(raw, max_bytes=ZK_MAX_BUFFER)
    except JsonRejected as exc:
        raise MalformedZnode(
            f"{where} does not hold JSON that manatee's readers accept ({exc}).",
            "Manatee cannot run with this state either; inspect it with `migrator state` "
            "and restore it from `migrator history` before going on.",
        ) from None
    return state_from_json(document, where)


def state_from_json(document: Any, where: str) -> ClusterState:
    if not isinstance(document, dict):
        raise MalformedZnode(f"{where} is JSON but not an object.", "Inspect it before going on.")
    missing = [k for k in ("generation", "primary", "initWal") if k not in document]
    if missing:
        raise MalformedZnode(
            f"{where} lacks the required field(s) {', '.join(missing)}.",
            "A state written by manatee always has generation, primary and initWal; "
            "inspect it before going on.",
        )
    if not isinstance(document["generation"], int) or isinstance(document["generation"], bool):
        raise MalformedZnode(f"{where} has a generation that is not an integer.", "Inspect it.")
    if not isinstance(document["initWal"], str):
        raise MalformedZnode(f"{where} has an initWal that is not a string.", "Inspect it.")
    peer_from_json(document["primary"], f"{where} field primary")
    if document.get("sync") is not None:
        peer_from_json(document["sync"], f"{where} field sync")
    for key in ("async", "deposed"):
        value = document.get(key)
        if value is None:
            continue
        if not isinstance(value, list):
            raise MalformedZnode(f"{where} field {key} is not a list.", "Inspect it.")
        for index, peer in enumerate(value):
            peer_from_json(peer, f"{where} field {key}[{index}]")
    return ClusterState(dict(document))
