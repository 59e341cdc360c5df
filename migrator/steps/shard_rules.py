"""Pure decisions over a shard snapshot and the original topology.

Each rule takes data and returns an ``Outcome`` (ok + a sentence saying what
was seen); ``migrator.steps.zk`` wraps them in event-driven waits. Keeping
them pure lets the planner, the tests and the waits share one definition.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

from migrator.cluster.backfill import migrator_backfill_state, upstream_backfill_variant
from migrator.cluster.history import HistoryRecord, current_attempt
from migrator.cluster.original import OriginalPeer, OriginalTopology
from migrator.cluster.shard import ShardSnapshot
from migrator.cluster.state import ClusterState
from migrator.stepkit.registry import Outcome


def _zone8(zone: str) -> str:
    return zone[:8]


def _peer_label(peer: OriginalPeer) -> str:
    return f"{peer.role} {_zone8(peer.zone_id)} ({peer.peer_id})"


def state_absent(snap: ShardSnapshot) -> Outcome:
    if snap.state is None:
        return Outcome(True, f"shard {snap.shard} has no /state")
    return Outcome(False, f"/state exists (generation {snap.state.generation}, "
                          f"mode {snap.mode})")


def state_present(snap: ShardSnapshot) -> Outcome:
    if snap.state is None:
        return Outcome(False, f"shard {snap.shard} has no /state")
    return Outcome(True, f"/state exists (generation {snap.state.generation})")


def shard_frozen(snap: ShardSnapshot) -> Outcome:
    if snap.state is None:
        return Outcome(False, "there is no /state, so nothing is frozen")
    if snap.state.freeze is None:
        return Outcome(False, "the shard is not frozen")
    return Outcome(True, f"frozen ({snap.state.freeze.date}: {snap.state.freeze.reason})")


def shard_unfrozen(snap: ShardSnapshot) -> Outcome:
    if snap.state is None:
        return Outcome(False, "there is no /state yet")
    if snap.state.freeze is not None:
        return Outcome(False, f"still frozen ({snap.state.freeze.date}: "
                              f"{snap.state.freeze.reason})")
    return Outcome(True, "the shard is not frozen")


def generation_at_least(snap: ShardSnapshot, generation: int) -> Outcome:
    if snap.state is None:
        return Outcome(False, "there is no /state")
    seen = snap.state.generation
    return Outcome(seen >= generation, f"generation is {seen} (want at least {generation})")


def election_ids(snap: ShardSnapshot) -> list[str]:
    return [n.peer_id for n in snap.topology.nodes]


def election_matches_original(snap: ShardSnapshot, original: OriginalTopology) -> Outcome:
    want = [p.peer_id for p in original.peers]
    seen = election_ids(snap)
    if seen == want:
        return Outcome(True, f"election order is {', '.join(seen)}, as captured")
    return Outcome(
        False,
        f"election order is [{', '.join(seen) or 'empty'}] but the captured topology is "
        f"[{', '.join(want)}]",
    )


def election_rejoined(snap: ShardSnapshot, original: OriginalTopology, role: str) -> Outcome:
    """The zone's election node is back under a new session (a different node name)."""
    peer = original.by_role(role)
    nodes = [n for n in snap.topology.nodes if n.peer_id == peer.peer_id]
    if not nodes:
        return Outcome(False, f"{_peer_label(peer)} has no election node")
    names = [n.name for n in nodes]
    if peer.name is not None and peer.name in names:
        return Outcome(False, f"{_peer_label(peer)} still holds its original election node "
                              f"{peer.name} (the same session: it has not restarted)")
    return Outcome(True, f"{_peer_label(peer)} is in the election as {names[-1]} "
                         "(a new session)")


def expected_backfill(original: OriginalTopology, freeze_date: str) -> ClusterState:
    """What the migrator writes (for one peer: with oneNodeWriteMode, see backfill.py)."""
    return migrator_backfill_state(original.as_legacy(), freeze_date)


def is_backfill(document: dict[str, Any], want: ClusterState) -> bool:
    """``document`` is the backfill (freeze date aside): ours, or, for one peer, the one
    `manatee-adm state-backfill` writes by hand (one-node-write mode is then set after)."""
    if same_state_but_date(document, want.document):
        return True
    return want.sync is None and "oneNodeWriteMode" not in document and same_state_but_date(
        document, upstream_backfill_variant(want.document))


def _without_freeze_date(document: dict[str, Any]) -> dict[str, Any]:
    doc = dict(document)
    if isinstance(doc.get("freeze"), dict):
        doc["freeze"] = {k: v for k, v in doc["freeze"].items() if k != "date"}
    return doc


def same_state_but_date(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Equal documents (key order included) apart from the freeze date."""
    return list(_without_freeze_date(a).items()) == list(_without_freeze_date(b).items())


def state_differences(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """Top-level keys whose values differ (freeze date ignored), for messages."""
    x, y = _without_freeze_date(a), _without_freeze_date(b)
    return sorted(k for k in set(x) | set(y) if x.get(k) != y.get(k))


def state_matches_backfill(snap: ShardSnapshot, original: OriginalTopology) -> Outcome:
    if snap.state is None:
        return Outcome(False, "there is no /state")
    date = snap.state.freeze.date if snap.state.freeze else None
    want = expected_backfill(original, date or "")
    if is_backfill(snap.state.document, want):
        return Outcome(True, "/state is exactly the backfilled state")
    diff = state_differences(snap.state.document, want.document)
    return Outcome(False, f"/state differs from the backfilled state in {', '.join(diff)}")


def backfill_checks(
    snap: ShardSnapshot, original: OriginalTopology, freeze_date: str
) -> Outcome:
    """The runbook's four checks on the computed state, plus election order and no /state.

    For fewer than three peers the checks that name missing roles are left out:
    a two-node backfill keeps the original sync as sync; one node is primary only.
    """
    state = expected_backfill(original, freeze_date)
    primary = original.by_role("original_primary")
    results: list[tuple[str, bool]] = [
        (f"the primary is the original primary {_zone8(primary.zone_id)}",
         state.primary.id == primary.peer_id),
    ]
    roles = {p.role for p in original.peers}
    if "original_async" in roles:
        new_sync = original.by_role("original_async")
        old_sync = original.by_role("original_sync")
        results.append((f"the original async {_zone8(new_sync.zone_id)} is the sync",
                        state.sync is not None and state.sync.id == new_sync.peer_id))
        results.append((f"the original sync {_zone8(old_sync.zone_id)} is an async",
                        any(p.id == old_sync.peer_id for p in state.asyncs)))
    elif "original_sync" in roles:
        sync = original.by_role("original_sync")
        results.append((f"the original sync {_zone8(sync.zone_id)} is the sync",
                        state.sync is not None and state.sync.id == sync.peer_id))
    results.append(("a freeze is present", state.freeze is not None))
    order = election_matches_original(snap, original)
    results.append(("the election order still matches the captured topology", order.ok))
    absent = state_absent(snap)
    results.append(("/state does not exist yet", absent.ok))
    ok = all(passed for _, passed in results)
    lines = [f"[{'x' if passed else ' '}] {text}" for text, passed in results]
    failed = [text for text, passed in results if not passed]
    detail = "all backfill checks pass" if ok else "failed: " + "; ".join(failed)
    if not order.ok:
        detail += f" ({order.detail})"
    return Outcome(ok, detail, {"checks": lines, "state": state.document})


def peers_all_present(
    snap: ShardSnapshot, original: OriginalTopology, allow_deposed: bool
) -> Outcome:
    if snap.state is None:
        return Outcome(False, "there is no /state")
    missing, deposed = [], []
    for peer in original.peers:
        role = snap.state.role_of(peer.peer_id)
        if role is None:
            missing.append(_peer_label(peer))
        elif role == "deposed":
            deposed.append(_peer_label(peer))
    if missing:
        return Outcome(False, f"not in /state: {', '.join(missing)}")
    if deposed and not allow_deposed:
        return Outcome(False, f"deposed: {', '.join(deposed)}")
    note = f" ({', '.join(deposed)} deposed: see `manatee-adm rebuild`)" if deposed else ""
    return Outcome(True, "every original peer is in /state" + note)


def primary_settled(
    snap: ShardSnapshot, original: OriginalTopology, takeover: str, stayed: str
) -> Outcome:
    """Either outcome of a primary's reprovision the runbook describes.

    takeover: a new generation with ``takeover`` as primary; stayed: ``stayed``
    is still primary and has rejoined the election under a new session. Why no
    takeover happened is said only as far as /state shows it: a frozen shard, or
    no async for the sync to make its new sync (upstream's sync then logs "would
    takeover (primary gone), but no async peers present"); otherwise the primary
    came back before the sync declared a new generation (its session had not
    expired, or the sync was not caught up: the sync's log says which).
    """
    state = snap.state
    if state is None:
        return Outcome(False, "there is no /state")
    new = original.by_role(takeover)
    old = original.by_role(stayed)
    if state.primary.id == new.peer_id and state.generation >= 1:
        return Outcome(True, f"takeover: {_peer_label(new)} is primary in generation "
                              f"{state.generation}", {"outcome": "takeover"})
    if state.primary.id == old.peer_id:
        back = election_rejoined(snap, original, stayed)
        if back.ok:
            return Outcome(True, f"no takeover: {_peer_label(old)} has rejoined and is still "
                                 f"primary in generation {state.generation}; "
                                 + _why_no_takeover(state), {"outcome": "stayed"})
        return Outcome(False, f"{_peer_label(old)} is still primary in /state but has not "
                              f"rejoined yet ({back.detail})")
    return Outcome(False, f"primary is {state.primary.zone_id[:8]} ({state.primary.id}) in "
                          f"generation {state.generation}")


def _why_no_takeover(state: ClusterState) -> str:
    if state.freeze is not None:
        return "the shard is frozen, so the sync could not take over"
    if not state.asyncs:
        return ("the sync had no async to make its new sync, so it could not take over "
                "(a write outage for the whole absence)")
    return ("it came back before the sync declared a new generation (its session had not "
            "expired yet, or the sync was not caught up: see the sync's log)")


def primary_is(snap: ShardSnapshot, original: OriginalTopology, role: str) -> Outcome:
    if snap.state is None:
        return Outcome(False, "there is no /state")
    peer = original.by_role(role)
    if snap.state.primary.id == peer.peer_id:
        return Outcome(True, f"{_peer_label(peer)} is primary")
    return Outcome(False, f"the primary is {snap.state.primary.id}, not {_peer_label(peer)}")


def one_node_write_mode(snap: ShardSnapshot) -> Outcome:
    if snap.state is None:
        return Outcome(False, "there is no /state")
    if snap.state.one_node_write_mode:
        return Outcome(True, "oneNodeWriteMode is set in /state")
    return Outcome(False, "oneNodeWriteMode is not set in /state")


def attempt_history(history: Sequence[HistoryRecord], snap: ShardSnapshot | None
                    ) -> list[HistoryRecord]:
    """The history of the current attempt (``cluster.history.current_attempt``)."""
    if snap is None:
        return list(history)

    return current_attempt(list(history), snap.state_czxid, snap.state is not None)


def history_has_backfill(history: Sequence[HistoryRecord], original: OriginalTopology,
                         snap: ShardSnapshot | None = None) -> Outcome:
    """A record of the current attempt holds the backfill (with ``snap``: records from
    before the current /state, or any while there is none, are an earlier attempt's)."""
    scoped = attempt_history(history, snap)
    for record in scoped:
        if record.kind != "v2" or not isinstance(record.state, dict):
            continue
        freeze = record.state.get("freeze")
        date = freeze.get("date", "") if isinstance(freeze, dict) else ""
        want = expected_backfill(original, str(date))
        if is_backfill(record.state, want):
            return Outcome(True, f"history record {record.name} holds the backfilled state")
    earlier = len(attempt_history(history, None)) - len(scoped)
    if earlier and history_has_backfill(history, original).ok:
        return Outcome(False, "no history record of the current attempt holds the backfilled "
                              "state (one from an attempt that was rolled back does not count)")
    return Outcome(False, "no history record holds the backfilled state")


def history_progression(
    history: Sequence[HistoryRecord], snap: ShardSnapshot, original: OriginalTopology,
    events: Sequence[str],
) -> Outcome:
    """History shows the backfill, the unfreeze and, after a takeover, the new generation
    (in the current attempt only)."""
    history = attempt_history(history, snap)
    v2 = [r for r in history if r.kind == "v2" and isinstance(r.state, dict)]
    found: list[str] = []
    missing: list[str] = []
    for event in events:
        if event == "backfill":
            ok = history_has_backfill(history, original).ok
        elif event == "unfreeze":
            ok = any(
                prev.state.get("freeze") and not rec.state.get("freeze")
                for prev, rec in itertools.pairwise(v2)
            )
        elif event == "generation":
            generation = snap.state.generation if snap.state else 0
            ok = generation == 0 or any(r.state.get("generation") == generation for r in v2)
        else:
            ok = False
        (found if ok else missing).append(event)
    if missing:
        return Outcome(False, f"history lacks: {', '.join(missing)} (has: "
                              f"{', '.join(found) or 'none of them'})")
    return Outcome(True, f"history shows {', '.join(found)}")
