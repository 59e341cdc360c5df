"""inventory check: reach every zone of the inventory and report in one table."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

import click
import yaml

from migrator.discovery import headnode_inventory
from migrator.discovery.build import discover as run_discovery
from migrator.discovery.checked import checked_inventory_text
from migrator.discovery.headnode_inventory import load_headnode_inventory
from migrator.errors import BadInput, Refused, StepFailed
from migrator.inventory.load import load_inventory
from migrator.inventory.values import SHARD_RE
from migrator.remote.probe import check_inventory
from migrator.remote.session import RemoteSession
from migrator.ui import preflight
from migrator.ui.confirm import confirm
from migrator.ui.inert import inert
from migrator.ui.output import Output


@click.group()
def inventory() -> None:
    """Zones and how to reach them (the inventory file).

    The inventory is YAML: shard, zookeeper, zones (zone id -> host, port, user,
    identity, jump), optional morays, versions and command templates.
    `migrator inventory format` prints the full format with an example.
    """


@inventory.command("format")
@click.option("--headnode", is_flag=True,
              help="The headnode-only inventory `inventory discover` reads, instead.")
def format_(headnode: bool) -> None:
    """Print the inventory format, with a full example."""
    if headnode:
        click.echo((headnode_inventory.__doc__ or "").strip())
        return
    # the reference the package carries (docs/inventory.md in the repository)
    click.echo((files("migrator") / "reference" / "inventory.md").read_text().strip())


@inventory.command()
@click.option("--inventory", "inventory_path", required=True,
              type=click.Path(path_type=Path, dir_okay=False), help="Inventory file.")
@click.option("--accept-new-host-keys", is_flag=True,
              help="Record the host key of a zone seen for the first time (never a changed one).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def check(inventory_path: Path, accept_new_host_keys: bool, as_json: bool) -> None:
    """Connect to every zone: reachability, host key, version, log access.

    Exits 0 when every zone is fine, 3 when a host key was refused, 1 otherwise.
    """

    inv = load_inventory(inventory_path)
    out = Output(as_json)
    with RemoteSession(inv, accept_new_host_keys=accept_new_host_keys) as session:
        reports = check_inventory(session, inv)
        recorded = session.recorded_host_keys
    if as_json:
        out.json({"zones": [r.to_json() for r in reports],
                  "recorded_host_keys": [r.sentence() for r in recorded]})
    else:
        # 120 columns at most: the route, compute node and log path below the table
        preflight.show_check(reports, out)
        for record in recorded:
            click.echo(inert(record.sentence()), err=True)
        for r in reports:
            if r.kind == "manatee" and r.debug_records is False:
                click.echo(f"{r.zone}: its current sitter writes no DEBUG records (it runs at "
                           "info; Triton runs it with -vvv). Checks waiting for a DEBUG record "
                           "use INFO-level evidence instead; `migrator plan` names them.",
                           err=True)
        for r in reports:
            for problem in r.problems:
                click.echo(inert(f"{r.zone}: {problem}"), err=True)
    bad = [r for r in reports if not r.ok]
    if not bad:
        return
    names = ", ".join(r.zone for r in bad)
    if any(r.host_key in ("unknown", "CHANGED") for r in bad):
        raise Refused(f"Host keys were refused for: {names}.",
                      "Each zone's message above gives the fingerprint and the command to "
                      "accept it.")
    raise StepFailed(f"{len(bad)} of {len(reports)} zone(s) have problems: {names}.",
                     "See each zone's message above.")


@inventory.command(epilog="HEADNODE.yaml's format: `migrator inventory format --headnode`.")
@click.option("--inventory", "inventory_path", required=True,
              type=click.Path(path_type=Path, dir_okay=False),
              help="Headnode-only inventory (HEADNODE.yaml).")
@click.option("--shard", required=True, help="The shard, e.g. 1.moray.us-east.joyent.us.")
@click.option("--out", "out_path", type=click.Path(path_type=Path, dir_okay=False),
              default=None, help="Where to write the inventory [default: <shard>.yaml next to "
              "HEADNODE.yaml].")
@click.option("--migrate-to", default=None, metavar="IMAGE|latest",
              help="The image to migrate to (checked with the headnode's image command), "
              "or `latest`: the newest active manta-manatee image IMGAPI has.")
@click.option("--yes", is_flag=True, help="Write without asking.")
@click.option("--json", "as_json", is_flag=True,
              help="Print the inventory, sources and warnings as JSON (stdout).")
def discover(inventory_path: Path, shard: str, out_path: Path | None, migrate_to: str | None,
             yes: bool, as_json: bool) -> None:
    """Build a complete inventory by asking the headnode and ZooKeeper.

    From HEADNODE.yaml (the headnode and SSH settings; format below) it
    asks the headnode for ZooKeeper's address (SAPI) unless given, reads the
    shard's peers from ZooKeeper (election, /state), asks VMAPI for each zone's
    compute node, address and image (versions.roll_back_to), CNAPI for each
    compute node's admin IP, `manta-adm show` for the Morays serving the shard
    and IMGAPI for --migrate-to. Zones are reached with zlogin through their
    compute nodes, which are reached through the headnode.

    It shows the inventory with where each value came from and writes it once
    confirmed (or with --yes). When something cannot be found it names the
    headnode command that failed and the field to fill by hand in HEADNODE.yaml,
    and writes nothing (exit 2). Exit 3: not confirmed.
    """

    if not SHARD_RE.fullmatch(shard):
        raise BadInput(f"--shard {shard!r} is not a shard name.",
                       "Use letters, digits, '.', '_' and '-', e.g. 1.moray.us-east.joyent.us.")
    headnode, raw = load_headnode_inventory(inventory_path)
    out = out_path or inventory_path.resolve().parent / f"{shard}.yaml"
    found = run_discovery(headnode, raw, inventory_path, shard=shard, migrate_to=migrate_to,
                          out_dir=out.resolve().parent)
    # what would be written must validate and load back to the discovered values
    text = checked_inventory_text(str(inventory_path), shard, found)
    output = Output(as_json)
    if as_json:
        output.json({"inventory": found.document, "out": str(out),
                     "sources": [{"field": s.field, "value": s.value, "source": s.source}
                                 for s in found.sources],
                     "warnings": found.warnings})
    else:
        output.table(["FIELD", "VALUE", "FROM"],
                     [[s.field, s.value, s.source] for s in found.sources])
        click.echo(yaml.safe_dump(found.document, sort_keys=False), err=True)
    for warning in found.warnings:
        click.echo(inert(f"warning: {warning}"), err=True)
    verb = "Replace" if out.exists() else "Write"
    confirm(f"{verb} {out} with this inventory?", assume_yes=yes)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(text)
    tmp.replace(out)

    load_inventory(out)
    click.echo(inert(f"Wrote {out}. Check it with: migrator inventory check --inventory {out}"),
               err=True)
