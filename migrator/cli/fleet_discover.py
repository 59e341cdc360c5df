"""migrator fleet discover: every shard's inventory and the fleet file, from the headnode."""

from __future__ import annotations

import re
from pathlib import Path

import click

from migrator.discovery.headnode_inventory import load_headnode_inventory
from migrator.errors import BadInput
from migrator.fleet.discover_match import DISCOVER
from migrator.fleet.discover_run import discover_fleet
from migrator.fleet.discover_triton import fleet_default_name
from migrator.fleet.discover_write import fleet_files, refuse_existing, write_files
from migrator.fleet.model import FLEET_NAME_PATTERN
from migrator.ui.confirm import confirm
from migrator.ui.inert import inert
from migrator.ui.output import Cell, CellLike, Output

TABLE_WIDTH = 120


@click.command(epilog="HEADNODE.yaml's format: `migrator inventory format --headnode`; "
               "FLEET.yaml's: docs/fleet.md.")
@click.option("--inventory", "inventory_path", required=True,
              type=click.Path(path_type=Path, dir_okay=False),
              help="Headnode-only inventory (HEADNODE.yaml).")
@click.option("--out", "out_dir", required=True,
              type=click.Path(path_type=Path, file_okay=False),
              help="Folder for DIR/<shard>.yaml and DIR/fleet.yaml (created if missing).")
@click.option("--shards", "glob", default=None, metavar="GLOB",
              help="Only the shards whose names match (fnmatch), e.g. '[1-4].moray.*'.")
@click.option("--migrate-to", default=None, metavar="IMAGE|latest",
              help="The image to migrate to, as `inventory discover --migrate-to` takes it.")
@click.option("--name", default=None,
              help="The fleet's name [default: the domain its shard names share; with "
              "Triton's shard alone, SAPI's datacenter_name].")
@click.option("--yes", is_flag=True, help="Write without asking.")
def discover(inventory_path: Path, out_dir: Path, glob: str | None, migrate_to: str | None,
             name: str | None, yes: bool) -> None:
    """Find every manatee shard the headnode knows; write FLEET.yaml and inventories.

    The shards are ZooKeeper's /manatee children, checked against the headnode's
    postgres zones (`manta-adm show`, `discovery.shards`), and Triton's own shard
    (`sdc`, `discovery.triton_shard`) on Triton's ZooKeeper, listed last. Each
    shard's inventory is discovered exactly as `migrator inventory discover` does
    it, over one headnode connection and one ZooKeeper session per ensemble, a few
    shards at a time. A shard already at v2, one the headnode does not list, or
    one ZooKeeper does not have is listed in fleet.yaml with `skip:` and why (and
    warned about). A headnode without Manta gives a fleet of Triton's shard alone.

    It shows what it found and writes every file once confirmed (or with
    --yes), and nothing at all when any shard cannot be discovered (exit 2) or
    DIR already holds a fleet.yaml. Exit 3: not confirmed.
    """
    if name is not None and not re.fullmatch(FLEET_NAME_PATTERN, name):
        raise BadInput(f"--name {name!r} is not a fleet name.",
                       "Use letters, digits, '.', '_' and '-' (at most 63), e.g. us-east-1.")
    refuse_existing(out_dir)
    headnode, raw = load_headnode_inventory(inventory_path)
    found = discover_fleet(headnode, raw, inventory_path, out_dir=out_dir.resolve(),
                           glob=glob, migrate_to=migrate_to)
    picks = found.matched.picks
    if not picks:
        raise BadInput("No shard was found" + (f" matching --shards {glob!r}" if glob else "")
                       + " (ZooKeeper's /manatee, the headnode's postgres zones and Triton's "
                       "own shard); nothing was written.",
                       "Check --shards, and `migrator status --zk ...`.")
    fleet_name = name or fleet_default_name([p.shard for p in picks], found.datacenter)
    if fleet_name is None:
        said = ("The shards share no domain to name the fleet by" if any(
            p.shard != found.triton for p in picks) else f"Triton's shard {found.triton} "
            "alone names no domain, and SAPI gave no datacenter_name")
        raise BadInput(f"{said}; nothing was written.",
                       "Give the fleet a name with --name NAME.")
    files = fleet_files(inventory_path.resolve(), out_dir.resolve(), fleet_name, picks,
                        found.found)
    rows: list[list[CellLike]] = []
    for pick in picks:
        if pick.action == DISCOVER:
            zones = str(len(found.found[pick.shard].document.get("zones") or {}))
            file = f"{pick.shard}.yaml" + (" (replaces)" if (out_dir / f"{pick.shard}.yaml")
                                           .exists() else "")
            rows.append([pick.shard, pick.mode, zones, file])
        else:
            rows.append([pick.shard, pick.mode, str(len(pick.headnode_zones) or "-"),
                         Cell(f"skip: {pick.reason}", "yellow")])
    Output().table(
        ["SHARD", "MODE", "ZONES", "WRITTEN"], rows,
        title=f"Fleet {fleet_name}: {len(found.found)} inventories to write in {out_dir}",
        max_width=TABLE_WIDTH)
    for warning in found.warnings:
        click.echo(inert(f"warning: {warning}"), err=True)
    confirm(f"Write {len(found.found)} inventories and {out_dir / 'fleet.yaml'}?",
            assume_yes=yes)
    refuse_existing(out_dir)  # another command may have written one while we asked
    write_files(files)
    click.echo(inert(f"Wrote {files.fleet} ({len(picks)} shards, {len(found.found)} to run). "
                     f"Plan them with: migrator fleet plan --fleet {files.fleet}"), err=True)
