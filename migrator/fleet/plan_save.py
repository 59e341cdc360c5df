"""`migrator fleet plan --out PLANDIR`: one saved plan per shard and ``fleet-plan.json``.

Each shard's file is exactly what `migrator plan --out` writes
(``migrator.engine.savedplan.save_plan``), so `migrator run --plan PLANDIR/<shard>.json
--inventory ...` takes it as it is. ``fleet-plan.json`` names the fleet, the fleet
file it was planned from (path and the SHA-256 of its bytes, so a changed fleet
file is seen) and each shard's plan file, relative to PLANDIR.
"""

from __future__ import annotations

import json
from pathlib import Path

from migrator.engine.savedplan import save_plan
from migrator.errors import BadInput
from migrator.fleet.model import Fleet
from migrator.fleet.plan_rows import fleet_plan_document
from migrator.fleet.plan_run import Planned

FLEET_PLAN_FILE = "fleet-plan.json"


def save_fleet_plan(fleet: Fleet, planned: list[Planned], out_dir: Path) -> Path:
    """Write every shard's plan, then fleet-plan.json (last: it names them)."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BadInput(f"Cannot create {out_dir}: {exc.strerror or exc}; no plan was saved.",
                       "Give a writable --out PLANDIR.") from None
    plans: dict[str, str] = {}
    skipped: dict[str, str] = {}
    for item in planned:
        if item.entry.skip is not None:
            skipped[item.entry.shard] = item.entry.skip
            continue
        assert item.plan is not None  # the caller saves only a fleet with every plan made
        name = f"{item.entry.shard}.json"
        save_plan(item.plan, out_dir / name)
        plans[item.entry.shard] = name
    document = fleet_plan_document(fleet.name, str(fleet.path), fleet.digest,
                                   plans, skipped)
    target = out_dir / FLEET_PLAN_FILE
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    tmp.replace(target)
    return target
