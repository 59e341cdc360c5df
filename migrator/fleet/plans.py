"""`--plan PLANDIR/fleet-plan.json` (written by `migrator fleet plan --out PLANDIR`): the
saved plan file of each shard, checked against the fleet file it was made from.

Read (``migrator.fleet.plan_save`` writes it): ``format``
(``manatee-migrator-fleet-plan/1``), ``fleet`` (the fleet's name), ``fleetDigest``
(``sha256:HEX`` of the fleet file's bytes) and ``plans`` (``{shard: plan file}``, relative
to the JSON file's folder).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from migrator.errors import MISSHAPEN, BadInput, Refused, misshapen
from migrator.fleet.model import Fleet
from migrator.inputfile import read_input_text
from migrator.strictjson import loads

FORMAT = "manatee-migrator-fleet-plan/1"
HINT = "Write it again with `migrator fleet plan --fleet FLEET.yaml --out PLANDIR`."


def load_fleet_plans(path: Path, fleet: Fleet) -> dict[str, Path]:
    """Each shard to run -> its saved plan file; refused when the plan is of another
    fleet, of another version of the fleet file, or lacks a shard to run."""
    text = read_input_text(path, "fleet plan", hint=HINT)
    try:
        document: Any = loads(text)
        shape = str(document.get("format", FORMAT))
        name = str(document["fleet"])
        digest = document.get("fleetDigest")
        pairs = [(str(k), str(v)) for k, v in document["plans"].items()]
    except MISSHAPEN as exc:
        raise misshapen(f"The fleet plan {path} is not shaped as expected", exc, HINT) from exc
    if shape != FORMAT:
        raise BadInput(f"The fleet plan {path} is of format {shape!r}, not {FORMAT!r}.", HINT)
    if name != fleet.name:
        raise Refused(f"The fleet plan {path} is the plan of fleet {name}, not of {fleet.name} "
                      f"({fleet.path}).", "Give the plan written for this fleet file.")
    if digest is not None and _hex(str(digest)) != _hex(fleet.digest):
        raise Refused(f"The fleet file {fleet.path} has changed since the fleet plan {path} "
                      "was written (its digest differs); nothing was started.",
                      "Review the change, then plan again: " + HINT)
    base = path.resolve().parent
    plans = {shard: (Path(file) if Path(file).is_absolute() else base / file)
             for shard, file in pairs}
    missing = [s.shard for s in fleet.to_run if s.shard not in plans]
    if missing:
        raise Refused(f"The fleet plan {path} has no saved plan for: {', '.join(missing)}.",
                      HINT)
    return plans


def _hex(digest: str) -> str:
    return digest.removeprefix("sha256:").lower()


def require_readable(plans: dict[str, Path]) -> None:
    for shard, plan in plans.items():
        if not plan.is_file():
            raise BadInput(f"The saved plan of shard {shard} ({plan}) cannot be read.", HINT)
