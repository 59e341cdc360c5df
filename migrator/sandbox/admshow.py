"""The sandbox's ``manatee-adm show [-v]``, ``pg-status`` and ``peers`` (pure).

Layouts and words follow upstream manatee-adm 2.1.1 (bin/manatee-adm, lib/adm.js
``loadClusterDetails``; facts only, see docs/sandbox.md): each table is node-tab's,
every column left-aligned and padded to its width (a longer value is printed whole),
one space between columns, the last one padded too; ``show`` prints the cluster's
generation, mode and freeze, then (``-v``) the peers, then the postgres table, then
one ``error:``/``warning:`` line per problem found.

The input is the ``status`` body the zone's ``manatee-adm status`` prints (roles as
``primary``, ``sync``, ``async``, ``async1``..., ``deposed``...; each peer with
``online``/``error``, ``repl`` and ``lag`` as upstream adds them).

One decision differs from upstream: upstream checks each downstream peer by
``client_addr`` alone, so on the sandbox's loopback (every standby connects from
127.0.0.1) it reports ``expected downstream peer to be "127.0.0.3", but found
"127.0.0.1"`` for a healthy shard. Manatee names each standby's connection with the
standby's pgUrl (``application_name``), so the sandbox checks that first and
``client_addr`` only when the name is no peer's pgUrl, as the migrator does.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

_ROLE_KEY = re.compile(r"^(primary|sync|async|deposed)(\d*)\Z")

# (label, width) as upstream's columns have them
PEERS_COLUMNS = (("ROLE", 8), ("PEERNAME", 36), ("IP", 16))
PG_COLUMNS = (("ROLE", 8), ("PEER", 8), ("PG", 4), ("REPL", 5), ("SENT", 13),
              ("FLUSH", 13), ("REPLAY", 13), ("LAG", 6))


def table(columns: tuple[tuple[str, int], ...], rows: list[dict[str, str]]) -> list[str]:
    """node-tab's layout: each cell padded to its column's width, one space between."""
    def line(cells: list[str]) -> str:
        return " ".join(cell.ljust(width) for cell, (_, width) in zip(cells, columns,
                                                                       strict=True))
    return [line([label for label, _ in columns]),
            *(line([row.get(label, "") for label, _ in columns]) for row in rows)]


@dataclass(frozen=True)
class Peer:
    role: str
    entry: dict[str, Any]

    @property
    def label(self) -> str:
        return str(self.entry.get("zoneId", "?"))[:8]

    @property
    def pg_error(self) -> str | None:
        """Why postgres could not be queried (upstream: the peer's ``error``), or None."""
        error = self.entry.get("error")
        if error is None:
            return "postgres not queried" if self.entry.get("online") is False else None
        try:
            parsed = json.loads(error) if isinstance(error, str) else error
        except ValueError:
            return str(error)
        if isinstance(parsed, dict):
            return str(parsed.get("message") or parsed.get("errno") or error)
        return str(error)

    @property
    def repl(self) -> dict[str, Any] | None:
        repl = self.entry.get("repl")
        return repl if isinstance(repl, dict) and repl.get("state") else None

    @property
    def lag(self) -> dict[str, Any] | None:
        lag = self.entry.get("lag")
        found = lag.get("time_lag") if isinstance(lag, dict) else None
        return found if isinstance(found, dict) else None


def peers_of(body: dict[str, Any]) -> list[Peer]:
    """The body's peers in upstream's order: primary, sync, asyncs, deposed."""
    order = ("primary", "sync", "async", "deposed")
    found: list[tuple[int, int, Peer]] = []
    for key, value in body.items():
        match = _ROLE_KEY.fullmatch(key)
        entries = value if isinstance(value, list) else [value]
        if match is None:
            continue
        for offset, entry in enumerate(entries):
            if isinstance(entry, dict):
                index = int(match.group(2) or 0) + offset
                found.append((order.index(match.group(1)), index, Peer(match.group(1), entry)))
    return [peer for _, _, peer in sorted(found, key=lambda f: (f[0], f[1]))]


def duration(lag: dict[str, Any] | None) -> str:
    """A ``time_lag`` as upstream's LAG column shows it (``1m32s``; ``-`` without one;
    ``?`` for a unit whose length in seconds is not fixed)."""
    if lag is None:
        return "-"
    unit_seconds = {"days": 86400, "hours": 3600, "minutes": 60, "seconds": 1}
    if any(unit not in unit_seconds for unit in lag):
        return "?"
    total = sum(int(lag[unit]) * unit_seconds[unit] for unit in lag)
    minutes = math.floor(total / 60)
    return f"{minutes}m{int(math.fmod(total, 60)):02d}s"


def _position(repl: dict[str, Any], name: str) -> str:
    return str(repl.get(f"{name}_lsn") or repl.get(f"{name}_location") or "")


def pg_row(peer: Peer) -> dict[str, str]:
    row = {"ROLE": peer.role, "PEER": peer.label}
    dashes = dict.fromkeys(("REPL", "SENT", "FLUSH", "REPLAY"), "-")
    if peer.pg_error is not None:
        return {**row, "PG": "fail", **dashes, "LAG": "-"}
    row.update(PG="ok", LAG=duration(peer.lag))
    repl = peer.repl
    if repl is None or not repl.get("sync_state"):
        return {**row, **dashes}
    return {**row, "REPL": str(repl["sync_state"]), "SENT": _position(repl, "sent"),
            "FLUSH": _position(repl, "flush"), "REPLAY": _position(repl, "replay")}


def pg_table(body: dict[str, Any]) -> list[str]:
    return table(PG_COLUMNS, [pg_row(peer) for peer in peers_of(body)])


def peers_table(body: dict[str, Any]) -> list[str]:
    return table(PEERS_COLUMNS, [
        {"ROLE": p.role, "PEERNAME": str(p.entry.get("zoneId", "")),
         "IP": str(p.entry.get("ip", ""))} for p in peers_of(body)])


def _named(repl: dict[str, Any], peers: list[Peer]) -> str | None:
    """The IP of the peer a replication row is about: the peer whose pgUrl is the row's
    ``application_name``, else the row's ``client_addr``."""
    name = repl.get("application_name")
    for peer in peers:
        if name and peer.entry.get("pgUrl") == name:
            return str(peer.entry.get("ip"))
    address = repl.get("client_addr")
    return None if address is None else str(address)


def _repl_issues(peer: Peer, downstream: Peer | None, kind: str,
                 peers: list[Peer]) -> list[str]:
    """The upstream ``peer``'s replication to ``downstream`` (``kind``: sync or async)."""
    if downstream is None:
        return []
    repl = peer.repl
    if repl is None:
        return [f'peer "{peer.label}": downstream replication peer not connected']
    found: list[str] = []
    expected, named = downstream.entry.get("ip"), _named(repl, peers)
    if named != expected:
        found.append(f'peer "{peer.label}": expected downstream peer to be "{expected}", '
                     f'but found "{named}"')
    if repl.get("state") != "streaming":
        found.append(f'peer "{peer.label}": downstream replication not yet established '
                     f'(expected state "streaming", found "{repl.get("state")}")')
    if not found and repl.get("sync_state") != kind:
        found.append(f'peer "{peer.label}": expected downstream replication to be "{kind}", '
                     f'but found "{repl.get("sync_state")}"')
    return found


def issues(body: dict[str, Any], singleton: bool) -> tuple[list[str], list[str]]:
    """(errors, warnings) about the shard's health, as upstream's ``show``,
    ``pg-status`` and ``verify`` report them."""
    peers = peers_of(body)
    errors: list[str] = []
    warnings: list[str] = []
    primary = next((p for p in peers if p.role == "primary"), None)
    if primary is None:
        return ["no primary in the cluster state"], []
    if primary.pg_error is not None:
        errors.append(f'cannot query postgres on primary: peer "{primary.label}": '
                      f"{primary.pg_error}")
    if singleton:
        if len(peers) > 1:
            warnings.append(f"found {len(peers)} peers in singleton mode")
        return errors, warnings
    sync = next((p for p in peers if p.role == "sync"), None)
    asyncs = [p for p in peers if p.role == "async"]
    if sync is not None and sync.pg_error is not None:
        errors.append(f'cannot query postgres on sync: peer "{sync.label}": {sync.pg_error}')
    if any(p.role == "deposed" for p in peers):
        warnings.append("cluster has a deposed peer")
    if not asyncs:
        warnings.append("cluster has no async peers")
    if sync is None or sync.pg_error is not None:
        return errors, warnings  # the sync down: nothing more to check
    errors.extend(_repl_issues(primary, sync, "sync", peers))
    chain = [sync, *asyncs]
    for upstream, downstream in zip(chain, [*asyncs, None], strict=True):
        warnings.extend(_repl_issues(upstream, downstream, "async", peers))
    return errors, warnings


def issue_lines(body: dict[str, Any], singleton: bool) -> list[str]:
    """The problems, after a blank line, or nothing when there are none."""
    errors, warnings = issues(body, singleton)
    lines = [f"error: {e}" for e in errors] + [f"warning: {w}" for w in warnings]
    return ["", *lines] if lines else []


def show_lines(zk: str, shard: str, state: dict[str, Any], body: dict[str, Any],
               verbose: bool) -> list[str]:
    """``manatee-adm show [-v]`` from the stored state and the status body."""
    singleton = bool(state.get("oneNodeWriteMode"))
    lines = [
        f"zookeeper:   {zk}",
        f"cluster:     {shard}",
        f"generation:  {state.get('generation')} ({state.get('initWal')})",
        f"mode:        {'singleton (one-node-write)' if singleton else 'normal'}",
    ]
    freeze = state.get("freeze")
    if freeze:
        since, reason = (freeze.get("date"), freeze.get("reason")) if isinstance(
            freeze, dict) else ("unknown", "unknown")
        lines += [f"freeze:      frozen since {since}", f"freeze info: {reason}"]
    else:
        lines.append("freeze:      not frozen")
    lines.append("")
    if verbose:
        lines += [*peers_table(body), ""]
    return [*lines, *pg_table(body), *issue_lines(body, singleton)]
