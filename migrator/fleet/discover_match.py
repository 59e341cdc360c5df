"""Which shards a fleet has: ZooKeeper's shards matched with the headnode's, decided.

Pure: the caller reads ZooKeeper's ``/manatee`` children (with each shard's mode) and
the headnode's ``manta-adm show -H -o service,shard,zonename postgres`` rows.

Decisions:

* ZooKeeper is the authority on a shard's name (Manta names shard N
  ``N.moray.<domain>``); the headnode's postgres zones confirm it is part of the region.
* A shard ZooKeeper has and the headnode does not list is written into the fleet file
  with a ``skip:`` saying so, and warned about: its znodes may be a leftover of a
  retired shard, and migrating what the region does not deploy is never what the
  operator meant. Giving it an inventory (``migrator inventory discover``) and removing
  its ``skip`` puts it back.
* A shard the headnode lists and ZooKeeper does not have cannot be discovered (its
  peers are in ZooKeeper): it is warned about, and listed with a ``skip:`` under the
  name Manta would give it when the other shards tell the domain.
* A shard already at v2 (mode ``migrated``) is listed with ``skip: already at v2
  (...)`` and gets no inventory; a shard whose znodes cannot be read is listed with a
  ``skip:`` naming the problem. A mixed shard (the backfilled, frozen /state of a
  migration under way) is discovered: the fleet finishes it.
* ``--shards GLOB`` (``fnmatch``, case-sensitive, on the whole name) narrows all of it.
* The fleet's default name is the domain the shard names share (``us-east.joyent.us``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from fnmatch import fnmatchcase

from migrator.fleet.model import FLEET_NAME_PATTERN
from migrator.inventory.values import SHARD_RE

# `migrator status`'s modes (migrator.cluster.shard), as the fleet names them
FLEET_MODES = {"legacy": "v1", "backfilled-frozen": "mixed", "migrated": "v2"}
DISCOVER = "discover"
SKIP = "skip"
_MANTA_NAME = re.compile(r"(\d+)\.moray\.(.+)")


def fleet_mode(mode: str) -> str:
    """v1, mixed or v2 (another mode, such as ``unknown``, as it is)."""
    return FLEET_MODES.get(mode, mode)


@dataclass(frozen=True)
class ZkShard:
    """One shard under /manatee, as `migrator status` reads it."""

    name: str
    mode: str  # migrator.cluster.shard's mode, or "unknown" with a problem
    generation: int | None = None
    problem: str | None = None


@dataclass(frozen=True)
class Pick:
    """One row of the fleet: a shard to discover, or one listed with why it is skipped."""

    shard: str
    mode: str  # v1, mixed, v2, unknown, or "-" (not in ZooKeeper)
    action: str  # DISCOVER or SKIP
    reason: str | None = None  # the fleet file's `skip:` text
    headnode_zones: tuple[str, ...] = ()  # manta-adm's postgres zones of the shard


@dataclass(frozen=True)
class Matched:
    picks: list[Pick]
    warnings: list[str] = field(default_factory=list)

    @property
    def to_discover(self) -> list[Pick]:
        return [p for p in self.picks if p.action == DISCOVER]


def shard_number(shard: str) -> str | None:
    """N of a Manta shard name ``N.moray.<domain>``, else None."""
    found = _MANTA_NAME.fullmatch(shard)
    return found.group(1) if found else None


def shared_domain(shards: list[str]) -> str | None:
    """The domain every Manta-named shard shares (None when they differ or none is)."""
    domains = {m.group(2) for s in shards if (m := _MANTA_NAME.fullmatch(s))}
    return domains.pop() if len(domains) == 1 else None


def default_name(shards: list[str]) -> str | None:
    """The fleet's name when --name is not given: the shards' shared domain, if valid."""
    domain = shared_domain(shards)
    if domain is None or not re.fullmatch(FLEET_NAME_PATTERN, domain):
        return None
    return domain


def selected(name: str, glob: str | None) -> bool:
    return glob is None or fnmatchcase(name, glob)


def _order(pick: Pick) -> tuple[int, str]:
    number = shard_number(pick.shard)
    return (int(number) if number is not None else 1 << 62, pick.shard)


def znode_skip(found: ZkShard, zones: tuple[str, ...] = ()) -> Pick | None:
    """The skipped row of a shard whose znodes say it is not to be run (unreadable, or
    already at v2), else None."""
    mode = fleet_mode(found.mode)
    if found.problem is not None:
        return Pick(found.name, mode, SKIP, f"its ZooKeeper data cannot be read "
                    f"({found.problem}); look at it with `migrator status`", zones)
    if found.mode == "migrated":
        generation = "" if found.generation is None else f", generation {found.generation}"
        return Pick(found.name, mode, SKIP, f"already at v2 (mode {found.mode}{generation})",
                    zones)
    return None


def match_shards(zookeeper: list[ZkShard], postgres: dict[str, list[str]],
                 glob: str | None = None) -> Matched:
    """The fleet's rows (shard number order, then name) and the warnings to show."""
    picks: list[Pick] = []
    warnings: list[str] = []
    by_number: dict[str, list[str]] = {}
    for found in zookeeper:
        number = shard_number(found.name)
        if number is not None:
            by_number.setdefault(number, []).append(found.name)
    for number, names in sorted(by_number.items()):
        if len(names) > 1 and any(selected(n, glob) for n in names):
            warnings.append(f"ZooKeeper has {len(names)} shards numbered {number} "
                            f"({', '.join(names)}); the headnode's postgres zones of shard "
                            f"{number} are matched with each of them.")
    for found in zookeeper:
        if not selected(found.name, glob):
            continue
        if not SHARD_RE.fullmatch(found.name):
            warnings.append(f"ZooKeeper has a shard {found.name!r} whose name an inventory "
                            "cannot hold: it is not in the fleet file.")
            continue
        number = shard_number(found.name)
        zones = tuple(postgres.get(number, ())) if number is not None else ()
        mode = fleet_mode(found.mode)
        skipped = znode_skip(found, zones)
        if skipped is not None:
            picks.append(skipped)
            if found.problem is not None:
                warnings.append(f"Shard {found.name}: {skipped.reason}.")
        elif number is None or number not in postgres:
            reason = ("not listed by the headnode (no postgres zone of its shard number in "
                      "`manta-adm show`); check it, give it an inventory (`migrator inventory "
                      "discover`) and drop this skip to migrate it")
            warnings.append(f"Shard {found.name} is in ZooKeeper but the headnode lists no "
                            "postgres zone for it: listed as skipped.")
            picks.append(Pick(found.name, mode, SKIP, reason, zones))
        else:
            picks.append(Pick(found.name, mode, DISCOVER, None, zones))
    domain = shared_domain([z.name for z in zookeeper])
    for number, listed in sorted(postgres.items(), key=lambda item: int(item[0])):
        if number in by_number:
            continue
        name = f"{number}.moray.{domain}" if domain is not None else None
        if name is not None and not SHARD_RE.fullmatch(name):
            name = None
        if not selected(name or number, glob):
            continue
        said = (f"The headnode lists postgres zones of shard {number} ({', '.join(listed)}) "
                f"but ZooKeeper has no /manatee/{name or f'{number}.moray.<domain>'}")
        if name is None:
            warnings.append(said + "; the other shards do not tell its full name, so it is "
                            "not in the fleet file.")
            continue
        warnings.append(said + ": listed as skipped.")
        picks.append(Pick(name, "-", SKIP, "listed by the headnode's `manta-adm show` but not "
                          "in ZooKeeper: its sitters have not registered", tuple(listed)))
    return Matched(sorted(picks, key=_order), warnings)


def zone_warnings(shard: str, discovered: list[str], headnode_zones: tuple[str, ...]
                  ) -> list[str]:
    """Where ZooKeeper's peers of a shard and the headnode's postgres zones disagree."""
    only_zk = [z for z in discovered if z not in headnode_zones]
    only_headnode = [z for z in headnode_zones if z not in discovered]
    warnings = []
    if only_zk:
        warnings.append(f"Shard {shard}: ZooKeeper names peer(s) {', '.join(only_zk)} that "
                        "the headnode's `manta-adm show` does not list as its postgres zones.")
    if only_headnode:
        warnings.append(f"Shard {shard}: the headnode lists postgres zone(s) "
                        f"{', '.join(only_headnode)} that are not among its peers in "
                        "ZooKeeper (the inventory leaves them out).")
    return warnings
