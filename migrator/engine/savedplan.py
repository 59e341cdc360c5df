"""Saved plans, as Terraform does them: ``plan --out F`` then ``run --plan F``.

The file holds the resolved plan with the cluster facts it was computed from
(election node names, /state version and digest, the journal's done steps)
and the playbook digest. Running it refuses, naming what changed, when the
cluster no longer matches those facts, and refuses a write whose freshly
computed state differs from the planned one (the freeze date aside, since it
is the time of the write).
"""

from __future__ import annotations

import json
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


def save_plan(plan: Plan, path: Path) -> None:
    doc = {"format": PLAN_FORMAT, **plan.to_json()}
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
    try:
        return SavedPlan(
            path=path,
            shard=str(doc["shard"]),
            playbook=str(doc["playbook"]),
            playbook_digest=str(doc["playbookDigest"]),
            facts=ClusterFacts.from_json(doc["facts"]),
            writes={s["id"]: s.get("write") for s in doc["steps"]},
            pending=[s["id"] for s in doc["steps"] if s["status"] != "done"],
        )
    except (KeyError, TypeError) as exc:
        raise BadInput(f"The plan {path} lacks {exc}; it is damaged or from another "
                       "version.", "Make a new one with `migrator plan --out`.") from exc


def require_fresh(saved: SavedPlan, plan: Plan) -> None:
    changed: list[str] = []
    if saved.shard != plan.shard:
        changed.append(f"it is for shard {saved.shard}, not {plan.shard}")
    if saved.playbook_digest != plan.playbook_digest:
        changed.append(f"playbook {saved.playbook} changed ({saved.playbook_digest} -> "
                       f"{plan.playbook_digest})")
    changed.extend(saved.facts.differences(plan.facts))
    if changed:
        raise StalePlan(
            f"The saved plan {saved.path} is stale: " + "; ".join(changed)
            + ". Nothing was written.",
            "Make a new plan with `migrator plan --out`, review it, and run that.",
        )


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
