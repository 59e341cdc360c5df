"""``manatee-adm status`` JSON, and the replication verdict the unfreeze guard relies on.

``status`` prints ``{"<shard>": {["__FROZEN__": "...",] "primary": {...}, "sync": {...},
"async": {...}, "async1": {...}, "deposed": {...}}}``; each peer may carry
``repl`` (the row of ``pg_stat_replication`` for the connection it is the
*upstream* of), ``online`` and ``lag``. (Upstream: lib/adm.js ``_formatState``.)

"Synced" (decision, after upstream ``loadReplErrors`` in lib/adm.js): the
primary's ``repl`` names the expected sync's IP as ``client_addr``, is
``streaming`` with ``sync_state`` ``sync``, and the sync has replayed everything
sent (``replay_location >= sent_location``; also accepts the 10.x names
``replay_lsn``/``sent_lsn``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
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


@dataclass(frozen=True)
class ShardStatus:
    shard: str
    frozen: str | None
    peers: list[StatusPeer] = field(default_factory=list)

    def role(self, role: str) -> StatusPeer | None:
        return next((p for p in self.peers if p.role == role), None)

    def by_zone(self, zone: str) -> StatusPeer | None:
        return next((p for p in self.peers if p.zone == zone), None)


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
            value.get("zoneId") if isinstance(value.get("zoneId"), str) else None,
            value.get("ip") if isinstance(value.get("ip"), str) else None,
            online if isinstance(online, bool) else None,
            repl or {},
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
    return repl.get(f"{name}_location", repl.get(f"{name}_lsn"))


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
        downstream = next((p for p in status.peers if p.ip is not None
                           and p.ip == repl.get("client_addr")), None)
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
    if downstream.ip is not None and repl.get("client_addr") != downstream.ip:
        return Verdict(False, f"the primary replicates to {repl.get('client_addr')}, "
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
