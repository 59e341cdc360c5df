"""The planner: snapshot + playbook + journal (+ what the done-checks saw) -> a plan.

Pure: it performs no I/O. The caller evaluates each step's ``done_when``
checks once (timeout 0) and passes what they saw as ``observed``; the planner
decides, for every step, whether it is done (the journal says so, its
done-checks already hold, or, in a migration, a later step's effect holds: see
``migrator.engine.position``), which zones it touches, what it would write to
ZooKeeper (a diff against the znodes as they are, carried forward through the
steps before it), and what the run risks. ``migrator plan`` prints this;
``migrator run`` executes it; ``--out`` saves it with the facts it was
computed from so ``--plan`` can refuse a stale one.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from migrator.cluster.history import HistoryRecord
from migrator.cluster.original import OriginalTopology, capture, reconstruct
from migrator.cluster.shard import MODE_BACKFILLED_FROZEN, MODE_MIGRATED, ShardSnapshot
from migrator.cluster.state import ClusterState, compact_json
from migrator.cluster.writability import Outage, ShardModel, Timing
from migrator.engine import asking
from migrator.engine.journal import Journal
from migrator.engine.outage import StepSpec, assess
from migrator.engine.position import StepFacts, position
from migrator.errors import BadInput, UnexpectedTopology
from migrator.playbook.loader import LoadedPlaybook
from migrator.stepkit.registry import Outcome, get_action, get_check
from migrator.stepkit.schema import CheckRef, Step
from migrator.stepkit.writes import ProposedWrite
from migrator.steps import shard_rules as rules


@dataclass(frozen=True)
class ClusterFacts:
    """What a plan was computed from; a saved plan is stale when these differ."""

    election: tuple[str, ...]
    state_version: int | None
    state_digest: str | None
    done_steps: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "election": list(self.election),
            "stateVersion": self.state_version,
            "stateDigest": self.state_digest,
            "doneSteps": list(self.done_steps),
        }

    @staticmethod
    def from_json(doc: Mapping[str, Any]) -> ClusterFacts:
        return ClusterFacts(
            tuple(doc["election"]), doc.get("stateVersion"), doc.get("stateDigest"),
            tuple(doc.get("doneSteps") or ()),
        )

    def differences(self, now: ClusterFacts) -> list[str]:
        out = []
        if self.election != now.election:
            out.append(f"the election was [{', '.join(self.election)}] and is now "
                       f"[{', '.join(now.election)}]")
        if (self.state_version, self.state_digest) != (now.state_version, now.state_digest):
            was = "absent" if self.state_digest is None else f"at version {self.state_version}"
            is_ = "absent" if now.state_digest is None else f"at version {now.state_version}"
            out.append(f"/state was {was} and is now {is_}")
        if self.done_steps != now.done_steps:
            out.append(f"the journal's done steps were [{', '.join(self.done_steps)}] and are "
                       f"now [{', '.join(now.done_steps)}]")
        return out


def inventory_digest(inventory: Any) -> str | None:
    """A digest of the inventory as loaded (its validated data, paths resolved), or None
    when the command ran without one (``--zk``/``--shard``)."""
    if inventory is None:
        return None
    canonical = json.dumps(inventory.dump(), sort_keys=True, separators=(",", ":"),
                           ensure_ascii=True)
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def state_digest(state: ClusterState | None) -> str | None:
    if state is None:
        return None
    return "sha256:" + hashlib.sha256(compact_json(state.document)).hexdigest()


def facts_of(snapshot: ShardSnapshot, done_steps: list[str]) -> ClusterFacts:
    return ClusterFacts(
        tuple(n.name for n in snapshot.topology.nodes),
        snapshot.state_version,
        state_digest(snapshot.state),
        tuple(done_steps),
    )


# A step that takes no zone down (a check, a ZooKeeper write and its verification) takes
# a few seconds; the estimate of a whole run counts this much for each.
SECONDS_PER_OTHER_STEP = 5.0


@dataclass(frozen=True)
class PlannedStep:
    """One step of a plan, resolved against the cluster: zones, the write it would make, status."""

    id: str
    title: str
    explain: str
    zones: dict[str, str]  # original role -> zone id
    preconditions: list[str]
    action: str
    verify: list[str]
    write: ProposedWrite | None
    status: str  # done, pending, resume (interrupted in a previous run)
    reason: str  # why done / what resuming means
    confirm: str
    outage: bool
    implied: bool = False  # done because a later step's effect holds
    takes_zone_down: bool = False  # its action takes a zone down (a reprovision)
    asks: str = "none"  # the question the run asks: none, yes (y/n) or typed (asking.asks)
    outage_detail: Outage | None = None
    # the same checks and action in words, for people (``describe_ref``); not in the
    # JSON, which keeps the machine form above (empty: people see the machine form)
    preconditions_words: list[str] = field(default_factory=list)
    action_words: str = ""
    verify_words: list[str] = field(default_factory=list)
    # what the action will do on this shard, with this inventory, as the run prints it
    # (a reprovision: its zone, the image and the exact command, and where it runs);
    # None offline or for an action that does not describe itself
    does: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "explain": self.explain,
            "zones": self.zones,
            "preconditions": self.preconditions,
            "action": self.action,
            "verify": self.verify,
            "write": None if self.write is None else self.write.to_json(),
            "status": self.status,
            "reason": self.reason,
            "confirm": self.confirm,
            "outage": self.outage,
            "implied": self.implied,
            "asks": self.asks,
            "does": self.does,
            "outageDetail": None if self.outage_detail is None else self.outage_detail.to_json(),
        }


@dataclass(frozen=True)
class Plan:
    """The resolved plan: every step, the facts it rests on, its risks."""

    shard: str
    playbook: str
    playbook_digest: str
    choice: str  # why this playbook
    original: OriginalTopology
    steps: list[PlannedStep]
    risks: list[str]
    notes: list[str]
    facts: ClusterFacts
    tradeoff: str | None = None
    alternatives: list[str] = field(default_factory=list)
    # the shard is past a step that was not done (out of order): a run refuses
    conflicts: list[str] = field(default_factory=list)
    timing: Timing = field(default_factory=Timing)
    inventory_digest: str | None = None

    @property
    def pending(self) -> list[PlannedStep]:
        return [s for s in self.steps if s.status != "done"]

    @property
    def outages(self) -> list[PlannedStep]:
        """The steps still to run that stop the shard's writes."""
        return [s for s in self.pending if s.outage_detail is not None]

    @property
    def writes(self) -> list[PlannedStep]:
        return [s for s in self.pending if s.write is not None]

    @property
    def complete(self) -> bool:
        return not self.pending

    @property
    def run_estimate(self) -> float:
        """About how long the run's steps take, the operator's answers left out: each
        pending step that takes a zone down (a reprovision) for the plan's reprovision
        figure, and every other pending step for a few seconds of checks and writes."""
        seconds = 0.0
        for step in self.pending:
            seconds += (self.timing.reprovision if step.takes_zone_down
                        else SECONDS_PER_OTHER_STEP)
        return seconds

    def to_json(self) -> dict[str, Any]:
        return {
            "shard": self.shard,
            "playbook": self.playbook,
            "playbookDigest": self.playbook_digest,
            "inventoryDigest": self.inventory_digest,
            "choice": self.choice,
            "original": self.original.to_json(),
            "steps": [s.to_json() for s in self.steps],
            "risks": self.risks,
            "notes": self.notes,
            "facts": self.facts.to_json(),
            "tradeoff": self.tradeoff,
            "alternatives": self.alternatives,
            "conflicts": self.conflicts,
            "complete": self.complete,
            "runEstimateSeconds": self.run_estimate,
            "outages": {
                "timing": {"sessionTimeout": self.timing.session_timeout,
                           "reprovision": self.timing.reprovision,
                           "source": self.timing.source,
                           "sessionSource": self.timing.session_source},
                "steps": [s.id for s in self.outages],
                "totalEstimateSeconds": sum(s.outage_detail.seconds for s in self.outages
                                            if s.outage_detail is not None),
            },
        }


def resolve_original(
    snapshot: ShardSnapshot, history: list[HistoryRecord], journal: Journal | None
) -> tuple[OriginalTopology, list[str]]:
    """The journal's topology; else the election (no /state); else the backfill record."""
    if journal is not None:
        return journal.original, []
    if snapshot.state is None:
        return capture(snapshot), []
    # the backfill of the current attempt: one of an attempt rolled back says nothing
    found = reconstruct(snapshot.shard, rules.attempt_history(history, snapshot))
    if found is None:
        raise UnexpectedTopology(
            f"Shard {snapshot.shard} has a /state (mode {snapshot.mode}) but no migration "
            "journal, and its history holds no backfill record to tell where it started.",
            "It was migrated by other means; `migrator status` and `migrator history` show "
            "what is there. Nothing here can safely guess the original topology.",
        )
    note = (
        f"Shard {snapshot.shard} was half-migrated without this tool (a /state in mode "
        f"{snapshot.mode}, no journal). The original topology was reconstructed from the "
        "backfill's history record: "
        + ", ".join(f"{p.role} {p.zone_id}" for p in found.peers)
        + ". The run will show it and ask before going on."
    )
    return found, [note]


def check_inventory(original: OriginalTopology, snapshot: ShardSnapshot,
                    inventory_zones: set[str] | None) -> None:
    if inventory_zones is None:
        return
    zones = {p.zone_id for p in original.peers}
    zones |= {str(n.data.get("zoneId")) for n in snapshot.topology.nodes}
    missing = sorted(zones - inventory_zones)
    if missing:
        raise BadInput(
            f"The inventory has no entry for zone(s) {', '.join(missing)}, which the shard "
            f"{snapshot.shard} election or original topology names.",
            "Add every zone of the shard to the inventory's zones (with its ssh target) and "
            "run again.",
        )


def render_ref(ref: CheckRef | Any) -> str:
    """The machine form of a check or action, ``name(key=value, ...)``: what ``plan --json``
    and a saved plan carry (a saved plan binds its steps' actions by it), so it does not
    change. People are shown ``describe_ref``."""
    params = ", ".join(f"{k}={v}" for k, v in (ref.params or {}).items())
    name = ref.check if isinstance(ref, CheckRef) else ref.name
    return f"{name}({params})" if params else name


# Parameters whose value is free text, always shown in double quotes.
_QUOTED = frozenset({"msg", "msg_prefix", "contains", "question", "command"})
# How a parameter is introduced: a zone by its role alone, a record's fields with
# "with", a list the summary already names ("in this order", "the listed events") bare;
# any other parameter by its name, underscores as spaces.
_LABELS = {"zone": "", "zones": "", "order": "", "events": "", "msg": "message",
           "msg_prefix": "message starting", "fields": "with", "argv": "command"}


def describe_ref(ref: CheckRef | Any) -> str:
    """A check or action in words, for ``migrator plan``'s human text (issue 20 §7).

    Decisions:

    * A check the playbook explains (its ``why``) is shown as that sentence: the one
      the run shows while it waits for it.
    * Otherwise it is the registered summary (the first paragraph of the check's or
      action's docstring, which the run shows too), its first letter lower-cased and its
      full stop dropped, then its parameters in words after a colon: a zone by its
      original role ("the original async"), ``morays`` as "the Morays", messages and
      other free text in double quotes, lists joined with commas, a record's fields as
      "with role async, upstream.zoneId the original primary", booleans as yes/no;
      parameters separated by semicolons. Never ``key=value``, never a Python repr:
      ``plan --json`` and saved plans keep the machine form (``render_ref``).
    * The check's name is not shown: its words say what it waits for, and the JSON
      names it.
    """
    why = getattr(ref, "why", None)
    if why:
        return " ".join(str(why).split())
    if isinstance(ref, CheckRef):
        name, registered = ref.check, get_check(ref.check)
    else:
        name, registered = ref.name, get_action(ref.name)
    summary = _lower_first(registered.summary.rstrip(" .") or name.replace("_", " "))
    words = "; ".join(_param_words(k, v) for k, v in (ref.params or {}).items())
    return f"{summary}: {words}" if words else summary


def _lower_first(text: str) -> str:
    """``text`` with its first letter lower-cased, unless it starts an acronym."""
    if len(text) > 1 and text[0].isupper() and not text[1].isupper():
        return text[0].lower() + text[1:]
    return text


def _param_words(name: str, value: Any) -> str:
    label = _LABELS.get(name, name.replace("_", " "))
    if isinstance(value, bool):
        return f"{label or name}: {'yes' if value else 'no'}"
    shown = _value_words(value, quoted=name in _QUOTED)
    return f"{label} {shown}" if label else shown


def _value_words(value: Any, *, quoted: bool = False) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value is None:
        return "none"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, Mapping):
        return ", ".join(f"{k} {_value_words(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return ", ".join(_value_words(v, quoted=quoted) for v in value)
    text = str(value)
    if text == "morays":
        return "the Morays"
    if text.startswith("original_"):
        return "the original " + text.removeprefix("original_").replace("_", " ")
    if quoted or not text or any(c.isspace() for c in text):
        return json.dumps(text, ensure_ascii=False)
    return text


def make_plan(
    snapshot: ShardSnapshot,
    history: list[HistoryRecord],
    loaded: LoadedPlaybook,
    journal: Journal | None,
    observed: Mapping[str, Outcome | None],
    *,
    now: str,
    choice: str = "",
    inventory_zones: set[str] | None = None,
    run_kind: str = "migration",
    timing: Timing | None = None,
    inventory: Any = None,
) -> Plan:
    playbook = loaded.playbook
    original, notes = resolve_original(snapshot, history, journal)
    check_inventory(original, snapshot, inventory_zones)
    run = journal.run(run_kind) if journal is not None else None
    if run is not None and run.playbook_digest != loaded.digest:
        notes.append(
            f"The journal's run used playbook {run.playbook} ({run.playbook_digest}); this "
            f"playbook is {loaded.name} ({loaded.digest}). `run`/`resume` refuse it unless "
            "--accept-playbook-change is given."
        )
    timing = timing or Timing()
    # A migration's model starts from the original topology, so every step is walked; a
    # rollback's starts from the shard as it is now, so the steps already done are in it.
    done_before = set() if run_kind == "migration" else {
        step.id for step in playbook.steps
        if (run is not None and run.step(step.id).status == "done")
        or ((observed.get(step.id) or Outcome(False, "")).ok)}
    outages = assess([StepSpec(step.id, step.action.name, step.action.params,
                               marked=step.outage, skip=step.id in done_before)
                      for step in playbook.steps],
                     _initial_model(snapshot, original, run_kind, loaded.name), timing,
                     _zone_of(original))
    state: ClusterState | None = snapshot.state
    steps: list[PlannedStep] = []
    done_ids: list[str] = []
    where = position([_facts(step, run, observed.get(step.id)) for step in playbook.steps],
                     imply=run_kind == "migration")
    for step, placed, outage in zip(playbook.steps, where.steps, outages, strict=True):
        record = run.step(step.id) if run is not None else None
        seen = observed.get(step.id)
        if placed.how == "journal" and record is not None:
            status, reason = "done", f"done ({record.done_by or 'verified'}, {record.finished})"
        elif placed.how == "held" and seen is not None:
            status, reason = "done", f"already holds: {seen.detail}"
        elif placed.how == "implied":
            status, reason = "done", placed.reason
        elif record is not None and record.status != "pending":
            status = "resume"
            reason = (f"was {record.status} in the last run"
                      + (f" ({record.detail})" if record.detail else "")
                      + "; resume re-checks it and continues")
        else:
            status = "pending"
            reason = seen.detail if seen is not None else "not done yet"
            if placed.reason.startswith("not done although"):
                reason = placed.reason
        write = None
        if status != "done":
            write, state = _predict(step, state, original, snapshot.shard, now)
        else:
            done_ids.append(step.id)
        steps.append(
            PlannedStep(
                id=step.id,
                title=step.title,
                explain=step.explain.strip(),
                zones={r: original.by_role(r).zone_id for r in step.zones if r != "morays"},
                preconditions=[render_ref(r) for r in step.preconditions],
                action=render_ref(step.action),
                verify=[render_ref(r) for r in step.verify],
                write=write,
                status=status,
                reason=reason,
                confirm=step.confirm,
                outage=outage is not None,
                outage_detail=outage,
                implied=placed.how == "implied",
                preconditions_words=[describe_ref(r) for r in step.preconditions],
                action_words=describe_ref(step.action),
                verify_words=[describe_ref(r) for r in step.verify],
                asks=asking.asks(step, outage, get_action(step.action.name)),
                takes_zone_down=get_action(step.action.name).takes_zone_down,
            )
        )
    risks = list(playbook.risks) + _risks(snapshot, playbook.steps, steps)
    if snapshot.mode == MODE_MIGRATED and journal is None and all(s.status == "done"
                                                                   for s in steps):
        notes.append(f"Shard {snapshot.shard} is already migrated; nothing to do.")
    return Plan(
        shard=snapshot.shard,
        playbook=loaded.name,
        playbook_digest=loaded.digest,
        choice=choice,
        original=original,
        steps=steps,
        risks=risks,
        notes=notes,
        facts=facts_of(snapshot, done_ids),
        tradeoff=playbook.tradeoff,
        conflicts=list(where.conflicts),
        timing=timing,
        inventory_digest=inventory_digest(inventory),
    )


def _facts(step: Step, run: Any, seen: Outcome | None) -> StepFacts:
    record = run.step(step.id) if run is not None else None
    failed = tuple(seen.data.get("persistent_failed", ())) if seen and not seen.ok else ()
    return StepFacts(
        step.id,
        journal_done=record is not None and record.status == "done",
        held=seen is not None and seen.ok,
        implied_ok=get_action(step.action.name).implied,
        persistent_failed=tuple(str(x) for x in failed),
    )


def _zone_of(original: OriginalTopology) -> Any:
    def zone_of(role: str) -> str | None:
        try:
            return original.by_role(role).zone_id
        except UnexpectedTopology:
            return None

    return zone_of


def _initial_model(snapshot: ShardSnapshot, original: OriginalTopology, run_kind: str,
                   playbook: str) -> ShardModel:
    """A migration is walked from the original topology, all v1 (the steps done so far
    are walked too, so their effects carry forward); a rollback from the shard as it is,
    every peer v2 except the original primary when its reprovision was not reached."""
    if run_kind == "migration":
        return ShardModel(election=tuple(p.zone_id for p in original.peers))
    election = tuple(str(n.data.get("zoneId")) for n in snapshot.topology.nodes)
    state = snapshot.state
    roles = None
    deposed: tuple[str, ...] = ()
    if state is not None:
        roles = (state.primary.zone_id,
                 *((state.sync.zone_id,) if state.sync is not None else ()),
                 *(p.zone_id for p in state.asyncs))
        deposed = tuple(p.zone_id for p in state.deposed)
    v2 = {p.zone_id for p in original.peers}
    if "before-primary" in playbook:
        v2.discard(original.by_role("original_primary").zone_id)
    return ShardModel(election=election, state=roles,
                      frozen=state is not None and state.freeze is not None,
                      v2=frozenset(v2), deposed=deposed)


def _predict(
    step: Step, state: ClusterState | None, original: OriginalTopology, shard: str, now: str
) -> tuple[ProposedWrite | None, ClusterState | None]:
    """The step's write to /state as its action predicts it (none: it writes nothing
    there), and the state after."""
    registered = get_action(step.action.name)
    if registered.predicts is None:
        return None, state
    params = registered.params.validate(step.action.params)
    return registered.predicts(state, original, params, shard, now)


def _risks(snapshot: ShardSnapshot, steps: list[Step], planned: list[PlannedStep]) -> list[str]:
    risks: list[str] = []
    if snapshot.mode == MODE_BACKFILLED_FROZEN:
        risks.append(
            "The shard is in the mixed [A, [B, C']] window now: if the original primary fails "
            "before the sync is reprovisioned, both the original sync and the original async "
            "believe they are primary, and the original async must be rolled back."
        )
    for step, plan in zip(steps, planned, strict=True):
        if plan.outage_detail is not None and plan.status != "done":
            risks.append(f"Step {step.id} ({step.title}) stops the shard's writes: "
                         f"{plan.outage_detail.cause}; expected: {plan.outage_detail.estimate}. "
                         "It asks you to type the shard name.")
    return risks
