"""status, state, history."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import click

from migrator.cli.options import ShardTarget, loading, shard_target
from migrator.errors import BadInput, Refused
from migrator.ui.output import Cell, Output, say
from migrator.zk.client import disconnect

json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


@click.command()
@shard_target(need_shard=False)
@json_option
@click.option("--watch", "-W", "watch", is_flag=True,
              help="With a shard: keep a live view, updated on every ZooKeeper change, until "
              "Ctrl-C.")
def status(target: ShardTarget, as_json: bool, watch: bool) -> None:
    """Every shard with its mode; with a shard, peers by election and by /state.

    With a shard, also the migration in progress (step n/N, lock holder; versions
    with --inventory)."""

    if watch:
        if target.shard is None or as_json:
            raise BadInput("`status --watch` follows one shard on a terminal.",
                           "Pass --shard NAME (or --inventory), without --json.")
        # imported here: the live view (its watches, and the zones' versions over SSH
        # with their thread pool) is for --watch only: 8 modules, ~1.7 ms CPU otherwise
        from migrator.cli.watch import watch_status

        with target.session() as client:
            watch_status(client, target.shard, target.inventory)
        return
    out = Output(as_json)
    with contextlib.ExitStack() as zones:
        _status(target, out, as_json, zones)


# what a shard's status reads and renders with: loaded while ZooKeeper's connection is
# being made (see ``loading``)
STATUS_MODULES = ("migrator.commands.read", "migrator.commands.progress",
                  "migrator.cli.shardview")


def _status(target: ShardTarget, out: Output, as_json: bool,
            zones: contextlib.ExitStack) -> None:
    # With an inventory and a shard, the zones are asked too (their versions and the
    # primary's replication, over one session that outlives ZooKeeper's, closed when the
    # command ends), and connected in the order that waits least: before ZooKeeper, as
    # `plan` does, or through the headnode while ZooKeeper connects, after the forward's
    # check (``zones_before_zookeeper``). Connecting asks a zone nothing.
    remote: Any = None
    load = loading(*STATUS_MODULES)
    meanwhile = load
    if target.inventory is not None and target.shard is not None:
        # imported here: the SSH modules, which a status without an inventory never needs
        from migrator.remote.prewarm import Prewarm, zones_before_zookeeper

        def connect_zones() -> None:
            nonlocal remote
            remote = Prewarm(target.inventory).session()
            zones.callback(remote.close)

        def zones_then_load() -> None:
            connect_zones()
            load()

        if zones_before_zookeeper(target.inventory):
            connect_zones()
        else:
            meanwhile = zones_then_load
    with target.session(meanwhile=meanwhile) as client:
        from migrator.cli.shardview import mode_style, render_shard
        from migrator.commands import read
        from migrator.commands.progress import ProgressReads

        if target.shard is None:
            summaries, skipped = read.all_shards(client)
            for name in skipped:
                say(f"warning: skipped the znode {'/manatee/' + name!r}: its name is not a "
                    "valid shard name "
                    "(letters, digits, '.', '_', ':' and '-', starting with a letter or "
                    "digit), so it is no manatee shard; remove it if nothing uses it.")
            if as_json:
                out.json([s.to_json() for s in summaries])
                return
            out.table(
                ["SHARD", "MODE", "PEERS", "GENERATION", "FROZEN"],
                [
                    [
                        s.shard,
                        Cell(s.mode, mode_style(s.mode)) if not s.problem
                        else Cell(f"unknown: {s.problem}", "red"),
                        str(s.peers_in_election),
                        "-" if s.generation is None else str(s.generation),
                        s.frozen or "-",
                    ]
                    for s in summaries
                ],
            )
            return
        progress = ProgressReads(client, target.shard)  # in the same round trips

        def last_sent() -> None:
            # the session's close goes out behind the last reads: ZooKeeper answers a
            # session's requests in order, so they are answered before it closes, and
            # the close costs no round trip of its own
            progress.send_last()
            disconnect(client)

        result = read.shard_status(client, target.shard, last_sent)
        underway = progress.result()
    primary = next((r.zone_id for r in result.rows
                    if "primary" in (r.state_role, r.election_role)), None)
    versions: dict[str, str] | None = None
    replication: dict[str, str] | None = None
    if target.inventory is not None:
        # imported here, as Prewarm above: the zones are asked over SSH only with an
        # inventory (with their thread pool, concurrent.futures: ~1.3 ms CPU otherwise)
        from migrator.commands.zone_views import zone_views

        versions, replication = zone_views(target.inventory, [r.zone_id for r in result.rows],
                                           primary, remote)
    if as_json:
        out.json({**result.to_json(), **underway.to_json(), "versions": versions,
                  "replication": replication})
        return
    render_shard(out, result, underway, versions, replication)


@click.command()
@shard_target(need_shard=True)
@json_option
def state(target: ShardTarget, as_json: bool) -> None:
    """Print the shard's /state as stored.

    With --json: the state and its znode version."""

    name = target.require_shard()
    with target.session(meanwhile=loading("migrator.commands.read")) as client:
        from migrator.commands import read

        found = read.shard_state(client, name)
    if found is None:
        raise Refused(
            f"Shard {name} has no /state: it is in legacy (v1) mode.",
            "`migrator status --shard` shows its election order; the backfill creates /state.",
        )
    data, version = found
    out = Output(as_json)
    if as_json:
        out.json({"version": version, "state": json.loads(data)})
    else:
        out.raw(data.decode("utf-8"))


@click.command()
@shard_target(need_shard=True)
@json_option
def history(target: ShardTarget, as_json: bool) -> None:
    """The shard's history records, oldest first, v1 events and v2 states."""

    name = target.require_shard()
    with target.session(meanwhile=loading("migrator.commands.read")) as client:
        from migrator.commands import read

        records = read.shard_history(client, name)
    out = Output(as_json)
    if as_json:
        # one object per line, as `manatee-adm history` prints, plus our summary
        for record, summary in records:
            out.raw(json.dumps({**record.to_json(), "summary": summary}, ensure_ascii=False))
        return
    out.table(
        ["SEQ", "DATE", "KIND", "SUMMARY"],
        [
            [
                f"{r.seq:010d}",
                r.to_json().get("date", "-"),
                r.kind,
                summary,
            ]
            for r, summary in records
        ],
    )
