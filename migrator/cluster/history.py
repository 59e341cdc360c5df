"""Records under /manatee/<shard>/history, oldest first.

Two kinds live side by side in a migrated shard:
  v1: the whole record is in the node name,
      ``<ms since epoch>-<ip:port>-<action>-<role>-<master>-<slave>-<seq>``, no data;
  v2: ``<generation>-<seq>`` holding a complete cluster state (peers write
      ``<generation>-``, manatee-adm always writes ``0-``).
Both share one sequence counter, so the numeric suffix orders them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from migrator.isotime import iso_now_ms
from migrator.strictjson import ZK_MAX_BUFFER, JsonRejected, loads

V1_EMPTY = ("undefined", "null")


@dataclass(frozen=True)
class HistoryRecord:
    """One node under /manatee/<shard>/history, v1 event or v2 state copy."""

    name: str
    seq: int
    kind: str  # "v1" or "v2"
    time: datetime | None
    v1: dict[str, str] = field(default_factory=dict)
    state: Any = None  # the parsed JSON of a v2 record, or None
    problem: str | None = None  # why a record could not be read fully
    czxid: int | None = None  # the transaction that created it (None: not known)

    def to_json(self) -> dict[str, Any]:
        """The shape `manatee-adm history` prints (runbook), one object per record."""
        out: dict[str, Any] = {}
        if self.time is not None:
            out["time"] = str(int(self.time.timestamp() * 1000))
            out["date"] = iso_now_ms(self.time)
        if self.kind == "v1":
            out.update(self.v1)
        else:
            out["state"] = self.state
        out["zkSeq"] = f"{self.seq:010d}"
        if self.problem:
            out["problem"] = self.problem
        return out


def history_seq(name: str) -> int | None:
    tail = name.rsplit("-", 1)[-1]
    return int(tail) if tail.isdigit() else None


def parse_history_record(name: str, data: bytes | None, ctime_ms: int | None,
                         czxid: int | None = None) -> HistoryRecord:
    """Never raises: history is for reading, a damaged record is shown as such."""
    parts = name.split("-")
    seq = history_seq(name)
    ctime = None if ctime_ms is None else datetime.fromtimestamp(ctime_ms / 1000, UTC)
    if seq is None:
        return HistoryRecord(name, -1, "unknown", ctime, problem="no sequence suffix",
                             czxid=czxid)
    if len(parts) > 2:
        fields = ["time", "ip", "action", "role", "master", "slave"]
        values = [("" if p in V1_EMPTY else p) for p in parts[:6]]
        record = dict(zip(fields, values, strict=False))
        record.pop("time", None)
        try:
            when: datetime | None = datetime.fromtimestamp(int(parts[0]) / 1000, UTC)
        except ValueError:
            when = ctime
        return HistoryRecord(name, seq, "v1", when, v1=record, czxid=czxid)
    try:
        state = loads(data or b"", max_bytes=ZK_MAX_BUFFER)
        problem = None
    except JsonRejected as exc:
        state, problem = None, f"data is not JSON that manatee's readers accept: {exc}"
    return HistoryRecord(name, seq, "v2", ctime, state=state, problem=problem, czxid=czxid)


def order_history(records: list[HistoryRecord]) -> list[HistoryRecord]:
    return sorted(records, key=lambda r: r.seq)


def summarize(record: HistoryRecord, previous: HistoryRecord | None) -> str:
    """A one-line account of what a record changed, in manatee-adm's words.

    ``previous`` is the record just before, of either kind. The rules are upstream's
    (``manatee-adm history -v``, lib/adm.js): the first record sets the cluster up; the
    one after a v1 event is a follow-up from it; a change of primary is a takeover and
    says nothing more (the asyncs it reshuffled are part of it); a new generation with
    the same primary is a new sync; only within a generation are freezes, asyncs and
    deposed peers listed. A transition upstream calls impossible reads ``error: ...``.
    """
    if record.kind == "v1":
        return f"v1.0 event: {record.v1.get('action', '?')} by {record.v1.get('ip', '?')}"
    if record.problem or not isinstance(record.state, dict):
        return f"unreadable record ({record.problem or 'not an object'})"
    new = record.state
    if previous is None:
        mode = ("singleton (one-node-write)" if new.get("oneNodeWriteMode")
                else "normal (multi-peer)")
        return f"cluster setup for {mode} mode"
    if previous.kind == "v1":
        return "follow-up from 1.0 event"
    old = previous.state
    if not isinstance(old, dict):
        return "follows an unreadable record"
    return _generation_change(old, new) or _within_generation(old, new) or "no visible change"


def _generation_change(old: dict[str, Any], new: dict[str, Any]) -> str | None:
    """The summary when mode, primary, sync or generation changed; None otherwise."""
    old_gen, new_gen = old.get("generation"), new.get("generation")
    later = isinstance(old_gen, int) and isinstance(new_gen, int) and new_gen > old_gen
    if isinstance(old_gen, int) and isinstance(new_gen, int) and new_gen < old_gen:
        return "error: gen number went backwards"
    old_onwm, new_onwm = bool(old.get("oneNodeWriteMode")), bool(new.get("oneNodeWriteMode"))
    if new_onwm and not old_onwm:
        return ("error: unsupported transition from multi-peer mode to singleton "
                "(one-node-write) mode")
    if old_onwm and not new_onwm:
        return "cluster transitioned from singleton (one-node-write) mode to multi-peer mode"
    old_primary, new_primary = _zone(old.get("primary")), _zone(new.get("primary"))
    old_sync, new_sync = _zone(old.get("sync")), _zone(new.get("sync"))
    if new_primary != old_primary:
        if new_gen == old_gen:
            return "error: new primary, but same gen number"
        if old.get("sync") is None or new_primary != old_sync:
            return "error: new primary was not previous sync"
        return f"sync ({new_primary}) took over as primary (from {old_primary})"
    if later:
        if old.get("sync") is None and not old_onwm:  # a multi-peer state without a sync
            return f'sync "{new_sync}" added'
        if new_sync == old_sync:
            return "error: gen number changed, but primary and sync did not"
        return f"primary ({new_primary}) selected new sync (was {old_sync}, now {new_sync})"
    if new_sync != old_sync:
        return "error: sync changed, but gen number did not"
    return None


def _within_generation(old: dict[str, Any], new: dict[str, Any]) -> str:
    changes: list[str] = []
    if new.get("freeze") and not old.get("freeze"):
        changes.append(f"cluster frozen: {_reason(new.get('freeze'))}")
    elif old.get("freeze") and not new.get("freeze"):
        changes.append("cluster unfrozen")
    for key, added, removed in (("async", 'async "{}" added', 'async "{}" removed'),
                                ("deposed", '"{}" deposed', '"{}" no longer deposed')):
        before = list(dict.fromkeys(_zone(p) for p in old.get(key) or []))
        after = list(dict.fromkeys(_zone(p) for p in new.get(key) or []))
        changes += [added.format(z) for z in after if z not in before]
        changes += [removed.format(z) for z in before if z not in after]
    return ", ".join(changes)


def _zone(peer: Any) -> str:
    if isinstance(peer, dict) and isinstance(peer.get("zoneId"), str):
        return str(peer["zoneId"])[:8]
    return "none"


def _reason(freeze: Any) -> str:
    return str(freeze.get("reason")) if isinstance(freeze, dict) else "unknown"


def current_attempt(history: list[HistoryRecord], state_czxid: int | None,
                    has_state: bool) -> list[HistoryRecord]:
    """The records of the current migration attempt.

    A backfill creates /state and its history record in one transaction, and a
    rollback deletes /state; so a record created before the current /state, or any
    record while there is no /state, belongs to an attempt that was rolled back.
    (v1 records and records whose creation is unknown are kept when /state is there:
    they cannot be placed, and only v2 records are looked at for evidence.)
    """
    if not has_state:
        return [r for r in history if r.kind != "v2"]
    if state_czxid is None:
        return list(history)
    return [r for r in history if r.kind != "v2" or r.czxid is None or r.czxid >= state_czxid]
