"""inventory check: reach every zone of the inventory and report in one table."""

from __future__ import annotations

from pathlib import Path

import click


@click.group()
def inventory() -> None:
    """Zones and how to reach them (the inventory file).

    The inventory is YAML: shard, zookeeper, zones (zone id -> host, port, user,
    identity, jump), optional morays, versions and command templates.
    `migrator inventory format` prints the full format with an example.
    """


@inventory.command("format")
def format_() -> None:
    """Print the inventory format, with a full example."""
    import migrator.inventory

    click.echo((migrator.inventory.__doc__ or "").strip())


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
    from migrator.errors import Refused, StepFailed
    from migrator.inventory import load_inventory
    from migrator.remote.probe import check_inventory
    from migrator.remote.session import RemoteSession
    from migrator.ui.output import Cell, Output

    inv = load_inventory(inventory_path)
    out = Output(as_json)
    with RemoteSession(inv, accept_new_host_keys=accept_new_host_keys) as session:
        reports = check_inventory(session, inv)
        recorded = session.recorded_host_keys
    if as_json:
        out.json({"zones": [r.to_json() for r in reports],
                  "recorded_host_keys": [r.sentence() for r in recorded]})
    else:
        out.table(
            ["ZONE", "KIND", "NODE", "ROUTE", "REACHABLE", "HOST KEY", "VERSION", "LOG"],
            [
                [
                    r.zone, r.kind, r.node or "- (own sshd)", r.route,
                    Cell("yes", "green") if r.reachable else Cell("NO", "red"),
                    Cell(r.host_key, None if r.host_key in ("known", "recorded", "-")
                         else "red"),
                    r.version or "-", r.log or "-",
                ]
                for r in reports
            ],
        )
        for record in recorded:
            click.echo(record.sentence(), err=True)
        for r in reports:
            for problem in r.problems:
                click.echo(f"{r.zone}: {problem}", err=True)
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
