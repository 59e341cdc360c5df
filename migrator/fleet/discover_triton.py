"""Triton's own manatee shard in a fleet, decided (pure: the caller reads ZooKeeper and SAPI).

Triton's shard (``discovery.triton_shard``, ``sdc`` by default) lives on Triton's own
ZooKeeper (the binder ensemble SAPI's ``sdc`` application names), which in a Manta
region is usually not Manta's. ``manta-adm`` lists none of its zones: ZooKeeper alone
says it exists. Decisions:

* Two connection strings name the same ensemble when they list the same servers (in
  any order, hosts compared without case) under the same chroot: discovery then reads
  both sides over one session.
* On Manta's ensemble a child named as Triton's shard is never one of Manta's rows: on
  the same ensemble it *is* Triton's shard (read once, as Triton's); on another
  ensemble it is left out with a warning (the fleet lists a shard once).
* Triton's shard gets the same verdicts as Manta's from its znodes (v1 or mixed:
  discovered; v2 or unreadable: listed with ``skip:``); absent, it is not in the fleet
  and nothing is said. ``--shards GLOB`` narrows it like the others.
* It comes last in the fleet file: the Manta shards' reprovisions go through Triton's
  APIs (SAPI, VMAPI), which Triton's shard backs, so it should not be migrating while
  they are, and a stop-all it causes then finds the Manta shards already done.
* The fleet's default name: the Manta shards' shared domain; with no Manta-named shard
  (a Triton-only datacenter), SAPI's ``metadata.datacenter_name`` of Triton's
  application; else none (the operator gives ``--name``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from migrator.fleet.discover_match import (
    DISCOVER,
    Matched,
    Pick,
    ZkShard,
    default_name,
    fleet_mode,
    selected,
    shard_number,
    znode_skip,
)
from migrator.fleet.model import FLEET_NAME_PATTERN


def ensemble_key(connection: str) -> tuple[frozenset[str], str]:
    """The servers (lower-cased ``host:port``) and chroot of a connection string."""
    servers, slash, chroot = connection.partition("/")
    hosts = frozenset(s.strip().lower() for s in servers.split(",") if s.strip())
    return hosts, (slash + chroot).rstrip("/")


def same_ensemble(first: str, second: str) -> bool:
    return ensemble_key(first) == ensemble_key(second)


@dataclass(frozen=True)
class Split:
    """Manta's shards, and Triton's when it was read on Manta's own ensemble."""

    manta: list[ZkShard]
    triton: ZkShard | None = None
    warnings: list[str] = field(default_factory=list)


def split_triton(manta_side: list[ZkShard], triton: str | None, same: bool) -> Split:
    """Take Triton's shard out of what Manta's ensemble holds (``same``: the two
    ensembles are one, so that child is Triton's shard itself)."""
    if triton is None:
        return Split(list(manta_side))
    rest = [s for s in manta_side if s.name != triton]
    found = next((s for s in manta_side if s.name == triton), None)
    if same:
        return Split(rest, found)
    warnings = [] if found is None else [
        f"Manta's ZooKeeper also has /manatee/{triton}; the fleet's {triton} is Triton's "
        f"own shard, on Triton's ZooKeeper, so the one on Manta's is left out."]
    return Split(rest, None, warnings)


def triton_row(found: ZkShard | None, glob: str | None) -> tuple[Pick | None, list[str]]:
    """Triton's shard's row (None: not in ZooKeeper, or not selected by ``--shards``)
    and what to warn about it."""
    if found is None or not selected(found.name, glob):
        return None, []
    skipped = znode_skip(found)
    if skipped is not None:
        said = [] if found.problem is None else [f"Shard {found.name}: {skipped.reason}."]
        return skipped, said
    return Pick(found.name, fleet_mode(found.mode), DISCOVER), []


def with_triton(matched: Matched, pick: Pick | None, warnings: list[str]) -> Matched:
    """The fleet's rows with Triton's last (see the module docstring), and, when Manta
    shards run too, why it should run alone."""
    if pick is None:
        return Matched(list(matched.picks), [*matched.warnings, *warnings])
    advice = [f"Shard {pick.shard} is Triton's own (SAPI and VMAPI, which the other "
              "shards' reprovisions use, depend on it): it is last in fleet.yaml; migrate "
              "it while no other shard is migrating (`fleet run --parallel 1`, or "
              "`migrator run --inventory` of its file once the others are done)."
              ] if pick.action == DISCOVER and matched.to_discover else []
    return Matched([*matched.picks, pick], [*matched.warnings, *warnings, *advice])


def fleet_default_name(shards: list[str], datacenter: str | None) -> str | None:
    """The fleet's name when --name is not given (see the module docstring)."""
    if any(shard_number(s) is not None for s in shards):
        return default_name(shards)
    if datacenter is not None and re.fullmatch(FLEET_NAME_PATTERN, datacenter):
        return datacenter
    return None
