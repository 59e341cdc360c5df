"""``manatee-adm status`` JSON, and the replication verdict the unfreeze guard relies on.

``status`` prints ``{"<shard>": {["__FROZEN__": "...",] "primary": {...}, "sync": {...},
"async": {...}, "async1": {...}, "deposed": {...}}}``; each peer may carry
``repl`` (the row of ``pg_stat_replication`` for the connection it is the
*upstream* of), ``online`` and ``lag``. (Upstream: lib/adm.js ``_formatState``.)
The row carries the server's own column names: ``sent_lsn``, ``write_lsn``,
``flush_lsn``, ``replay_lsn`` from PostgreSQL 10 on, ``*_location`` before; both
are read.

Which peer a row is about (decision): manatee starts every standby with its own
pgUrl as ``application_name``, so a row whose ``application_name`` is a peer's
pgUrl is that peer's, whatever address the connection came from (NAT, a proxy, a
loopback sandbox where every standby connects from 127.0.0.1). Only when the name
is no peer's pgUrl (a standby started by hand) is ``client_addr`` compared with
the peer's IP, as upstream's ``loadReplErrors`` does.

"Synced" (decision, after upstream ``loadReplErrors`` in lib/adm.js): the
primary's ``repl`` is the expected sync's (above), is ``streaming`` with
``sync_state`` ``sync``, and the sync has replayed everything sent
(``replay_lsn >= sent_lsn``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from migrator.errors import MalformedZnode, StepFailed
from migrator.strictjson import ZK_MAX_BUFFER, loads

_ROLE_RE = re.compile(r"^(primary|sync|async|deposed)(\d*)\Z")
_LSN_RE = re.compile(r"^([0-9A-Fa-f]{1,8})/([0-9A-Fa-f]{1,8})\Z")


class StatusUnreadable(StepFailed):
    """``manatee-adm status`` printed something we cannot read."""


@dataclass(frozen=True)
class StatusPeer:
    role: str  # primary, sync, async, deposed
    zone: str | None
    ip: str | None
    online: bool | None
    repl: Mapping[str, Any]
    pg_url: str | None = None


@dataclass(frozen=True)
class ShardStatus:
    shard: str
    frozen: str | None
    peers: list[StatusPeer] = field(default_factory=list)

    def role(self, role: str) -> StatusPeer | None:
        return next((p for p in self.peers if p.role == role), None)

    def by_zone(self, zone: str) -> StatusPeer | None:
        return next((p for p in self.peers if p.zone == zone), None)

    def downstream_of(self, repl: Mapping[str, Any]) -> StatusPeer | None:
        """The peer a ``pg_stat_replication`` row is about (see the module docstring)."""
        return downstream_peer(repl, self.peers)


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def downstream_peer(repl: Mapping[str, Any], peers: Sequence[StatusPeer]) -> StatusPeer | None:
    """Pure: by ``application_name`` (the standby's pgUrl, as manatee sets it), then by
    ``client_addr``; None when the row names no peer."""
    name = _str(repl.get("application_name"))
    if name:
        found = next((p for p in peers if p.pg_url is not None and p.pg_url == name), None)
        if found is not None:
            return found
    address = _str(repl.get("client_addr"))
    if address is None:
        return None
    return next((p for p in peers if p.ip is not None and p.ip == address), None)


def parse_status(text: str, shard: str) -> ShardStatus:
    try:
        data = loads(text, max_bytes=ZK_MAX_BUFFER)
    except ValueError:
        raise StatusUnreadable(
            f"`manatee-adm status` did not print JSON: {text.strip()[:200]!r}.",
            "Run it in the zone by hand; check commands.manatee_adm in the inventory.",
        ) from None
    if not isinstance(data, dict) or not isinstance(data.get(shard), dict):
        shards = ", ".join(data) if isinstance(data, dict) else "none"
        raise StatusUnreadable(
            f"`manatee-adm status` shows no shard {shard!r} (it shows: {shards}).",
            "Check the shard name in the inventory.",
        )
    body: dict[str, Any] = data[shard]
    peers: list[StatusPeer] = []
    for key, value in body.items():
        match = _ROLE_RE.fullmatch(key)
        if not match or not isinstance(value, dict):
            continue
        repl = value.get("repl") if isinstance(value.get("repl"), dict) else {}
        online = value.get("online")
        peers.append(StatusPeer(
            match.group(1),
            _str(value.get("zoneId")),
            _str(value.get("ip")),
            online if isinstance(online, bool) else None,
            repl or {},
            _str(value.get("pgUrl")),
        ))
    frozen = body.get("__FROZEN__")
    return ShardStatus(shard, frozen if isinstance(frozen, str) else None, peers)


def lsn(value: Any) -> int:
    """``"0/174A270"`` -> a comparable integer."""
    match = _LSN_RE.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise MalformedZnode(f"{value!r} is not a postgres WAL location.",
                             "manatee-adm status printed an unexpected replication row.")
    return (int(match.group(1), 16) << 32) + int(match.group(2), 16)


def _loc(repl: Mapping[str, Any], name: str) -> Any:
    """A WAL position of the row: PostgreSQL 10+'s ``<name>_lsn``, else 9.x's
    ``<name>_location`` (the server's names, as ``select *`` returns them)."""
    found = repl.get(f"{name}_lsn")
    return found if found is not None else repl.get(f"{name}_location")


@dataclass(frozen=True)
class Verdict:
    ok: bool
    reason: str


def replication_of(status: ShardStatus) -> dict[str, str]:
    """Each downstream peer's replication as its upstream's ``repl`` row shows it, in
    words, by zone (pure): as ``manatee-adm show`` lists it, the state, the positions
    sent, flushed and replayed, and how far the replay is behind what was sent."""
    found: dict[str, str] = {}
    for upstream in status.peers:
        repl = upstream.repl
        if not repl:
            continue
        downstream = status.downstream_of(repl)
        if downstream is None or downstream.zone is None:
            continue
        sent, flush, replay = _loc(repl, "sent"), _loc(repl, "flush"), _loc(repl, "replay")
        try:
            behind = f", {lsn(sent) - lsn(replay)} bytes behind" if lsn(sent) > lsn(
                replay) else ", caught up"
        except MalformedZnode:
            behind = ""
        found[downstream.zone] = (f"{repl.get('sync_state', '?')} from "
                                  f"{(upstream.zone or '?')[:8]}: {repl.get('state', '?')}, "
                                  f"sent {sent}, flushed {flush}, replayed {replay}{behind}")
    return found


def _who(repl: Mapping[str, Any]) -> str:
    """How a row names its standby, for an operator: its address and application_name."""
    address, name = repl.get("client_addr"), repl.get("application_name")
    return f"{address}, application_name {name!r}" if name else str(address)


def lone_primary_verdict(status: ShardStatus, primary: str) -> Verdict:
    """Pure: is ``primary`` the shard's primary with its database answering? For a shard
    of one peer, that is what "takes writes" means (there is no sync to wait for).
    ``online`` false (the database did not answer) is not; v1 peers leave it out when
    their database answers."""
    head = status.role("primary")
    if head is None or head.zone != primary:
        found = head.zone if head else "no primary"
        return Verdict(False, f"the primary is {found}, not {primary}")
    if head.online is False:
        return Verdict(False, f"the primary {primary}'s database does not answer")
    return Verdict(True, f"{primary} is the primary and its database answers (one peer: "
                         "writes need no sync)")


def replication_verdict(status: ShardStatus, primary: str, sync: str) -> Verdict:
    """Pure: does ``primary`` stream synchronously to ``sync``, caught up?"""
    head = status.role("primary")
    if head is None or head.zone != primary:
        found = head.zone if head else "no primary"
        return Verdict(False, f"the primary is {found}, not {primary}")
    downstream = status.by_zone(sync)
    if downstream is None:
        return Verdict(False, f"{sync} is not in the shard's status")
    repl = head.repl
    if not repl:
        return Verdict(False, f"the primary {primary} has no replication connection")
    named = status.downstream_of(repl)
    if named is not None and named.zone != sync:
        return Verdict(False, f"the primary replicates to {named.zone} "
                              f"({_who(repl)}), not to {sync} ({downstream.ip})")
    if named is None and (downstream.ip is not None or downstream.pg_url is not None):
        return Verdict(False, f"the primary replicates to {_who(repl)}, "
                              f"not to {sync} ({downstream.ip})")
    if repl.get("state") != "streaming":
        return Verdict(False, f"replication to {sync} is {repl.get('state')!r}, not streaming")
    if repl.get("sync_state") != "sync":
        return Verdict(False, f"replication to {sync} is {repl.get('sync_state')!r}, not sync")
    try:
        sent, replayed = lsn(_loc(repl, "sent")), lsn(_loc(repl, "replay"))
    except MalformedZnode as exc:
        return Verdict(False, exc.message)
    if replayed < sent:
        return Verdict(False, f"{sync} has replayed {_loc(repl, 'replay')} of "
                              f"{_loc(repl, 'sent')} sent (catching up)")
    return Verdict(True, f"{primary} streams synchronously to {sync}, caught up at "
                         f"{_loc(repl, 'replay')}")
