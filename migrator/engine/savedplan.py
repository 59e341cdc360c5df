"""Saved plans, as Terraform does them: ``plan --out F`` then ``run --plan F``.

The file holds the resolved plan with the cluster facts it was computed from
(election node names, /state version and digest, the journal's done steps),
the playbook's digest and the inventory's (its validated data), and a digest
over all of it (``digest``), so an edited file is refused when it is loaded.

A saved plan binds the run. Before its first action (and before it takes the
shard's lock, so a refused run leaves nothing in ZooKeeper), `run --plan`
compares the whole plan it computes now with the saved one and refuses (exit
3, nothing done), naming every difference, when the cluster no longer matches
the facts, the playbook or the inventory changed, or any step differs: a step
added, removed or reordered, or one whose status, action, zones, confirmation,
checks (preconditions and verifications) or write (the freeze date aside,
since it is the time of the write) is not the same. Each write is compared
again just before it is made.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from migrator.engine.planner import ClusterFacts, Plan
from migrator.errors import BadInput, Refused
from migrator.inputfile import read_input_text
from migrator.stepkit.writes import ProposedWrite
from migrator.steps.shard_rules import same_state_but_date, state_differences
from migrator.strictjson import loads

PLAN_FORMAT = "manatee-migrator-plan/1"


class StalePlan(Refused):
    """The cluster changed since the plan was made."""


@dataclass(frozen=True)
class SavedPlan:
    path: Path
    shard: str
    playbook: str
    playbook_digest: str
    facts: ClusterFacts
    writes: dict[str, dict[str, Any] | None]  # step id -> planned write (or None)
    pending: list[str]
    steps: tuple[dict[str, Any], ...] = ()
    inventory_digest: str | None = None


def _digest(doc: dict[str, Any]) -> str:
    body = {k: v for k, v in doc.items() if k != "digest"}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def save_plan(plan: Plan, path: Path) -> None:
    doc: dict[str, Any] = {"format": PLAN_FORMAT, **plan.to_json()}
    doc["digest"] = _digest(doc)
    try:
        path.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    except OSError as exc:
        raise BadInput(f"Cannot write the plan to {path}: {exc.strerror or exc}.",
                       "Choose a writable path for --out.") from exc


def load_plan(path: Path) -> SavedPlan:
    text = read_input_text(path, "plan", hint="Give the file `migrator plan --out` wrote.")
    try:
        doc = loads(text)
    except ValueError as exc:
        raise BadInput(f"The plan {path} is not JSON ({exc}).",
                       "Give the file `migrator plan --out` wrote.") from exc
    if not isinstance(doc, dict) or doc.get("format") != PLAN_FORMAT:
        raise BadInput(f"{path} is not a plan written by `migrator plan --out`.",
                       "Make one with `migrator plan --inventory F --out PLAN.json`.")
    if doc.get("digest") != _digest(doc):
        raise StalePlan(f"The saved plan {path} was changed after `migrator plan --out` wrote "
                        "it (its digest does not match its content); nothing was done.",
                        "Make a new plan with `migrator plan --out`, review it, and run that; "
                        "never edit a saved plan.")
    try:
        steps = tuple(dict(s) for s in doc["steps"])
        return SavedPlan(
            path=path,
            shard=str(doc["shard"]),
            playbook=str(doc["playbook"]),
            playbook_digest=str(doc["playbookDigest"]),
            facts=ClusterFacts.from_json(doc["facts"]),
            writes={s["id"]: s.get("write") for s in steps},
            pending=[s["id"] for s in steps if s["status"] != "done"],
            steps=steps,
            inventory_digest=doc.get("inventoryDigest"),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise BadInput(f"The plan {path} lacks {exc}; it is damaged or from another "
                       "version.", "Make a new one with `migrator plan --out`.") from exc


def require_fresh(saved: SavedPlan, plan: Plan) -> None:
    changed: list[str] = []
    if saved.shard != plan.shard:
        changed.append(f"it is for shard {saved.shard}, not {plan.shard}")
    if saved.playbook_digest != plan.playbook_digest:
        changed.append(f"playbook {saved.playbook} changed ({saved.playbook_digest} -> "
                       f"{plan.playbook_digest})")
    if saved.inventory_digest != plan.inventory_digest:
        changed.append("the inventory changed since the plan was made"
                       if saved.inventory_digest and plan.inventory_digest else
                       "the plan was made " + ("with" if saved.inventory_digest else "without")
                       + " an inventory and the run is not")
    changed.extend(saved.facts.differences(plan.facts))
    changed.extend(step_differences(saved.steps, [s.to_json() for s in plan.steps]))
    if changed:
        raise StalePlan(
            f"The saved plan {saved.path} is stale: " + "; ".join(changed)
            + ". Nothing was written.",
            "Make a new plan with `migrator plan --out`, review it, and run that.",
        )


# What binds a step: what it does and checks, in their machine form. The rest (titles,
# explanations, words, estimates) may read differently from one version of the tool to
# the next without changing what the run does. The checks are bound too: a reviewed
# plan whose checks were edited out would show a safer run than the one it binds.
_BOUND = ("status", "action", "zones", "confirm", "preconditions", "verify")


def step_differences(saved: Sequence[Mapping[str, Any]],
                     now: Sequence[Mapping[str, Any]]) -> list[str]:
    """How the steps computed now differ from the saved plan's (pure)."""
    was = [str(s.get("id")) for s in saved]
    is_ = [str(s.get("id")) for s in now]
    if was != is_:
        gone = [i for i in was if i not in is_]
        new = [i for i in is_ if i not in was]
        parts = ([f"step(s) {', '.join(new)} are not in the saved plan"] if new else []) + (
            [f"the saved plan's step(s) {', '.join(gone)} are not planned now"] if gone else [])
        return parts or [f"the steps were [{', '.join(was)}] and are now [{', '.join(is_)}]"]
    out: list[str] = []
    for before, after in zip(saved, now, strict=True):
        step = after.get("id")
        for key in _BOUND:
            if before.get(key) != after.get(key):
                out.append(f"step {step}'s {key} was {before.get(key)!r} and is now "
                           f"{after.get(key)!r}")
        out.extend(_write_differences(str(step), before.get("write"), after.get("write")))
    return out


def _write_differences(step: str, before: Any, after: Any) -> list[str]:
    if before is None and after is None:
        return []
    if not isinstance(before, Mapping) or not isinstance(after, Mapping):
        return [f"step {step} " + ("writes nothing now but the saved plan wrote"
                                   if after is None else "writes now but the saved plan did not")]
    out = [f"step {step}'s write {key} was {before.get(key)!r} and is now {after.get(key)!r}"
           for key in ("op", "path") if before.get(key) != after.get(key)]
    for key, what in (("before", "/state it expects"), ("after", "/state")):
        a, b = before.get(key), after.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            if not same_state_but_date(a, b):
                out.append(f"step {step}'s {what} differs in "
                           + ", ".join(state_differences(a, b) or ["key order"]))
        elif a != b:
            out.append(f"step {step}'s {what} differs")
    return out


def require_planned_write(saved: SavedPlan, step_id: str, proposal: ProposedWrite) -> None:
    planned = saved.writes.get(step_id)
    now_after = None if proposal.after is None else proposal.after.document
    planned_after = None if planned is None else planned.get("after")
    same = (
        planned is not None
        and planned.get("op") == proposal.op
        and (
            (now_after is None and planned_after is None)
            or (now_after is not None and isinstance(planned_after, dict)
                and same_state_but_date(now_after, planned_after))
        )
    )
    if not same:
        if planned is None:
            what = "the plan made no write in this step"
        elif now_after is not None and isinstance(planned_after, dict):
            what = "they differ in " + ", ".join(state_differences(now_after, planned_after))
        else:
            what = f"the plan says {planned.get('op')}, the run computed {proposal.op}"
        raise StalePlan(
            f"Step {step_id}: the state computed now differs from the one in the saved plan "
            f"{saved.path} ({what}); nothing was written.",
            "Make a new plan with `migrator plan --out`, review it, and run that.",
        )
