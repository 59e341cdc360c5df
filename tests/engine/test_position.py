"""Position from the shard as a whole, scoped to the current attempt (pure, no I/O).

The exhaustive part: for every built-in migration playbook and every cut point
(after 0, 1, ... n steps), the shard is built as those steps leave it, by their
*effects* (a reprovision: the zone at v2 under a new election node, and a takeover
when an unfrozen primary goes; a backfill: /state and its history record in one
transaction; an unfreeze, one-node-write mode: a new /state and a record). Steps are
read from the playbooks themselves, so a reordered playbook is covered as it is.
From each cut point the plan is computed as a hand-begun migration (no journal) and
as a journaled one, and the done steps must be exactly those taken (the Moray check,
which nothing later implies, excepted when it has no journal entry). Each done-check
is judged through the registered checks on that view, the remote facts they ask for
answered from the model: zone versions, sitter logs (nothing fatal) and
`manatee-adm status` (the primary per /state or the election, online when it
serves). A step whose effect an earlier step already produced is done from there
on (the one-node playbook's last step after this run's backfill, which writes
oneNodeWriteMode with the state).
"""

from __future__ import annotations

import json
from copy import deepcopy
from dataclasses import dataclass, field, replace
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from migrator.cluster.history import HistoryRecord, parse_history_record
from migrator.cluster.original import OriginalTopology, capture
from migrator.cluster.shard import ShardSnapshot
from migrator.cluster.state import ClusterState
from migrator.engine.context import EngineContext
from migrator.engine.journal import Journal, StepRecord, new_journal, new_run, stamp
from migrator.engine.live_plan import unnamed
from migrator.engine.observe import evaluate_done
from migrator.engine.planner import Plan, make_plan, resolve_original
from migrator.engine.position import StepFacts, position
from migrator.playbook import catalog
from migrator.playbook.loader import LoadedPlaybook
from migrator.remote.commands import CommandResult
from migrator.remote.logs import LogEnd, LogMark, LogRead
from migrator.steps import shard_rules as rules
from migrator.steps.remote import status_command
from migrator.steps.zk import with_one_node_write_mode
from tests.engine.helpers import SHARD, ZONES, node

pytestmark = pytest.mark.unit

NOW = "2026-11-29T01:00:00.000Z"
OLD, NEW = "1.0.0", "2.1.1"
MIGRATIONS = {"three-node": 3, "three-node-frozen-primary": 3, "two-node": 2, "one-node": 1}


# ---- a shard moved by step effects -------------------------------------------------------


@dataclass
class Shard:
    """The shard, its history and its zones' versions, as the steps taken left them."""

    nodes: int
    seqs: list[int] = field(default_factory=list)  # election sequence per zone index
    versions: dict[str, str] = field(default_factory=dict)
    state: dict[str, Any] | None = None
    history: list[HistoryRecord] = field(default_factory=list)
    zxid: int = 100
    state_czxid: int | None = None

    def __post_init__(self) -> None:
        self.seqs = list(range(self.nodes))
        self.versions = {ZONES[i]: OLD for i in range(self.nodes)}

    def snapshot(self) -> ShardSnapshot:
        from migrator.cluster.election import legacy_topology

        order = sorted(range(self.nodes), key=lambda i: self.seqs[i])
        nodes = [node(i, self.seqs[i]) for i in order]
        state = None if self.state is None else ClusterState(self.state)
        return ShardSnapshot(SHARD, legacy_topology(SHARD, nodes), state,
                             None if state is None else len(self.history),
                             state_czxid=self.state_czxid if state is not None else None)

    def write(self, state: dict[str, Any] | None, *, create: bool = False) -> None:
        self.zxid += 1
        if create:
            self.state_czxid = self.zxid
        self.state = state
        if state is not None:
            seq = 1000 + len(self.history)
            self.history.append(parse_history_record(f"0-{seq:010d}", json.dumps(state).encode(),
                                                     1_700_000_000_000, self.zxid))

    def peer(self, index: int) -> dict[str, Any]:
        return dict(node(index, self.seqs[index]).data)

    def serves(self, zone: str) -> bool:
        """Does ``zone`` run postgres as a writable primary? A v1 peer follows the
        election (first is primary); a v2 peer follows /state and refuses (dies on) a
        /state without a sync unless it is in one-node-write mode."""
        if self.versions[zone] == OLD:
            leader = min(range(self.nodes), key=lambda i: self.seqs[i])
            return ZONES[leader] == zone
        state = self.state
        return (state is not None and state["primary"]["zoneId"] == zone
                and (bool(state.get("sync")) or state.get("oneNodeWriteMode") is True))

    def status(self, zone: str) -> dict[str, Any] | None:
        """``manatee-adm status`` as run in ``zone`` (the shapes of
        migrator/sandbox/adm.py): v2 reads /state (None: there is none), v1 the
        election. A peer is online when it serves (the primary) or is listed below one."""
        body: dict[str, Any] = {}
        if self.versions[zone] == NEW:
            if self.state is None:
                return None
            freeze = self.state.get("freeze")
            if freeze:
                body["__FROZEN__"] = f"{freeze.get('date')}: {freeze.get('reason')}"
            roles = [("primary", self.state["primary"])]
            if self.state.get("sync"):
                roles.append(("sync", self.state["sync"]))
            roles += [("async", p) for p in self.state.get("async") or []]
        else:
            order = sorted(range(self.nodes), key=lambda i: self.seqs[i])
            roles = [("primary" if n == 0 else "sync" if n == 1 else "async", self.peer(i))
                     for n, i in enumerate(order)]
        head = roles[0][1]["zoneId"]
        for role, peer in roles:
            online = self.serves(peer["zoneId"]) if role == "primary" else self.serves(head)
            entry = {**peer, "online": online, "repl": {}}
            taken = sum(k.startswith(role) for k in body)  # async, async1, ... as upstream
            body[f"{role}{taken or ''}"] = entry
        return {SHARD: body}

    def restart(self, index: int) -> None:
        self.seqs[index] = max(self.seqs) + 1

    def apply(self, step: Any, original: OriginalTopology) -> None:
        """What the step's action does to the shard (generically, by action)."""
        name = step.action.name
        if name == "reprovision":
            zone = original.by_role(step.action.params["zone"]).zone_id
            index = ZONES.index(zone)
            self.versions[zone] = NEW
            self.restart(index)
            state = self.state
            if (state is not None and state["primary"]["zoneId"] == zone
                    and "freeze" not in state and state.get("sync")):
                asyncs = list(state.get("async") or [])
                self.write({"primary": state["sync"], "sync": asyncs[0] if asyncs else None,
                            "async": asyncs[1:], "deposed": [state["primary"]],
                            "generation": state["generation"] + 1, "initWal": "0/1"})
        elif name == "backfill":
            self.write(rules.expected_backfill(original, NOW).document, create=True)
        elif name == "unfreeze":
            assert self.state is not None
            self.write({k: v for k, v in self.state.items() if k != "freeze"})
        elif name == "set_one_node_write_mode":
            assert self.state is not None
            changed = with_one_node_write_mode(ClusterState(self.state))
            if changed is not None:  # after this run's backfill, already set: no write
                self.write(dict(changed.document))
        elif name == "freeze":
            assert self.state is not None
            self.write({**self.state, "freeze": {"date": NOW, "reason": "test"}})
        elif name == "delete_state":
            self.zxid += 1
            self.state = None
        else:  # operator steps and commands leave no trace in ZooKeeper
            assert name in ("confirm_morays", "ask_operator", "run_command"), name


class ShardRemote:
    """The remote facts the registered done-checks ask for, answered from the model: each
    zone's version, its sitter log (empty: the model's peers log nothing fatal) and
    ``manatee-adm status`` as run in that zone."""

    def __init__(self, shard: Shard) -> None:
        self.shard = shard
        self.inventory = SimpleNamespace(
            shard=SHARD, zookeeper="127.0.0.1:2181", zones=dict.fromkeys(shard.versions),
            morays={}, commands=SimpleNamespace(manatee_adm="manatee-adm"))

    def run_template(self, zone: str, _name: str) -> CommandResult:
        out = json.dumps({"version": self.shard.versions[zone]}).encode()
        return CommandResult(zone, "manatee_version", 0, out, b"", False, 0.0)

    def mark_log(self, zone: str) -> LogMark:
        return LogMark(zone, "/var/svc/log/manatee-sitter.log", 0, "1", "1")

    def read_since(self, zone: str, mark: LogMark, *, max_bytes: int = 0) -> LogRead:
        return LogRead(b"", mark.offset, mark.offset, None, False, mark)

    def read_log_end(self, zone: str, _max_bytes: int) -> LogEnd:
        return LogEnd(self.mark_log(zone), b"", cut=False)

    def run(self, zone: str, command: str, *, reads_only: bool = False) -> CommandResult:
        assert command == status_command(self.inventory), command
        assert reads_only, "manatee-adm status only reads: run again if cut off"
        found = self.shard.status(zone)
        if found is None:  # v2 manatee-adm with no /state to read
            return CommandResult(zone, command, 1, b"",
                                 f"No state object exists for one or more shards: {SHARD}"
                                 .encode(), False, 0.0)
        return CommandResult(zone, command, 0, json.dumps(found).encode(), b"", False, 0.0)


def observed_for(shard: Shard, loaded: LoadedPlaybook, original: OriginalTopology
                 ) -> dict[str, Any]:
    snap = shard.snapshot()
    remote = ShardRemote(shard)
    ctx = EngineContext(shard=SHARD, zk=None, inventory=remote.inventory, remote=remote,
                        original=original, view=(snap, shard.history))
    return {step.id: evaluate_done(replace(ctx, step_id=step.id), step)
            for step in loaded.playbook.steps}


def plan_at(shard: Shard, loaded: LoadedPlaybook, journal: Journal | None) -> Plan:
    snap = shard.snapshot()
    original, _ = resolve_original(snap, shard.history, journal)
    judge = original if journal is not None else unnamed(original)
    return make_plan(snap, shard.history, loaded, journal,
                     observed_for(shard, loaded, judge), now=NOW)


def journal_for(loaded: LoadedPlaybook, original: OriginalTopology, done: list[str]
                ) -> Journal:
    journal = new_journal(SHARD, original, {"election": []}, "op@host")
    journal = journal.with_run(new_run("migration", loaded.name, loaded.digest, "op@host"))
    for step_id in done:
        journal = journal.with_step("migration", step_id, stamp(
            StepRecord(), "done", "op@host", done_by="verified",
            outputs={"confirmed": True} if "moray" in step_id else {}))
    return journal


def moved(name: str, cut: int) -> tuple[Shard, LoadedPlaybook, OriginalTopology]:
    loaded = catalog.resolve(name)
    shard = Shard(MIGRATIONS[name])
    original = capture(shard.snapshot())
    for step in loaded.playbook.steps[:cut]:
        shard.apply(step, original)
    return shard, loaded, original


def reached(shard: Shard, loaded: LoadedPlaybook, original: OriginalTopology, cut: int) -> int:
    """The cut, extended over the following steps whose effect the shard already shows:
    their action would change nothing (the one-node playbook's last step after this
    run's backfill, which wrote oneNodeWriteMode with the state). Operator steps leave
    no trace either way and never extend it."""
    steps = loaded.playbook.steps
    while cut < len(steps) and steps[cut].action.name not in (
            "confirm_morays", "ask_operator", "run_command"):
        trial = deepcopy(shard)
        trial.apply(steps[cut], original)
        if (trial.state, trial.versions, trial.seqs, len(trial.history)) != (
                shard.state, shard.versions, shard.seqs, len(shard.history)):
            break
        cut += 1
    return cut


CUTS = [(name, cut) for name in MIGRATIONS
        for cut in range(len(catalog.resolve(name).playbook.steps) + 1)]


def _judged_alone(step: Any) -> bool:
    from migrator.stepkit.registry import get_action

    return not get_action(step.action.name).implied


@pytest.mark.parametrize(("name", "cut"), CUTS, ids=[f"{n}-after-{c}" for n, c in CUTS])
def test_a_hand_begun_migration_is_adopted_at_every_cut_point(name: str, cut: int) -> None:
    shard, loaded, original = moved(name, cut)
    cut = reached(shard, loaded, original, cut)
    plan = plan_at(shard, loaded, None)
    assert not plan.conflicts
    steps = loaded.playbook.steps
    done = {s.id for s in plan.steps if s.status == "done"}
    taken = {s.id for s in steps[:cut]
             # nothing on the shard shows an operator's answer or the Morays (none listed)
             if not _judged_alone(s) and s.done_checks}
    implied_by_later = {s.id for s in steps[:cut] if not _judged_alone(s)
                        and any(t.done_checks for t in steps[steps.index(s) + 1:cut])}
    assert done >= taken | implied_by_later
    assert not done & {s.id for s in steps[cut:]}, plan.steps
    # every reprovision the cut took is done: adopting never reprovisions a zone twice
    for step in steps[:cut]:
        if step.action.name == "reprovision":
            assert step.id in done


@pytest.mark.parametrize(("name", "cut"), CUTS, ids=[f"{n}-after-{c}" for n, c in CUTS])
def test_a_journaled_migration_resumes_at_every_cut_point(name: str, cut: int) -> None:
    shard, loaded, original = moved(name, cut)
    steps = loaded.playbook.steps
    journal = journal_for(loaded, original, [s.id for s in steps[:cut]])
    cut = reached(shard, loaded, original, cut)
    plan = plan_at(shard, loaded, journal)
    assert not plan.conflicts
    assert [s.id for s in plan.steps if s.status == "done"] == [s.id for s in steps[:cut]]


@pytest.mark.parametrize(("name", "cut"), CUTS, ids=[f"{n}-after-{c}" for n, c in CUTS])
def test_a_journal_that_lost_its_last_stamps_still_finds_the_position(name: str,
                                                                      cut: int) -> None:
    """Killed after the action, before the stamp: the journal is one or more steps behind
    the shard; the shard's effects still place the run."""
    shard, loaded, original = moved(name, cut)
    steps = loaded.playbook.steps
    journal = journal_for(loaded, original, [s.id for s in steps[:max(cut - 2, 0)]])
    cut = reached(shard, loaded, original, cut)
    plan = plan_at(shard, loaded, journal)
    done = {s.id for s in plan.steps if s.status == "done"}
    assert not done & {s.id for s in steps[cut:]}
    for step in steps[:cut]:
        if step.action.name == "reprovision":
            assert step.id in done


def test_unfrozen_state_implies_the_sync_was_reprovisioned_although_not_frozen() -> None:
    shard, loaded, _ = moved("three-node", 5)  # up to and with the unfreeze
    plan = plan_at(shard, loaded, None)
    by_id = {s.id: s for s in plan.steps}
    assert by_id["reprovision-sync"].status == "done" and by_id["reprovision-sync"].implied
    assert "implied by step unfreeze" in by_id["reprovision-sync"].reason
    assert by_id["reprovision-primary"].status == "pending"


def test_a_later_step_done_before_an_earlier_one_is_a_conflict() -> None:
    """Unfrozen by hand while the sync still runs v1: refused, not skipped."""
    shard, loaded, _original = moved("three-node", 3)  # async, backfill done
    shard.write({k: v for k, v in (shard.state or {}).items() if k != "freeze"})
    plan = plan_at(shard, loaded, None)
    assert plan.conflicts and "reprovision-sync was not done" in plan.conflicts[0]
    assert "reports 1.0.0" in plan.conflicts[0]
    assert {s.id: s.status for s in plan.steps}["reprovision-sync"] == "pending"


@pytest.mark.parametrize("name", ["three-node", "two-node"])
def test_after_a_rollback_an_old_backfill_record_does_not_count(name: str) -> None:
    """Migrated up to the backfill, rolled back (zones back at v1, /state deleted): the
    next run starts again from the beginning."""
    shard, loaded, original = moved(name, loaded_steps_through(name, "backfill"))
    for zone in shard.versions:
        shard.versions[zone] = OLD
        shard.restart(ZONES.index(zone))
    shard.apply(type("S", (), {"action": type("A", (), {"name": "delete_state"})()})(),
                original)
    plan = plan_at(shard, loaded, None)
    assert [s.id for s in plan.steps if s.status == "done"] == []
    backfill = {s.id: s for s in plan.steps}["backfill"]
    assert "rolled back does not count" in backfill.reason
    # ... and after a new backfill, only the new record counts
    for step in loaded.playbook.steps[:loaded_steps_through(name, "backfill")]:
        shard.apply(step, capture(shard.snapshot()))
    again = plan_at(shard, loaded, None)
    assert {s.id: s.status for s in again.steps}["backfill"] == "done"
    assert len(shard.history) == 2 and shard.state_czxid == shard.history[1].czxid


def loaded_steps_through(name: str, step_id: str) -> int:
    ids = [s.id for s in catalog.resolve(name).playbook.steps]
    return ids.index(step_id) + 1


# ---- the pure position function --------------------------------------------------------

facts = st.lists(
    st.builds(StepFacts, st.text("abcdef", min_size=1, max_size=3), journal_done=st.booleans(),
              held=st.booleans(), implied_ok=st.booleans(),
              persistent_failed=st.sampled_from([(), ("zone reports 1.0.0",)])),
    min_size=1, max_size=8,
)


@given(facts)
def test_done_steps_form_a_prefix_and_evidence_never_moves_it_back(steps: list[StepFacts]
                                                                   ) -> None:
    clean = [replace(s, persistent_failed=()) for s in steps]
    where = position(clean)
    implicable = [p.done for p, s in zip(where.steps, clean, strict=True) if s.implied_ok]
    assert implicable == sorted(implicable, reverse=True), "done steps are a prefix"
    assert not where.conflicts
    for index, step in enumerate(clean):
        if step.held or step.journal_done:
            assert where.steps[index].done
        # one more piece of evidence never undoes a done step
        more = position([*clean[:index], replace(step, held=True), *clean[index + 1:]])
        assert all(b.done for a, b in zip(where.steps, more.steps, strict=True) if a.done)


@given(facts)
def test_a_persistent_failure_below_the_position_is_a_conflict_never_done(
        steps: list[StepFacts]) -> None:
    where = position(steps)
    for placed, step in zip(where.steps, steps, strict=True):
        if placed.how == "implied":
            assert not step.persistent_failed
        if step.persistent_failed and not (step.held or step.journal_done):
            assert not placed.done
    rolled = position(steps, imply=False)
    assert all(p.how != "implied" for p in rolled.steps)
