"""Rollback: which playbook, which zones, and why. Pure: data in, data out.

The runbook has two rollback procedures and the design section a third order:

* before the primary is reprovisioned: roll back the current async, then the
  current sync, then delete ``/state``;
* after: record the current topology, disable every sitter, delete ``/state``,
  then roll back the primary, the sync and the async (in that order, so the
  v1 election comes back in the order the shard had);
* when the Morays were upgraded as part of the run, the design section's
  rollback deploys the old Morays first.

Decisions where the runbook is silent:

* "Current" roles are resolved once, when the rollback starts: from ``/state``
  (primary, sync, asyncs, then deposed peers) when it exists, else from the
  election order; original peers found in neither come last so that every
  zone is rolled back. Before the primary's reprovision the original primary
  is always the current primary (it is the one zone never reprovisioned), so
  a v2 zone heading the election cannot escape the rollback. They are
  recorded by the rollback's first step (``record-topology``) and read back
  from the journal on resume, because rolling back a zone changes the live
  roles.
* The playbook files are ordinary, valid playbooks written for the usual
  three-node case (``WRITTEN_FOR``), so `playbooks list|show|validate` treat
  them like any other. ``resolve_playbook`` renames the roles of the steps
  that act on a *current* role (``RENAMED_STEPS``) to the ones found; steps
  that name original roles literally (the before-primary final check: the
  shard's own order always comes back) keep them. It drops the steps (and
  checks, and list entries) naming a role the shard does not have (two- and
  one-node shards), and drops the Moray step unless the Morays were
  upgraded in this run. The result is validated as any playbook, and its
  digest is stable for the same roles, so a resume is not refused as a
  changed playbook.
* The primary counts as reprovisioned when the journal shows its
  reprovision began, or ``/state`` no longer names the original primary in
  generation 0, or lists a deposed peer.
* Morays count as upgraded *in this run* when the journal's ``upgrade-morays``
  step was verified by the run (not found already done) with Morays listed in
  the inventory; with none listed the run cannot know, and says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from migrator.cluster.history import HistoryRecord
from migrator.cluster.original import ROLES, OriginalTopology
from migrator.cluster.shard import ShardSnapshot
from migrator.engine.journal import Journal
from migrator.engine.planner import resolve_original
from migrator.errors import UnexpectedTopology
from migrator.playbook.loader import LoadedPlaybook, load_playbook_text

BEFORE_PRIMARY = "rollback-before-primary"
AFTER_PRIMARY = "rollback-after-primary"
VARIANTS = (BEFORE_PRIMARY, AFTER_PRIMARY)
CURRENT_ROLES = ("current_primary", "current_sync", "current_async")

# The current topology each playbook file is written for (its role names): before the
# primary's reprovision the backfill has made the original async the sync; after it,
# the usual outcome is a takeover by the original async.
WRITTEN_FOR: dict[str, dict[str, str]] = {
    BEFORE_PRIMARY: {"current_primary": "original_primary", "current_sync": "original_async",
                     "current_async": "original_sync"},
    AFTER_PRIMARY: {"current_primary": "original_async", "current_sync": "original_sync",
                    "current_async": "original_primary"},
}
# the steps whose roles mean "current" roles; the others name original roles literally
RENAMED_STEPS: dict[str, frozenset[str]] = {
    BEFORE_PRIMARY: frozenset({"roll-back-async", "roll-back-sync"}),
    AFTER_PRIMARY: frozenset({"roll-back-primary", "roll-back-sync", "roll-back-async",
                              "confirm-v1"}),
}
RECORD_STEP = "record-topology"
MORAY_STEP = "roll-back-morays"
PRIMARY_STEP = "reprovision-primary"  # the migration playbooks' id for it
MORAY_UPGRADE_STEP = "upgrade-morays"
STARTED = ("started", "acting", "verifying", "done")

Roles = dict[str, str | None]


@dataclass(frozen=True)
class RollbackChoice:
    """What ``migrator rollback`` will do, and the sentences that say why."""

    variant: str | None  # None: there is nothing to roll back
    reasons: list[str]
    roles: Roles = field(default_factory=dict)  # current role -> original role (or None)
    morays: bool = False
    original: OriginalTopology | None = None
    resumed: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def nothing(self) -> bool:
        return self.variant is None

    def zones(self) -> dict[str, str | None]:
        """current role -> zone id."""
        if self.original is None:
            return {}
        return {current: None if role is None else self.original.by_role(role).zone_id
                for current, role in self.roles.items()}

    def explanation(self) -> str:
        lines = list(self.reasons)
        if self.variant is not None and self.original is not None:
            shown = ", ".join(
                f"{current.removeprefix('current_')} {zone} ({self.roles[current]})"
                for current, zone in self.zones().items() if zone is not None
            )
            lines.append(f"Current roles when the rollback started: {shown}.")
        return " ".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {
            "variant": self.variant,
            "reasons": self.reasons,
            "roles": self.roles,
            "zones": self.zones(),
            "morays": self.morays,
            "resumed": self.resumed,
            "notes": self.notes,
        }


def current_order(snapshot: ShardSnapshot, original: OriginalTopology,
                  primary_first: bool = False) -> list[str]:
    """Original roles in their current order (primary first); with ``primary_first`` the
    original primary leads whatever the election says (see ``choose``)."""
    by_id = {p.peer_id: p.role for p in original.peers}
    if snapshot.state is not None:
        ids = [peer.id for _, peer in snapshot.state.peers_with_roles()]
    else:
        ids = [n.peer_id for n in snapshot.topology.nodes]
    order: list[str] = []
    for peer_id in ids:
        role = by_id.get(peer_id)
        if role is not None and role not in order:
            order.append(role)
    order.extend(p.role for p in original.peers if p.role not in order)
    if primary_first and "original_primary" in order:
        order.remove("original_primary")
        order.insert(0, "original_primary")
    return order


def current_roles(snapshot: ShardSnapshot, original: OriginalTopology,
                  primary_first: bool = False) -> Roles:
    order = current_order(snapshot, original, primary_first)
    return {current: order[i] if i < len(order) else None
            for i, current in enumerate(CURRENT_ROLES)}


def primary_reprovisioned(
    snapshot: ShardSnapshot, original: OriginalTopology, journal: Journal | None
) -> tuple[bool, str]:
    run = journal.run("migration") if journal is not None else None
    if run is not None and run.step(PRIMARY_STEP).status in STARTED:
        return True, (f"The journal shows the primary's reprovision began (step {PRIMARY_STEP} "
                      f"is {run.step(PRIMARY_STEP).status}).")
    state = snapshot.state
    primary = original.by_role("original_primary")
    if state is not None and state.primary.id != primary.peer_id:
        return True, (f"/state names {state.primary.zone_id} as primary, not the original "
                      f"primary {primary.zone_id}: the primary has been replaced.")
    if state is not None and state.generation >= 1:
        return True, f"/state is at generation {state.generation}: a takeover happened."
    if state is not None and state.deposed:
        return True, "/state lists a deposed peer: a former primary was deposed."
    return False, ("The primary has not been reprovisioned: "
                   + ("there is no /state yet" if state is None else
                      "/state still names the original primary in generation 0")
                   + " and the journal shows no reprovision of it.")


def morays_upgraded(journal: Journal | None) -> tuple[bool, str | None]:
    run = journal.run("migration") if journal is not None else None
    if run is None:
        return False, None
    record = run.step(MORAY_UPGRADE_STEP)
    if record.status != "done" or record.done_by != "verified":
        return False, None
    if not record.outputs.get("morays"):
        return False, ("The run could not check the Morays (the inventory lists none; the "
                       "operator vouched for them). If you upgraded Morays during this run, "
                       "deploy the old ones before this rollback, as the design section orders.")
    return True, ("The Morays were upgraded as part of this run (the Morays listed in the "
                  f"inventory were checked and waited for by step {MORAY_UPGRADE_STEP}), so, as "
                  "the runbook's design section orders, the old Morays are deployed first.")


def choose(
    snapshot: ShardSnapshot, history: list[HistoryRecord], journal: Journal | None
) -> RollbackChoice:
    """The rollback to run; ``variant`` None when nothing was migrated."""
    if journal is None and snapshot.state is None:
        return RollbackChoice(None, [
            f"Shard {snapshot.shard} has no migration journal and no /state: nothing was "
            "migrated by this tool, so there is nothing to roll back."
        ])
    original, notes = resolve_original(snapshot, history, journal)
    if len(original.peers) > len(ROLES):
        raise UnexpectedTopology(
            f"Shard {snapshot.shard} had {len(original.peers)} peers; the rollback playbooks "
            f"cover shards of 1 to {len(ROLES)} peers.",
            "Roll the extra asyncs back by hand first (reprovision them to the old image), "
            "then run `migrator rollback` for the rest.",
        )
    resumed = _resumed(journal, original)
    if resumed is not None:
        return RollbackChoice(
            resumed[0], [f"Resuming the rollback in the journal ({resumed[0]}) with the roles "
                         "it recorded when it started."],
            resumed[1], resumed[2], original, True, notes,
        )
    after, why = primary_reprovisioned(snapshot, original, journal)
    morays, moray_why = morays_upgraded(journal)
    variant = AFTER_PRIMARY if after else BEFORE_PRIMARY
    # the roles this shard has, in the order each variant rolls them back (a one-node
    # shard has no sync or async, a two-node one no async)
    count = len(original.peers)
    after_order = ["the primary", "the sync", "the async"][:count]
    before_order = ["the current async", "the current sync"][3 - count:] if count > 1 else []
    reasons = [why, f"So: {variant}" + (
        " (record the topology, disable every sitter, delete /state, then roll back "
        + _listed(after_order) + ")." if after else
        " (" + "".join(f"roll back {r}, then " for r in before_order) + "delete /state).")]
    if moray_why:
        reasons.append(moray_why)
    # Before the primary's reprovision the original primary is the only zone never
    # reprovisioned, so every other zone is one the rollback must cover, whatever order
    # the election shows: after a ZooKeeper pause or sitter restarts a v2 zone can head
    # it (no /state yet), and ordering by it would give that zone the primary's role,
    # which this variant never rolls back. Each roll-back step is done only when its zone
    # reports the old image and is in the election, so the zones' versions decide.
    return RollbackChoice(variant, reasons,
                          current_roles(snapshot, original, primary_first=not after),
                          morays, original, False, notes)


def _listed(items: list[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _resumed(journal: Journal | None,
             original: OriginalTopology) -> tuple[str, Roles, bool] | None:
    run = journal.run("rollback") if journal is not None else None
    if run is None or run.status == "done" or run.playbook not in VARIANTS:
        return None
    outputs = run.step(RECORD_STEP).outputs
    roles = outputs.get("roles")
    known = {p.role for p in original.peers}
    if not isinstance(roles, dict) or set(roles) != set(CURRENT_ROLES) or not all(
        value is None or value in known for value in roles.values()
    ):
        return None  # stopped before it recorded them: nothing was rolled back yet
    return run.playbook, {k: roles[k] for k in CURRENT_ROLES}, bool(outputs.get("morays"))


def resolve_playbook(choice: RollbackChoice, template: bytes, source: str) -> LoadedPlaybook:
    """The playbook file rewritten for the roles found, then validated as any playbook."""
    assert choice.variant is not None and choice.original is not None
    document = yaml.safe_load(template.decode("utf-8"))
    written = WRITTEN_FOR[choice.variant]
    rename: dict[str, str | None] = {written[c]: choice.roles.get(c) for c in CURRENT_ROLES}
    existing = {p.role for p in choice.original.peers}
    literal: dict[str, str | None] = {r: r if r in existing else None for r in ROLES}
    steps = []
    for step in document["steps"]:
        if step["id"] == MORAY_STEP and not choice.morays:
            continue
        if step["id"] == RECORD_STEP:
            step["action"]["params"] = {**step["action"]["params"], "roles": {},
                                        "morays": choice.morays}
        renamed = _rename(step, rename if step["id"] in RENAMED_STEPS[choice.variant]
                          else literal)
        if _names_missing(renamed.get("zones")) or _names_missing(renamed.get("action")):
            continue  # a role this shard does not have: the step has nothing to act on
        for key in ("preconditions", "verify", "done_when"):
            if renamed.get(key) is not None:
                renamed[key] = [ref for ref in renamed[key] if not _names_missing(ref)]
        steps.append(renamed)
    document["steps"] = steps
    document["peers"] = len(choice.original.peers)
    for step in steps:
        if step["id"] == RECORD_STEP:  # after renaming: these values are the answer itself
            step["action"]["params"]["roles"] = dict(choice.roles)
    text = yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=100)
    return load_playbook_text(text.encode("utf-8"),
                              f"{source} (resolved for the current roles)")


_MISSING = object()


def _rename(value: Any, rename: dict[str, str | None]) -> Any:
    if isinstance(value, str):
        if value in rename:
            target = rename[value]
            return _MISSING if target is None else target
        return value
    if isinstance(value, dict):
        return {k: _rename(v, rename) for k, v in value.items()}
    if isinstance(value, list):
        renamed = [_rename(v, rename) for v in value]
        # in a list (an order, a set of zones) a missing role is simply left out
        return [v for v in renamed if v is not _MISSING]
    return value


def _names_missing(value: Any) -> bool:
    if value is _MISSING:
        return True
    if isinstance(value, dict):
        return any(_names_missing(v) for v in value.values())
    return False


def deposed_role(snapshot: ShardSnapshot, original: OriginalTopology) -> str | None:
    """The original role of the first peer /state lists as deposed, if any."""
    if snapshot.state is None:
        return None
    ids = [p.id for p in snapshot.state.deposed]
    for peer_id in ids:
        for peer in original.peers:
            if peer.peer_id == peer_id:
                return peer.role
    return None


DEPOSED_EXPLANATION = (
    "Under current manatee a primary that comes back after another peer took over "
    "assumes the role \"deposed\": /state lists it under `deposed`, it runs no database "
    "and nothing replicates to it, so the shard has one copy fewer than it should "
    "(the runbook's 2014 output shows an older manatee rejoining it as an async). "
    "`manatee-adm rebuild` in that zone discards its stale data, removes it from "
    "`deposed` and lets it rejoin as an async."
)


def resolve_rebuild(template: bytes, source: str, role: str, peers: int) -> LoadedPlaybook:
    """The rebuild playbook for the deposed peer holding ``role`` (written for the
    original primary, the usual case)."""

    document = yaml.safe_load(template.decode("utf-8"))
    document["steps"] = [_rename(step, {"original_primary": role})
                         for step in document["steps"]]
    document["peers"] = peers
    text = yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=100)
    return load_playbook_text(text.encode("utf-8"), f"{source} (for the deposed {role})")
