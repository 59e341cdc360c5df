"""The pre-flight gate: everything a run will need, checked before its first change.

``migrator run``, ``resume`` and ``rollback`` gather, before they take the lock or
write anything (no lock node, no journal, no reprovision), what
``migrator inventory check`` sees of every zone and Moray (route, host key,
version, sitter log; reused from ``migrator.remote.probe``) plus: the sitter
running (``commands.sitter_status`` says ``online``) and in the election, the
commands the playbook will call present in the zones (``command -v``) and on
this machine (a ``run_on: local`` reprovision), ZooKeeper answering with the
shard, and the run lock free. ``decide`` (pure) turns those facts into one
verdict and a table; any failure refuses the whole run (exit 3) with the table,
having changed nothing. ``migrator plan`` shows the same table and exits 3 when a
run would refuse.

Decisions where the issue is silent:

* A zone that a step of this run left *in flight* (``acting`` or
  ``verifying`` in the journal: its reprovision may be under way) is expected to
  be down or out of the election; its problems are shown as notes, not
  refusals, so that ``resume`` can see the step through.
* For a rollback, a sitter that is not running or not in the election is a
  note, not a refusal: rolling such a zone back is what a rollback is for (and
  the after-primary rollback disables every sitter itself). Routes, host keys,
  versions, logs, commands, ZooKeeper and the lock are still required.
* A zone whose sitter is down, or out of the election, because /state is one its
  peer refuses (it is the primary of a /state with no sync and without
  oneNodeWriteMode: `manatee-adm state-backfill` by hand on a one-node shard) is
  a note, not a refusal: the peer dies on that state until a write corrects it,
  and the one-node playbook's last step is that write (its check then says to
  `svcadm clear` the sitter). Refusing would leave no way forward: clearing the
  sitter first only kills it again.
* A sitter log, zones root or zone root that does not exist (the probe's one
  round trip to the log says so; ``migrator.remote.probe._log``) refuses the run,
  naming the zone and the path: every verification reads that log. The log of a
  sitter that is not running is a sitter problem, judged as above (a rollback, a
  step in flight); with the sitter online, a missing log is a wrong path.
* A lock held only by migrators of this machine that no longer exist is not a
  refusal: the run removes their stale node when it takes the lock (see
  ``migrator.engine.lock``).

The probes of all zones run concurrently (one pool, bounded by the connect and
command timeouts), while the ZooKeeper reads run alongside; the gate runs once
per command, never per step. A zone whose probe found a problem (other than a
host key) is probed once more before the problem counts: one channel dropped on
a busy machine must not refuse a run, while a zone that is really down fails
twice.
"""

from __future__ import annotations

import shlex
import shutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from migrator.engine.lock import LockHeld, is_dead_local_holder, read_holders
from migrator.errors import MigratorError, Refused
from migrator.remote.probe import LOG_MISSING_PROBLEM, probe_all
from migrator.stepkit.registry import Registered, get_action, get_check
from migrator.zk import reads

if TYPE_CHECKING:
    from migrator.engine.lock import LockHolder
    from migrator.remote.probe import ZoneReport

SITTER_PROBLEM = "its sitter is not running"

# the inventory's commands every run calls in the zones: status, rebuild and the
# watchdog (manatee-adm); every log read (tail)
ALWAYS = ("manatee_adm", "tail")


@dataclass(frozen=True)
class Row:
    """One line of the table: a zone, a Moray, ZooKeeper, the lock, this machine or the
    inventory."""

    subject: str
    kind: str  # manatee | moray | zookeeper | lock | local | inventory
    ok: bool
    detail: str
    note: bool = False  # a problem shown but not refusing (see the module docstring)
    report: ZoneReport | None = None
    election: str = "-"

    def to_json(self) -> dict[str, Any]:
        return {"subject": self.subject, "kind": self.kind, "ok": self.ok,
                "note": self.note, "detail": self.detail, "election": self.election,
                "zone": None if self.report is None else self.report.to_json()}


@dataclass(frozen=True)
class Facts:
    """What the gate saw (gathered by ``gather``; judged by ``decide``)."""

    zones: list[ZoneReport]
    election_zones: frozenset[str] | None  # None: the election could not be read
    zookeeper_problem: str | None
    zookeeper_detail: str
    holders: list[LockHolder]
    identity: str
    dead_holders: frozenset[str] = frozenset()
    local_missing: list[str] = field(default_factory=list)
    inventory_missing: list[str] = field(default_factory=list)  # what steps need of it
    in_flight: dict[str, str] = field(default_factory=dict)  # zone -> the step in flight
    lenient_sitters: bool = False  # a rollback
    dies_on_state: frozenset[str] = frozenset()  # zones /state kills (see the docstring)


@dataclass(frozen=True)
class Verdict:
    ok: bool
    rows: list[Row]
    problems: list[str]

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "problems": self.problems,
                "rows": [row.to_json() for row in self.rows]}

    def refusal(self, verb: str) -> Refused:
        listed = "; ".join(self.problems)
        kind = LockHeld if any(r.kind == "lock" and not r.ok for r in self.rows) else Refused
        return kind(
            f"Pre-flight check failed, so `migrator {verb}` changed nothing (no lock, no "
            f"journal, no write): {listed}.",
            "Fix what the table above shows (`migrator inventory check` re-checks the zones), "
            f"then run `migrator {verb}` again.",
        )


def decide(facts: Facts) -> Verdict:
    """Pure: every fact judged; the run may start only when nothing refuses."""
    rows: list[Row] = []
    problems: list[str] = []
    for report in facts.zones:
        rows.append(_zone_row(facts, report, problems))
    if facts.zookeeper_problem is not None:
        problems.append(f"ZooKeeper: {facts.zookeeper_problem}")
        rows.append(Row("zookeeper", "zookeeper", False, facts.zookeeper_problem))
    else:
        rows.append(Row("zookeeper", "zookeeper", True, facts.zookeeper_detail))
    others = [h for h in facts.holders if h.identity != facts.identity]
    live = [h for h in others if h.identity not in facts.dead_holders]
    if live:
        detail = (f"the shard is being migrated by {live[0].identity} (lock node "
                  f"{live[0].node}); wait for that run, or `--break-lock` if it is surely dead")
        problems.append(detail)
        rows.append(Row("lock", "lock", False, detail))
    elif others:
        rows.append(Row("lock", "lock", True, "held only by "
                        + ", ".join(h.identity for h in others)
                        + ", no longer running on this machine: its stale node will be "
                        "removed", note=True))
    else:
        rows.append(Row("lock", "lock", True, "free"))
    if facts.local_missing:
        detail = "missing on this machine: " + ", ".join(facts.local_missing)
        problems.append(detail)
        rows.append(Row("this machine", "local", False, detail))
    for detail in facts.inventory_missing:
        problems.append(detail)
        rows.append(Row("inventory", "inventory", False, detail))
    return Verdict(not problems, rows, problems)


def _sitter_side(report: ZoneReport, problem: str) -> bool:
    """A problem of the sitter's state, not of how the zone is reached or described: the
    sitter not running, or its log missing while it is not running (see the module
    docstring)."""
    return problem.startswith(SITTER_PROBLEM) or (
        problem.startswith(LOG_MISSING_PROBLEM) and report.sitter not in (None, "online"))


def _zone_row(facts: Facts, report: ZoneReport, problems: list[str]) -> Row:
    route = [p for p in report.problems if not _sitter_side(report, p)]
    sitter = [p for p in report.problems if _sitter_side(report, p)]
    election = "-"
    if report.kind == "manatee":
        if facts.election_zones is None:
            election = "?"
        elif report.zone in facts.election_zones:
            election = "yes"
        else:
            election = "NO"
            sitter.append("it is not in the election")
    flight = facts.in_flight.get(report.zone)
    found = route + sitter
    if not found:
        return Row(report.zone, report.kind, True, "ok", report=report, election=election)
    detail = "; ".join(found)
    if flight is not None:
        return Row(report.zone, report.kind, True, f"expected while step {flight} is in "
                   f"flight: {detail}", note=True, report=report, election=election)
    if not route and report.zone in facts.dies_on_state:
        return Row(report.zone, report.kind, True, f"{detail} (expected: /state has no sync "
                   "and no oneNodeWriteMode, which its peer refuses; the run corrects it)",
                   note=True, report=report, election=election)
    if not route and facts.lenient_sitters:
        return Row(report.zone, report.kind, True, f"{detail} (the rollback acts on it)",
                   note=True, report=report, election=election)
    problems.append(f"{report.kind} zone {report.zone}: {detail}")
    return Row(report.zone, report.kind, False, detail, report=report, election=election)


# ---- effects ------------------------------------------------------------------------


def zone_words(inventory: Any, loaded: Any) -> tuple[str, ...]:
    """The first word of every command the playbook will run in the zones: the ones every
    run calls, and the ones its checks and actions declare (``zone_commands``)."""
    words: list[str] = []
    for name in ALWAYS:
        _add_first_word(words, getattr(inventory.commands, name, None))
    for registered, params in _uses(loaded):
        for text in registered.zone_commands(inventory, params):
            _add_first_word(words, text)
    return tuple(words)


def _uses(loaded: Any) -> list[tuple[Registered, Any]]:
    """Every check and action the playbook's steps name, with its validated parameters."""
    found = []
    for step in getattr(getattr(loaded, "playbook", None), "steps", []) or []:
        registered = get_action(step.action.name)
        found.append((registered, registered.params.validate(step.action.params)))
        for ref in (*step.preconditions, *step.verify, *step.done_checks):
            check = get_check(ref.check)
            found.append((check, check.params.validate(ref.params)))
    return found


def _add_first_word(words: list[str], text: object) -> None:
    if not isinstance(text, str) or not text.strip():
        return
    try:
        word = shlex.split(text)[0]
    except (ValueError, IndexError):
        return
    if word not in words:
        words.append(word)


def local_missing(inventory: Any, loaded: Any) -> list[str]:
    """The programs the playbook's actions run on this machine (``local_commands``, a
    ``run_on: local`` reprovision) that this machine lacks."""
    missing: list[str] = []
    for registered, params in _uses(loaded):
        for text in registered.local_commands(inventory, params):
            word = shlex.split(text)[0]
            if not shutil.which(word) and word not in missing:
                missing.append(word)
    return missing


def inventory_missing(inventory: Any, loaded: Any) -> list[str]:
    """What the playbook's actions need of the inventory that it does not give, each
    said once (``inventory_needs`` in ``migrator.stepkit.registry``)."""
    found: list[str] = []
    for registered, params in _uses(loaded):
        for detail in registered.inventory_needs(inventory, params):
            if detail not in found:
                found.append(detail)
    return found


def refused_by_state(state: Any) -> frozenset[str]:
    """Pure: the zone whose peer dies on ``state`` (a ``ClusterState`` or None): the
    primary of a state with no sync outside one-node-write mode."""
    if state is None or state.sync is not None or state.one_node_write_mode:
        return frozenset()
    return frozenset({state.primary.zone_id})


def in_flight_zones(journal: Any, kind: str, loaded: Any, original: Any) -> dict[str, str]:
    """Zones named by steps of this run left ``acting`` or ``verifying``."""
    run = journal.run(kind) if journal is not None else None
    if run is None or run.status == "done":
        return {}
    found: dict[str, str] = {}
    for step in loaded.playbook.steps:
        if run.step(step.id).status not in ("acting", "verifying"):
            continue
        for ref in step.zones or []:
            if ref.startswith("original_"):
                try:
                    found[original.by_role(ref).zone_id] = step.id
                except Exception:  # a role this topology lacks: nothing to exempt
                    continue
    return found


def gather(client: Any, shard: str, root: str, remote: Any, inventory: Any, loaded: Any,
           journal: Any, original: Any, kind: str, identity: str,
           snapshot: Any = None) -> Facts:
    """Probe every zone (concurrently, in a thread) while reading ZooKeeper; reads only.

    ``snapshot``: the shard as the caller has just read it (ZooKeeper answered),
    so it is not read again."""

    words = zone_words(inventory, loaded) if inventory is not None else ()
    with ThreadPoolExecutor(max_workers=1) as pool:
        probing = (pool.submit(probe_all, remote, inventory, words)
                   if remote is not None and inventory is not None else None)
        election: frozenset[str] | None = None
        dies: frozenset[str] = frozenset()
        problem: str | None = None
        detail = ""
        try:
            if snapshot is None:
                snapshot = reads.read_shard(client, shard)
            election = frozenset(str(n.data.get("zoneId")) for n in snapshot.topology.nodes
                                 if n.data.get("zoneId"))
            dies = refused_by_state(snapshot.state)
            timeout = getattr(client, "_session_timeout", 0) / 1000.0
            detail = (f"answers; shard {shard} has {len(snapshot.topology.nodes)} peer(s) in "
                      f"the election (this tool's session timeout {timeout:g} s)")
        except MigratorError as exc:
            problem = exc.message
        except Exception as exc:  # a ZooKeeper fault: it is what the gate reports
            problem = f"{type(exc).__name__}: {exc}"
        holders = read_holders(client, shard, root) if problem is None else []
        zones = probing.result() if probing is not None else []
    return Facts(
        zones=zones, election_zones=election, zookeeper_problem=problem,
        zookeeper_detail=detail, holders=holders, identity=identity,
        dead_holders=frozenset(h.identity for h in holders if is_dead_local_holder(h.identity)),
        local_missing=local_missing(inventory, loaded) if inventory is not None else [],
        inventory_missing=(inventory_missing(inventory, loaded) if inventory is not None
                           else []),
        in_flight=in_flight_zones(journal, kind, loaded, original) if original else {},
        lenient_sitters=kind == "rollback", dies_on_state=dies,
    )


