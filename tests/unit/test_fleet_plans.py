"""`fleet run --plan PLANDIR/fleet-plan.json`: the fleet plan is checked against the fleet
file it was made from before any shard starts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from migrator.errors import BadInput, Refused
from migrator.fleet.model import load_fleet
from migrator.fleet.plans import load_fleet_plans

pytestmark = pytest.mark.unit


def _fleet(tmp_path: Path) -> Path:
    path = tmp_path / "fleet.yaml"
    path.write_text("fleet: east\nshards:\n  - shard: 1.moray\n    inventory: 1.yaml\n"
                    "  - shard: 2.moray\n    skip: at v2\n")
    return path


def _plan(tmp_path: Path, **changes: object) -> Path:
    document: dict[str, object] = {
        "format": "manatee-migrator-fleet-plan/1", "fleet": "east",
        "fleetFile": str(tmp_path / "fleet.yaml"),
        "fleetDigest": load_fleet(tmp_path / "fleet.yaml").digest,
        "plans": {"1.moray": "1.moray.json"}, "skipped": {"2.moray": "at v2"}}
    document.update(changes)
    folder = tmp_path / "plans"
    folder.mkdir(exist_ok=True)
    path = folder / "fleet-plan.json"
    path.write_text(json.dumps(document))
    return path


def test_each_shard_gets_its_plan_file(tmp_path: Path) -> None:
    fleet = load_fleet(_fleet(tmp_path))
    plans = load_fleet_plans(_plan(tmp_path), fleet)
    assert plans == {"1.moray": tmp_path / "plans" / "1.moray.json"}


def test_a_changed_fleet_file_is_refused(tmp_path: Path) -> None:
    path = _fleet(tmp_path)
    plan = _plan(tmp_path)
    path.write_text(path.read_text() + "# edited\n")
    with pytest.raises(Refused, match="has changed since"):
        load_fleet_plans(plan, load_fleet(path))


def test_another_fleets_plan_or_a_missing_shard_is_refused(tmp_path: Path) -> None:
    fleet = load_fleet(_fleet(tmp_path))
    with pytest.raises(Refused, match="plan of fleet west"):
        load_fleet_plans(_plan(tmp_path, fleet="west"), fleet)
    with pytest.raises(Refused, match=r"no saved plan for: 1\.moray"):
        load_fleet_plans(_plan(tmp_path, plans={}), fleet)


def test_a_misshapen_plan_is_bad_input(tmp_path: Path) -> None:
    fleet = load_fleet(_fleet(tmp_path))
    with pytest.raises(BadInput, match="not shaped as expected"):
        load_fleet_plans(_plan(tmp_path, plans=["1.moray.json"]), fleet)
    with pytest.raises(BadInput, match="format"):
        load_fleet_plans(_plan(tmp_path, format="other/9"), fleet)
