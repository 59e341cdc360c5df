"""What `migrator plan` does once its zones are connecting: plan (live or offline), save
the plan when asked, print it with the pre-flight a run would meet now."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from migrator.commands import planning
from migrator.engine.planner import Plan
from migrator.engine.render import render_plan
from migrator.engine.savedplan import save_plan
from migrator.errors import Refused
from migrator.remote.session import RemoteSession
from migrator.ui import preflight
from migrator.ui.inert import inert


def live(client: Any, shard: str, inventory: Any, inventory_name: str, playbook: str,
         remote: RemoteSession | None, out_file: Path | None, as_json: bool) -> None:
    """Plan against the live shard, with the pre-flight verdict; refused (exit 3) when a
    run would be refused now."""
    result, verdict = planning.plan_checked(
        planning.EngineTarget(client, shard, inventory, inventory_name), playbook, remote)
    _show(result, verdict, out_file, as_json)


def offline(topology_file: Path, playbook: str, inventory: Any, out_file: Path | None,
            as_json: bool) -> None:
    """Plan from a topology JSON file (no cluster, no pre-flight)."""
    _show(planning.plan_offline(topology_file, playbook, inventory), None, out_file, as_json)


def _show(result: Plan, verdict: Any, out_file: Path | None, as_json: bool) -> None:
    if out_file is not None:
        save_plan(result, out_file)
    if as_json and verdict is not None:
        click.echo(json.dumps({**result.to_json(), "preflight": verdict.to_json()}, indent=2,
                              ensure_ascii=False))
    else:
        render_plan(result, as_json=as_json)
    if verdict is not None and not as_json:
        click.echo("")
        preflight.show(verdict, stream=sys.stdout)
    if out_file is not None:
        click.echo(inert(f"Plan saved to {out_file}; run it with `migrator run --plan "
                         f"{out_file}`."), err=True)
    if verdict is not None and not verdict.ok:
        raise Refused(
            "A run would be refused now by its pre-flight check: "
            + "; ".join(verdict.problems) + ".",
            "Fix what the pre-flight table shows, then plan again.",
        )
